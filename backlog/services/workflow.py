"""Services that change a Nexus's Definition of Workflow after its creation (Kanban Guide for Scrum
Teams: the Definition of Workflow is the Scrum Team's explicit understanding of its workflow, and it
changes as the team learns): add a column, edit one (name, WIP limit, ready flag, place), delete one.

Rules kept here:

- Positions are 0..n-1, contiguous and unique per Nexus (`column_unique_position`, checked row by row,
  not deferrable). Every service locks the Nexus row (the lock the WIP checks of moves take, so a new
  WIP limit applies to the next move) and then all of the Nexus's columns, and renumbers in two
  UPDATEs through positions above the current ones (`_place`), so no intermediate state collides.
- `category`, `is_start` and `is_finish` are fixed once a column exists: the started and finished
  columns define Cycle Time and Work Item Age for the whole history. The started column stays at or
  before the finished one.
- A column that PBIs are in (live or deleted) or that the transition log names cannot be deleted: the
  history of the Product Backlog must never be lost.
- Every change asks for a flow recompute (`notify_items_changed`): the stored figures (the Cumulative
  Flow Diagram's columns, what counts as in progress) follow the Definition of Workflow.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from backlog.errors import Conflict, DomainError
from backlog.models import (
    ColumnCategory,
    Nexus,
    ProductBacklogItem,
    Transition,
    WipLimitKind,
    WorkflowColumn,
)
from backlog.services.common import UNSET, Unset, nexus_lock, notify_items_changed, positions_set
from nexus_site.db import retry_transient

#: At most this many columns in a Definition of Workflow (as `POST /nexuses/` accepts).
MAX_COLUMNS = 30


def _lock_columns(nexus_id: int) -> list[WorkflowColumn]:
    """Lock the Nexus row (as the WIP checks of moves do), then its columns; the columns left to right."""
    nexus_lock(nexus_id)
    return list(WorkflowColumn.objects.select_for_update().filter(nexus_id=nexus_id).order_by("position"))


def _place(columns: list[WorkflowColumn], positions: dict[int, int]) -> None:
    """Give each column (by id) in `positions` its new position (`common.positions_set`)."""
    positions_set(WorkflowColumn, columns, positions)


def _check_start_before_finish(order: list[WorkflowColumn]) -> None:
    start = next((i for i, c in enumerate(order) if c.is_start), None)
    finish = next((i for i, c in enumerate(order) if c.is_finish), None)
    if start is not None and finish is not None and start > finish:
        raise DomainError(
            "The started column must stay at or before the finished column: work cannot finish before "
            "it starts.",
            field="position",
        )


def _check_name(nexus_id: int, name: str, *, exclude: int | None = None) -> str:
    name = name.strip()
    if not name:
        raise DomainError("A column needs a name.", field="name")
    if len(name) > 60:
        raise DomainError("The name is longer than 60 characters.", field="name")
    taken = WorkflowColumn.objects.filter(nexus_id=nexus_id, name=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise DomainError(f"The Definition of Workflow has a column called {name!r} already.", field="name")
    return name


def _check_limit(wip_limit: int | None, wip_limit_kind: str | None) -> None:
    if wip_limit is not None and wip_limit < 1:
        raise DomainError("A WIP limit is at least 1; leave it empty for none.", field="wip_limit")
    if wip_limit_kind is not None and wip_limit_kind not in WipLimitKind.values:
        raise DomainError("The WIP limit kind is 'hard' or 'soft'.", field="wip_limit_kind")


def _default_position(columns: list[WorkflowColumn], category: str) -> int:
    """Where a new column goes when no position is given, by its category: a not-started column just
    before the started column (e.g. a new refinement step), an in-progress one just before the finished
    column (a new step of the work), a done one at the end (after the finished column)."""
    if category == ColumnCategory.NOT_STARTED:
        return next((i for i, c in enumerate(columns) if c.is_start), 0)
    if category == ColumnCategory.IN_PROGRESS:
        return next((i for i, c in enumerate(columns) if c.is_finish), len(columns))
    return len(columns)


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def column_create(
    *,
    nexus: Nexus,
    name: str,
    category: str,
    position: int | None = None,
    wip_limit: int | None = None,
    wip_limit_kind: str = WipLimitKind.SOFT,
    is_ready: bool = False,
) -> WorkflowColumn:
    """Add a column to the Nexus's Definition of Workflow at the 0-based `position` (0 to the number of
    columns; the columns from there on move one to the right). Without `position`: a `not_started`
    column goes just before the started column, an `in_progress` one just before the finished column,
    a `done` one at the end. A new column is never the started or finished one (those are fixed).

    `wip_limit`: items at most in the column (at least 1; None for none); `wip_limit_kind`: `hard`
    refuses a move into a full column, `soft` warns. `is_ready`: items in it are refined and ready.
    Asks for a flow recompute. Raises `DomainError` naming the field: an empty or taken name, an
    unknown category or WIP limit kind, a WIP limit below 1, a position out of range, more than
    `MAX_COLUMNS` columns.
    """
    columns = _lock_columns(nexus.pk)
    name = _check_name(nexus.pk, name)
    if category not in ColumnCategory.values:
        raise DomainError(f"The category is one of {', '.join(ColumnCategory.values)}.", field="category")
    _check_limit(wip_limit, wip_limit_kind)
    if len(columns) >= MAX_COLUMNS:
        raise DomainError(
            f"A Definition of Workflow has at most {MAX_COLUMNS} columns: merge or delete some first.",
            field="name",
        )
    if position is None:
        position = _default_position(columns, category)
    elif not 0 <= position <= len(columns):
        raise DomainError(f"The position is 0 to {len(columns)} (0-based, left to right).", field="position")
    _place(columns, {c.pk: i if i < position else i + 1 for i, c in enumerate(columns)})
    column = WorkflowColumn.objects.create(
        nexus=nexus,
        name=name,
        position=position,
        category=category,
        wip_limit=wip_limit,
        wip_limit_kind=wip_limit_kind,
        is_ready=is_ready,
    )
    notify_items_changed(nexus.pk)
    return column


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def column_update(
    *,
    column: WorkflowColumn,
    name: str | Unset = UNSET,
    wip_limit: int | Unset | None = UNSET,
    wip_limit_kind: str | Unset = UNSET,
    is_ready: bool | Unset = UNSET,
    position: int | Unset = UNSET,
) -> WorkflowColumn:
    """Change a column of the Definition of Workflow: `name` (unique in the Nexus; the transition log
    keeps the names columns had), `wip_limit` (at least 1; None for none), `wip_limit_kind` (`hard` or
    `soft`), `is_ready`, or `position` (move it to that 0-based index, the columns in between shift by
    one). `UNSET` leaves a field as it is; `category`, `is_start` and `is_finish` cannot change.

    A new WIP limit applies to the next move (the WIP checks read the column under the same Nexus lock).
    Asks for a flow recompute when anything changed. Returns the updated column. Raises `DomainError`
    naming the field: an empty or taken name, a WIP limit below 1, an unknown kind, a position out of
    range or one that would put the started column after the finished one.
    """
    columns = _lock_columns(column.nexus_id)
    locked = next((c for c in columns if c.pk == column.pk), None)
    if locked is None:
        raise DomainError("This column has been deleted.", field="id")
    fields: list[str] = []
    if not isinstance(name, Unset):
        name = _check_name(locked.nexus_id, name, exclude=locked.pk)
        if name != locked.name:
            locked.name = name
            fields.append("name")
    if not isinstance(wip_limit, Unset):
        _check_limit(wip_limit, None)
        if wip_limit != locked.wip_limit:
            locked.wip_limit = wip_limit
            fields.append("wip_limit")
    if not isinstance(wip_limit_kind, Unset):
        _check_limit(None, wip_limit_kind)
        if wip_limit_kind != locked.wip_limit_kind:
            locked.wip_limit_kind = wip_limit_kind
            fields.append("wip_limit_kind")
    if not isinstance(is_ready, Unset) and is_ready != locked.is_ready:
        locked.is_ready = is_ready
        fields.append("is_ready")
    moved = False
    if not isinstance(position, Unset) and position != locked.position:
        if not 0 <= position < len(columns):
            raise DomainError(
                f"The position is 0 to {len(columns) - 1} (0-based, left to right).", field="position"
            )
        order = [c for c in columns if c.pk != locked.pk]
        order.insert(position, locked)
        _check_start_before_finish(order)
        _place(columns, {c.pk: i for i, c in enumerate(order)})
        moved = True
    if fields:
        locked.save(update_fields=[*fields, "updated_at"])  # `auto_now` writes only if listed
    if fields or moved:
        notify_items_changed(locked.nexus_id)
    return locked


def column_delete_refusal(*, column: WorkflowColumn) -> str | None:
    """Why `column` cannot be deleted (a message for a person), or None if it can: it is the started or
    finished column (they define Cycle Time), a PBI (live or deleted) is in it, or the transition log
    names it (from or to). The admin uses it to offer deletion only when `column_delete` would
    succeed. At most two queries."""
    if column.is_start or column.is_finish:
        which = "started" if column.is_start else "finished"
        return (
            f"'{column.name}' is the {which} column, which defines Cycle Time for the whole history: it "
            "cannot be deleted. Rename it instead."
        )
    items = ProductBacklogItem.objects.filter(column=column).count()
    if items:
        return (
            f"{items} PBI(s) are in '{column.name}' (deleted ones count: their history stays): move them "
            "to another column first."
        )
    if Transition.objects.filter(Q(from_column=column) | Q(to_column=column)).exists():
        return (
            f"The transition log names '{column.name}': PBIs have passed through it, and deleting it would "
            "change their history and flow figures. Keep it (rename it, or give it no items)."
        )
    return None


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def column_delete(*, column: WorkflowColumn) -> None:
    """Delete a column of the Definition of Workflow; the columns to its right move one to the left.
    It leaves a tombstone for sync (`backlog.services.tombstones`) and asks for a flow recompute.

    Raises `Conflict` (409, field `id`) when `column_delete_refusal` gives a reason: the started or
    finished column, a column PBIs are in (live or deleted) or that the transition log names. Deleting
    a column that is gone already changes nothing.
    """
    columns = _lock_columns(column.nexus_id)
    locked = next((c for c in columns if c.pk == column.pk), None)
    if locked is None:
        return
    refusal = column_delete_refusal(column=locked)
    if refusal:
        raise Conflict(refusal, field="id")
    locked.delete()
    rest = [c for c in columns if c is not locked]
    _place(rest, {c.pk: i for i, c in enumerate(rest)})
    notify_items_changed(locked.nexus_id)
