"""The Nexus board (the Nexus Daily Scrum's page): Product Backlog items joined with their stored flow
dates (`flow.models.ItemFlow`), team squares, Work Item Age against the Service Level Expectation
(`flow.selectors.sles_get`, `age_band`), WIP against the limits of the Definition of Workflow (Kanban
Guide for Scrum Teams), dependency badges (`events.selectors_dependencies.dependencies_judged`) and what
upper apps register for cards (`nexus_site.extensions.BoardProvider`: e.g. open integration issues).
Filters (teams, labels) and swimlanes come from `events.board_filters.BoardFilters`; side panels and the
walk order from `events.board_panels`; a past day's board from `events.board_asof`."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, TypeVar

from django.db import connection
from django.db.models import Count, F, Q, QuerySet, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, RowNumber, TruncDate
from django.utils.safestring import SafeString

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
from flow.models import FlowState, ItemFlow
from flow.selectors import SLE, age_band, sles_get
from nexus_site.extensions import board_providers

_Row = TypeVar("_Row")

if TYPE_CHECKING:
    from events.board_filters import BoardFilters

#: Cards of an unfinished column shown at first and added by each "show more" (Product Backlog order);
#: finished columns show the `DONE_CAP` most recently finished.
CARD_PAGE = 50
DONE_CAP = 25
#: Cards a column in progress shows at most (a Nexus's WIP is far below; a column past it says how many
#: more it has and that a filter by Scrum Team or label shows them).
FULL_CAP = 400


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
    #: Open dependencies: PBIs this one waits on, PBIs waiting on this one, and whether one is late
    #: (`events.selectors_dependencies`: planned after the dependent, or the dependent beyond its SLE).
    depends_on: list[int] = field(default_factory=list)
    blocks: list[int] = field(default_factory=list)
    deps_late: bool = False
    #: What upper apps add (`BoardProvider.card_counts`): (label, count), only counts above zero.
    extra: list[tuple[str, int]] = field(default_factory=list)
    #: The card the walk of the board is on.
    walk: bool = False

    @property
    def html(self) -> SafeString:
        """The card's HTML (`events.board_cards.card_html`)."""
        from events.board_cards import card_html

        return card_html(self)


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
    #: Every card of the column is shown (the columns where work is in progress).
    full: bool = False
    #: Items in the column whatever the filters (`count` is those the filters let through).
    total: int = 0

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
        return limit is not None and self.total > limit

    @property
    def at_limit(self) -> bool:
        limit = self.column.wip_limit
        return limit is not None and self.total >= limit


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
    teams: list[ScrumTeam] = field(default_factory=list)
    #: Side panels and walk state (`events.board_panels`), as-of label (`events.board_asof`).
    extras: dict[str, object] = field(default_factory=dict)

    def cards(self) -> list[Card]:
        """Every card shown, column by column."""
        return [c for bc in self.columns for c in bc.cards]

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
    "class_of_service",
)


def ids_in(field: str, ids: list[int]) -> Q:
    """`field IN ids` as one array parameter on PostgreSQL (`= ANY(%s)`): Django resolves each element of
    an IN list on its own, which for a board's 700 ids cost more than the query (a plain IN elsewhere)."""
    if connection.vendor != "postgresql" or len(ids) < 50:
        return Q(**{f"{field}__in": ids})
    return Q(**{f"{field}__in": RawSQL("SELECT unnest(%s::bigint[])", (list(ids),))})


def _cards_qs(nexus: Nexus) -> QuerySet[ProductBacklogItem]:
    """Alive items of the Nexus with only what a card shows, their flow dates joined in."""
    return (
        ProductBacklogItem.objects.alive()
        .filter(backlog__nexus=nexus)
        .only(*CARD_FIELDS)
        .annotate(started_on=F("flow__started_on"), finished_on=F("flow__finished_on"))
    )


def _filtered(
    qs: QuerySet[ProductBacklogItem, _Row], filters: BoardFilters | None
) -> QuerySet[ProductBacklogItem, _Row]:
    """Items with one of the filter's teams (a team square) and one of its labels."""
    if filters is None:
        return qs
    if filters.teams:
        qs = qs.filter(pk__in=TeamInvolvement.objects.filter(team_id__in=filters.teams).values("item_id"))
    if filters.labels:
        qs = qs.filter(
            pk__in=ProductBacklogItem.labels.through.objects.filter(label_id__in=filters.labels).values(
                "productbacklogitem_id"
            )
        )
    return qs


def card_badges_add(*, nexus: Nexus, cards: list[Card], today: date) -> None:
    """Dependency badges and what upper apps register (`BoardProvider.card_counts`) on these cards. A
    fixed number of queries (the judged dependencies: six; one or so per provider)."""
    from events.selectors_dependencies import dependencies_judged

    by_id = {c.item.pk: c for c in cards}
    for j in dependencies_judged(nexus=nexus, today=today):
        dep = j.dependency
        if (card := by_id.get(dep.item_id)) is not None:
            card.depends_on.append(dep.depends_on_id)
            card.deps_late = card.deps_late or j.late
        if (card := by_id.get(dep.depends_on_id)) is not None:
            card.blocks.append(dep.item_id)
            card.deps_late = card.deps_late or j.late
    ids = list(by_id)
    for provider in board_providers():
        for item_id, n in provider.card_counts(nexus, ids).items():
            if n and item_id in by_id:
                by_id[item_id].extra.append((provider.badge, n))


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
            TeamInvolvement.objects.filter(ids_in("item_id", [i.pk for i in items]))
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


def columns_in_progress(columns: list[WorkflowColumn]) -> list[WorkflowColumn]:
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
    teams: list[ScrumTeam] | None = None,
) -> list[ScopeLimit]:
    """Items in progress of the Nexus and of each Scrum Team against their WIP limits, of the kind
    (`wip_limit_kind`) the Nexus and each team have. Two queries (one when the caller has the Nexus's
    `teams` already, ordered by name)."""
    wip_cols = [c.pk for c in columns_in_progress(columns)]
    in_progress = sum(counts.get(c, 0) for c in wip_cols)
    limits = [ScopeLimit("Nexus", in_progress, nexus.wip_limit, nexus.wip_limit_kind, True)]
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
        limits.append(ScopeLimit(team.name, team_counts.get(team.pk, 0), team.wip_limit, team.wip_limit_kind))
    return limits


def board_get(
    *,
    nexus: Nexus,
    today: date | None = None,
    page_size: int = CARD_PAGE,
    filters: BoardFilters | None = None,
    badges: bool = False,
) -> Board:
    """The Nexus board: one column per Definition of Workflow column with the number of its items;
    unfinished columns show their first `page_size` items in Product Backlog order (the next ones come
    from `board_cards_get`), finished ones the `DONE_CAP` most recently finished of the last 30 days;
    each card's Work Item Age is coloured against its SLE; the Nexus's and each team's items in
    progress are shown against their WIP limits. With `filters`, only the items with one of its teams
    and one of its labels; the columns where work is in progress (from the start column up to the finish
    column, `flow.history.workflow_of`) then show every card (a wall cannot click "show more"). With
    `badges`, the cards carry their dependency badges and what upper apps register
    (`card_badges_add`). Queries: a fixed number, independent of the number of items and of columns."""
    today = today or nexus_today(nexus)
    columns = workflow_columns(nexus=nexus)
    count_qs = ProductBacklogItem.objects.alive().filter(backlog__nexus=nexus).values_list("column_id")
    totals: dict[int, int] = dict(count_qs.annotate(n=Count("id")))
    counts = totals
    if filters is not None and filters.filtered:
        counts = dict(_filtered(count_qs, filters).annotate(n=Count("id")))
    full_ids = {c.pk for c in columns_in_progress(columns)} if filters is not None else set()
    state = FlowState.objects.filter(nexus=nexus).first()
    sles, _settings = sles_get(nexus=nexus)
    open_ids = [c.pk for c in columns if c.category != ColumnCategory.DONE]
    done = [c for c in columns if c.category == ColumnCategory.DONE]
    board_cols = {
        c.pk: BoardColumn(
            column=c,
            count=counts.get(c.pk, 0),
            total=totals.get(c.pk, 0),
            page_size=page_size,
            full=c.pk in full_ids,
        )
        for c in columns
    }
    # The first page (and one more item, to know whether there is a next page) of every open column in
    # one query: the row number within the column, in Product Backlog order; then the cards of those
    # items (joining the flow dates to these rows only, not to every row of the window).
    alive = _filtered(ProductBacklogItem.objects.alive(), filters)
    paged_ids = [pk for pk in open_ids if pk not in full_ids]
    ids = list(
        alive.filter(column_id__in=paged_ids)
        .annotate(pos=Window(RowNumber(), partition_by=[F("column_id")], order_by=F("rank").asc()))
        .filter(pos__lte=page_size + 1)
        .order_by("column_id", "rank")
        .values_list("pk", flat=True)
    )
    if full_ids:
        ids += list(
            alive.filter(column_id__in=full_ids)
            .annotate(pos=Window(RowNumber(), partition_by=[F("column_id")], order_by=F("rank").asc()))
            .filter(pos__lte=FULL_CAP)
            .order_by("column_id", "rank")
            .values_list("pk", flat=True)
        )
    if done:
        # Finished on one of the last 30 days (calendar days in the Nexus's time zone): the day the
        # flow engine computed (`ItemFlow.finished_on`), or for an item finished since its last
        # recompute, the day of its last change. Not `updated_at` alone: an import stamps every item
        # it creates with the time of the import. The date is computed (and the rows numbered) only
        # for the candidates two index scans give (`itemflow_nexus_finished`: finished lately;
        # `pbi_updated`: changed lately), not for every finished item of the history.
        tz = zoneinfo.ZoneInfo(nexus.time_zone)
        cutoff = today - timedelta(days=30)
        since = datetime.combine(cutoff, time.min, tzinfo=tz)
        changed = ProductBacklogItem.objects.filter(backlog__nexus=nexus, updated_at__gte=since)
        finished = ItemFlow.objects.filter(nexus=nexus, finished_on__gte=cutoff)
        # No ORDER BY in the parts (the models' default ordering): SQLite refuses one in a compound.
        candidates = finished.order_by().values("item_id").union(changed.order_by().values("id"))
        done_on = Coalesce(F("flow__finished_on"), TruncDate("updated_at", tzinfo=tz))
        ids += (
            alive.filter(column__in=done)
            .filter(pk__in=candidates)
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
    by_id = {item.pk: item for item in _cards_qs(nexus).filter(ids_in("pk", ids))}
    items = [by_id[pk] for pk in ids if pk in by_id]
    maker = _CardMaker(nexus=nexus, today=today, sles=sles)
    cards = maker.cards(items)
    if badges:
        card_badges_add(nexus=nexus, cards=cards, today=today)
    for card in cards:
        bc = board_cols[card.item.column_id]
        if bc.column.category != ColumnCategory.DONE and not bc.full and len(bc.cards) == page_size:
            bc.next_after = bc.cards[-1].item.rank
            continue
        bc.cards.append(card)
    return Board(
        nexus=nexus,
        today=today,
        columns=list(board_cols.values()),
        state=state,
        sle=sles[None],
        limits=scope_limits_get(nexus=nexus, columns=columns, counts=totals, teams=maker.team_list),
        teams=maker.team_list,
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
    bc = BoardColumn(
        column=column,
        count=figures["count"],
        total=figures["count"],
        before=figures["before"],
        page_size=page_size,
    )
    bc.cards = _CardMaker(nexus=nexus, today=today, sles=sles).cards(items[:page_size])
    if len(items) > page_size:
        bc.next_after = bc.cards[-1].item.rank
    return bc
