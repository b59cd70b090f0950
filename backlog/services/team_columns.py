"""Each Scrum Team's own Definition of Workflow inside the Nexus's (Kanban Guide for Scrum Teams): its
ordered columns (`backlog.TeamColumn`), each mapped onto one of the four states of a team square, with
optional WIP limits and the team's own SLE. Created with the team (`team_columns_default`), then added,
changed and deleted here; a change of a column's state moves the team's work in it to that state
(through the square writes of `backlog.services.squares`, logged). Along a board the states never go
back, and every state keeps at least one column."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from backlog.errors import Conflict, DomainError, PreconditionFailed
from backlog.models import (
    ScrumTeam,
    Source,
    TeamColumn,
    TeamInvolvement,
    TeamStatus,
    Transition,
    TransitionKind,
    WipLimitKind,
)
from backlog.services.common import (
    UNSET,
    Unset,
    items_changed_batched,
    nexus_changed,
    nexus_lock,
    notify_item_event,
    notify_items_changed,
    positions_set,
)
from backlog.services.log import _log_many, _row
from backlog.services.squares import (
    DEFAULT_TEAM_COLUMNS,
    MAX_TEAM_COLUMNS,
    STATE_ORDER,
    Actor,
    _follow_squares,
    _lock_square,
    _nexus_id,
    _touch_once,
    square_check,
)
from nexus_site.db import retry_transient

# --- A team's Definition of Workflow --------------------------------------------------------------------


def team_columns_default(*, team: ScrumTeam) -> list[TeamColumn]:
    """Create `team`'s default columns (`DEFAULT_TEAM_COLUMNS`); called by `team_create` in its
    transaction. One query."""
    return TeamColumn.objects.bulk_create(
        TeamColumn(nexus_id=team.nexus_id, team=team, name=name, position=i, state=state)
        for i, (name, state) in enumerate(DEFAULT_TEAM_COLUMNS)
    )


def _column_version_check(column: TeamColumn, expected_version: int | None, undone: str) -> None:
    """`If-Match` on a team column: `PreconditionFailed` (412, field `If-Match`) when it differs."""
    if expected_version is not None and column.version != expected_version:
        raise PreconditionFailed(
            f"The column is at version {column.version}, not {expected_version}: someone changed it after "
            f"you read it. {undone}; read it again and re-apply your change.",
            current_version=column.version,
            field="If-Match",
        )


def _lock_team_columns(team: ScrumTeam) -> list[TeamColumn]:
    """Lock the Nexus row (as the WIP checks do), then the team's columns; left to right."""
    nexus_lock(team.nexus_id)
    return list(TeamColumn.objects.select_for_update().filter(team_id=team.pk).order_by("position"))


def _check_order(order: list[TeamColumn]) -> None:
    """The states along `order` never go back, and every state has a column. Raises `DomainError`."""
    ranks = [STATE_ORDER[c.state] for c in order]
    if ranks != sorted(ranks):
        raise DomainError(
            "Along a team's board the states never go back: not started, in progress, ready to "
            "integrate, Done (left to right).",
            field="position",
        )
    missing = [
        str(label).lower() for value, label in TeamStatus.choices if value not in {c.state for c in order}
    ]
    if missing:
        raise DomainError(
            f"A team's board keeps at least one column for each state; none would be left for: "
            f"{', '.join(missing)}.",
            field="state",
        )


def _place(columns: list[TeamColumn], order: list[TeamColumn]) -> None:
    """Give the columns of `order` positions 0..n-1 (`common.positions_set`; a column not saved yet,
    without an id, is left alone)."""
    positions_set(TeamColumn, columns, {c.pk: i for i, c in enumerate(order) if c.pk is not None})


def _clean_column(
    team: ScrumTeam,
    *,
    name: str | None,
    wip_limit: int | None,
    wip_limit_kind: str | None,
    sle_days: int | None,
    state: str | None,
    exclude: int | None = None,
) -> None:
    if name is not None:
        if not name:
            raise DomainError("A column needs a name.", field="name")
        if len(name) > 60:
            raise DomainError("The name is longer than 60 characters.", field="name")
        taken = TeamColumn.objects.filter(team_id=team.pk, name=name)
        if exclude is not None:
            taken = taken.exclude(pk=exclude)
        if taken.exists():
            raise DomainError(f"{team.name}'s board has a column called {name!r} already.", field="name")
    if state is not None and state not in TeamStatus.values:
        raise DomainError(f"The state is one of {', '.join(TeamStatus.values)}.", field="state")
    if wip_limit is not None and wip_limit < 1:
        raise DomainError("A WIP limit is at least 1; leave it empty for none.", field="wip_limit")
    if wip_limit_kind is not None and wip_limit_kind not in WipLimitKind.values:
        raise DomainError("The WIP limit kind is 'hard' or 'soft'.", field="wip_limit_kind")
    if sle_days is not None and not 1 <= sle_days <= 365:
        raise DomainError("A Service Level Expectation is 1 to 365 calendar days.", field="sle_days")


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def team_column_create(
    *,
    team: ScrumTeam,
    name: str,
    state: str,
    actor: Actor,
    position: int | None = None,
    wip_limit: int | None = None,
    wip_limit_kind: str = WipLimitKind.SOFT,
    sle_days: int | None = None,
) -> TeamColumn:
    """Add a column to `team`'s board at the 0-based `position` (the columns from there on move one to
    the right); without it, after the last column of its `state`. `wip_limit`: PBIs of the team at
    most in the column (None: none); `wip_limit_kind`: hard refuses, soft warns; `sle_days`: the
    team's Service Level Expectation in calendar days (None: none).

    Raises `NotAllowed` (403) for an actor who may not change the team's board (`square_refusal`);
    `DomainError` naming the field: an empty or taken name, an unknown state or kind, a WIP limit
    below 1, an SLE outside 1..365, a position out of range or where the state would go back, more
    than `MAX_TEAM_COLUMNS` columns."""
    square_check(actor=actor, team=team)
    columns = _lock_team_columns(team)
    name = (name or "").strip()
    _clean_column(
        team, name=name, wip_limit=wip_limit, wip_limit_kind=wip_limit_kind, sle_days=sle_days, state=state
    )
    if len(columns) >= MAX_TEAM_COLUMNS:
        raise DomainError(f"A team's board has at most {MAX_TEAM_COLUMNS} columns.", field="name")
    if position is None:
        position = max(
            (i + 1 for i, c in enumerate(columns) if STATE_ORDER[c.state] <= STATE_ORDER[state]), default=0
        )
    elif not 0 <= position <= len(columns):
        raise DomainError(f"The position is 0 to {len(columns)} (0-based, left to right).", field="position")
    column = TeamColumn(
        nexus_id=team.nexus_id,
        team=team,
        name=name,
        position=position,
        state=state,
        wip_limit=wip_limit,
        wip_limit_kind=wip_limit_kind,
        sle_days=sle_days,
    )
    order = [*columns]
    order.insert(position, column)
    _check_order(order)
    _place(columns, order)
    column.save()
    nexus_changed(team.nexus_id)
    return column


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
@items_changed_batched()  # a restated column's squares and their Nexus moves: one flow update
def team_column_update(
    *,
    column: TeamColumn,
    actor: Actor,
    expected_version: int | None = None,
    name: str | Unset = UNSET,
    state: str | Unset = UNSET,
    position: int | Unset = UNSET,
    wip_limit: int | Unset | None = UNSET,
    wip_limit_kind: str | Unset = UNSET,
    sle_days: int | Unset | None = UNSET,
) -> TeamColumn:
    """Change a column of a team's board: `name`, `state` (the work in it takes the new state: its
    squares change, logged, as in `team_item_move`), `position` (0-based; the columns in between shift
    by one), `wip_limit`, `wip_limit_kind`, `sle_days`. `UNSET` leaves a field as it is.

    With `expected_version` (`If-Match`), raises `PreconditionFailed` (412) when the column changed
    meanwhile. Raises `NotAllowed` (403); `DomainError` naming the field as `team_column_create`, and
    `id` when the column was deleted meanwhile."""
    team = ScrumTeam.objects.get(pk=column.team_id)
    square_check(actor=actor, team=team)
    columns = _lock_team_columns(team)
    locked = next((c for c in columns if c.pk == column.pk), None)
    if locked is None:
        raise DomainError("This column has been deleted.", field="id")
    _column_version_check(locked, expected_version, "Nothing was changed")
    fields: list[str] = []
    if not isinstance(name, Unset):
        name = (name or "").strip()
        _clean_column(
            team, name=name, wip_limit=None, wip_limit_kind=None, sle_days=None, state=None, exclude=locked.pk
        )
        if name != locked.name:
            locked.name = name
            fields.append("name")
    _clean_column(
        team,
        name=None,
        state=None,
        wip_limit=None if isinstance(wip_limit, Unset) else wip_limit,
        wip_limit_kind=None if isinstance(wip_limit_kind, Unset) else wip_limit_kind,
        sle_days=None if isinstance(sle_days, Unset) else sle_days,
    )
    values: dict[str, object] = {
        "wip_limit": wip_limit,
        "wip_limit_kind": wip_limit_kind,
        "sle_days": sle_days,
    }
    for attr, value in values.items():
        if not isinstance(value, Unset) and value != getattr(locked, attr):
            setattr(locked, attr, value)
            fields.append(attr)
    restate = False
    if not isinstance(state, Unset) and state != locked.state:
        _clean_column(team, name=None, wip_limit=None, wip_limit_kind=None, sle_days=None, state=state)
        locked.state = state
        fields.append("state")
        restate = True
    order = list(columns)
    if not isinstance(position, Unset) and position != locked.position:
        if not 0 <= position < len(columns):
            raise DomainError(
                f"The position is 0 to {len(columns) - 1} (0-based, left to right).", field="position"
            )
        order = [c for c in columns if c.pk != locked.pk]
        order.insert(position, locked)
    _check_order(order)
    moved = [c.pk for i, c in enumerate(order) if c.position != i]
    _place(columns, order)
    if fields or moved:
        locked.version += 1
        locked.save(update_fields=[*fields, "version", "updated_at"])
    if restate:
        _restate(column=locked, actor=actor)
    if fields or moved:
        nexus_changed(team.nexus_id)
    return locked


def _restate(*, column: TeamColumn, actor: Actor) -> None:
    """The squares of the work in `column` take its new state (a `team_status` row each, source
    `system`; the Nexus columns follow as after any square change)."""
    for involvement in (
        TeamInvolvement.objects.filter(team_column=column).exclude(status=column.state).select_related("team")
    ):
        item, locked = _lock_square(involvement.item_id, involvement.team_id)
        now = timezone.now()
        _log_many(
            [
                _row(
                    item=item,
                    kind=TransitionKind.TEAM_STATUS,
                    actor=actor,
                    source=Source.SYSTEM,
                    at=now,
                    team_id=locked.team_id,
                    from_name=locked.status,
                    to_name=column.state,
                )
            ]
        )
        locked.status = column.state
        locked.save(update_fields=["status"])
        item, _ = _follow_squares(item=item, status=column.state, actor=actor, source=Source.SYSTEM)
        _touch_once(item, now)
        notify_items_changed(_nexus_id(item), items=[item.pk])  # flow: this item
        notify_item_event(_nexus_id(item), item.pk, "updated")
        notify_item_event(_nexus_id(item), item.pk, "square_changed")


def team_column_delete_refusal(*, column: TeamColumn) -> str | None:
    """Why `column` cannot be deleted (a message for a person), or None: work is in it (a live or
    deleted PBI's square), or the transition log names it (the team's flow history). At most two
    queries."""
    count = TeamInvolvement.objects.filter(team_column=column).count()
    if count:
        return f"{count} PBI(s) of the team are in '{column.name}': move them to another column first."
    if Transition.objects.filter(Q(from_team_column=column) | Q(to_team_column=column)).exists():
        return (
            f"The transition log names '{column.name}': the team's work has passed through it, and deleting "
            "it would change the team's history. Keep it (rename it)."
        )
    return None


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def team_column_delete(*, column: TeamColumn, actor: Actor, expected_version: int | None = None) -> None:
    """Delete a column of a team's board; the columns to its right move one to the left; it leaves a
    tombstone for sync. Deleting a column that is gone already changes nothing.

    Raises `NotAllowed` (403); `PreconditionFailed` (412) for a stale `expected_version`; `Conflict`
    (409, field `id`) when `team_column_delete_refusal` gives a reason; `DomainError` (`state`) when it
    is the last column of its state."""
    team = ScrumTeam.objects.get(pk=column.team_id)
    square_check(actor=actor, team=team)
    columns = _lock_team_columns(team)
    locked = next((c for c in columns if c.pk == column.pk), None)
    if locked is None:
        return
    _column_version_check(locked, expected_version, "Nothing was deleted")
    refusal = team_column_delete_refusal(column=locked)
    if refusal:
        raise Conflict(refusal, field="id")
    rest = [c for c in columns if c.pk != locked.pk]
    _check_order(rest)
    locked.delete()
    _place(rest, rest)
    nexus_changed(team.nexus_id)
