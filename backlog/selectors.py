"""Reads of the Nexus and its Product Backlog, for pages, the API and other apps (`flow`, `events`,
`integration` read `backlog` through these)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404

from backlog.models import (
    ColumnCategory,
    GoalStatus,
    Membership,
    Nexus,
    ProductBacklogItem,
    ProductGoal,
    Role,
    ScrumTeam,
    TeamInvolvement,
    WorkflowColumn,
)

AnyUser = User | AnonymousUser

#: The Nexus Guide's "approximately three to nine Scrum Teams".
TEAMS_MIN, TEAMS_MAX = 3, 9


def nexus_list_for_user(*, user: AnyUser) -> QuerySet[Nexus]:
    """Nexuses the user belongs to (all of them for a superuser), by name."""
    if getattr(user, "is_superuser", False):
        return Nexus.objects.all()
    if not user.is_authenticated:
        return Nexus.objects.none()
    return Nexus.objects.filter(memberships__user=user).distinct()


def nexus_get_for_user(*, user: AnyUser, slug: str) -> Nexus:
    """The Nexus `slug` if the user may see it. Raises `Http404` otherwise: another Nexus's data is
    invisible, not forbidden."""
    nexus = nexus_list_for_user(user=user).filter(slug=slug).first()
    if nexus is None:
        raise Http404("No such Nexus.")
    return nexus


def roles_of(*, user: AnyUser, nexus: Nexus) -> set[str]:
    """The roles (`Role` values) the user holds in the Nexus; empty for a non-member."""
    if not user.is_authenticated:
        return set()
    return set(Membership.objects.filter(nexus=nexus, user=user).values_list("role", flat=True))


def can_order_backlog(*, user: AnyUser, nexus: Nexus) -> bool:
    """Only the Product Owner (and superusers) order the Product Backlog (Nexus Guide)."""
    return bool(getattr(user, "is_superuser", False)) or Role.PRODUCT_OWNER in roles_of(
        user=user, nexus=nexus
    )


def can_edit_items(*, user: AnyUser, nexus: Nexus) -> bool:
    """Members other than Stakeholders may create and update Product Backlog Items and their state."""
    if getattr(user, "is_superuser", False):
        return True
    return bool(roles_of(user=user, nexus=nexus) - {Role.STAKEHOLDER})


@dataclass(frozen=True)
class NexusHome:
    """What the Nexus home page shows."""

    nexus: Nexus
    goal: ProductGoal | None
    past_goals: list[ProductGoal]
    teams: list[Any]  # ScrumTeam annotated with `members` and `open_items`
    team_warning: str | None
    product_owner: Membership | None
    nit: list[Membership]
    columns: list[WorkflowColumn]
    open_items: int
    in_progress_items: int


def nexus_home_get(*, nexus: Nexus) -> NexusHome:
    """Product Goal, Scrum Teams (with member and open-item counts), Nexus Integration Team, workflow."""
    goals = list(ProductGoal.objects.filter(backlog__nexus=nexus).order_by("-created_at")[:6])
    goal = next((g for g in goals if g.status == GoalStatus.ACTIVE), None)
    teams = list(
        ScrumTeam.objects.filter(nexus=nexus).annotate(
            members=Count("memberships", distinct=True),
            open_items=Count(
                "involvements",
                filter=Q(involvements__item__deleted_at__isnull=True)
                & ~Q(involvements__item__column__category=ColumnCategory.DONE),
                distinct=True,
            ),
        )
    )
    n = len(teams)
    warning = None
    if n < TEAMS_MIN or n > TEAMS_MAX:
        warning = (
            f"This Nexus has {n} Scrum Team{'s' if n != 1 else ''}. The Nexus Guide describes approximately "
            f"three to nine Scrum Teams working on a single product."
        )
    members = list(Membership.objects.filter(nexus=nexus).select_related("user", "team"))
    items = ProductBacklogItem.objects.alive().filter(backlog__nexus=nexus)
    counts = items.aggregate(
        open=Count("id", filter=~Q(column__category=ColumnCategory.DONE)),
        wip=Count("id", filter=Q(column__category=ColumnCategory.IN_PROGRESS)),
    )
    return NexusHome(
        nexus=nexus,
        goal=goal,
        past_goals=[g for g in goals if g.status != GoalStatus.ACTIVE],
        teams=teams,
        team_warning=warning,
        product_owner=next((m for m in members if m.role == Role.PRODUCT_OWNER), None),
        nit=[m for m in members if m.role == Role.NIT_MEMBER],
        columns=list(WorkflowColumn.objects.filter(nexus=nexus).order_by("position")),
        open_items=counts["open"],
        in_progress_items=counts["wip"],
    )


def items_with_card_data(qs: QuerySet[ProductBacklogItem]) -> QuerySet[ProductBacklogItem]:
    """Join and prefetch what a row or a card shows (column, labels, team squares): constant queries."""
    return qs.select_related("column").prefetch_related(
        "labels", Prefetch("involvements", queryset=TeamInvolvement.objects.select_related("team"))
    )


def backlog_items(*, nexus: Nexus) -> QuerySet[ProductBacklogItem]:
    """The Product Backlog: live items not finished, in order (rank ascending)."""
    return items_with_card_data(
        ProductBacklogItem.objects.open().filter(backlog__nexus=nexus).order_by("rank")
    )


def workflow_columns(*, nexus: Nexus) -> list[WorkflowColumn]:
    """The Definition of Workflow, left to right."""
    return list(WorkflowColumn.objects.filter(nexus=nexus).order_by("position"))
