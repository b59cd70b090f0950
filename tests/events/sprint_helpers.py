"""Builders of Sprints for tests, through the services (one way to write)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from backlog.models import Nexus, ProductBacklogItem, ScrumTeam
from events.models import Sprint
from events.services import sprint_create, sprint_plan, sprint_start

START = date(2026, 1, 5)


def items(nexus: Nexus) -> list[ProductBacklogItem]:
    return list(ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank"))


def teams(nexus: Nexus) -> list[ScrumTeam]:
    return list(ScrumTeam.objects.filter(nexus=nexus).order_by("name"))


def sprint_build(
    nexus: Nexus,
    *,
    start: date | None = None,
    planned: list[ProductBacklogItem] | None = None,
    team: ScrumTeam | None = None,
    started: bool = False,
    **kw: Any,
) -> Sprint:
    """A Sprint of `nexus` (from `start`, default: after the last one, else `START`), with `planned`
    PBIs planned for `team` (default: the first team), started if asked."""
    if start is None and not nexus.sprints.exists():
        start = START
    sprint = sprint_create(nexus=nexus, actor=None, start_date=start, **kw)
    team = team or teams(nexus)[0]
    for item in planned or []:
        sprint_plan(sprint=sprint, item=item, teams=[team], actor=None)
    if started:
        sprint_start(sprint=sprint, actor=None)
    return sprint


def finish(item: ProductBacklogItem) -> ProductBacklogItem:
    """Finish a PBI as the Nexus's rules allow: every team square filled (Done) first, then the PBI
    into the finished column (`backlog.services.squares.finish_refusal`)."""
    from backlog.models import TeamInvolvement, WorkflowColumn
    from backlog.services import involvement_set_status, pbi_transition

    for square in TeamInvolvement.objects.filter(item=item):
        involvement_set_status(involvement=square, status="done", actor=None)
    done = WorkflowColumn.objects.get(nexus_id=item.backlog.nexus_id, is_finish=True)
    return pbi_transition(item=item, to_column=done, actor=None).item


def day(n: int) -> date:
    return START + timedelta(days=n)
