"""Small helpers shared by the services."""

from __future__ import annotations

from django.db import transaction

from backlog.signals import items_changed


def notify_items_changed(nexus_id: int, *, flow: bool = True) -> None:
    """Send `items_changed` for the Nexus once the surrounding transaction commits. `flow=False` says
    the change cannot alter flow metrics (a reorder), so no recompute is needed."""
    transaction.on_commit(lambda: items_changed.send(sender=None, nexus_id=nexus_id, flow=flow))
