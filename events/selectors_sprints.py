"""Reads of the two Sprint pages beyond the Sprint contract's selectors (`events.selectors`): the
Nexus Sprint Planning page (the top of the ordered Product Backlog, ready items first; each Scrum
Team's Throughput per Sprint over its recent closed Sprints; the team lanes of the Sprint being
planned) and the Nexus Sprint Backlog page's grouping and filters.

Units: dates are calendar days in the Nexus's time zone; a Sprint's `start_date..end_date` is
inclusive (the Sprint contract). Throughput per Sprint comes from the team-level flow
(`flow.team_level`): for a team whose stored figures have the team basis (it has team-level history),
the PBIs whose team square became filled (ready to integrate) or Done within the Sprint
(`flow.ItemTeamFlow.finished_on`), its Sprints that ended before its first team-level row from the
Nexus columns; for a team without team-level history (imported history), from the Nexus columns
(`flow.ItemFlow.finished_on`: the day an item entered the finished column of the Nexus's Definition of
Workflow) for the items the team is forecast on (`backlog.TeamInvolvement`). Each team's and each
Sprint's `basis` says which, and the page labels it.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, Min, OuterRef, Q

from backlog.models import (
    ColumnCategory,
    Dependency,
    DependencyKind,
    DependencyStatus,
    Nexus,
    ProductBacklogItem,
    ScrumTeam,
    TeamInvolvement,
    TeamStatus,
    Transition,
    WorkflowColumn,
)
from backlog.selectors import AnyUser
from events.models import Sprint, SprintItem, SprintState, SprintTeamGoal
from events.services import PlanningRights, planning_rights
from events.services import can_plan_sprints as services_can_plan
from events.sprint_selectors import _group, sprint_active
from flow.history import nexus_today
from flow.metrics import percentile
from flow.models import FlowSnapshot, ItemFlow, ItemTeamFlow
from flow.selectors import age_band, sles_get
from flow.team_level import HISTORY_KINDS

#: Closed Sprints whose Throughput the planning page shows (the most recent first).
RECENT_SPRINTS = 6
#: Candidates shown at most on the planning page (the top of the ordered Product Backlog).
CANDIDATES_DEFAULT = 100
CANDIDATES_MAX = 500


# --- Who plans -------------------------------------------------------------------------------------------


def can_plan_sprints(*, user: AnyUser, nexus: Nexus) -> bool:
    """Whether the user plans Sprints on the pages: the rule `events.services.can_plan_sprints` (the
    Product Owner, Nexus Integration Team members, superusers) that the API's `sprint_planning`
    permission rule applies too; every other member reads. One query (none for a superuser)."""
    return services_can_plan(user=user, nexus=nexus)


def planning_rights_of(*, user: AnyUser, nexus: Nexus) -> PlanningRights:
    """What the user plans on the planning page (`events.services.planning_rights`, the rule every door
    obeys): the whole Sprint (`whole`: the Product Owner, Nexus Integration Team members, superusers), or
    the lanes and Sprint Goals of their own Scrum Teams (`teams`: a Developer's or Scrum Master's), or
    nothing (Stakeholders read). One query (none for a superuser)."""
    return planning_rights(user=user, nexus_id=nexus.pk)


# --- Throughput per Sprint --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SprintCount:
    """Items of one team finished within one closed Sprint (`number`, `start..end` inclusive), counted
    from `basis`: "team" (its own flow) or "nexus" (the Nexus columns: a team without team-level
    history, or a Sprint that ended before the team's team-level history began)."""

    number: int
    start: Any
    end: Any
    count: int
    basis: str = "nexus"


@dataclass
class TeamThroughput:
    """A Scrum Team's Throughput per Sprint over the recent closed Sprints (`sprints`, the most recent
    first), its nearest-rank 50th and 85th percentiles (None without a closed Sprint; `flow.metrics.
    percentile`), and how many PBIs it has selected in the Sprint being planned (`selected`).
    `basis` is where the counts come from: "team" (the team's own flow: squares filled within the
    Sprint) or "nexus" (the Nexus columns of its items, for a team without team-level history)."""

    team: ScrumTeam
    sprints: list[SprintCount] = field(default_factory=list)
    basis: str = "nexus"
    #: the first day of the team's team-level history (team basis only; calendar day, Nexus time zone)
    own_since: Any = None
    selected: int = 0
    goal: str = ""

    @property
    def counts(self) -> list[int]:
        return [s.count for s in self.sprints]

    @property
    def p50(self) -> int | None:
        return percentile(self.counts, 0.5) if self.sprints else None

    @property
    def p85(self) -> int | None:
        return percentile(self.counts, 0.85) if self.sprints else None

    @property
    def bars(self) -> list[tuple[SprintCount, int]]:
        """Each Sprint's count with a bar height in pixels (at most 18, the team's busiest Sprint), the
        oldest Sprint first (a sparkline reads left to right)."""
        top = max(self.counts, default=0) or 1
        return [(s, max(1, round(18 * s.count / top))) for s in reversed(self.sprints)]

    @property
    def nexus_sprints(self) -> int:
        """How many of the Sprints shown are counted from the Nexus columns although the team has
        team-level history (they ended before it began)."""
        return sum(1 for s in self.sprints if s.basis == "nexus") if self.basis == "team" else 0

    @property
    def over_p85(self) -> bool:
        """The selection is above the 85th percentile of the team's Throughput (a warning, not a refusal)."""
        return self.p85 is not None and self.selected > self.p85


def team_throughput_get(
    *, nexus: Nexus, teams: list[ScrumTeam], recent: int = RECENT_SPRINTS
) -> tuple[list[Sprint], dict[int, TeamThroughput]]:
    """The last `recent` closed Sprints of the Nexus (the most recent first) and, per team id, the
    PBIs the team finished within each Sprint's dates (inclusive): from its own flow
    (`ItemTeamFlow.finished_on`, the day its square became filled) for a team whose stored figures
    have the team basis, else the items of that team (`TeamInvolvement`) whose `ItemFlow.finished_on`
    (the Nexus columns) falls within them; see the module. A Sprint that ended before a team's first
    team-level row is counted from the Nexus columns too (its `basis` says so): the team had no
    history of its own then. At most five queries, whatever the number of Sprints, teams and items
    (counts per team and finish day, summed per Sprint here)."""
    sprints = list(Sprint.objects.filter(nexus=nexus, state=SprintState.CLOSED).order_by("-number")[:recent])
    out = {t.pk: TeamThroughput(team=t) for t in teams}
    own = set(
        FlowSnapshot.objects.filter(nexus=nexus, team__isnull=False, basis="team").values_list(
            "team_id", flat=True
        )
    )
    for tt in out.values():
        tt.basis = "team" if tt.team.pk in own else "nexus"
    if not sprints:
        return sprints, out
    first = min(s.start_date for s in sprints)
    last = max(s.end_date for s in sprints)
    per_day: dict[int, dict[Any, int]] = defaultdict(dict)  # the Nexus columns
    own_day: dict[int, dict[Any, int]] = defaultdict(dict)  # the team-level flow
    if own:
        tz = zoneinfo.ZoneInfo(nexus.time_zone)
        since = (
            Transition.objects.filter(kind__in=HISTORY_KINDS, team_id__in=own)
            .values_list("team_id")
            .annotate(first=Min("at"))
            .order_by()
        )
        for team_id, at in since:
            out[team_id].own_since = at.astimezone(tz).date()
    if own:  # the team-level flow: squares filled within the Sprint
        team_rows = (
            ItemTeamFlow.objects.filter(
                nexus=nexus, team_id__in=own, finished_on__gte=first, finished_on__lte=last
            )
            .values_list("team_id", "finished_on")
            .annotate(n=Count("id"))
            .order_by()
        )
        for team_id, day, n in team_rows:
            own_day[team_id][day] = n
    # From the finished items (index `itemflow_nexus_finished`) to their teams, not the other way.
    rows = (
        ItemFlow.objects.filter(
            nexus=nexus,
            finished_on__gte=first,
            finished_on__lte=last,
            item__deleted_at__isnull=True,
            item__involvements__isnull=False,
        )
        .values_list("item__involvements__team_id", "finished_on")
        .annotate(n=Count("item_id"))
        .order_by()
    )
    for team_id, day, n in rows:
        per_day[team_id][day] = n
    for tt in out.values():
        for s in sprints:
            own_flow = tt.basis == "team" and (tt.own_since is None or s.end_date >= tt.own_since)
            days = (own_day if own_flow else per_day).get(tt.team.pk, {})
            n = sum(c for d, c in days.items() if s.start_date <= d <= s.end_date)
            tt.sprints.append(
                SprintCount(s.number, s.start_date, s.end_date, n, "team" if own_flow else "nexus")
            )
    return sprints, out


# --- The planning page ------------------------------------------------------------------------------------


@dataclass
class PlanCard:
    """A PBI on the planning page: in the candidates list (not in any planned or active Sprint) or in
    the Sprint's team lanes. `ready` is True for an item in a column marked ready or further right
    (started already); False warns "not ready" (a column to the left of the ready one). `squares` are
    (team id, code, name, status, status label) by team name."""

    pk: int
    title: str
    external_id: str
    column_name: str
    ready: bool
    is_blocked: bool
    squares: list[tuple[int, str, str, str, str]] = field(default_factory=list)

    @property
    def team_ids(self) -> set[int]:
        return {s[0] for s in self.squares}


@dataclass
class Lane:
    """A team lane of the Sprint being planned: its PBIs (in Product Backlog order) and its figures."""

    team: ScrumTeam
    throughput: TeamThroughput
    cards: list[PlanCard] = field(default_factory=list)
    #: The cards' markup, set by the page (`events.views_planning.card_rows_html`).
    cards_html: str = ""
    #: Whether the person viewing plans into this lane (set by the page from `planning_rights_of`): a drop
    #: target with a remove button on each card, else read-only.
    plannable: bool = False


@dataclass
class Planning:
    """What the planning page shows. `sprint` is the Sprint being planned (the first planned one by
    number; None: the page offers to create it); `active` the active Sprint, if any; `candidates` the
    top of the ordered Product Backlog not yet in a planned or active Sprint, ready items first, then
    the others, each in Product Backlog order; `more` how many candidates are not shown; `no_team` the
    Sprint's PBIs without any team; `closed` the recent closed Sprints (the most recent first);
    `has_ready_column` False when no column is marked ready (then no PBI is flagged not ready)."""

    nexus: Nexus
    sprint: Sprint | None
    active: Sprint | None
    teams: list[ScrumTeam]
    candidates: list[PlanCard]
    more: bool
    lanes: list[Lane]
    no_team: list[PlanCard]
    closed: list[Sprint]
    has_ready_column: bool
    scope_count: int = 0
    #: (selected PBI, the PBI it waits on) for each open dependency of a PBI of the Sprint on work no
    #: team selected: not in the Sprint, not in the active one, not finished (labels: external id or id).
    waits_on_unselected: list[tuple[str, str]] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        """Warnings, not refusals: teams above their 85th percentile, PBIs not ready, PBIs that depend
        on work no team selected."""
        out = [
            f"{lane.team.name} has selected {lane.throughput.selected} PBIs, above its 85th percentile of "
            f"{lane.throughput.p85} per Sprint."
            for lane in self.lanes
            if lane.throughput.over_p85
        ]
        seen: set[int] = set()
        not_ready = []
        for card in [c for lane in self.lanes for c in lane.cards] + self.no_team:
            if not card.ready and card.pk not in seen:
                seen.add(card.pk)
                not_ready.append(card)
        if not_ready:
            names = ", ".join(f"{c.external_id or c.pk}" for c in not_ready[:5])
            extra = f" and {len(not_ready) - 5} more" if len(not_ready) > 5 else ""
            out.append(
                f"{len(not_ready)} selected PBI{'s are' if len(not_ready) != 1 else ' is'} not ready "
                f"({names}{extra})."
            )
        if self.waits_on_unselected:
            pairs = self.waits_on_unselected
            shown = ", ".join(f"{a} on {b}" for a, b in pairs[:5])
            extra = f" and {len(pairs) - 5} more" if len(pairs) > 5 else ""
            out.append(
                f"{len(pairs)} selected PBI{'s depend' if len(pairs) != 1 else ' depends'} on work no team "
                f"selected ({shown}{extra})."
            )
        return out


def _waits_on_unselected(*, sprint: Sprint, scope_ids: list[int]) -> list[tuple[str, str]]:
    """The open dependencies of the Sprint's PBIs (`scope_ids`) on PBIs no team selected: a
    `depends_on` edge whose target, and either side of an `integrates_with` pair (they integrate
    together), is alive, not finished and in no planned or active Sprint. One query."""
    if not scope_ids:
        return []
    selected = SprintItem.objects.filter(
        item_id=OuterRef("pk"), sprint__state__in=[SprintState.PLANNED, SprintState.ACTIVE]
    )
    waiting = (
        ProductBacklogItem.objects.alive()
        .exclude(column__category=ColumnCategory.DONE)
        .filter(~Exists(selected))
        .values("pk")
    )
    scope = set(scope_ids)
    rows = (
        Dependency.objects.filter(status=DependencyStatus.OPEN)
        .filter(
            Q(item_id__in=scope_ids, depends_on_id__in=waiting)
            | Q(kind=DependencyKind.INTEGRATES_WITH, depends_on_id__in=scope_ids, item_id__in=waiting)
        )
        .order_by("item__rank", "id")
        .values_list("item_id", "item__external_id", "depends_on_id", "depends_on__external_id")
    )
    out = []
    for item_id, item_ext, other_id, other_ext in rows:
        a, b = (item_ext or str(item_id), other_ext or str(other_id))
        out.append((a, b) if item_id in scope else (b, a))
    return out


def _readiness(columns: list[WorkflowColumn]) -> tuple[dict[int, bool], bool]:
    """Per column id: whether an item there counts as ready (the ready column or any to its right);
    and whether the Definition of Workflow marks a column ready at all."""
    ready_pos = [c.position for c in columns if c.is_ready]
    if not ready_pos:
        return {c.pk: True for c in columns}, False
    first = min(ready_pos)
    return {c.pk: c.position >= first for c in columns}, True


def _cards(items: list[Any], ready_of: dict[int, bool], squares: dict[int, list[Any]]) -> list[PlanCard]:
    return [
        PlanCard(
            pk=i["pk"],
            title=i["title"],
            external_id=i["external_id"],
            column_name=i["column__name"],
            ready=ready_of.get(i["column_id"], True),
            is_blocked=i["is_blocked"],
            squares=squares.get(i["pk"], []),
        )
        for i in items
    ]


_ITEM_VALUES = ("pk", "title", "external_id", "column_id", "column__name", "is_blocked", "rank")


def _squares_of(ids: list[int], teams: dict[int, ScrumTeam]) -> dict[int, list[Any]]:
    labels = dict(TeamStatus.choices)
    out: dict[int, list[Any]] = defaultdict(list)
    rows = TeamInvolvement.objects.filter(item_id__in=ids).values_list("item_id", "team_id", "status")
    for item_id, team_id, status in rows:
        team = teams.get(team_id)
        if team is not None:
            out[item_id].append((team_id, team.code, team.name, status, labels.get(status, status)))
    for squares in out.values():
        squares.sort(key=lambda s: s[2])
    return out


def planning_get(*, nexus: Nexus, limit: int = CANDIDATES_DEFAULT) -> Planning:
    """The Nexus Sprint Planning page's data (see `Planning`). Queries: a fixed number (about ten),
    whatever the number of PBIs, teams and Sprints. Candidates: open PBIs (alive, not in a finished
    column) of the Nexus that are in no planned or active Sprint, ready ones first; at most `limit`
    (1..`CANDIDATES_MAX`)."""
    limit = max(1, min(limit, CANDIDATES_MAX))
    teams = list(ScrumTeam.objects.filter(nexus=nexus).order_by("name"))
    by_id = {t.pk: t for t in teams}
    columns = list(WorkflowColumn.objects.filter(nexus=nexus).order_by("position"))
    ready_of, has_ready = _readiness(columns)
    sprints = list(
        Sprint.objects.filter(nexus=nexus, state__in=[SprintState.PLANNED, SprintState.ACTIVE]).order_by(
            "number"
        )
    )
    active = next((s for s in sprints if s.state == SprintState.ACTIVE), None)
    sprint = next((s for s in sprints if s.state == SprintState.PLANNED), None)
    open_items = (
        ProductBacklogItem.objects.alive()
        .filter(backlog__nexus=nexus)
        .exclude(column__category=ColumnCategory.DONE)
    )
    busy = SprintItem.objects.filter(
        item_id=OuterRef("pk"), sprint__state__in=[SprintState.PLANNED, SprintState.ACTIVE]
    )
    free = open_items.filter(~Exists(busy))
    ready_ids = [c.pk for c in columns if ready_of[c.pk] and c.category == ColumnCategory.NOT_STARTED]
    if not has_ready:
        ready_ids = []
    is_ready = Q(column_id__in=ready_ids)
    # Ready first, then the others; each in Product Backlog order (rank). One more than shown: is
    # there more?
    picked = list(free.filter(is_ready).order_by("rank").values(*_ITEM_VALUES)[: limit + 1])
    if len(picked) <= limit:
        picked += list(
            free.exclude(is_ready).order_by("rank").values(*_ITEM_VALUES)[: limit + 1 - len(picked)]
        )
    more = len(picked) > limit
    picked = picked[:limit]
    scope: list[dict[str, Any]] = []
    if sprint is not None:
        scope = list(
            ProductBacklogItem.objects.filter(sprint_rows__sprint=sprint)
            .order_by("rank")
            .values(*_ITEM_VALUES)
        )
    squares = _squares_of([i["pk"] for i in picked] + [i["pk"] for i in scope], by_id)
    candidates = _cards(picked, ready_of, squares)
    scope_cards = _cards(scope, ready_of, squares)
    closed, throughput = team_throughput_get(nexus=nexus, teams=teams)
    if sprint is not None:
        for tg in SprintTeamGoal.objects.filter(sprint=sprint):
            if tg.team_id in throughput:
                throughput[tg.team_id].goal = tg.goal
    lanes = [Lane(team=t, throughput=throughput[t.pk]) for t in teams]
    lane_of = {lane.team.pk: lane for lane in lanes}
    no_team = []
    for card in scope_cards:
        if not card.squares:
            no_team.append(card)
        for team_id in card.team_ids:
            lane_of[team_id].cards.append(card)
    for lane in lanes:
        lane.throughput.selected = len(lane.cards)
    return Planning(
        nexus=nexus,
        sprint=sprint,
        active=active,
        teams=teams,
        candidates=candidates,
        more=more,
        lanes=lanes,
        no_team=no_team,
        closed=closed,
        has_ready_column=has_ready,
        scope_count=len(scope_cards),
        waits_on_unselected=(
            _waits_on_unselected(sprint=sprint, scope_ids=[c.pk for c in scope_cards])
            if sprint is not None
            else []
        ),
    )


# --- The Nexus Sprint Backlog page ----------------------------------------------------------------------

#: The groups of the Nexus Sprint Backlog page, in the order shown: (key, heading, what it means).
GROUPS = (
    ("not_started", "Not started in any team", "No team has started its part."),
    ("started", "Started in some teams", "At least one team is working on its part."),
    ("ready", "Ready to integrate", "Every team forecast on it has finished its part."),
    (
        "done",
        "Done",
        "Integrated: in the finished column of the Definition of Workflow, or every square ticked.",
    ),
)


def sprint_group(*, squares: list[str], column: WorkflowColumn, finish: int | None) -> str:
    """The group of a PBI of the Sprint (`GROUPS`), from its squares' statuses (`TeamStatus` values),
    its Nexus column and the position of the finish column: the one rule of
    `events.sprint_selectors.SprintRow` (Done: at or after the finish column, or every square Done;
    ready to integrate: every square ready or Done; started: a square started, or no square and an
    in-progress column; else not started)."""
    return _group(None, column, finish, squares)  # type: ignore[arg-type]


#: What a card of the Nexus Sprint Backlog reads of a PBI (with its flow dates).
_PBI_VALUES = (
    "pk",
    "external_id",
    "title",
    "is_blocked",
    "blocked_reason",
    "column_id",
    "flow__started_on",
    "flow__finished_on",
)


@dataclass(frozen=True, slots=True)
class SprintPBI:
    """A PBI as a card of the Nexus Sprint Backlog shows it (plain values, not a model instance)."""

    pk: int
    external_id: str
    title: str
    is_blocked: bool
    blocked_reason: str
    column: WorkflowColumn


@dataclass(frozen=True, slots=True)
class SquareRow:
    """One team square of a PBI, with what `backlog/_squares.html` reads of a `TeamInvolvement`:
    `status` (a `TeamStatus` value), `team` (name, code) and `get_status_display` (the label)."""

    team: ScrumTeam
    status: str
    get_status_display: str

    @property
    def team_id(self) -> int:
        return int(self.team.pk)


@dataclass
class BacklogCard:
    """A PBI of the Nexus Sprint Backlog: the item (`SprintPBI`), its `squares` (`SquareRow`s by team
    name, as `backlog/_squares.html` draws them), its group (`sprint_group`), its Work Item Age
    in calendar days (None when not started or finished) and the band against its SLE (the team's
    when one team works on it and it has an SLE, else the Nexus's; `flow.selectors.age_band`)."""

    item: SprintPBI
    squares: list[SquareRow]
    group: str
    age: int | None
    band: str
    sle: Any
    #: the open dependencies on the row (`events.selectors_dependencies`): the PBIs it waits on and those
    #: waiting on it, by external id (else `#id`), and whether one of them is late
    depends_on: list[str] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)
    deps_late: bool = False


def _label(item: Any) -> str:
    return item.external_id or f"#{item.pk}"


def _dependencies_add(*, nexus: Nexus, cards: dict[int, BacklogCard], today: Any) -> None:
    """The open dependencies of the Nexus on these cards (both ends), judged by flow: a fixed number of
    queries (`dependencies_judged`), none without dependencies."""
    from events.selectors_dependencies import dependencies_judged

    for judged in dependencies_judged(nexus=nexus, today=today):
        dep = judged.dependency
        if (card := cards.get(dep.item_id)) is not None:
            card.depends_on.append(_label(judged.depends_on))
            card.deps_late = card.deps_late or judged.late
        if (card := cards.get(dep.depends_on_id)) is not None:
            card.blocks.append(_label(judged.item))
            card.deps_late = card.deps_late or judged.late


@dataclass
class SprintBacklog:
    """The Nexus Sprint Backlog of the active Sprint: its goals, every PBI grouped (`groups`: key,
    heading, help, cards; a filter keeps only matching PBIs but counts the whole Sprint in `total`),
    the teams (for the filter) and today's date (Work Item Age is as of it)."""

    nexus: Nexus
    sprint: Sprint
    team_goals: list[SprintTeamGoal]
    teams: list[ScrumTeam]
    groups: list[tuple[str, str, str, list[BacklogCard]]]
    total: int
    shown: int
    today: Any
    sle: Any

    @property
    def day(self) -> int:
        """Today's day of the Sprint, from 1 (calendar days in the Nexus's time zone; clipped to the
        Sprint's length)."""
        return max(1, min((self.today - self.sprint.start_date).days + 1, self.sprint.length_days))


def sprint_backlog_get(
    *, nexus: Nexus, sprint: Sprint, team: int | None = None, q: str = "", today: Any = None
) -> SprintBacklog:
    """The Nexus Sprint Backlog of `sprint` (see `SprintBacklog`), PBIs in Product Backlog order within
    each group. `team` (a Scrum Team id) keeps the PBIs that team is forecast on; `q` those whose title
    or external id contains it (case-insensitive). Queries: a fixed number (about seven), whatever the
    number of PBIs and teams."""
    today = today or nexus_today(nexus)
    teams = list(ScrumTeam.objects.filter(nexus=nexus).order_by("name"))
    team_by_id = {t.pk: t for t in teams}
    columns = {c.pk: c for c in WorkflowColumn.objects.filter(nexus=nexus)}
    finish = next((c.position for c in columns.values() if c.is_finish), None)
    items_qs = ProductBacklogItem.objects.alive().filter(sprint_rows__sprint=sprint).order_by("rank")
    total = SprintItem.objects.filter(sprint=sprint, item__deleted_at__isnull=True).count()
    if team:
        items_qs = items_qs.filter(
            Exists(TeamInvolvement.objects.filter(item_id=OuterRef("pk"), team_id=team))
        )
    if q:
        items_qs = items_qs.filter(Q(title__icontains=q) | Q(external_id__icontains=q))
    # Plain values, not model instances: a Sprint has hundreds of PBIs and squares.
    rows = list(items_qs.values_list(*_PBI_VALUES))
    labels = dict(TeamStatus.choices)
    squares_of: dict[int, list[SquareRow]] = defaultdict(list)
    for item_id, team_id, status in TeamInvolvement.objects.filter(
        item__sprint_rows__sprint=sprint, item__deleted_at__isnull=True
    ).values_list("item_id", "team_id", "status"):
        squares_of[item_id].append(SquareRow(team_by_id[team_id], status, labels.get(status, status)))
    sles, _settings = sles_get(nexus=nexus)
    nexus_sle = sles[None]
    buckets: dict[str, list[BacklogCard]] = {key: [] for key, *_ in GROUPS}
    shown = 0
    for pk, external_id, title, is_blocked, blocked_reason, column_id, started, finished in rows:
        item = SprintPBI(pk, external_id, title, is_blocked, blocked_reason, columns[column_id])
        invs = sorted(squares_of.get(pk, []), key=lambda sq: sq.team.name)
        group = sprint_group(squares=[i.status for i in invs], column=item.column, finish=finish)
        age = (today - started).days + 1 if started and not finished and group != "done" else None
        own = sles.get(invs[0].team.pk) if len(invs) == 1 else None
        sle = own if own is not None and own.days is not None else nexus_sle
        buckets[group].append(
            BacklogCard(
                item=item,
                squares=invs,
                group=group,
                age=age,
                band=age_band(age, p50=sle.p50, sle=sle.days),
                sle=sle,
            )
        )
        shown += 1
    _dependencies_add(
        nexus=nexus, cards={c.item.pk: c for cards in buckets.values() for c in cards}, today=today
    )
    return SprintBacklog(
        nexus=nexus,
        sprint=sprint,
        team_goals=list(
            SprintTeamGoal.objects.filter(sprint=sprint).select_related("team").order_by("team__name")
        ),
        teams=teams,
        groups=[(key, heading, help_text, buckets[key]) for key, heading, help_text in GROUPS],
        total=total,
        shown=shown,
        today=today,
        sle=nexus_sle,
    )


def sprint_active_get(*, nexus: Nexus) -> Sprint | None:
    """The Nexus's active Sprint, if any (`events.sprint_selectors.sprint_active`; one query)."""
    return sprint_active(nexus=nexus)
