"""Team squares and each Scrum Team's own Definition of Workflow.

A team forecast on a PBI has a square (Yeret, "Scaling Scrum with Nexus and Kanban"): empty = not
started, half-filled = in progress, filled = ready to integrate, filled with a tick = Done
(`TeamStatus`). The Kanban Guide for Scrum Teams leaves each team its own Definition of Workflow: here,
its ordered columns (`TeamColumn`), each mapped onto one of the four states. Rules kept here:

- **Who changes a square** (`square_refusal`): the Product Owner, Nexus Integration Team members and
  administrators any team's; a Developer or Scrum Master only their own team's; Stakeholders none.
  `actor=None` is the system (imports, the demo, tasks). Every door calls these services, so the rule
  holds for the API, the pages and the admin alike (403, `NotAllowed`).
- **The PBI's Nexus column follows its squares**: when a square leaves "not started" while the PBI is
  before the Nexus's started column, the PBI moves into the started column through the one column
  change (`pbi_transition`, source `system`, WIP limits apply: a hard limit refuses the square change,
  naming the limit; a soft one warns). Entering the finished column needs every square filled: that
  check is in `pbi_transition` (`finish_refusal`), whatever the door.
- **A team's columns**: positions 0..n-1 per team; along them the states never go back (not started,
  in progress, ready to integrate, Done) and each state keeps at least one column, so a square state
  always has a column (`involvement_set_status` moves the work to the first column of the state). A new
  team gets the four states as columns (`DEFAULT_TEAM_COLUMNS`). A column that work is in or that the
  transition log names cannot be deleted.
- **A move on a team's board** (`team_item_move`) sets the team column and the square's state from the
  column's, and logs a `team_column` row (team, from/to team column and their names, the state after)
  in the same transaction, besides the `team_status` row when the state changes.

Lock order (as every item write): the item, its involvements, the Nexus row (`nexus_lock`: WIP checks
and structure changes), the team's columns, the change counter last.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from backlog.errors import Conflict, DomainError, NotAllowed, PreconditionFailed, WipLimitReached
from backlog.models import (
    Membership,
    ProductBacklogItem,
    Role,
    ScrumTeam,
    Source,
    TeamColumn,
    TeamInvolvement,
    TeamStatus,
    Transition,
    TransitionKind,
    WipLimitKind,
    WorkflowColumn,
)
from backlog.services.common import (
    UNSET,
    Unset,
    nexus_changed,
    nexus_lock,
    notify_item_event,
    notify_items_changed,
    positions_set,
    version_check,
)
from backlog.services.log import _log_many, _row

Actor = User | AnonymousUser | None

#: A new Scrum Team's Definition of Workflow: the four states of a team square, as columns.
DEFAULT_TEAM_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Not started", TeamStatus.NOT_STARTED),
    ("In progress", TeamStatus.IN_PROGRESS),
    ("Ready to integrate", TeamStatus.READY_TO_INTEGRATE),
    ("Done", TeamStatus.DONE),
)
#: The order of the states along a team's columns (they never go back).
STATE_ORDER = {state: i for i, state in enumerate(TeamStatus.values)}
#: Filled squares: the team is ready to integrate, or its work is integrated (Done).
FILLED = (TeamStatus.READY_TO_INTEGRATE, TeamStatus.DONE)
#: At most this many columns on a team's board.
MAX_TEAM_COLUMNS = 20


# --- Who may change a team's square ---------------------------------------------------------------------


def square_refusal(*, actor: Actor, team: ScrumTeam) -> str | None:
    """Why `actor` may not change `team`'s squares (a message for a person), or None if they may: the
    Product Owner, Nexus Integration Team members and administrators change any team's; Developers
    and Scrum Masters their own team's only; Stakeholders and non-members none. `actor=None` (the
    system: imports, the demo, tasks) may. The same rule guards a team's Definition of Workflow
    (`team_column_*`). One query (none for the system or an administrator)."""
    if actor is None:
        return None
    if not isinstance(actor, User):
        return "Sign in to change a team's square."
    if actor.is_superuser:
        return None
    roles = list(Membership.objects.filter(nexus_id=team.nexus_id, user=actor).values_list("role", "team_id"))
    if any(role in (Role.PRODUCT_OWNER, Role.NIT_MEMBER) for role, _ in roles):
        return None
    if any(team_id == team.pk for role, team_id in roles if role in (Role.DEVELOPER, Role.SCRUM_MASTER)):
        return None
    if any(role in (Role.DEVELOPER, Role.SCRUM_MASTER) for role, _ in roles):
        return (
            f"Only {team.name}'s Developers change {team.name}'s squares and board (and the Product Owner "
            "and the Nexus Integration Team); you are on another Scrum Team."
        )
    if roles:
        return "Stakeholders see the team squares; the Scrum Teams change them."
    return "You are not a member of this Nexus."


def square_check(*, actor: Actor, team: ScrumTeam) -> None:
    """Raise `NotAllowed` (403, field `team`) with `square_refusal`'s reason, if there is one."""
    refusal = square_refusal(actor=actor, team=team)
    if refusal:
        raise NotAllowed(refusal, field="team")


def square_teams_for(*, user: Actor, nexus_id: int) -> set[int] | None:
    """The ids of the teams whose squares `user` may change in the Nexus; None for every team (the
    Product Owner, the Nexus Integration Team, administrators). For pages that offer the controls
    only where the service will accept them. One query."""
    if isinstance(user, User) and user.is_superuser:
        return None
    if not isinstance(user, User):
        return set()
    roles = list(Membership.objects.filter(nexus_id=nexus_id, user=user).values_list("role", "team_id"))
    if any(role in (Role.PRODUCT_OWNER, Role.NIT_MEMBER) for role, _ in roles):
        return None
    return {t for role, t in roles if role in (Role.DEVELOPER, Role.SCRUM_MASTER) and t is not None}


# --- The Nexus column follows the squares ---------------------------------------------------------------


def finish_refusal(
    *, item: ProductBacklogItem, from_column: WorkflowColumn, to_column: WorkflowColumn
) -> str | None:
    """Why the PBI may not enter `to_column` from `from_column` (None if it may): entering the
    Nexus's finished column (or one after it) needs every team square filled (ready to integrate or
    Done). Items without squares and moves within or out of the finished part are not concerned. At
    most two queries (none for a move to the left)."""
    if to_column.position <= from_column.position:
        return None
    finish = (
        WorkflowColumn.objects.filter(nexus_id=to_column.nexus_id, is_finish=True)
        .values_list("position", flat=True)
        .first()
    )
    if finish is None or to_column.position < finish or from_column.position >= finish:
        return None
    open_squares = list(
        TeamInvolvement.objects.filter(item=item)
        .exclude(status__in=FILLED)
        .order_by("team__name")
        .values_list("team__name", "status")
    )
    if not open_squares:
        return None
    labels = dict(TeamStatus.choices)
    which = ", ".join(f"{name} ({str(labels.get(status, status)).lower()})" for name, status in open_squares)
    return (
        f"A PBI enters '{to_column.name}' only when every Scrum Team forecast on it is ready to integrate "
        f"or Done; not yet: {which}."
    )


def _follow_squares(
    *, item: ProductBacklogItem, status: str, actor: Actor, source: str
) -> tuple[ProductBacklogItem, list[str]]:
    """The automatic Nexus move after a square change of the locked `item`: a started square while
    the PBI is before the started column moves it into the started column (`pbi_transition`, source
    `system`). Returns the item (as moved) and soft-WIP-limit warnings; a hard limit raises
    `WipLimitReached` naming it (field `status`), so the square change is refused with it."""
    from backlog.services.items import pbi_transition

    if status == TeamStatus.NOT_STARTED:
        return item, []
    columns = {
        c.pk: c
        for c in WorkflowColumn.objects.filter(
            Q(pk=item.column_id) | Q(nexus_id=_nexus_id(item), is_start=True)
        )
    }
    start = next((c for c in columns.values() if c.is_start), None)
    current = columns.get(item.column_id)
    if start is None or current is None or current.position >= start.position:
        return item, []
    try:
        moved = pbi_transition(item=item, to_column=start, actor=actor, source=Source.SYSTEM)
    except WipLimitReached as exc:
        raise WipLimitReached(
            f"This square starts the PBI, which would move it into '{start.name}': {exc.message}",
            field="status",
        ) from exc
    return moved.item, moved.warnings


def _nexus_id(item: ProductBacklogItem) -> int:
    return int(item.backlog.nexus_id)


def _touch_once(item: ProductBacklogItem, at: Any) -> None:
    """A new version of the locked `item` for a square change, unless the automatic Nexus move of the
    same change gave it one already (its `updated_at` is then at or after `at`)."""
    if item.updated_at >= at:
        return
    item.version += 1
    item.updated_at = at
    item.save(update_fields=["version", "updated_at"])


# --- Square changes and moves on a team's board ---------------------------------------------------------


@dataclass
class SquareResult:
    """Outcome of a square change or a move on a team's board: the involvement (the square) as saved,
    the PBI (its Nexus column may have followed), whether anything changed, and soft-WIP-limit
    warnings (messages for a person)."""

    involvement: TeamInvolvement
    item: ProductBacklogItem
    changed: bool = False
    warnings: list[str] = field(default_factory=list)


def _lock_square(item_id: int, team_id: int) -> tuple[ProductBacklogItem, TeamInvolvement]:
    """The item and the team's involvement in it, locked in the order every item write takes them.
    Raises `DomainError`: a deleted item (`item`), a team not forecast on it (`team`)."""
    item = (
        ProductBacklogItem.objects.select_for_update(of=("self",), no_key=True)
        .select_related("backlog")
        .get(pk=item_id)
    )
    if item.deleted_at is not None:
        raise DomainError("This item has been deleted.", field="item")
    involvement = (
        TeamInvolvement.objects.select_for_update(of=("self",))
        .select_related("team")
        .filter(item=item, team_id=team_id)
        .first()
    )
    if involvement is None:
        raise DomainError("That Scrum Team is not forecast on this item (any more).", field="team")
    return item, involvement


def _team_wip(*, involvement: TeamInvolvement, to_column: TeamColumn) -> list[str]:
    """The team column's WIP limit for a move of `involvement` into `to_column` (read under the Nexus
    lock): raises `WipLimitReached` (field `column`) when a hard limit is full, else a warning per
    full soft limit. Counts the team's live PBIs in the column. One query, none without a limit."""
    if to_column.wip_limit is None or involvement.team_column_id == to_column.pk:
        return []
    count = (
        TeamInvolvement.objects.filter(team_column=to_column, item__deleted_at__isnull=True)
        .exclude(pk=involvement.pk)
        .count()
    )
    if count < to_column.wip_limit:
        return []
    team, limit = involvement.team.name, to_column.wip_limit
    msg = f"{team}'s '{to_column.name}' is at its WIP limit ({count} of {limit})."
    if to_column.wip_limit_kind == WipLimitKind.HARD:
        raise WipLimitReached(msg + " Finish something there first.", field="column")
    return [msg]


def _square_write(
    *,
    item: ProductBacklogItem,
    involvement: TeamInvolvement,
    to_column: TeamColumn,
    actor: Actor,
    source: str,
) -> SquareResult:
    """Move the locked `involvement` into `to_column` (read under the Nexus lock) and set its square to
    the column's state: the team column's WIP limit, the rows of the log (`team_status` when the state
    changes, `team_column` when the column does), the Nexus column following the squares, the item's
    version, the change counter and `item.updated`."""
    status = to_column.state
    if involvement.team_column_id == to_column.pk and involvement.status == status:
        return SquareResult(involvement, item)
    warnings = _team_wip(involvement=involvement, to_column=to_column)
    now = timezone.now()
    common: dict[str, Any] = {"item": item, "actor": actor, "source": source, "at": now}
    rows = []
    if involvement.status != status:
        rows.append(
            _row(
                kind=TransitionKind.TEAM_STATUS,
                team_id=involvement.team_id,
                from_name=involvement.status,
                to_name=status,
                **common,
            )
        )
    if involvement.team_column_id != to_column.pk:
        from_column = (
            TeamColumn.objects.filter(pk=involvement.team_column_id).only("name").first()
            if involvement.team_column_id
            else None
        )
        rows.append(
            _row(
                kind=TransitionKind.TEAM_COLUMN,
                team_id=involvement.team_id,
                from_team_column=from_column,
                to_team_column=to_column,
                from_name=from_column.name if from_column else "",
                to_name=to_column.name,
                team_status=status,
                **common,
            )
        )
    _log_many(rows)
    involvement.status = status
    involvement.team_column = to_column
    involvement.save(update_fields=["status", "team_column"])
    item, moved_warnings = _follow_squares(item=item, status=status, actor=actor, source=source)
    _touch_once(item, now)
    notify_items_changed(_nexus_id(item), items=[item.pk])  # flow: this item
    notify_item_event(_nexus_id(item), item.pk, "updated")
    notify_item_event(_nexus_id(item), item.pk, "square_changed")
    return SquareResult(involvement, item, True, [*warnings, *moved_warnings])


@transaction.atomic
def team_item_move(
    *,
    item: ProductBacklogItem,
    team: ScrumTeam,
    to_column: TeamColumn,
    actor: Actor,
    source: str = Source.UI,
    expected_version: int | None = None,
) -> SquareResult:
    """Move `team`'s work on `item` to `to_column` of the team's board: the square takes the column's
    state, and a `team_column` row (team, from and to team column with their names, the state after)
    is logged in the same transaction (plus a `team_status` row when the state changes). The PBI's
    Nexus column follows the squares (see the module). Moving to where it is changes nothing.

    With `expected_version` (`If-Match`: the item's version), raises `PreconditionFailed` (412) when
    the item changed meanwhile. Raises `NotAllowed` (403, `team`) when `actor` may not change the
    team's squares; `DomainError` for a deleted item (`item`), a team not forecast on it (`team`), a
    column of another team or deleted meanwhile (`column`); `WipLimitReached` (409) when the team
    column's hard WIP limit is full (`column`) or the automatic Nexus move meets a hard limit
    (`status`). Returns a `SquareResult`."""
    locked_item, involvement = _lock_square(item.pk, team.pk)
    version_check(locked_item, expected_version, undone="Nothing was moved")
    square_check(actor=actor, team=involvement.team)
    nexus_lock(_nexus_id(locked_item))
    column = TeamColumn.objects.filter(pk=to_column.pk, team_id=involvement.team_id).first()
    if column is None:
        raise DomainError(
            f"That column is not on {involvement.team.name}'s board (any more).", field="column"
        )
    return _square_write(
        item=locked_item, involvement=involvement, to_column=column, actor=actor, source=source
    )


@transaction.atomic
def square_set(
    *, involvement: TeamInvolvement, status: str, actor: Actor, source: str = Source.UI
) -> SquareResult:
    """Set one team's square on a PBI to `status` (a `TeamStatus`): the team's work moves to the first
    column of its board with that state (`team_item_move`'s rules and log), unless it is in a column
    of that state already (then nothing changes). Raises `DomainError` for an unknown status
    (`status`), a deleted item (`item`), a team taken off the item meanwhile (`team`); `NotAllowed`
    (403) and `WipLimitReached` (409) as `team_item_move`."""
    if status not in TeamStatus.values:
        raise DomainError(f"Team status must be one of {', '.join(TeamStatus.values)}.", field="status")
    locked_item, locked = _lock_square(involvement.item_id, involvement.team_id)
    square_check(actor=actor, team=locked.team)
    if locked.status == status and locked.team_column_id is not None:
        return SquareResult(locked, locked_item)
    nexus_lock(_nexus_id(locked_item))
    columns = list(TeamColumn.objects.filter(team_id=locked.team_id).order_by("position"))
    column = next((c for c in columns if c.pk == locked.team_column_id and c.state == status), None) or next(
        (c for c in columns if c.state == status), None
    )
    if column is None:  # a team without columns (made outside the services): keep the square only
        return _square_write_columnless(
            item=locked_item, involvement=locked, status=status, actor=actor, source=source
        )
    return _square_write(item=locked_item, involvement=locked, to_column=column, actor=actor, source=source)


def _square_write_columnless(
    *, item: ProductBacklogItem, involvement: TeamInvolvement, status: str, actor: Actor, source: str
) -> SquareResult:
    """`_square_write` for a team that has no column of `status` (only possible for data written
    outside the services): the square and its `team_status` row, no team column."""
    if involvement.status == status:
        return SquareResult(involvement, item)
    now = timezone.now()
    _log_many(
        [
            _row(
                item=item,
                kind=TransitionKind.TEAM_STATUS,
                actor=actor,
                source=source,
                at=now,
                team_id=involvement.team_id,
                from_name=involvement.status,
                to_name=status,
            )
        ]
    )
    involvement.status = status
    involvement.save(update_fields=["status"])
    item, warnings = _follow_squares(item=item, status=status, actor=actor, source=source)
    _touch_once(item, now)
    notify_items_changed(_nexus_id(item), items=[item.pk])  # flow: this item
    notify_item_event(_nexus_id(item), item.pk, "updated")
    notify_item_event(_nexus_id(item), item.pk, "square_changed")
    return SquareResult(involvement, item, True, warnings)


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


@transaction.atomic
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
