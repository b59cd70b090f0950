"""Small helpers shared by the services."""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Final

from django.db import transaction

from backlog.errors import DomainError
from backlog.models import Nexus, ScrumTeam, WipLimitKind, WorkflowColumn
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


# --- The Nexus lock: structure changes and the writes that refer to the structure ----------------------
#
# One lock per Nexus, its row (`FOR NO KEY UPDATE`, which does not block reads or other updates of the
# row's other tables), serialises: the WIP checks of moves (two moves cannot both take the last place
# under a hard limit), every change of the Definition of Workflow and of the Scrum Teams (create, edit,
# delete), and every write that makes a row refer to a column or a Scrum Team (an item's column, its
# teams, a membership's team). Those writes re-read the columns and teams under the lock, so a
# concurrent deletion either committed before (the row is missing: a 400 naming the field) or waits
# and then sees the new reference (and refuses with a 409); without it the deferred foreign key failed
# at commit, a 500. Order: the Product Backlog, then an item, then the Nexus (never the other way).


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
