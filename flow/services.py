"""Writes of the flow app: recompute and store flow figures from the transition log.

The computation itself is `flow.metrics` (pure functions); this module loads the log of one Nexus,
runs it as of today (calendar days in the Nexus's time zone) and stores per-item dates and a summary.
A change requests a recompute (`recompute_request`), coalesced so a burst of changes causes one job.
"""

from __future__ import annotations

import logging
import zoneinfo
from datetime import date
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from backlog.models import Nexus, ProductBacklogItem, Transition, TransitionKind, WorkflowColumn
from flow import metrics
from flow.models import FlowState, ItemFlow

log = logging.getLogger(__name__)
BATCH = 2000


def nexus_today(nexus: Nexus) -> date:
    """Today's date in the Nexus's time zone (the unit of every flow metric is that calendar day)."""
    return timezone.now().astimezone(zoneinfo.ZoneInfo(nexus.time_zone)).date()


def workflow_of(columns: list[WorkflowColumn]) -> metrics.Workflow:
    """The engine's view of a Definition of Workflow (columns in position order)."""
    names = tuple(c.name for c in columns)
    start = next((i for i, c in enumerate(columns) if c.is_start), 0)
    finish = next((i for i, c in enumerate(columns) if c.is_finish), len(columns) - 1)
    return metrics.Workflow(columns=names, started=start, finished=finish)


def load_events(
    nexus: Nexus, columns: list[WorkflowColumn], *, item_ids: list[int] | None = None
) -> list[metrics.ItemEvent]:
    """Column changes of the Nexus's live items from the transition log, in order, reduced to dates in
    the Nexus's time zone. Events into a column that no longer exists are ignored (unmapped)."""
    tz = zoneinfo.ZoneInfo(nexus.time_zone)
    index = {c.pk: i for i, c in enumerate(columns)}
    by_name = {c.name: i for i, c in enumerate(columns)}
    qs = Transition.objects.filter(
        kind=TransitionKind.COLUMN, item__backlog__nexus=nexus, item__deleted_at__isnull=True
    )
    if item_ids is not None:
        qs = qs.filter(item_id__in=item_ids)
    rows = qs.order_by("item_id", "at", "id").values_list("item_id", "at", "to_column_id", "to_name")
    events = []
    for seq, (item_id, at, col_id, name) in enumerate(rows.iterator(chunk_size=5000)):
        column = index.get(col_id) if col_id is not None else by_name.get(name)
        events.append(
            metrics.ItemEvent(item=str(item_id), day=at.astimezone(tz).date(), column=column, seq=seq)
        )
    return events


def flow_recompute(*, nexus_id: int, as_of: date | None = None) -> dict[str, Any]:
    """Recompute and store the flow figures of a Nexus as of `as_of` (default today in its time zone).

    Clears the pending mark first, so a change made during the computation asks for another run.
    Idempotent. Returns the stored summary (the figures of `flow_report`, without the daily rows).
    """
    nexus = Nexus.objects.get(pk=nexus_id)
    FlowState.objects.get_or_create(nexus=nexus)
    FlowState.objects.filter(nexus=nexus).update(pending_since=None, enqueued_at=None)
    columns = list(WorkflowColumn.objects.filter(nexus=nexus).order_by("position"))
    if not columns:
        return {}
    as_of = as_of or nexus_today(nexus)
    workflow = workflow_of(columns)
    events = load_events(nexus, columns)
    result = metrics.compute_flow(events, workflow, as_of=as_of)
    ext = dict(
        ProductBacklogItem.objects.filter(backlog__nexus=nexus)
        .exclude(external_id="")
        .values_list("id", "external_id")
    )
    summary: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "items": result.items_total,
        "finished_items": result.finished_items,
        "cycle_time_percentiles": result.cycle_time_percentiles,
        "mean_weekly_throughput": round(result.mean_weekly_throughput, 2),
        "complete_weeks": result.complete_weeks,
        "mean_daily_wip": round(result.mean_daily_wip, 2),
        "wip_as_of": result.wip_as_of,
        "oldest": [
            {"item": ext.get(int(a.item), a.item), "column": a.column, "age": a.age} for a in result.ages[:10]
        ],
    }
    rows = [
        ItemFlow(
            item_id=int(it.key),
            nexus=nexus,
            started_on=it.started,
            finished_on=it.finished,
            cycle_time=it.cycle_time,
        )
        for it in result.items
    ]
    with transaction.atomic():
        ItemFlow.objects.filter(nexus=nexus).delete()
        ItemFlow.objects.bulk_create(rows, batch_size=BATCH)
        FlowState.objects.filter(nexus=nexus).update(
            computed_at=timezone.now(), computed_on=as_of, summary=summary, last_error=""
        )
    return summary


def flow_recompute_all() -> int:
    """Recompute every Nexus (the nightly job). Returns how many were recomputed."""
    count = 0
    for nexus_id in Nexus.objects.values_list("id", flat=True):
        flow_recompute(nexus_id=nexus_id)
        count += 1
    return count


def recompute_request(*, nexus_id: int) -> bool:
    """Mark the Nexus's figures stale and enqueue one recompute unless one is queued already.

    Coalesced: only the first change after a job was queued enqueues; later ones find `enqueued_at`
    set. If the broker is unreachable the change still stands: the recompute stays pending (pages say
    since when) and the next change, job or the nightly run does it. Returns True when a job was sent.
    """
    from flow.tasks import recompute_nexus

    now = timezone.now()
    state, _ = FlowState.objects.get_or_create(nexus_id=nexus_id)
    FlowState.objects.filter(pk=state.pk, pending_since__isnull=True).update(pending_since=now)
    claimed = FlowState.objects.filter(Q(pk=state.pk) & Q(enqueued_at__isnull=True)).update(enqueued_at=now)
    if not claimed:
        return False
    try:
        recompute_nexus.delay(nexus_id)
    except BrokerError as exc:
        log.warning("Flow recompute for Nexus %s left pending: broker unreachable (%s)", nexus_id, exc)
        FlowState.objects.filter(pk=state.pk).update(
            enqueued_at=None, last_error=f"broker unreachable: {exc}"
        )
        return False
    return True
