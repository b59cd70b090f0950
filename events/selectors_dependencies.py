"""Reads of the dependencies between PBIs for the Nexus event pages: dependencies judged by flow, the
Dependency board (Scrum Teams x Sprints) and the Cross-Team Refinement board.

Judged by flow (issue 12): each open dependency shows how long its dependent PBI has waited, its Work
Item Age (calendar days since it started, inclusive, in the Nexus's time zone; None before it starts),
against the Service Level Expectation (SLE) of the dependent's team when one team is forecast on it, else
the Nexus's (`flow.selectors.sles_get`). A dependency is *late* when the PBI it waits on is planned in a
later Sprint than the dependent (or in none while the dependent is planned, and it is not finished), or
when the dependent's age is beyond the SLE (Kanban Guide for Scrum Teams: Work Item Age against SLE).
Sprints live here in `events`, so the Sprint part of the judgement is here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

from django.db.models import Count, F, Q, QuerySet

from backlog.models import (
    ColumnCategory,
    Dependency,
    DependencyKind,
    DependencyStatus,
    Nexus,
    ProductBacklogItem,
    ScrumTeam,
    TeamInvolvement,
    WorkflowColumn,
)
from events.models import OPEN_STATES, Sprint, SprintItem, SprintState
from flow.history import nexus_today
from flow.selectors import SLE, age_band, sles_get

#: The fields of a dependency and of its two PBIs the pages read (not the PBIs' descriptions).
DEPENDENCY_FIELDS = (
    "id",
    "nexus_id",
    "item_id",
    "depends_on_id",
    "kind",
    "status",
    "item__id",
    "item__title",
    "item__external_id",
    "item__column_id",
    "depends_on__id",
    "depends_on__title",
    "depends_on__external_id",
    "depends_on__column_id",
)
#: Sprints the Dependency board shows: the current one and the next few.
BOARD_SPRINTS = 4
BOARD_SPRINTS_MAX = 8
#: PBIs the Cross-Team Refinement board shows by default (the upper part of the Product Backlog).
REFINEMENT_ROWS = 30
REFINEMENT_MAX = 200


@dataclass
class JudgedDependency:
    """An open dependency judged by flow. `age`: the dependent PBI's Work Item Age (calendar days; None
    before it starts); `sle_days`: the SLE it is judged against (None: no SLE yet); `band`: "ok",
    "watch", "late" or "" (`flow.selectors.age_band`); `item_sprint` / `depends_on_sprint`: the planned or
    active Sprint of each PBI (None: in none); `late` and `reasons` (for people)."""

    dependency: Dependency
    item: ProductBacklogItem
    depends_on: ProductBacklogItem
    age: int | None
    sle_days: int | None
    band: str
    item_sprint: Sprint | None
    depends_on_sprint: Sprint | None
    late: bool = False
    reasons: list[str] = field(default_factory=list)


def _placement(nexus: Nexus, item_ids: Q) -> dict[int, Sprint]:
    """The open (planned or active) Sprint of each PBI matched by `item_ids` (a condition on `item_id`)
    that is in one. Two queries (the Sprints once each, not once per PBI)."""
    rows = SprintItem.objects.filter(
        item_ids, sprint__nexus=nexus, sprint__state__in=OPEN_STATES
    ).values_list("item_id", "sprint_id")
    pairs = list(rows)
    sprints = {s.pk: s for s in Sprint.objects.filter(pk__in={sprint_id for _i, sprint_id in pairs})}
    return {item_id: sprints[sprint_id] for item_id, sprint_id in pairs}


def _late(j: JudgedDependency, finished: bool) -> None:
    """Set `late` and `reasons` (see the module)."""
    if j.dependency.kind == DependencyKind.DEPENDS_ON and not finished and j.item_sprint is not None:
        if j.depends_on_sprint is None:
            j.reasons.append(
                f"#{j.depends_on.pk} is in no Sprint while #{j.item.pk} is in Sprint {j.item_sprint.number}"
            )
        elif j.depends_on_sprint.number > j.item_sprint.number:
            j.reasons.append(
                f"#{j.depends_on.pk} is planned in Sprint {j.depends_on_sprint.number}, after #{j.item.pk}'s "
                f"Sprint {j.item_sprint.number}"
            )
    if j.band == "late":
        j.reasons.append(f"#{j.item.pk} has aged beyond the SLE")
    j.late = bool(j.reasons)


def dependencies_judged(
    *, nexus: Nexus, today: date | None = None, dependencies: QuerySet[Dependency] | None = None
) -> list[JudgedDependency]:
    """Every open dependency of the Nexus (or those of the queryset `dependencies`, open ones of the
    Nexus), judged by flow (see the module), by id. A fixed number of queries (eight), whatever the
    number of dependencies: the PBIs at either end are read through subqueries of `dependencies`, never
    as lists of ids sent to the database (300 dependencies would send some 600 ids four times)."""
    today = today or nexus_today(nexus)
    if dependencies is None:
        dependencies = Dependency.objects.filter(nexus=nexus, status=DependencyStatus.OPEN)
    dependencies = (
        dependencies.select_related("item", "depends_on")
        .only(*DEPENDENCY_FIELDS)
        .annotate(started_on=F("item__flow__started_on"))
        .order_by("pk")
    )
    rows = list(dependencies)
    if not rows:
        return []
    ends = dependencies.order_by().values("item_id")
    either = ends.union(dependencies.order_by().values("depends_on_id"))
    done_columns = set(
        WorkflowColumn.objects.filter(nexus=nexus, category=ColumnCategory.DONE).values_list("pk", flat=True)
    )
    teams: dict[int, list[int]] = {}
    for item_id, team_id in TeamInvolvement.objects.filter(item_id__in=ends).values_list(
        "item_id", "team_id"
    ):
        teams.setdefault(item_id, []).append(team_id)
    sles, _settings = sles_get(nexus=nexus)
    placed = _placement(nexus, Q(item_id__in=either))
    out = []
    for dep in rows:
        started = dep.started_on
        age = (today - started).days + 1 if started and dep.item.column_id not in done_columns else None
        own = teams.get(dep.item_id, [])
        sle: SLE = sles[None]
        if len(own) == 1 and own[0] in sles and sles[own[0]].days is not None:
            sle = sles[own[0]]
        judged = JudgedDependency(
            dependency=dep,
            item=dep.item,
            depends_on=dep.depends_on,
            age=age,
            sle_days=sle.days,
            band=age_band(age, p50=sle.p50, sle=sle.days),
            item_sprint=placed.get(dep.item_id),
            depends_on_sprint=placed.get(dep.depends_on_id),
        )
        _late(judged, finished=dep.depends_on.column_id in done_columns)
        out.append(judged)
    return out


# --- The Dependency board ---------------------------------------------------------------------------------


class CardItem(NamedTuple):
    """What a card shows of its PBI."""

    pk: int
    title: str


@dataclass
class BoardCard:
    """A PBI in a (team, Sprint) cell of the Dependency board: `dom_id` is unique on the page (a PBI
    forecast for two teams has a card in each team's row)."""

    item: CardItem
    team_id: int
    sprint_id: int
    dom_id: str


@dataclass
class BoardLine:
    """A line of the board: from the dependent PBI's card to the card of the PBI it depends on."""

    judged: JudgedDependency
    from_id: str
    to_id: str


@dataclass
class DependencyBoard:
    """Scrum Teams (rows) x Sprints (columns: the current one and the next few); `cells[(team id, sprint
    id)]` the cards; `lines` the open dependencies between cards on the board; `judged` every open
    dependency (the text list equivalent of the lines, including those with an end off the board)."""

    sprints: list[Sprint]
    teams: list[ScrumTeam]
    cells: dict[tuple[int, int], list[BoardCard]]
    lines: list[BoardLine]
    judged: list[JudgedDependency]
    team: ScrumTeam | None = None
    others: dict[tuple[int, int], int] = field(default_factory=dict)
    every_item: bool = False

    def rows(self) -> list[tuple[ScrumTeam, list[tuple[list[BoardCard], int]]]]:
        """For the template: each team with, per Sprint in order, its cards and how many of its PBIs there
        have no card."""
        return [
            (t, [(self.cells.get((t.pk, s.pk), []), self.others.get((t.pk, s.pk), 0)) for s in self.sprints])
            for t in self.teams
        ]

    @property
    def late_count(self) -> int:
        return sum(1 for j in self.judged if j.late)


def board_sprints(*, nexus: Nexus, count: int = BOARD_SPRINTS) -> list[Sprint]:
    """The active Sprint (if any) and the planned ones after it, by number, `count` at most. One query."""
    return list(
        Sprint.objects.filter(nexus=nexus, state__in=[SprintState.ACTIVE, SprintState.PLANNED]).order_by(
            "number"
        )[:count]
    )


def dependency_board_get(
    *,
    nexus: Nexus,
    team: ScrumTeam | None = None,
    sprints: int = BOARD_SPRINTS,
    today: date | None = None,
    every_item: bool = False,
) -> DependencyBoard:
    """The Dependency board (see `DependencyBoard`); `team` keeps that team's row only (lines whose both
    ends are in it; the text list keeps the dependencies touching the team). Cards: the PBIs with an open
    dependency (`every_item`: every PBI planned in the Sprints shown); `others[(team id, sprint id)]` counts
    the PBIs of a cell without a card. A fixed number of queries."""
    shown = board_sprints(nexus=nexus, count=sprints)
    teams = list(ScrumTeam.objects.filter(nexus=nexus).order_by("name"))
    if team is not None:
        teams = [t for t in teams if t.pk == team.pk]
    team_ids = {t.pk for t in teams}
    open_deps = Dependency.objects.filter(nexus=nexus, status=DependencyStatus.OPEN)
    planned = SprintItem.objects.filter(sprint__in=shown, item__deleted_at__isnull=True)
    if not every_item:
        planned = planned.filter(
            Q(item_id__in=open_deps.values("item_id")) | Q(item_id__in=open_deps.values("depends_on_id"))
        )
    totals: dict[tuple[int, int], int] = {}
    for sprint_id, team_id, n in (
        TeamInvolvement.objects.filter(
            item__sprint_rows__sprint__in=shown, item__deleted_at__isnull=True, team_id__in=team_ids
        )
        .values_list("item__sprint_rows__sprint_id", "team_id")
        .annotate(n=Count("id"))
        .order_by()
    ):
        totals[(team_id, sprint_id)] = n
    scope = list(
        planned.order_by("sprint__number", "item__rank").values_list("sprint_id", "item_id", "item__title")
    )
    squares: dict[int, list[int]] = {}
    for item_id, team_id in (
        TeamInvolvement.objects.filter(item_id__in=planned.values("item_id"))
        .order_by("team__name")
        .values_list("item_id", "team_id")
    ):
        squares.setdefault(item_id, []).append(team_id)
    cells: dict[tuple[int, int], list[BoardCard]] = {}
    first_card: dict[int, str] = {}
    for sprint_id, item_id, title in scope:
        item = CardItem(item_id, title)
        for team_id in squares.get(item_id, []):
            if team_id not in team_ids:
                continue
            dom_id = f"dep-card-{item_id}-{team_id}"
            cells.setdefault((team_id, sprint_id), []).append(BoardCard(item, team_id, sprint_id, dom_id))
            first_card.setdefault(item_id, dom_id)
    if team is not None:
        touching = TeamInvolvement.objects.filter(team=team).values("item_id")
        open_deps = open_deps.filter(Q(item_id__in=touching) | Q(depends_on_id__in=touching))
    judged = dependencies_judged(nexus=nexus, today=today, dependencies=open_deps)
    lines = [
        BoardLine(j, first_card[j.item.pk], first_card[j.depends_on.pk])
        for j in judged
        if j.item.pk in first_card and j.depends_on.pk in first_card
    ]
    others = {key: n - len(cells.get(key, [])) for key, n in totals.items()}
    return DependencyBoard(shown, teams, cells, lines, judged, team, others, every_item)


# --- The Cross-Team Refinement board ----------------------------------------------------------------------


@dataclass
class RefinementRow:
    """A PBI of the upper Product Backlog: `position` (1-based among the open PBIs shown), the ids of the
    Scrum Teams forecast on it (`team_ids`), whether it is ready, and its open dependencies either way."""

    item: ProductBacklogItem
    position: int
    team_ids: set[int]
    ready: bool
    depends_on: list[Dependency]
    dependents: list[Dependency]

    @property
    def multi_team(self) -> bool:
        return len(self.team_ids) > 1


@dataclass
class Refinement:
    """The Cross-Team Refinement board: `rows` (the upper Product Backlog), `teams` (columns), the ready
    column (None: the Definition of Workflow marks none, and every PBI counts as ready), and over all the
    open PBIs of the Nexus the count of ready PBIs needing one team and several (the Nexus's dependency
    risk)."""

    rows: list[RefinementRow]
    teams: list[ScrumTeam]
    ready_column: WorkflowColumn | None
    ready_one_team: int
    ready_several_teams: int
    ready_no_team: int
    open_dependencies: int

    def cells(self, row: RefinementRow) -> list[tuple[ScrumTeam, bool]]:
        return [(t, t.pk in row.team_ids) for t in self.teams]


def refinement_get(*, nexus: Nexus, limit: int = REFINEMENT_ROWS) -> Refinement:
    """The Cross-Team Refinement board (see `Refinement`): the first `limit` PBIs of the Product Backlog
    not yet started (the columns of category "not started"), in order. A fixed number of queries."""
    columns = list(WorkflowColumn.objects.filter(nexus=nexus).order_by("position"))
    ready_pos = [c.position for c in columns if c.is_ready]
    ready_column = next((c for c in columns if c.is_ready), None)
    not_started = [c.pk for c in columns if c.category == ColumnCategory.NOT_STARTED]
    # As Nexus Sprint Planning counts readiness (`selectors_sprints._readiness`): the ready column and
    # those after it; when the Definition of Workflow marks no column ready, every PBI counts as ready.
    if ready_pos:
        ready_ids = {c.pk for c in columns if c.position >= min(ready_pos)} & set(not_started)
    else:
        ready_ids = set(not_started)
    items = list(
        ProductBacklogItem.objects.alive()
        .filter(backlog__nexus=nexus, column_id__in=not_started)
        .only("id", "title", "external_id", "rank", "column_id", "parent_id", "size", "version")
        .order_by("rank")[:limit]
    )
    ids = [i.pk for i in items]
    teams_of: dict[int, set[int]] = {i: set() for i in ids}
    for item_id, team_id in TeamInvolvement.objects.filter(item_id__in=ids).values_list("item_id", "team_id"):
        teams_of[item_id].add(team_id)
    deps = list(
        Dependency.objects.filter(nexus=nexus, status=DependencyStatus.OPEN)
        .filter(Q(item_id__in=ids) | Q(depends_on_id__in=ids))
        .select_related("item", "depends_on")
        .only(*DEPENDENCY_FIELDS)
        .order_by("pk")
    )
    rows = []
    for n, item in enumerate(items, start=1):
        rows.append(
            RefinementRow(
                item=item,
                position=n,
                team_ids=teams_of[item.pk],
                ready=item.column_id in ready_ids,
                depends_on=[d for d in deps if d.item_id == item.pk],
                dependents=[d for d in deps if d.depends_on_id == item.pk],
            )
        )
    # Over every ready, not started PBI of the Nexus: how many teams each needs (one query).
    counts = {0: 0, 1: 0, 2: 0}
    per_item = (
        ProductBacklogItem.objects.alive()
        .filter(backlog__nexus=nexus, column_id__in=ready_ids)
        .annotate(n=F("pk"))
        .values_list("pk", "involvements__team_id")
    )
    needs: dict[int, int] = {}
    for pk, team_id in per_item:
        needs[pk] = needs.get(pk, 0) + (1 if team_id is not None else 0)
    for n in needs.values():
        counts[min(n, 2)] += 1
    open_count = Dependency.objects.filter(nexus=nexus, status=DependencyStatus.OPEN).count()
    return Refinement(
        rows=rows,
        teams=list(ScrumTeam.objects.filter(nexus=nexus).order_by("name")),
        ready_column=ready_column,
        ready_one_team=counts[1],
        ready_several_teams=counts[2],
        ready_no_team=counts[0],
        open_dependencies=open_count,
    )
