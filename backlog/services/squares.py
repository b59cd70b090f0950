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

from backlog.errors import DomainError, NotAllowed, WipLimitReached
from backlog.models import (
    Membership,
    ProductBacklogItem,
    Role,
    ScrumTeam,
    Source,
    TeamColumn,
    TeamInvolvement,
    TeamStatus,
    TransitionKind,
    WipLimitKind,
    WorkflowColumn,
)
from backlog.services.common import (
    items_changed_batched,
    nexus_lock,
    notify_item_event,
    notify_items_changed,
    version_check,
)
from backlog.services.log import _log_many, _row
from nexus_site.db import retry_transient

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


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
@items_changed_batched()  # the square and the Nexus move it makes: one change, one flow update
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


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
@items_changed_batched()  # the square and the Nexus move it makes: one change, one flow update
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


def squares_done_bulk(*, squares: list[TeamInvolvement], at: Any) -> None:
    """Tick `squares` (Done) in bulk, as `square_set` would one by one (one call per square took
    seconds for an Integrated Increment of 300 PBIs): each team's work moves to the first column of its
    board in the Done state (unless it is in one), with the same typed log rows (`team_status`, and
    `team_column` when the column changes; source `system`, at `at`, a UTC datetime). For a caller that
    has already locked the squares and their items in its transaction and checked who may do it (an
    Integrated Increment marked Done ticks every square of its PBIs this way); no WIP limit
    applies (Done work leaves WIP), and it does not move the PBIs' Nexus column or advance the change
    counter: the caller does both. Two queries, one bulk insert and one UPDATE per team column."""
    if not squares:
        return
    first_done: dict[int, TeamColumn] = {}
    for column in TeamColumn.objects.filter(
        team_id__in={sq.team_id for sq in squares}, state=TeamStatus.DONE
    ).order_by("team_id", "position"):
        first_done.setdefault(column.team_id, column)
    rows = []
    for sq in squares:
        current = sq.team_column
        to = (
            current
            if current is not None and current.state == TeamStatus.DONE
            else first_done.get(sq.team_id)
        )
        common: dict[str, Any] = {"item": sq.item_id, "actor": None, "source": Source.SYSTEM, "at": at}
        rows.append(
            _row(
                kind=TransitionKind.TEAM_STATUS,
                team_id=sq.team_id,
                from_name=sq.status,
                to_name=TeamStatus.DONE,
                **common,
            )
        )
        if to is not None and to.pk != sq.team_column_id:
            rows.append(
                _row(
                    kind=TransitionKind.TEAM_COLUMN,
                    team_id=sq.team_id,
                    from_team_column=current,
                    to_team_column=to,
                    from_name=current.name if current is not None else "",
                    to_name=to.name,
                    team_status=TeamStatus.DONE,
                    **common,
                )
            )
            sq.team_column = to
        sq.status = TeamStatus.DONE
    _log_many(rows)
    by_column: dict[int | None, list[int]] = {}
    for sq in squares:
        by_column.setdefault(sq.team_column_id, []).append(sq.pk)
    for column_id, ids in by_column.items():  # one UPDATE per team column (a few), not a CASE per row
        TeamInvolvement.objects.filter(pk__in=ids).update(status=TeamStatus.DONE, team_column_id=column_id)
