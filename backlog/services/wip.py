"""WIP limits of the Definition of Workflow, checked when an item moves into a column (`pbi_transition`):
the column's, the Nexus's and those of the Scrum Teams forecast on the item. Hard limits refuse the
move (`WipLimitReached`), soft ones answer a warning. (Kanban Guide for Scrum Teams: WIP limits are part
of the Definition of Workflow.)"""

from __future__ import annotations

from collections.abc import Callable

from backlog.errors import WipLimitReached
from backlog.models import ProductBacklogItem, ScrumTeam, WipLimitKind, WorkflowColumn
from backlog.services.common import nexus_lock

__all__ = ["wip_limit_kinds_register", "wip_warnings"]


#: Looks up the kinds ("hard" or "soft") of the WIP limits of a Nexus (key None) and of its Scrum Teams
#: (key: team id); a missing key is soft. `backlog` imports no other app, so the app that keeps these
#: settings (flow) installs the lookup at start-up with `wip_limit_kinds_register`.
def _no_kinds(nexus_id: int) -> dict[int | None, str]:
    return {}


_wip_limit_kinds: Callable[[int], dict[int | None, str]] = _no_kinds


def wip_limit_kinds_register(lookup: Callable[[int], dict[int | None, str]]) -> None:
    """Install the lookup of the kinds of team and Nexus WIP limits (see `_wip_limit_kinds`)."""
    global _wip_limit_kinds
    _wip_limit_kinds = lookup


def wip_warnings(*, item: ProductBacklogItem, to_column: WorkflowColumn) -> list[str]:
    """Check the WIP limits a move of `item` into `to_column` would meet: the column's, and, when the
    move brings the item into progress (from outside the columns from the started one up to, not
    including, the finished one), the Nexus's and those of the Scrum Teams forecast to work on it.

    Raises `WipLimitReached` when a hard limit is full; returns a warning per full soft limit.
    (Kanban Guide for Scrum Teams: WIP limits are part of the Definition of Workflow.)

    Call it in the transaction that moves the item, with the item's row locked and `to_column` read
    under the Nexus lock (`structure_check`): it takes that lock (`nexus_lock`) so that the checks of
    one Nexus's moves run one at a time, and two moves cannot both take the last place under a limit.
    """
    nexus_limit = nexus_lock(to_column.nexus_id)
    scope = _scope_wip_warnings(item=item, to_column=to_column, nexus_limit=nexus_limit)
    if to_column.wip_limit is None:
        return scope
    count = ProductBacklogItem.objects.alive().filter(column=to_column).exclude(pk=item.pk).count()
    if count < to_column.wip_limit:
        return scope
    msg = f"'{to_column.name}' is at its WIP limit ({count} of {to_column.wip_limit})."
    if to_column.wip_limit_kind == WipLimitKind.HARD:
        raise WipLimitReached(msg + " Finish something there first.", field="column")
    return [msg, *scope]


def _scope_wip_warnings(
    *, item: ProductBacklogItem, to_column: WorkflowColumn, nexus_limit: int | None
) -> list[str]:
    """The Nexus-level and per-team part of `wip_warnings`: limits count items in progress."""
    nexus_id = to_column.nexus_id
    teams = list(ScrumTeam.objects.filter(involvements__item=item, wip_limit__isnull=False).order_by("name"))
    if nexus_limit is None and not teams:
        return []
    columns = list(WorkflowColumn.objects.filter(nexus_id=nexus_id).order_by("position"))
    start = next((i for i, c in enumerate(columns) if c.is_start), 0)
    finish = next((i for i, c in enumerate(columns) if c.is_finish), len(columns) - 1)
    in_progress = {c.pk for c in columns[start:finish]}
    if to_column.pk not in in_progress or item.column_id in in_progress:
        return []  # the move does not add to the work in progress
    kinds = _wip_limit_kinds(nexus_id)
    others = ProductBacklogItem.objects.alive().filter(column_id__in=in_progress).exclude(pk=item.pk)
    scopes: list[tuple[str, int, str]] = []
    if nexus_limit is not None:
        count = others.count()
        if count >= nexus_limit:
            scopes.append(
                (
                    f"The Nexus is at its WIP limit ({count} of {nexus_limit} items in progress).",
                    count,
                    kinds.get(None, WipLimitKind.SOFT),
                )
            )
    for team in teams:
        assert team.wip_limit is not None
        count = others.filter(involvements__team=team).count()
        if count >= team.wip_limit:
            scopes.append(
                (
                    f"{team.name} is at its WIP limit ({count} of {team.wip_limit} items in progress).",
                    count,
                    kinds.get(team.pk, WipLimitKind.SOFT),
                )
            )
    refused = [msg for msg, _, kind in scopes if kind == WipLimitKind.HARD]
    if refused:
        raise WipLimitReached(" ".join(refused) + " Finish something first.", field="column")
    return [msg for msg, _, _ in scopes]
