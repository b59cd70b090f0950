"""Reads of stored flow results: the Nexus board (backlog items joined with their flow dates, Service
Level Expectations and WIP limits) and the figures of the flow page and API (stored, or computed on
request for a view that is not stored)."""

from __future__ import annotations

import json
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, F, Q, QuerySet, TextField, Window
from django.db.models.functions import Cast, Coalesce, RowNumber, TruncDate

from backlog.models import (
    ColumnCategory,
    Nexus,
    ProductBacklogItem,
    ScrumTeam,
    TeamInvolvement,
    TeamStatus,
    WorkflowColumn,
)
from backlog.selectors import workflow_columns
from flow.history import nexus_today, workflow_of
from flow.models import FlowDay, FlowSettings, FlowSnapshot, FlowState, WipLimitKind
from flow.report import (
    SLE_DEFAULT_PERCENT,
    SNAPSHOT_FORMAT,
    DayRow,
    FlowData,
    FlowQuery,
    flow_compute,
    forecast_again,
    percentile_of_histogram,
)

#: Cards of an unfinished column shown at first and added by each "show more" (Product Backlog order);
#: finished columns show the `DONE_CAP` most recently finished.
CARD_PAGE = 50
DONE_CAP = 25


# --- Service Level Expectation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SLE:
    """A Service Level Expectation (Kanban Guide for Scrum Teams): "`percent`% of items finish within
    `days` days" (None: no item finished in the last 90 days and none set). `is_set` when the days were
    set by a person rather than taken from recent Cycle Times; `p50` is the 50th percentile of those
    recent Cycle Times (the first colour band of Work Item Age)."""

    percent: int
    days: int | None
    p50: int | None
    is_set: bool = False

    @property
    def text(self) -> str:
        if self.days is None:
            return "no Service Level Expectation yet (no item finished in the last 90 days)"
        return f"{self.percent}% of items finish within {self.days} day{'s' if self.days != 1 else ''}"


def sle_resolve(row: FlowSettings | None, figures: dict[str, Any] | None) -> SLE:
    """The SLE of a scope from its settings row (if any) and its stored or computed figures."""
    percent = row.sle_percent if row else SLE_DEFAULT_PERCENT
    recent = (figures or {}).get("recent_cycle_times") or []
    p50 = percentile_of_histogram(recent, 50)
    if row is not None and row.sle_days is not None:
        return SLE(percent, row.sle_days, p50, is_set=True)
    return SLE(percent, percentile_of_histogram(recent, percent), p50)


def sles_get(*, nexus: Nexus) -> tuple[dict[int | None, SLE], dict[int | None, FlowSettings]]:
    """The SLE of the Nexus (key None) and of each Scrum Team with stored figures or settings (key: team
    id), and the settings rows. Two queries."""
    rows: dict[int | None, FlowSettings] = {s.team_id: s for s in FlowSettings.objects.filter(nexus=nexus)}
    figures: dict[int | None, dict[str, Any]] = dict(
        FlowSnapshot.objects.filter(nexus=nexus).values_list("team_id", "figures")
    )
    scopes = set(rows) | set(figures) | {None}
    return {k: sle_resolve(rows.get(k), figures.get(k)) for k in scopes}, rows


def age_band(age: int | None, *, p50: int | None, sle: int | None) -> str:
    """Colour band of a Work Item Age against the Service Level Expectation (Kanban Guide for Scrum
    Teams): "ok" below the 50th percentile of recent Cycle Times, "watch" from there up to the SLE's
    days, "late" beyond them; "" when unknown. Without a 50th percentile (only a set SLE), ages up to
    the SLE are "ok"."""
    if age is None or sle is None:
        return ""
    if age > sle:
        return "late"
    if p50 is None or age < p50:
        return "ok"
    return "watch"


# --- The board ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Square:
    """A team square on a card: one Scrum Team's status on the item (`status` is a `TeamStatus` value)."""

    code: str
    name: str
    status: str
    label: str


@dataclass
class Card:
    """One card: the item (only the fields the board shows are loaded), its team squares, its Work Item
    Age in calendar days (None when not started or finished) and the age band against the Service Level
    Expectation of its Scrum Team (the Nexus's when the item has several teams or none, or the team has
    no SLE): "ok", "watch", "late" or "" (see `age_band`)."""

    item: ProductBacklogItem
    age: int | None
    band: str
    sle: SLE | None = None
    squares: list[Square] = field(default_factory=list)


@dataclass
class BoardColumn:
    """A column of the board and the cards shown of it. `count` is every item in the column; an open
    column shows its items in Product Backlog order, a page at a time: `before` cards were shown before
    these (0 on the page itself, more in a "show more" partial), and `next_after` is the rank to ask the
    next page after (None at the end of the column)."""

    column: WorkflowColumn
    cards: list[Card] = field(default_factory=list)
    count: int = 0
    before: int = 0
    next_after: int | None = None
    page_size: int = 0

    @property
    def shown(self) -> int:
        """Cards shown so far, these included."""
        return self.before + len(self.cards)

    @property
    def hidden(self) -> int:
        return max(0, self.count - self.shown)

    @property
    def more(self) -> int:
        """Cards the next "show more" would add (0 when there is no next page)."""
        return min(self.page_size, self.hidden) if self.next_after is not None else 0

    @property
    def over_limit(self) -> bool:
        limit = self.column.wip_limit
        return limit is not None and self.count > limit

    @property
    def at_limit(self) -> bool:
        limit = self.column.wip_limit
        return limit is not None and self.count >= limit


@dataclass(frozen=True)
class ScopeLimit:
    """Items in progress of the Nexus or of one Scrum Team against its WIP limit (None = no limit)."""

    name: str
    count: int
    limit: int | None
    kind: str
    is_nexus: bool = False

    @property
    def at_limit(self) -> bool:
        return self.limit is not None and self.count >= self.limit

    @property
    def over_limit(self) -> bool:
        return self.limit is not None and self.count > self.limit


@dataclass
class Board:
    nexus: Nexus
    today: date
    columns: list[BoardColumn]
    state: FlowState | None
    sle: SLE
    limits: list[ScopeLimit] = field(default_factory=list)

    @property
    def computed_at(self) -> datetime | None:
        return self.state.computed_at if self.state else None

    @property
    def sle_days(self) -> int | None:
        return self.sle.days

    @property
    def p50_days(self) -> int | None:
        return self.sle.p50


#: Fields of an item a card shows (with the column and the rank, to place it and to page on).
CARD_FIELDS = (
    "id",
    "external_id",
    "title",
    "is_blocked",
    "blocked_reason",
    "column_id",
    "rank",
    "updated_at",
)


def _cards_qs(nexus: Nexus) -> QuerySet[ProductBacklogItem]:
    """Alive items of the Nexus with only what a card shows, their flow dates joined in."""
    return (
        ProductBacklogItem.objects.alive()
        .filter(backlog__nexus=nexus)
        .only(*CARD_FIELDS)
        .annotate(started_on=F("flow__started_on"), finished_on=F("flow__finished_on"))
    )


class _CardMaker:
    """Turns items into cards: team squares (one query for all the items), Work Item Age and its band
    against the SLE of the item's team (or the Nexus's). Teams, SLEs and squares are looked up once per
    board, not per card."""

    def __init__(self, *, nexus: Nexus, today: date, sles: dict[int | None, SLE]) -> None:
        self.today = today
        self.sles = sles
        self.nexus_sle = sles[None]
        self.teams = {t.pk: t for t in ScrumTeam.objects.filter(nexus=nexus).order_by("name")}
        self.team_list = list(self.teams.values())  # by name
        self.labels = dict(TeamStatus.choices)
        self._squares: dict[tuple[int, str], Square] = {}

    def square(self, team_id: int, status: str) -> Square:
        key = (team_id, status)
        sq = self._squares.get(key)
        if sq is None:
            team = self.teams[team_id]
            sq = self._squares[key] = Square(team.code, team.name, status, self.labels.get(status, status))
        return sq

    def cards(self, items: list[ProductBacklogItem]) -> list[Card]:
        rows = (
            TeamInvolvement.objects.filter(item_id__in=[i.pk for i in items])
            .order_by("team__name")
            .values_list("item_id", "team_id", "status")
        )
        squares: dict[int, list[tuple[int, str]]] = {}
        for item_id, team_id, status in rows:
            squares.setdefault(item_id, []).append((team_id, status))
        cards = []
        for item in items:
            started: date | None = item.started_on  # type: ignore[attr-defined]
            age = (self.today - started).days + 1 if started and not item.finished_on else None  # type: ignore[attr-defined]
            own = squares.get(item.pk, [])
            team_sle = self.sles.get(own[0][0]) if len(own) == 1 else None
            sle = team_sle if team_sle is not None and team_sle.days is not None else self.nexus_sle
            cards.append(
                Card(
                    item=item,
                    age=age,
                    band=age_band(age, p50=sle.p50, sle=sle.days),
                    sle=sle,
                    squares=[self.square(t, st) for t, st in own],
                )
            )
        return cards


def _in_progress(columns: list[WorkflowColumn]) -> list[WorkflowColumn]:
    """Columns from the started one up to (not including) the finished one: where items are in progress."""
    if not columns:
        return []
    wf = workflow_of(columns)
    return columns[wf.started : wf.finished]


def scope_limits_get(
    *,
    nexus: Nexus,
    columns: list[WorkflowColumn],
    counts: dict[int, int],
    settings: dict[int | None, FlowSettings],
    teams: list[ScrumTeam] | None = None,
) -> list[ScopeLimit]:
    """Items in progress of the Nexus and of each Scrum Team against their WIP limits. Two queries (one
    when the caller has the Nexus's `teams` already, ordered by name)."""
    wip_cols = [c.pk for c in _in_progress(columns)]

    def kind(key: int | None) -> str:
        row = settings.get(key)
        return row.wip_limit_kind if row else WipLimitKind.SOFT

    limits = [ScopeLimit("Nexus", sum(counts.get(c, 0) for c in wip_cols), nexus.wip_limit, kind(None), True)]
    team_counts = dict(
        TeamInvolvement.objects.filter(
            item__backlog__nexus=nexus, item__deleted_at__isnull=True, item__column_id__in=wip_cols
        )
        .values_list("team_id")
        .annotate(n=Count("item_id"))  # one involvement per item and team (`involvement_unique`)
    )
    if teams is None:
        teams = list(ScrumTeam.objects.filter(nexus=nexus).order_by("name"))
    for team in teams:
        limits.append(ScopeLimit(team.name, team_counts.get(team.pk, 0), team.wip_limit, kind(team.pk)))
    return limits


def board_get(*, nexus: Nexus, today: date | None = None, page_size: int = CARD_PAGE) -> Board:
    """The Nexus board: one column per Definition of Workflow column with the number of its items;
    unfinished columns show their first `page_size` items in Product Backlog order (the next ones come
    from `board_cards_get`), finished ones the `DONE_CAP` most recently finished of the last 30 days;
    each card's Work Item Age is coloured against its SLE; the Nexus's and each team's items in
    progress are shown against their WIP limits. Queries: a fixed number, independent of the number of
    items and of columns."""
    today = today or nexus_today(nexus)
    columns = workflow_columns(nexus=nexus)
    counts = dict(
        ProductBacklogItem.objects.alive()
        .filter(backlog__nexus=nexus)
        .values_list("column_id")
        .annotate(n=Count("id"))
    )
    state = FlowState.objects.filter(nexus=nexus).first()
    sles, settings = sles_get(nexus=nexus)
    open_ids = [c.pk for c in columns if c.category != ColumnCategory.DONE]
    done = [c for c in columns if c.category == ColumnCategory.DONE]
    board_cols = {
        c.pk: BoardColumn(column=c, count=counts.get(c.pk, 0), page_size=page_size) for c in columns
    }
    # The first page (and one more item, to know whether there is a next page) of every open column in
    # one query: the row number within the column, in Product Backlog order; then the cards of those
    # items (joining the flow dates to these rows only, not to every row of the window).
    alive = ProductBacklogItem.objects.alive()
    ids = list(
        alive.filter(column_id__in=open_ids)
        .annotate(pos=Window(RowNumber(), partition_by=[F("column_id")], order_by=F("rank").asc()))
        .filter(pos__lte=page_size + 1)
        .order_by("column_id", "rank")
        .values_list("pk", flat=True)
    )
    if done:
        # Finished on one of the last 30 days (calendar days in the Nexus's time zone): the day the
        # flow engine computed (`ItemFlow.finished_on`), or for an item finished since its last
        # recompute, the day of its last change. Not `updated_at` alone: an import stamps every item
        # it creates with the time of the import.
        done_on = Coalesce(
            F("flow__finished_on"), TruncDate("updated_at", tzinfo=zoneinfo.ZoneInfo(nexus.time_zone))
        )
        ids += (
            alive.filter(column__in=done)
            .annotate(done_on=done_on)
            .filter(done_on__gte=today - timedelta(days=30))
            .annotate(
                pos=Window(
                    RowNumber(),
                    partition_by=[F("column_id")],
                    order_by=[F("done_on").desc(), F("updated_at").desc(), F("id").desc()],
                )
            )
            .filter(pos__lte=DONE_CAP)
            .order_by("column_id", "-done_on", "-updated_at", "-id")
            .values_list("pk", flat=True)
        )
    by_id = {item.pk: item for item in _cards_qs(nexus).filter(pk__in=ids)}
    items = [by_id[pk] for pk in ids if pk in by_id]
    maker = _CardMaker(nexus=nexus, today=today, sles=sles)
    for card in maker.cards(items):
        bc = board_cols[card.item.column_id]
        if bc.column.category != ColumnCategory.DONE and len(bc.cards) == page_size:
            bc.next_after = bc.cards[-1].item.rank
            continue
        bc.cards.append(card)
    return Board(
        nexus=nexus,
        today=today,
        columns=list(board_cols.values()),
        state=state,
        sle=sles[None],
        limits=scope_limits_get(
            nexus=nexus, columns=columns, counts=counts, settings=settings, teams=maker.team_list
        ),
    )


def board_cards_get(
    *, nexus: Nexus, column: WorkflowColumn, after: int, today: date | None = None, page_size: int = CARD_PAGE
) -> BoardColumn:
    """The next page of an unfinished column of the board: its items after the rank `after`, in Product
    Backlog order (a keyset: an item moved meanwhile is neither skipped nor repeated because of an
    offset), as cards like the board's, with the column's count and how many come before the page.
    Queries: a fixed number."""
    today = today or nexus_today(nexus)
    sles, _settings = sles_get(nexus=nexus)
    in_column = ProductBacklogItem.objects.alive().filter(backlog__nexus=nexus, column=column)
    figures = in_column.aggregate(count=Count("id"), before=Count("id", filter=Q(rank__lte=after)))
    items = list(_cards_qs(nexus).filter(column=column, rank__gt=after).order_by("rank")[: page_size + 1])
    bc = BoardColumn(column=column, count=figures["count"], before=figures["before"], page_size=page_size)
    bc.cards = _CardMaker(nexus=nexus, today=today, sles=sles).cards(items[:page_size])
    if len(items) > page_size:
        bc.next_after = bc.cards[-1].item.rank
    return bc


# --- Flow page and API figures --------------------------------------------------------------------------


def _days_loader(snap: FlowSnapshot) -> Callable[[], list[DayRow]]:
    """Reads the snapshot's daily rows when first needed (CSV, API; the page draws from `detail`)."""

    def load() -> list[DayRow]:
        # The CFD counts come as JSON text and are parsed in one go: thousands of days (twenty years
        # of a Nexus) would otherwise cost one JSON decode per row.
        rows = list(
            FlowDay.objects.filter(snapshot=snap)
            .order_by("date")
            .values_list("date", "wip", "wip_eod", "throughput", Cast("cfd", TextField()))
        )
        cfds = json.loads("[" + ",".join(row[4] for row in rows) + "]")
        return [
            DayRow(d, wip, eod, tp, cfd) for (d, wip, eod, tp, _text), cfd in zip(rows, cfds, strict=True)
        ]

    return load


def _from_snapshot(snap: FlowSnapshot) -> FlowData:
    return FlowData(
        nexus=snap.nexus,
        team=snap.team,
        as_of=snap.as_of,
        start=snap.start,
        end=snap.end,
        figures=snap.figures,
        days=_days_loader(snap),
        detail_json=snap.detail,
        computed_at=snap.computed_at,
        stored=True,
    )


def flow_data_get(*, nexus: Nexus, query: FlowQuery) -> FlowData:
    """The figures of `query`: read from the stored snapshot of the Nexus or of the team when the query
    asks for what it holds (no label or class-of-service filter; as-of date, days and history window
    left to their defaults or equal to the stored ones), re-running only the Monte Carlo forecasts when
    other questions are asked. Otherwise computed on request from the transition log. Two queries
    when stored."""
    if not query.picks_items:
        snap = (
            FlowSnapshot.objects.filter(nexus=nexus, team=query.team).select_related("nexus", "team").first()
        )
        if snap is not None and (
            snap.figures.get("format") == SNAPSHOT_FORMAT
            and query.as_of in (None, snap.as_of)
            and query.start in (None, snap.start)
            and query.end in (None, snap.end)
            and query.mc_history_days in (None, snap.figures.get("mc_history_days"))
        ):
            data = _from_snapshot(snap)
            mc_days = query.mc_days or data.figures["mc_days"]
            mc_items = query.mc_items or data.figures["mc_items"]
            if (mc_days, mc_items) != (data.figures["mc_days"], data.figures["mc_items"]):
                forecast_again(data, mc_days=mc_days, mc_items=mc_items)
            return data
    return flow_compute(nexus=nexus, query=query)


@dataclass
class FlowPage:
    """What the flow page shows: the figures and the scope's SLE."""

    data: FlowData
    sle: SLE


def flow_page_get(*, nexus: Nexus, query: FlowQuery) -> FlowPage:
    """The flow page's figures (see `flow_data_get`) and the scope's SLE."""
    data = flow_data_get(nexus=nexus, query=query)
    row = FlowSettings.objects.filter(nexus=nexus, team=query.team).first()
    return FlowPage(data=data, sle=sle_resolve(row, data.figures))


def flow_state_stamp(*, nexus_id: int) -> str:
    """What changes the flow page without a write to the Nexus's data (which advances its change
    counter): when the stored figures were computed and whether a recompute is pending. For the page's
    ETag (`backlog.http.nexus_etag(extra=)`). One query."""
    state = FlowState.objects.filter(nexus_id=nexus_id).values_list("computed_at", "pending_since").first()
    return "" if state is None else f"{state[0]}|{state[1]}"
