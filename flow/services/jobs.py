"""The jobs that run the full recompute or refresh the summaries (`recompute_job`, the nightly and
hourly `flow_recompute_all` and `flow_recompute_due`), and the coalesced request for one that every
change makes (`recompute_request`). See `flow.services` for what runs when."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from backlog.models import Nexus
from flow import background, incremental, refresh
from flow.history import nexus_today
from flow.models import FlowPendingItem, FlowState
from flow.services import recompute
from nexus_site.db import retry_transient

__all__ = [
    "flow_recompute_all",
    "flow_recompute_due",
    "flow_recompute_logged",
    "pending_items_keep",
    "recompute_job",
    "recompute_request",
]

log = logging.getLogger("flow.services")


def pending_items_keep(*, nexus_id: int, item_ids: Iterable[int]) -> None:
    """Keep changed items whose incremental update found a full recompute running (`BUSY`) for the
    next job to apply (`FlowPendingItem`, `recompute_job`). One query; an item kept already stays once."""
    rows = [FlowPendingItem(nexus_id=nexus_id, item_id=pk) for pk in sorted(set(item_ids))]
    FlowPendingItem.objects.bulk_create(rows, ignore_conflicts=True)


@retry_transient  # a deadlock: the job again (kept changes it took are then left to the full recompute)
def recompute_job(*, nexus_id: int) -> dict[str, Any]:
    """The coalesced job a change requests (`recompute_request`).

    First the changes a running full recompute turned away (`FlowPendingItem`) are applied by the
    incremental update, now that the flow lock is free. Then, when every change since the last full
    recompute was applied by the incremental update, the summaries are refreshed from the stored
    per-item rows (`flow.refresh.flow_refresh`, a fraction of the time); otherwise, or when the
    refresh cannot (the day turned, the teams or the Definition of Workflow changed, or the kept
    changes could not be applied), the full recompute runs. Returns the full recompute's summary, or
    {"refreshed": outcome}."""
    # The claim released before anything is read: a change from here on queues the job after this one
    # (`recompute_request`), so none waits unseen for a job that read its inputs before it.
    FlowState.objects.filter(nexus_id=nexus_id).update(pending_since=None, enqueued_at=None)
    # The kept changes taken (read and deleted at once): one kept again from here on is a new row, for
    # the job after this one (applying an item twice is harmless; missing one is not).
    with transaction.atomic():
        kept = list(
            FlowPendingItem.objects.select_for_update().filter(nexus_id=nexus_id).values_list("pk", "item_id")
        )
        FlowPendingItem.objects.filter(pk__in=[pk for pk, _ in kept]).delete()
    if kept:
        try:
            applied = incremental.flow_apply(nexus_id=nexus_id, item_ids=[item_id for _, item_id in kept])
        except Exception:  # the changes stay to be shown: by the full recompute, which the sweep runs
            FlowState.objects.filter(nexus_id=nexus_id).update(full_needed=True, pending_since=timezone.now())
            raise
        if applied not in (
            incremental.APPLIED,
            incremental.UNCHANGED,
        ):  # another full recompute runs, or one is needed
            return recompute.flow_recompute(nexus_id=nexus_id)  # it reads the log after they were kept
    outcome = refresh.flow_refresh(nexus_id=nexus_id)
    if outcome == refresh.FULL:
        return recompute.flow_recompute(nexus_id=nexus_id)
    return {"refreshed": outcome}


def flow_recompute_logged(nexus_id: int, *, job: bool = False) -> bool:
    """`flow_recompute` (`recompute_job` with `job`), a failure logged and marked on the Nexus's
    `FlowState` instead of raised (for the jobs that run many, and the in-process thread). Returns
    whether it succeeded."""
    try:
        if job:
            recompute_job(nexus_id=nexus_id)
        else:
            recompute.flow_recompute(nexus_id=nexus_id)
        return True
    except Exception as exc:  # one broken Nexus must not stop the others
        log.exception("Flow recompute of Nexus %s failed", nexus_id)
        FlowState.objects.update_or_create(
            nexus_id=nexus_id, defaults={"last_error": f"recompute failed: {exc}"[:2000]}
        )
        return False


def flow_recompute_all() -> int:
    """Recompute every Nexus (the nightly job; also does recomputes left pending while the broker was
    down). A Nexus that fails is logged and marked, the others still run. Returns how many succeeded."""
    count = 0
    for nexus_id in Nexus.objects.values_list("id", flat=True):
        try:
            recompute.flow_recompute(nexus_id=nexus_id)
            count += 1
        except Exception as exc:  # one broken Nexus must not stop the nightly run
            log.exception("Flow recompute of Nexus %s failed", nexus_id)
            FlowState.objects.update_or_create(
                nexus_id=nexus_id, defaults={"last_error": f"recompute failed: {exc}"[:2000]}
            )
    return count


def flow_recompute_due() -> int:
    """Recompute the Nexuses whose stored figures are behind: never computed, computed on an earlier day
    than today in the Nexus's time zone (the hourly check makes "nightly" midnight in each time zone),
    or pending with no job queued (the broker was down). Returns how many were recomputed."""
    count = 0
    states = {s.nexus_id: s for s in FlowState.objects.all()}
    for nexus in Nexus.objects.all():
        state = states.get(nexus.pk)
        due = (
            state is None
            or state.computed_on is None
            or state.computed_on < nexus_today(nexus)
            or (state.pending_since is not None and state.enqueued_at is None)
        )
        if due:
            recompute.flow_recompute(nexus_id=nexus.pk)
            count += 1
    return count


def recompute_request(*, nexus_id: int, full: bool = True) -> bool:
    """Mark the Nexus's figures stale and enqueue one recompute unless one is queued already.

    `full=False` says the change was applied to the stored rows by the incremental update, so the job
    may refresh the summaries from them (`recompute_job`); any other change (the default) makes the
    next job the full recompute (`FlowState.full_needed`, cleared when one starts).

    Coalesced: only the first change after a job was queued enqueues; later ones find `enqueued_at`
    set. If the broker is unreachable the change still stands: the recompute stays pending (pages say
    since when) and the next change, job or the nightly run does it. Returns True when a job was sent.
    """
    from kombu.exceptions import OperationalError as BrokerError  # with Celery: not at Django's start

    from flow.tasks import recompute_nexus

    now = timezone.now()
    state, _ = FlowState.objects.get_or_create(nexus_id=nexus_id)
    if full and not state.full_needed:
        FlowState.objects.filter(pk=state.pk).update(full_needed=True)
    FlowState.objects.filter(pk=state.pk, pending_since__isnull=True).update(pending_since=now)
    free = Q(enqueued_at__isnull=True)
    if background.in_thread():
        # Several web processes (gunicorn workers) share the claim: one of them runs the job in its
        # thread a second later. A claim older than that process could take was lost with it (a
        # worker restarted or stopped): take it over.
        free |= Q(enqueued_at__lt=now - background.CLAIM_LOST_AFTER)
    claimed = FlowState.objects.filter(Q(pk=state.pk) & free).update(enqueued_at=now)
    if not claimed:
        return False
    try:
        if background.in_thread():
            background.schedule(nexus_id)  # the embedded default: after the response, in a thread
        else:
            recompute_nexus.delay(nexus_id)
    except BrokerError as exc:
        log.warning("Flow recompute for Nexus %s left pending: broker unreachable (%s)", nexus_id, exc)
        FlowState.objects.filter(pk=state.pk).update(
            enqueued_at=None, last_error=f"broker unreachable: {exc}"
        )
        return False
    return True
