"""Small helpers shared by the services."""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Final

from django.db import transaction

from backlog.signals import item_event, items_changed

log = logging.getLogger(__name__)


_batch = threading.local()


class Unset(enum.Enum):
    """The type of `UNSET`."""

    UNSET = "unset"


#: "Leave this field as it is", for the update services whose fields may be set to None (a WIP limit).
UNSET: Final = Unset.UNSET


def notify_items_changed(nexus_id: int, *, flow: bool = True) -> None:
    """Send `items_changed` for the Nexus once the surrounding transaction commits. `flow=False` says
    the change cannot alter flow metrics (a reorder), so no recompute is needed. Inside
    `items_changed_batched()` the Nexus is notified once for the whole batch."""
    pending: dict[int, bool] | None = getattr(_batch, "pending", None)
    if pending is not None:
        pending[nexus_id] = pending.get(nexus_id, False) or flow
        return
    transaction.on_commit(lambda: items_changed.send(sender=None, nexus_id=nexus_id, flow=flow))


@contextmanager
def items_changed_batched() -> Iterator[None]:
    """Within the block, `items_changed` is sent once per Nexus (on commit, `flow` if any change
    needed it) instead of once per changed item: a bulk write of 1,000 items asks for one flow
    recompute, not 1,000. If the block raises, nothing is sent. Nested blocks join the outer one."""
    if getattr(_batch, "pending", None) is not None:
        yield
        return
    _batch.pending = {}
    try:
        yield
        pending = _batch.pending
    finally:
        _batch.pending = None
    for nexus_id, flow in pending.items():
        transaction.on_commit(partial(items_changed.send, sender=None, nexus_id=nexus_id, flow=flow))


def notify_item_event(nexus_id: int, item_id: int, event: str) -> None:
    """Send `item_event` for one PBI once the surrounding transaction commits (nothing if it rolls
    back). `event`: "created", "updated", "moved", "transitioned" or "deleted". A receiver that fails
    is logged and does not fail the request whose change has already committed."""

    def send() -> None:
        for receiver, result in item_event.send_robust(
            sender=None, nexus_id=nexus_id, item_id=item_id, event=event
        ):
            if isinstance(result, Exception):
                log.error("item_event receiver %r failed", receiver, exc_info=result)

    transaction.on_commit(send)
