"""Small helpers shared by the services."""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, Final

from django.db import connection, transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from backlog.errors import DomainError, PreconditionFailed
from backlog.models import Nexus, NexusChangeCounter, ScrumTeam, WipLimitKind, WorkflowColumn
from backlog.signals import item_event, items_changed

log = logging.getLogger(__name__)


_batch = threading.local()


class Unset(enum.Enum):
    """The type of `UNSET`."""

    UNSET = "unset"


#: "Leave this field as it is", for the update services whose fields may be set to None (a WIP limit).
UNSET: Final = Unset.UNSET


# --- The change counter of a Nexus ---------------------------------------------------------------------
#
# Every write to a Nexus's data calls `nexus_changed(nexus_id)` in its transaction, as its last step:
# the services of `backlog` (items, order, sync, bulk, the Nexus, teams, memberships, goals, columns,
# webhooks), the importer, the admin (`backlog.admin`), the deletion of any row that leaves a tombstone
# (`tombstones.on_deleted`, which covers cascades and the admin), and every later capability (flow
# settings; events, integration) through this same call. Stored figures that are derived from the data
# (the flow recompute, webhook deliveries) do not advance it: they change nothing a client could
# write, and a page showing them puts their own stamp in its ETag (`backlog.http.nexus_etag(extra=)`).
# The item services call it through `notify_items_changed`.
#
# Locks: the counter row is locked by nothing else, and taken last (after backlog, item, involvement,
# Nexus), so a single write cannot deadlock on it. A service that combines others (a family move,
# a split, a sync `pbi_apply`) must not take another lock after the first inner service has advanced
# the counter; it runs inside `items_changed_batched()` (a decorator too), which defers the counter
# to the end of the batch: one advance per Nexus per batch.


def nexus_changed(nexus_id: int) -> int | None:
    """Record that the Nexus's data changed in the current transaction: its `NexusChangeCounter.seq`
    goes up by one (`seq > N` answers "changed since N"). Returns the new seq; None when the advance
    is deferred to the end of an `items_changed_batched()` block, or when the Nexus does not exist
    (any more).

    One statement, `INSERT ... ON CONFLICT DO UPDATE SET seq = seq + 1 RETURNING seq` (the row is
    created on the first change of a Nexus made without `nexus_create`): its row lock is held until
    the transaction ends, so a concurrent write waits, and the numbers are handed out in commit order
    (a reader that sees seq N sees every change numbered N or less). A rolled-back write rolls its
    number back too. Call it at the end of the write, after every other lock (see above)."""
    changed: set[int] | None = getattr(_batch, "changed", None)
    if changed is not None:
        changed.add(nexus_id)
        return None
    return _advance(nexus_id)


def _advance(nexus_id: int) -> int | None:
    qn = connection.ops.quote_name
    table, nexus_table = qn(NexusChangeCounter._meta.db_table), qn(Nexus._meta.db_table)
    with connection.cursor() as cursor:
        # `INSERT ... SELECT` (rather than VALUES): no row, hence no foreign key failing at commit, for
        # a Nexus deleted meanwhile. SQLite needs the WHERE before ON CONFLICT; it has one.
        cursor.execute(
            f"INSERT INTO {table} (nexus_id, seq) SELECT id, 1 FROM {nexus_table} WHERE id = %s"
            f" ON CONFLICT (nexus_id) DO UPDATE SET seq = {table}.seq + 1 RETURNING seq",
            [nexus_id],
        )
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def notify_items_changed(nexus_id: int, *, flow: bool = True, items: Iterable[int] | None = None) -> None:
    """Advance the Nexus's change counter (`nexus_changed`) and send `items_changed` for the Nexus
    once the surrounding transaction commits. `flow=False` says the change cannot alter flow metrics
    (a reorder, a title), so no recompute is needed. `items` (with `flow`): the ids of the only items
    whose flow may have changed (a column, their forecast teams, a square, a deletion): flow then
    updates its stored figures for those items alone (`flow.services.flow_apply`); without it, flow
    recomputes the whole Nexus (a structure change, an import). Inside `items_changed_batched()` the
    Nexus is counted and notified once for the whole batch. Call it inside the write's transaction,
    after its locks."""
    nexus_changed(nexus_id)
    pending: dict[int, bool] | None = getattr(_batch, "pending", None)
    if pending is not None:
        pending[nexus_id] = pending.get(nexus_id, False) or flow
        if flow:
            _batch.items[nexus_id] = _items_merge(_batch.items.get(nexus_id, set()), items)
        return
    transaction.on_commit(partial(_send_items_changed, nexus_id, flow, items if flow else None))


def _items_merge(have: set[int] | None, items: Iterable[int] | None) -> set[int] | None:
    """The items of a batch whose flow changed: None (unknown: the whole Nexus) wins."""
    return None if have is None or items is None else have | set(items)


def _send_items_changed(nexus_id: int, flow: bool, items: Iterable[int] | None) -> None:
    """Send `items_changed`; `items` only when known (receivers that predate it see the old shape)."""
    if items is None:
        items_changed.send(sender=None, nexus_id=nexus_id, flow=flow)
    else:
        items_changed.send(sender=None, nexus_id=nexus_id, flow=flow, items=frozenset(items))


@contextmanager
def items_changed_batched() -> Iterator[None]:
    """Within the block, `items_changed` is sent once per Nexus (on commit, `flow` if any change
    needed it, with the union of the `items` they named) instead of once per changed item: a bulk
    write of 1,000 items asks for one flow recompute, not 1,000. The change counters
    (`nexus_changed`) advance once per Nexus too, when the block ends (in Nexus id order), so that the
    counter's lock comes after every lock taken inside. If the block raises, nothing is sent or
    counted. Nested blocks join the outer one. Also a decorator (`@items_changed_batched()`, under
    `@transaction.atomic`) for a service made of others."""
    if getattr(_batch, "pending", None) is not None:
        yield
        return
    _batch.pending, _batch.changed, _batch.items = {}, set(), {}
    try:
        yield
        pending, changed, items = _batch.pending, _batch.changed, _batch.items
    finally:
        _batch.pending = _batch.changed = _batch.items = None
    for nexus_id in sorted(changed):
        _advance(nexus_id)
    for nexus_id, flow in pending.items():
        transaction.on_commit(partial(_send_items_changed, nexus_id, flow, items.get(nexus_id)))


def notify_item_event(nexus_id: int, item_id: int, event: str) -> None:
    """Send `item_event` for one PBI once the surrounding transaction commits (nothing if it rolls
    back). `event`: "created", "updated", "moved", "transitioned", "deleted" or "square_changed" (a team
    square: `backlog.services.squares`). A receiver that fails
    is logged and does not fail the request whose change has already committed."""

    def send() -> None:
        for receiver, result in item_event.send_robust(
            sender=None, nexus_id=nexus_id, item_id=item_id, event=event
        ):
            if isinstance(result, Exception):
                log.error("item_event receiver %r failed", receiver, exc_info=result)

    transaction.on_commit(send)


# --- The Nexus lock: structure changes and the writes that refer to the structure ----------------------
#
# One lock per Nexus, its row (`FOR NO KEY UPDATE`, which does not block reads or other updates of the
# row's other tables), serialises: the WIP checks of moves (two moves cannot both take the last place
# under a hard limit), every change of the Definition of Workflow and of the Scrum Teams (create, edit,
# delete), and every write that makes a row refer to a column or a Scrum Team (an item's column, its
# teams, a membership's team). Those writes re-read the columns and teams under the lock, so a
# concurrent deletion either committed before (the row is missing: a 400 naming the field) or waits
# and then sees the new reference (and refuses with a 409); without it the deferred foreign key failed
# at commit, a 500. Order: the Product Backlog, then an item, then the Nexus (never the other way);
# the change counter's row last of all (`nexus_changed`, above).


def nexus_lock(nexus_id: int) -> int | None:
    """Take the Nexus row lock until the transaction ends (see above) and return its WIP limit as it
    is now (None: no limit). One query."""
    return nexus_lock_wip(nexus_id)[0]


def nexus_lock_wip(nexus_id: int) -> tuple[int | None, str]:
    """`nexus_lock`, returning the Nexus's WIP limit and its kind (`WipLimitKind`) as they are now
    ((None, "soft") if the Nexus is gone). One query."""
    row = (
        Nexus.objects.select_for_update(no_key=True)
        .filter(pk=nexus_id)
        .values_list("wip_limit", "wip_limit_kind")
        .first()
    )
    return row if row is not None else (None, WipLimitKind.SOFT)


def structure_lock(
    *, nexus_id: int, column_ids: Iterable[int] = (), team_ids: Iterable[int] = ()
) -> tuple[dict[int, WorkflowColumn], dict[int, ScrumTeam]]:
    """Under the Nexus lock (`nexus_lock`), the Definition of Workflow columns and Scrum Teams with these
    ids as they are now (current names and WIP limits), by id; those of another Nexus or deleted are
    left out. A query for the lock and one per kind asked for."""
    nexus_lock(nexus_id)
    columns, teams = set(column_ids), set(team_ids)
    now_columns = WorkflowColumn.objects.filter(nexus_id=nexus_id, pk__in=columns) if columns else []
    now_teams = ScrumTeam.objects.filter(nexus_id=nexus_id, pk__in=teams) if teams else []
    return {c.pk: c for c in now_columns}, {t.pk: t for t in now_teams}


def structure_check(
    *,
    nexus_id: int,
    columns: Iterable[WorkflowColumn] = (),
    teams: Iterable[ScrumTeam] = (),
    teams_field: str = "teams",
) -> tuple[dict[int, WorkflowColumn], dict[int, ScrumTeam]]:
    """`structure_lock` for a write about to refer to `columns` and `teams`: raises `DomainError` naming
    `column` (or `teams_field`) when one is of another Nexus or was deleted meanwhile; else returns them
    as they are now, by id."""
    columns, teams = list(columns), list(teams)
    now_columns, now_teams = structure_lock(
        nexus_id=nexus_id, column_ids=[c.pk for c in columns], team_ids=[t.pk for t in teams]
    )
    if any(c.pk not in now_columns for c in columns):
        raise DomainError(
            "That column is not in this Nexus's Definition of Workflow (any more).", field="column"
        )
    if any(t.pk not in now_teams for t in teams):
        raise DomainError("That Scrum Team is not in this Nexus (any more).", field=teams_field)
    return now_columns, now_teams


def version_check(item: Any, expected_version: int | None, *, undone: str = "Nothing was changed") -> None:
    """Optimistic concurrency (`If-Match`): raise `PreconditionFailed` (HTTP 412, field `If-Match`,
    with the item's `current_version`) when `expected_version` is given and differs from the locked
    `item`'s `version`. `undone` says what was not done ("Nothing was moved"). Call it with the item's
    row locked, before writing."""
    if expected_version is not None and item.version != expected_version:
        raise PreconditionFailed(
            f"The item is at version {item.version}, not {expected_version}: someone changed it after you "
            f"read it. {undone}; read it again and re-apply your change.",
            current_version=item.version,
            field="If-Match",
        )


def positions_set(model: type[Any], columns: Sequence[Any], positions: dict[int, int]) -> None:
    """Give each row of `model` (by id) in `positions` its new `position`, without ever colliding with
    another row's position under a non-deferrable unique constraint on (owner, position): every moving
    row first goes to a free position above all current and target ones, then to its target. Moved rows
    get a new `updated_at` (sync clients see the new order), and the objects of `columns` (the rows as
    loaded, locked by the caller) are updated to match. Two UPDATEs at most. Used for the Nexus's
    columns (`backlog.services.workflow`) and a team's columns (`backlog.services.team_columns`)."""
    current = {c.pk: c.position for c in columns}
    moving = {pk: pos for pk, pos in positions.items() if pk is not None and pos != current.get(pk)}
    if not moving:
        return
    base = max([*current.values(), *moving.values()]) + 1
    now = timezone.now()
    temporary = {pk: base + i for i, pk in enumerate(sorted(moving))}
    for targets in (temporary, moving):
        model.objects.filter(pk__in=list(targets)).update(
            position=Case(*(When(pk=pk, then=Value(pos)) for pk, pos in targets.items())), updated_at=now
        )
    for column in columns:
        if column.pk in moving:
            column.position, column.updated_at = moving[column.pk], now
