"""Reads of a Nexus's Sprints (re-exported by `events.selectors`): the active or next Sprint, the rows of
the Nexus Sprint Backlog (each PBI with its team squares, Work Item Age against the SLE and its group),
and the Throughput of recent closed Sprints from their frozen outcomes. Query counts are fixed, whatever
the size of a Sprint."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from django.db.models import F

from backlog.models import ColumnCategory, Nexus, ProductBacklogItem, TeamStatus, WorkflowColumn
from events.models import OPEN_STATES, SnapshotKind, Sprint, SprintSnapshot, SprintState
from flow.history import nexus_today

if TYPE_CHECKING:
    from events.selectors import Square
    from flow.selectors import SLE

#: The groups of the Nexus Sprint Backlog, in the order a page shows them.
GROUP_NOT_STARTED = "not_started"
GROUP_STARTED = "started"
GROUP_READY = "ready"
GROUP_DONE = "done"
GROUPS = (
    (GROUP_NOT_STARTED, "Not started in any team"),
    (GROUP_STARTED, "Started in some teams"),
    (GROUP_READY, "Ready to integrate"),
    (GROUP_DONE, "Done"),
)


def sprint_active(*, nexus: Nexus) -> Sprint | None:
    """The Nexus's active Sprint, if any (one query)."""
    return Sprint.objects.filter(nexus=nexus, state=SprintState.ACTIVE).first()


def sprint_current_or_next(*, nexus: Nexus) -> Sprint | None:
    """The active Sprint, else the planned Sprint with the lowest number, else None (one query)."""
    return (
        Sprint.objects.filter(nexus=nexus, state__in=OPEN_STATES)
        .order_by("state", "number")  # "active" < "planned": the active one first
        .first()
    )


def sprint_of_item(*, item: ProductBacklogItem) -> Sprint | None:
    """The planned or active Sprint the PBI is in, if any (one query)."""
    return Sprint.objects.filter(scope__item=item, state__in=OPEN_STATES).first()


@dataclass
class SprintRow:
    """A PBI of a Sprint as the Nexus Sprint Backlog shows it: its team `squares` (`events.selectors.
    Square`, by team name), Work Item Age in calendar days (None when not started or finished) and its
    band against the SLE ("ok", "watch", "late" or ""), and its `group` (`GROUPS`):

    - `done`: the PBI is in the Nexus's finish column or after it, or every square is Done;
    - `ready`: every square is ready to integrate (or Done);
    - `started`: some square has started (or, with no squares, the PBI is in an in-progress column);
    - `not_started`: otherwise."""

    item: ProductBacklogItem
    squares: list[Square] = field(default_factory=list)
    age: int | None = None
    band: str = ""
    sle: SLE | None = None
    group: str = GROUP_NOT_STARTED
    #: The Scrum Team ids of `squares`, in the same order.
    team_ids: list[int] = field(default_factory=list)


def _group(item: ProductBacklogItem, column: WorkflowColumn, finish: int | None, statuses: list[str]) -> str:
    if (finish is not None and column.position >= finish) or (
        statuses and all(s == TeamStatus.DONE for s in statuses)
    ):
        return GROUP_DONE
    if statuses and all(s in (TeamStatus.READY_TO_INTEGRATE, TeamStatus.DONE) for s in statuses):
        return GROUP_READY
    if any(s != TeamStatus.NOT_STARTED for s in statuses) or (
        not statuses and column.category == ColumnCategory.IN_PROGRESS
    ):
        return GROUP_STARTED
    return GROUP_NOT_STARTED


def sprint_items(*, sprint: Sprint, today: date | None = None) -> list[SprintRow]:
    """Every PBI of the Sprint's scope (deleted ones left out), in Product Backlog order, as `SprintRow`s.
    Queries: a fixed number (the items with their flow dates, the squares, the teams, the columns, the
    SLEs), whatever the size of the Sprint."""
    items = list(
        ProductBacklogItem.objects.alive()
        .filter(sprint_rows__sprint=sprint)
        .order_by("rank")
        .annotate(started_on=F("flow__started_on"), finished_on=F("flow__finished_on"))
    )
    return sprint_rows(sprint=sprint, items=items, today=today)


def sprint_rows(
    *, sprint: Sprint, items: list[ProductBacklogItem], today: date | None = None
) -> list[SprintRow]:
    """`SprintRow`s of these PBIs of the Sprint (each annotated with `started_on` and `finished_on`, its
    `ItemFlow` dates, as `sprint_items` loads them), in the order given. A fixed number of queries."""
    from events.board import _CardMaker
    from flow.selectors import sles_get

    nexus = sprint.nexus
    today = today or nexus_today(nexus)
    columns = {c.pk: c for c in WorkflowColumn.objects.filter(nexus=nexus).order_by("position")}
    finish = next((c.position for c in columns.values() if c.is_finish), None)
    sles, _settings = sles_get(nexus=nexus)
    maker = _CardMaker(nexus=nexus, today=today, sles=sles)
    cards = maker.cards(items)
    team_id_of = {team.name: pk for pk, team in maker.teams.items()}
    rows = []
    for card in cards:
        column = columns[card.item.column_id]
        statuses = [sq.status for sq in card.squares]
        rows.append(
            SprintRow(
                item=card.item,
                squares=card.squares,
                age=card.age,
                band=card.band,
                sle=card.sle,
                group=_group(card.item, column, finish, statuses),
                team_ids=[team_id_of[sq.name] for sq in card.squares],
            )
        )
    return rows


@dataclass(frozen=True)
class SprintOutcome:
    """A closed Sprint's outcome, from its `close` snapshot: `done` = its Throughput (PBIs finished by the
    close), `not_done` = unfinished PBIs, `carried` = of those, carried over to the next Sprint;
    `done_by_team` = `{team id: Throughput}` (a PBI counts for each team forecast on it when the Sprint
    started, else when it closed)."""

    sprint: Sprint
    done: int
    not_done: int
    carried: int
    done_by_team: dict[int, int]


def sprint_outcomes(*, nexus: Nexus, limit: int = 6) -> list[SprintOutcome]:
    """The last `limit` closed Sprints of the Nexus, most recent first, with their frozen outcomes (three
    queries: the Sprints, their snapshots, the squares of their done PBIs)."""
    from backlog.models import TeamInvolvement

    sprints = list(Sprint.objects.filter(nexus=nexus, state=SprintState.CLOSED).order_by("-number")[:limit])
    snaps: dict[tuple[int, str], dict[str, Any]] = {
        (s.sprint_id, s.kind): s.data
        for s in SprintSnapshot.objects.filter(sprint__in=sprints).only("sprint_id", "kind", "data")
    }
    done_ids: set[int] = set()
    for sprint in sprints:
        done_ids.update(snaps.get((sprint.pk, SnapshotKind.CLOSE), {}).get("done", []))
    now_teams: dict[int, list[int]] = {}
    for item_id, team_id in TeamInvolvement.objects.filter(item_id__in=done_ids).values_list(
        "item_id", "team_id"
    ):
        now_teams.setdefault(item_id, []).append(team_id)
    outcomes = []
    for sprint in sprints:
        close = snaps.get((sprint.pk, SnapshotKind.CLOSE), {})
        start = snaps.get((sprint.pk, SnapshotKind.START), {})
        planned_teams = {row["id"]: row.get("teams", []) for row in start.get("items", [])}
        by_team: dict[int, int] = {}
        for item_id in close.get("done", []):
            for team_id in planned_teams.get(item_id) or now_teams.get(item_id, []):
                by_team[team_id] = by_team.get(team_id, 0) + 1
        not_done = close.get("not_done", [])
        outcomes.append(
            SprintOutcome(
                sprint=sprint,
                done=len(close.get("done", [])),
                not_done=len(not_done),
                carried=sum(1 for row in not_done if row.get("destination") == "next"),
                done_by_team=by_team,
            )
        )
    return outcomes
