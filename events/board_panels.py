"""The side panels of the Nexus board and its walk (the Nexus Daily Scrum; Nexus Guide, Kanban Guide for
Scrum Teams): PBIs aging beyond their Service Level Expectation (oldest first), what upper apps register
(`BoardProvider.panel`: open integration issues with their age and level), dependencies found since the
last Nexus Daily Scrum (the last start of the board's timer, `BoardState.daily_scrum_started_at`, else the
last 24 hours), the Nexus Sprint Goal with how many of its PBIs are Done, and the order in which the board
is walked: right to left, column by column, oldest first."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, F, Q
from django.utils import timezone

from backlog.models import Dependency, Nexus, ProductBacklogItem, WorkflowColumn
from backlog.selectors import workflow_columns
from events.board import Board, Card, columns_in_progress
from events.models import BoardState, Sprint, SprintItem, SprintState
from flow.history import workflow_of
from nexus_site.extensions import BoardPanelRow, board_providers

#: Rows a side panel lists at most.
PANEL_ROWS = 12
#: "Since the last Nexus Daily Scrum" when the timer was never started.
DEFAULT_SINCE = timedelta(hours=24)


@dataclass
class ProviderPanel:
    """A side panel an upper app registered: its `label` and rows."""

    name: str
    label: str
    rows: list[BoardPanelRow]


@dataclass
class GoalPanel:
    """The active Sprint (None: no active Sprint), its Nexus Sprint Goal, its PBIs and those Done (in the
    finish column of the Definition of Workflow or after it)."""

    sprint: Sprint | None
    items: int = 0
    done: int = 0


@dataclass
class Panels:
    """Everything the side of the board shows; `since` is when the last Nexus Daily Scrum started (or
    24 hours ago), `started_at` the timer's last start (None: never)."""

    aging: list[Card] = field(default_factory=list)
    aging_total: int = 0
    providers: list[ProviderPanel] = field(default_factory=list)
    dependencies: list[Dependency] = field(default_factory=list)
    since: datetime | None = None
    started_at: datetime | None = None
    goal: GoalPanel = field(default_factory=lambda: GoalPanel(None))


def board_state_get(*, nexus: Nexus) -> BoardState | None:
    """The board's shared state (timer, walk), None before its first use. One query."""
    return BoardState.objects.filter(nexus=nexus).first()


def board_panels_get(*, nexus: Nexus, board: Board, state: BoardState | None, today: date) -> Panels:
    """The side panels of `board` (see the module). Aging PBIs come from the board's own cards (the
    columns in progress show every card). A fixed number of queries: the dependencies, the Sprint and
    its counts, and each provider's."""
    now = timezone.now()
    aging = sorted((c for c in board.cards() if c.band == "late"), key=lambda c: -(c.age or 0))
    started = state.daily_scrum_started_at if state else None
    since = started or now - DEFAULT_SINCE
    deps = list(
        Dependency.objects.filter(nexus=nexus, found_on__gte=since)
        .select_related("item", "depends_on")
        .only(
            "id",
            "kind",
            "status",
            "found_at",
            "found_on",
            "item__id",
            "item__title",
            "depends_on__id",
            "depends_on__title",
        )
        .order_by("-found_on")[:PANEL_ROWS]
    )
    sprint = Sprint.objects.filter(nexus=nexus, state=SprintState.ACTIVE).first()
    goal = GoalPanel(sprint)
    if sprint is not None:
        columns = [bc.column for bc in board.columns]
        done_ids = [c.pk for c in columns[workflow_of(columns).finished :]] if columns else []
        figures = SprintItem.objects.filter(sprint=sprint, item__deleted_at__isnull=True).aggregate(
            items=Count("id"), done=Count("id", filter=Q(item__column_id__in=done_ids))
        )
        goal = GoalPanel(sprint, figures["items"], figures["done"])
    providers = [ProviderPanel(p.name, p.label, p.panel(nexus, today)) for p in board_providers()]
    return Panels(
        aging=aging[:PANEL_ROWS],
        aging_total=len(aging),
        providers=providers,
        dependencies=deps,
        since=since,
        started_at=started,
        goal=goal,
    )


def walk_order(*, nexus: Nexus, columns: list[WorkflowColumn] | None = None) -> list[int]:
    """The PBIs of the columns in progress in the order the board is walked: right to left, column by
    column, oldest first (earliest start; never started last, then in Product Backlog order). Two
    queries (one with `columns`)."""
    columns = columns if columns is not None else workflow_columns(nexus=nexus)
    wip = columns_in_progress(columns)
    position = {c.pk: i for i, c in enumerate(wip)}
    rows = list(
        ProductBacklogItem.objects.alive()
        .filter(backlog__nexus=nexus, column_id__in=list(position))
        .values_list("pk", "column_id", F("flow__started_on"), "rank")
    )
    far = date.max
    rows.sort(key=lambda r: (-position[r[1]], r[2] or far, r[3]))
    return [r[0] for r in rows]


def walk_step(*, order: list[int], current: int | None, step: int) -> int | None:
    """The PBI `step` places after `current` in `order` (negative: before), stopping at either end; the
    first (or, going back, the last) when `current` is not in it; None for an empty board."""
    if not order:
        return None
    if current not in order:
        return order[0] if step >= 0 else order[-1]
    i = order.index(current) + step
    return order[max(0, min(len(order) - 1, i))]
