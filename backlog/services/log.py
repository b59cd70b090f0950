"""Rows of the transition log for the changes of a PBI other than a column move or a reorder: its
forecast Scrum Teams, its block, its parent, a split, a soft delete and a restore.

The item services call these inside their transaction, under the item's row lock, so a change and
its row commit or roll back together. Private to `backlog.services`: doors call the item services,
never these. Kinds and the fields each fills are described on `backlog.models.Transition`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.utils import timezone

from backlog.models import ProductBacklogItem, Transition, TransitionKind


@dataclass(frozen=True)
class ItemState:
    """The logged fields of a PBI that an edit may change (`is_blocked`, `blocked_reason`, `parent`),
    taken before the change, to compare with the item after it (`_log_changes`)."""

    is_blocked: bool = False
    blocked_reason: str = ""
    parent_id: int | None = None

    @classmethod
    def of(cls, item: ProductBacklogItem) -> ItemState:
        return cls(item.is_blocked, item.blocked_reason, item.parent_id)


#: The state a new item starts from: its creation logs the block and parent it is given.
NEW = ItemState()


def _user(actor: User | AnonymousUser | None) -> User | None:
    return actor if isinstance(actor, User) else None


def _row(
    *,
    item: ProductBacklogItem | int,
    kind: str,
    actor: User | AnonymousUser | None,
    source: str,
    at: datetime,
    **fields: Any,
) -> Transition:
    """One unsaved row; `item` as a PBI or its id."""
    key = "item" if isinstance(item, ProductBacklogItem) else "item_id"
    return Transition(**{key: item}, kind=kind, at=at, actor=_user(actor), source=source, **fields)


def _change_rows(
    *,
    item: ProductBacklogItem,
    before: ItemState,
    actor: User | AnonymousUser | None,
    source: str,
    at: datetime,
) -> list[Transition]:
    """The unsaved rows for the differences between `before` and `item` as it is now: `blocked`
    (blocked, or a new reason while blocked; `reason` the reason now), `unblocked` (`reason` the one it
    had), `parent_changed` (`from_parent`, `to_parent`)."""
    rows: list[Transition] = []
    common: dict[str, Any] = {"item": item, "actor": actor, "source": source, "at": at}
    if item.is_blocked and (not before.is_blocked or item.blocked_reason != before.blocked_reason):
        rows.append(_row(kind=TransitionKind.BLOCKED, reason=item.blocked_reason, **common))
    elif before.is_blocked and not item.is_blocked:
        rows.append(_row(kind=TransitionKind.UNBLOCKED, reason=before.blocked_reason, **common))
    if item.parent_id != before.parent_id:
        rows.append(
            _row(
                kind=TransitionKind.PARENT_CHANGED,
                from_parent_id=before.parent_id,
                to_parent_id=item.parent_id,
                **common,
            )
        )
    return rows


def _log_changes(
    *,
    item: ProductBacklogItem,
    before: ItemState,
    actor: User | AnonymousUser | None,
    source: str,
    at: datetime | None = None,
) -> list[Transition]:
    """Write the rows of `_change_rows` (none if nothing logged changed); one query at most."""
    rows = _change_rows(item=item, before=before, actor=actor, source=source, at=at or timezone.now())
    return Transition.objects.bulk_create(rows) if rows else []


def _log(
    *,
    item: ProductBacklogItem | int,
    kind: str,
    actor: User | AnonymousUser | None,
    source: str,
    at: datetime | None = None,
    **fields: Any,
) -> Transition:
    """Write one row of `kind` (e.g. `deleted`, `team_added` with `team_id` and `to_name`)."""
    row = _row(item=item, kind=kind, actor=actor, source=source, at=at or timezone.now(), **fields)
    row.save()
    return row


def _log_many(rows: Iterable[Transition]) -> list[Transition]:
    """Write rows built with `_row`/`_change_rows` in one statement (bulk writes)."""
    rows = list(rows)
    return Transition.objects.bulk_create(rows, batch_size=500) if rows else []
