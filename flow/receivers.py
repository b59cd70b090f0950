"""Reacts to `backlog.signals.items_changed` (after the change committed): update the stored flow
figures of the changed items at once (`flow.incremental.flow_apply`, milliseconds), then request the
coalesced recompute that refreshes the headline figures after the response (`recompute_request`).
A change that a running full recompute turned away (`BUSY`) is kept for the job after it to apply
(`flow.services.pending_items_keep`). A change that names no items (the Definition of Workflow, the
time zone, an import) only requests the recompute; a change that flow reads nothing of (`flow` False:
a reorder, a title) neither."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from flow.incremental import APPLIED, BUSY, UNCHANGED, flow_apply
from flow.services import pending_items_keep, recompute_request

log = logging.getLogger(__name__)


def on_items_changed(
    sender: Any, *, nexus_id: int, flow: bool = True, items: Iterable[int] | None = None, **kwargs: Any
) -> None:
    if not flow:
        return
    outcome = None
    if items is not None:
        items = list(items)
        try:
            outcome = flow_apply(nexus_id=nexus_id, item_ids=items)
            if outcome == UNCHANGED:
                return  # nothing flow reads changed (a team square): no figure to refresh
            if outcome == BUSY:  # a full recompute runs: the job queued after it applies the change
                pending_items_keep(nexus_id=nexus_id, item_ids=items)
                recompute_request(nexus_id=nexus_id, full=False)
                return
        except Exception:  # the change stands; the recompute requested below repairs the figures
            log.exception("Incremental flow update of Nexus %s failed", nexus_id)
    # Applied: the job may refresh the summaries from the stored rows; anything else needs the full
    # recompute (a change naming no items, one the incremental update handed over, a failure).
    recompute_request(nexus_id=nexus_id, full=outcome != APPLIED)
