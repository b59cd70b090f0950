"""Small helpers shared by the services."""

from __future__ import annotations

import logging

from django.db import transaction

from backlog.signals import item_event, items_changed

log = logging.getLogger(__name__)


def notify_items_changed(nexus_id: int, *, flow: bool = True) -> None:
    """Send `items_changed` for the Nexus once the surrounding transaction commits. `flow=False` says
    the change cannot alter flow metrics (a reorder), so no recompute is needed."""
    transaction.on_commit(lambda: items_changed.send(sender=None, nexus_id=nexus_id, flow=flow))


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
