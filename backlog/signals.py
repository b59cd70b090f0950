"""Signals `backlog` sends so that apps above it (flow, integration) can react without `backlog`
importing them. Sent after the transaction commits.

`items_changed(sender, nexus_id: int, flow: bool)`: items of that Nexus changed column, team status or
order, or were created, edited or deleted. `flow` is False when the change cannot alter flow metrics
(a reorder). Flow connects to it to enqueue a (coalesced) recompute.

`item_event(sender, nexus_id: int, item_id: int, event: str)`: one Product Backlog Item changed;
`event` is one of "created", "updated", "moved", "transitioned", "deleted", "square_changed".
Outbound webhooks (`backlog.services.webhooks`) connect to it. Sent robustly: a failing receiver is
logged, never raised.
"""

from django.dispatch import Signal

items_changed = Signal()
item_event = Signal()
