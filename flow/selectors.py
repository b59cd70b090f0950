"""Reads of stored flow results, and the Nexus board (which joins backlog items with their flow dates)."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Prefetch, QuerySet

from backlog.models import ColumnCategory, Nexus, ProductBacklogItem, TeamInvolvement, WorkflowColumn
from backlog.selectors import workflow_columns
from flow.models import FlowState
from flow.services import nexus_today

#: Cards shown per column before "N more"; finished columns show the most recently updated.
CARD_CAP = 300
DONE_CAP = 25


@dataclass
class Card:
    """One card: the item, its Work Item Age in calendar days (None when not started or finished) and
    the age band against the Service Level Expectation: "ok" (below the 50th percentile of Cycle
    Time), "watch" (up to the 85th), "late" (beyond the SLE), or "" when unknown."""

    item: ProductBacklogItem
    age: int | None
    band: str


@dataclass
class BoardColumn:
    column: WorkflowColumn
    cards: list[Card] = field(default_factory=list)
    count: int = 0

    @property
    def hidden(self) -> int:
        return self.count - len(self.cards)

    @property
    def over_limit(self) -> bool:
        limit = self.column.wip_limit
        return limit is not None and self.count > limit

    @property
    def at_limit(self) -> bool:
        limit = self.column.wip_limit
        return limit is not None and self.count >= limit


@dataclass
class Board:
    nexus: Nexus
    today: date
    columns: list[BoardColumn]
    state: FlowState | None
    sle_days: int | None
    p50_days: int | None

    @property
    def computed_at(self) -> datetime | None:
        return self.state.computed_at if self.state else None


def age_band(age: int | None, *, p50: int | None, sle: int | None) -> str:
    """Colour band of a Work Item Age against the Cycle Time percentiles (Kanban Guide for Scrum Teams:
    Work Item Age compared with the Service Level Expectation)."""
    if age is None or sle is None or p50 is None:
        return ""
    if age < p50:
        return "ok"
    if age <= sle:
        return "watch"
    return "late"


def _cards_qs(nexus: Nexus) -> QuerySet[ProductBacklogItem]:
    return (
        ProductBacklogItem.objects.alive()
        .filter(backlog__nexus=nexus)
        .select_related("flow")
        .prefetch_related(Prefetch("involvements", queryset=TeamInvolvement.objects.select_related("team")))
    )


def board_get(*, nexus: Nexus, today: date | None = None) -> Board:
    """The Nexus board: one column per Definition of Workflow column; unfinished columns show their
    items in Product Backlog order (up to `CARD_CAP`), finished ones the `DONE_CAP` most recent.
    Queries: a fixed number, independent of the number of items."""
    today = today or nexus_today(nexus)
    columns = workflow_columns(nexus=nexus)
    counts = dict(
        ProductBacklogItem.objects.alive()
        .filter(backlog__nexus=nexus)
        .values_list("column_id")
        .annotate(n=Count("id"))
    )
    state = FlowState.objects.filter(nexus=nexus).first()
    pct = (state.summary.get("cycle_time_percentiles") if state else None) or {}
    p50, sle = pct.get("50"), pct.get("85")
    open_ids = [c.pk for c in columns if c.category != ColumnCategory.DONE]
    done = [c for c in columns if c.category == ColumnCategory.DONE]
    board_cols = {c.pk: BoardColumn(column=c, count=counts.get(c.pk, 0)) for c in columns}
    open_items = list(
        _cards_qs(nexus).filter(column_id__in=open_ids).order_by("rank")[: CARD_CAP * max(1, len(open_ids))]
    )
    recent_done: list[ProductBacklogItem] = []
    if done:
        since = datetime.combine(
            today - timedelta(days=30), time.min, tzinfo=zoneinfo.ZoneInfo(nexus.time_zone)
        )
        recent_done = list(
            _cards_qs(nexus)
            .filter(column__in=done, updated_at__gte=since)
            .order_by("-updated_at")[: DONE_CAP * len(done)]
        )
    for item in open_items + recent_done:
        bc = board_cols[item.column_id]
        if len(bc.cards) >= (DONE_CAP if bc.column.category == ColumnCategory.DONE else CARD_CAP):
            continue
        flow = getattr(item, "flow", None)
        age = None
        if flow is not None and flow.started_on and not flow.finished_on:
            age = (today - flow.started_on).days + 1
        bc.cards.append(Card(item=item, age=age, band=age_band(age, p50=p50, sle=sle)))
    return Board(
        nexus=nexus, today=today, columns=list(board_cols.values()), state=state, sle_days=sle, p50_days=p50
    )
