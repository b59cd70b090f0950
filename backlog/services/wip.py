"""WIP limits of the Definition of Workflow, checked when an item moves into a column (`pbi_transition`):
the column's, the Nexus's and those of the Scrum Teams forecast on the item. Hard limits refuse the
move (`WipLimitReached`), soft ones answer a warning. The kind of each limit is the column's, the
Nexus's or the team's `wip_limit_kind`. (Kanban Guide for Scrum Teams: WIP limits are part
of the Definition of Workflow.)"""

from __future__ import annotations

from django.db.models import Count

from backlog.errors import WipLimitReached
from backlog.models import ProductBacklogItem, ScrumTeam, TeamInvolvement, WipLimitKind, WorkflowColumn
from backlog.services.common import nexus_lock_wip

__all__ = ["wip_warnings"]


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
    nexus_limit, nexus_kind = nexus_lock_wip(to_column.nexus_id)
    scope = _scope_wip_warnings(
        item=item, to_column=to_column, nexus_limit=nexus_limit, nexus_kind=nexus_kind
    )
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
    *, item: ProductBacklogItem, to_column: WorkflowColumn, nexus_limit: int | None, nexus_kind: str
) -> list[str]:
    """The Nexus-level and per-team part of `wip_warnings`: limits count items in progress; each
    limit's kind is the Nexus's or the team's `wip_limit_kind`. At most four queries, whatever the
    number of limited teams."""
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
    others = ProductBacklogItem.objects.alive().filter(column_id__in=in_progress).exclude(pk=item.pk)
    scopes: list[tuple[str, int, str]] = []
    if nexus_limit is not None:
        count = others.count()
        if count >= nexus_limit:
            scopes.append(
                (
                    f"The Nexus is at its WIP limit ({count} of {nexus_limit} items in progress).",
                    count,
                    nexus_kind,
                )
            )
    # One query for all the limited teams (GROUP BY team), not one COUNT per team; one involvement per
    # item and team (`involvement_unique`).
    per_team = dict(
        TeamInvolvement.objects.filter(team__in=[t.pk for t in teams], item__in=others)
        .order_by()
        .values_list("team_id")
        .annotate(n=Count("item_id"))
    )
    for team in teams:
        assert team.wip_limit is not None
        count = per_team.get(team.pk, 0)
        if count >= team.wip_limit:
            scopes.append(
                (
                    f"{team.name} is at its WIP limit ({count} of {team.wip_limit} items in progress).",
                    count,
                    team.wip_limit_kind,
                )
            )
    refused = [msg for msg, _, kind in scopes if kind == WipLimitKind.HARD]
    if refused:
        raise WipLimitReached(" ".join(refused) + " Finish something first.", field="column")
    return [msg for msg, _, _ in scopes]
