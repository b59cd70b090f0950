"""Services for the Nexus, its Scrum Teams, memberships, Definition of Workflow and Product Goals."""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from backlog.errors import DomainError
from backlog.models import (
    ColumnCategory,
    GoalStatus,
    Membership,
    Nexus,
    ProductBacklog,
    ProductGoal,
    Role,
    ScrumTeam,
    WorkflowColumn,
)

TEAM_ROLES = {Role.DEVELOPER, Role.SCRUM_MASTER}


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a Definition of Workflow to create: name, category, optional WIP limit."""

    name: str
    category: str = ColumnCategory.IN_PROGRESS
    wip_limit: int | None = None
    is_start: bool = False
    is_finish: bool = False
    is_ready: bool = False


def _validate_columns(columns: Sequence[ColumnSpec]) -> None:
    if not columns:
        raise DomainError("A Definition of Workflow needs at least one column.", field="columns")
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise DomainError("Column names must be unique.", field="columns")
    starts = [i for i, c in enumerate(columns) if c.is_start]
    finishes = [i for i, c in enumerate(columns) if c.is_finish]
    if len(starts) != 1 or len(finishes) != 1:
        raise DomainError("Mark exactly one column as started and one as finished.", field="columns")
    if starts[0] > finishes[0]:
        raise DomainError("The started column must come before the finished column.", field="columns")


@transaction.atomic
def nexus_create(
    *,
    name: str,
    slug: str | None = None,
    description: str = "",
    time_zone: str = "UTC",
    sprint_length_days: int = 14,
    columns: Sequence[ColumnSpec],
) -> Nexus:
    """Create a Nexus with its Product Backlog and Definition of Workflow (`columns`, left to right).

    Raises `DomainError` for an unknown time zone, a taken slug or an invalid workflow.
    """
    try:
        zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise DomainError(f"Unknown time zone {time_zone!r}.", field="time_zone") from exc
    if not 1 <= sprint_length_days <= 31:
        raise DomainError("A Sprint lasts one month or less (1 to 31 days).", field="sprint_length_days")
    _validate_columns(columns)
    slug = slug or slugify(name)
    if Nexus.objects.filter(slug=slug).exists():
        raise DomainError(f"A Nexus with the slug {slug!r} exists already.", field="slug")
    nexus = Nexus.objects.create(
        name=name,
        slug=slug,
        description=description,
        time_zone=time_zone,
        sprint_length_days=sprint_length_days,
    )
    ProductBacklog.objects.create(nexus=nexus)
    WorkflowColumn.objects.bulk_create(
        WorkflowColumn(
            nexus=nexus,
            name=c.name,
            position=i,
            category=c.category,
            wip_limit=c.wip_limit,
            is_start=c.is_start,
            is_finish=c.is_finish,
            is_ready=c.is_ready,
        )
        for i, c in enumerate(columns)
    )
    return nexus


@transaction.atomic
def team_create(*, nexus: Nexus, name: str, wip_limit: int | None = None) -> ScrumTeam:
    """Add a Scrum Team to the Nexus. Raises `DomainError` when the name is empty or taken."""
    name = name.strip()
    if not name:
        raise DomainError("A Scrum Team needs a name.", field="name")
    slug = slugify(name) or "team"
    if ScrumTeam.objects.filter(nexus=nexus, slug=slug).exists():
        raise DomainError(f"The Nexus has a Scrum Team called {name!r} already.", field="name")
    return ScrumTeam.objects.create(nexus=nexus, name=name, slug=slug, wip_limit=wip_limit)


@transaction.atomic
def membership_add(*, nexus: Nexus, user: User, role: str, team: ScrumTeam | None = None) -> Membership:
    """Give `user` a role in the Nexus (idempotent: an identical membership is returned as it is).

    Developers and Scrum Masters belong to a team of this Nexus; other roles to none. Raises
    `DomainError` when the Nexus has another Product Owner already or the team does not fit the role.
    """
    if role not in Role.values:
        raise DomainError(f"Unknown role {role!r}.", field="role")
    if role in TEAM_ROLES and team is None:
        raise DomainError("A Developer or Scrum Master belongs to a Scrum Team.", field="team")
    if role not in TEAM_ROLES:
        team = None
    if team is not None and team.nexus_id != nexus.pk:
        raise DomainError("That Scrum Team is in another Nexus.", field="team")
    existing = Membership.objects.filter(nexus=nexus, user=user, role=role, team=team).first()
    if existing:
        return existing
    if role == Role.PRODUCT_OWNER and Membership.objects.filter(nexus=nexus, role=role).exists():
        raise DomainError(
            "A Nexus has exactly one Product Owner, and this one has one already.", field="role"
        )
    try:
        with transaction.atomic():
            return Membership.objects.create(nexus=nexus, user=user, role=role, team=team)
    except IntegrityError as exc:  # a concurrent add of the same membership or Product Owner
        raise DomainError("That membership exists already.", field="role") from exc


@transaction.atomic
def goal_create(*, nexus: Nexus, text: str) -> ProductGoal:
    """Set the Product Goal. Raises `DomainError` if one is still active: close it first (`goal_close`)."""
    text = text.strip()
    if not text:
        raise DomainError("A Product Goal needs a text.", field="text")
    backlog = ProductBacklog.objects.select_for_update().get(nexus=nexus)
    if backlog.goals.filter(status=GoalStatus.ACTIVE).exists():
        raise DomainError(
            "The Product Backlog has an active Product Goal: mark it achieved or abandoned first.",
            field="text",
        )
    return ProductGoal.objects.create(backlog=backlog, text=text)


@transaction.atomic
def goal_update(*, goal: ProductGoal, text: str) -> ProductGoal:
    """Change the active Product Goal's text. Raises `DomainError` for an empty text or a closed goal."""
    text = text.strip()
    if not text:
        raise DomainError("A Product Goal needs a text.", field="text")
    if goal.status != GoalStatus.ACTIVE:
        raise DomainError("Only the active Product Goal can be edited.", field="text")
    goal.text = text
    goal.save(update_fields=["text", "updated_at"])  # `auto_now` writes only if listed
    return goal


@transaction.atomic
def goal_close(*, goal: ProductGoal, status: str) -> ProductGoal:
    """Mark the active Product Goal achieved or abandoned (kept in the history)."""
    if status not in (GoalStatus.ACHIEVED, GoalStatus.ABANDONED):
        raise DomainError("A Product Goal is closed as achieved or abandoned.", field="status")
    if goal.status != GoalStatus.ACTIVE:
        raise DomainError("That Product Goal is closed already.", field="status")
    goal.status = status
    goal.closed_at = timezone.now()
    goal.save(update_fields=["status", "closed_at", "updated_at"])
    return goal
