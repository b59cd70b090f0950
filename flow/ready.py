"""The ready buffer of the Product Backlog page: how many refined ("ready") items there are against
the Nexus's recent Throughput over one Sprint length.

Ready items are the open items in the columns of the Definition of Workflow marked `is_ready`.
Throughput is read from the stored flow figures (`ItemFlow.finished_on`, computed from the transition
log by `flow.services.flow_recompute`): items finished in each of the last `WINDOWS` Sprint-length
windows ending today (calendar days in the Nexus's time zone); the buffer is the ready count over
their mean. About one to two Sprints of ready work is healthy: less starves the next Sprint Planning,
more is refinement that may go stale. The `backlog` app does not import `flow`, so the widget is an
HTMX fragment served here and loaded into the backlog page with `hx-get`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from backlog.models import Nexus, ProductBacklogItem, WorkflowColumn
from backlog.selectors import nexus_get_for_user
from flow.models import FlowState, ItemFlow
from flow.services import nexus_today

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


@login_required
@require_GET
def ready_buffer(request: HttpRequest, slug: str) -> HttpResponse:
    """The ready buffer fragment (loaded into the Product Backlog page, refreshed when it changes)."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    context = {"nexus": nexus, "buffer": ready_buffer_get(nexus=nexus), "healthy": HEALTHY}
    return render(request, "flow/_ready_buffer.html", context)
