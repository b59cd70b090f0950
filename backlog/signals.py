"""Signals `backlog` sends so that apps above it (flow, integration) can react without `backlog`
importing them. Sent after the transaction commits.

`items_changed(sender, nexus_id: int, flow: bool[, items: frozenset[int]])`: items of that Nexus changed
column, team status or order, or were created, edited or deleted. `flow` is False when the change cannot
alter flow metrics (a reorder, a title or description). `items`, sent only with `flow` and only when
known: the ids of the items whose flow may have changed (a column change, a square, their forecast
teams, a deletion or restore); flow updates its stored figures for those items alone. Without `items`
(a change of the Definition of Workflow, the time zone, the teams, an import) flow recomputes the whole
Nexus. Receivers take `**kwargs`.

`item_event(sender, nexus_id: int, item_id: int, event: str)`: one Product Backlog Item changed;
`event` is one of "created", "updated", "moved", "transitioned", "deleted", "square_changed".
Outbound webhooks (`backlog.services.webhooks`) connect to it. Sent robustly: a failing receiver is
logged, never raised.
"""

from django.dispatch import Signal

items_changed = Signal()
item_event = Signal()
