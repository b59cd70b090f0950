"""Test data, built through the services (one way to write), with factory_boy for users."""

from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth.models import User

from backlog.models import ColumnCategory, Nexus, ProductBacklogItem, Role, ScrumTeam, WorkflowColumn
from backlog.services import ColumnSpec, membership_add, nexus_create, pbi_create, team_create

DEFAULT_COLUMNS = [
    ColumnSpec("Ready", ColumnCategory.NOT_STARTED, is_ready=True),
    ColumnSpec("In Progress", ColumnCategory.IN_PROGRESS, is_start=True),
    ColumnSpec("Review", ColumnCategory.IN_PROGRESS),
    ColumnSpec("Done", ColumnCategory.DONE, is_finish=True),
]


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw")


_counter = iter(range(1, 10**6))


def nexus_build(*, teams: int = 3, slug: str | None = None, items: int = 0) -> Nexus:
    """A Nexus with `teams` Scrum Teams, a Product Owner `po-<slug>`, and `items` PBIs in Ready."""
    n = next(_counter)
    slug = slug or f"nexus-{n}"
    nexus = nexus_create(name=f"Nexus {n}", slug=slug, columns=DEFAULT_COLUMNS)
    for i in range(teams):
        team_create(nexus=nexus, name=f"Team {chr(65 + i)}")
    membership_add(nexus=nexus, user=UserFactory.create(username=f"po-{slug}"), role=Role.PRODUCT_OWNER)
    for i in range(items):
        pbi_create(nexus=nexus, title=f"Item {i + 1}", actor=None)
    return nexus


def column(nexus: Nexus, name: str) -> WorkflowColumn:
    return WorkflowColumn.objects.get(nexus=nexus, name=name)


def team(nexus: Nexus, name: str = "Team A") -> ScrumTeam:
    return ScrumTeam.objects.get(nexus=nexus, name=name)


def items_in_order(nexus: Nexus) -> list[str]:
    return list(
        ProductBacklogItem.objects.filter(backlog__nexus=nexus)
        .order_by("rank")
        .values_list("title", flat=True)
    )


def member(nexus: Nexus, role: str, *, username: str, team_obj: ScrumTeam | None = None, **kw: Any) -> Any:
    user = UserFactory.create(username=username)
    membership_add(nexus=nexus, user=user, role=role, team=team_obj)
    return user


def squares_fill(item: Any) -> None:
    """Fill every team square of the PBI not yet filled (ready to integrate), as its teams would before
    it may enter the Nexus's finished column (a PBI enters it only when every square is filled:
    `backlog.services.squares`). A not-started PBI is moved into the started column by its first
    square, as the rule says."""
    from backlog.models import TeamInvolvement, TeamStatus
    from backlog.services import involvement_set_status

    for square in TeamInvolvement.objects.filter(item_id=item.pk).order_by("pk"):
        if square.status not in (TeamStatus.READY_TO_INTEGRATE, TeamStatus.DONE):
            involvement_set_status(involvement=square, status=TeamStatus.READY_TO_INTEGRATE, actor=None)
    item.refresh_from_db()
