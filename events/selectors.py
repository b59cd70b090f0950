"""Reads of the Nexus event pages: the Nexus board (`events.board` and its `board_*` modules,
re-exported here), the ready buffer of Nexus Sprint Planning, and the Sprints (`events.sprint_selectors`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count, Q

from backlog.models import (
    Nexus,
    ProductBacklogItem,
    WorkflowColumn,
)

# --- The board (`events.board`, re-exported here) ---------------------------------------------------
from events.board import (  # noqa: F401
    CARD_PAGE,
    DONE_CAP,
    Board,
    BoardColumn,
    Card,
    ScopeLimit,
    Square,
    board_cards_get,
    board_get,
    scope_limits_get,
)
from flow.history import nexus_today
from flow.models import FlowState, ItemFlow

# --- The ready buffer (Nexus Sprint Planning; a panel of the Product Backlog page) ------------------

#: Sprint-length windows averaged for the Throughput per Sprint.
WINDOWS = 3
#: A healthy buffer, in Sprints of Throughput.
HEALTHY = (1.0, 2.0)


@dataclass(frozen=True)
class ReadyBuffer:
    """Ready items against Throughput. `throughput` = items finished in each of the last `WINDOWS`
    windows of `sprint_days` calendar days ending `today`, the most recent first."""

    ready_columns: list[WorkflowColumn]
    ready: int
    sprint_days: int
    today: date
    throughput: list[int]
    computed: bool

    @property
    def per_sprint(self) -> float:
        return sum(self.throughput) / len(self.throughput) if self.throughput else 0.0

    @property
    def sprints(self) -> float | None:
        """The ready items in Sprints of Throughput (None when nothing was finished recently)."""
        return self.ready / self.per_sprint if self.per_sprint else None

    @property
    def health(self) -> str:
        """ "none" (no ready column), "unknown" (no recent Throughput), "thin", "healthy" or "large"."""
        if not self.ready_columns:
            return "none"
        if self.sprints is None:
            return "unknown"
        if self.sprints < HEALTHY[0]:
            return "thin"
        return "healthy" if self.sprints <= HEALTHY[1] else "large"

    @property
    def meter_percent(self) -> int:
        """Where the buffer sits on a 0 to 3 Sprints scale, in percent (for the meter)."""
        return round(min(self.sprints or 0.0, 3.0) / 3.0 * 100)


def ready_buffer_get(*, nexus: Nexus, today: date | None = None) -> ReadyBuffer:
    """The ready buffer of the Nexus (three queries)."""
    today = today or nexus_today(nexus)
    columns = list(WorkflowColumn.objects.filter(nexus=nexus, is_ready=True).order_by("position"))
    ready = ProductBacklogItem.objects.alive().filter(column__in=columns).count() if columns else 0
    days = nexus.sprint_length_days
    windows = {
        f"w{k}": Count(
            "item_id",
            filter=Q(finished_on__gt=today - timedelta(days=days * (k + 1)))
            & Q(finished_on__lte=today - timedelta(days=days * k)),
        )
        for k in range(WINDOWS)
    }
    counts = ItemFlow.objects.filter(
        nexus=nexus, finished_on__gt=today - timedelta(days=days * WINDOWS), finished_on__lte=today
    ).aggregate(**windows)
    computed = FlowState.objects.filter(nexus=nexus, computed_at__isnull=False).exists()
    return ReadyBuffer(
        ready_columns=columns,
        ready=ready,
        sprint_days=days,
        today=today,
        throughput=[counts[f"w{k}"] for k in range(WINDOWS)],
        computed=computed,
    )


# --- Sprints (`events.sprint_selectors`, re-exported here) -------------------------------------------

from events.sprint_selectors import (  # noqa: E402, F401
    GROUPS,
    SprintOutcome,
    SprintRow,
    sprint_active,
    sprint_current_or_next,
    sprint_items,
    sprint_of_item,
    sprint_outcomes,
    sprint_rows,
)
