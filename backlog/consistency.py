"""Consistency checks of a Nexus's stored state against its transition log (`manage.py check_nexus`).

Read-only: these functions never write. The transition log (`backlog.models.Transition`) is the history;
the item rows (`ProductBacklogItem`, `TeamInvolvement`) are the state it must lead to. Replaying each
PBI's rows in log order (`at`, then `id`) gives, for every PBI:

- its column: the `to_column` of its last `column` row (by id; by name when that column was deleted since);
- its team squares: `team_added` (status `to_name`), `team_removed`, `team_status` (`to_name`) and
  `team_column` (`team_status`, `to_team_column`) rows, per Scrum Team (an import forecasts teams
  without `team_added` rows: on an imported PBI a square with no row at all is counted in a note);
- its block: the last `blocked` (blocked, with `reason`) or `unblocked` row; none = not blocked;
- its parent: the `to_parent` of its last `parent_changed` row; none = no parent;
- its soft delete: the last `deleted` or `restored` row; none = alive. A soft-deleted PBI is its own
  tombstone (sync clients get it from `items/deleted/?since=`, by `deleted_at`; no `Tombstone` row): so
  `deleted_at` is set exactly when the log says deleted, at the time of its last `deleted` row (a
  tombstone dated otherwise is missed by a client that synced in between).

Besides, ranks are unique in the Product Backlog (so the open items have one order), every column of an
item is its Nexus's, no tombstone names a row that still exists (a tombstone is only left by a
deletion; `backlog.services.tombstones`) or is of a kind no app declares (no sync client is sent it:
a `Tombstone` naming a PBI, whose tombstone is its own row, is one), and every removed dependency has
its tombstone (dependencies are removed, not deleted: their tombstone names a row that stays). Other
apps add their checks through `nexus_site.extensions` (`Extension(checks=...)`), e.g. flow's check of
the stored flow figures.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from backlog.models import (
    Nexus,
    ProductBacklogItem,
    Source,
    TeamInvolvement,
    Transition,
    TransitionKind,
    WorkflowColumn,
)
from backlog.models_api import Tombstone
from backlog.models_dependency import Dependency, DependencyChange, DependencyChangeKind, DependencyStatus
from backlog.services.dependencies import DEPENDENCY_TOMBSTONE
from nexus_site import extensions
from nexus_site.extensions import CheckResult, ConsistencyCheck

#: How many mismatches of one check are named before the rest are only counted.
MAX_NAMED = 50

K = TransitionKind


@dataclass
class _Replayed:
    """The state of one PBI its log rows lead to."""

    column_id: int | None = None
    column_name: str = ""
    has_column_row: bool = False
    squares: dict[int, str] = field(default_factory=dict)
    team_columns: dict[int, int | None] = field(default_factory=dict)
    blocked: bool = False
    reason: str = ""
    parent_id: int | None = None
    deleted: bool = False
    deleted_at: Any = None
    imported: bool = False
    logged_teams: set[int] = field(default_factory=set)


def _apply(state: _Replayed, row: dict[str, Any]) -> None:
    kind, team = row["kind"], row["team_id"]
    if row["source"] == Source.IMPORT:
        state.imported = True
    if team is not None:
        state.logged_teams.add(team)
    if kind == K.COLUMN:
        state.column_id, state.column_name, state.has_column_row = row["to_column_id"], row["to_name"], True
    elif kind == K.TEAM_ADDED and team is not None:
        state.squares[team] = row["to_name"]
    elif kind == K.TEAM_REMOVED and team is not None:
        state.squares.pop(team, None)
        state.team_columns.pop(team, None)
    elif kind == K.TEAM_STATUS and team is not None:
        state.squares[team] = row["to_name"]
    elif kind == K.TEAM_COLUMN and team is not None:
        if row["team_status"]:
            state.squares[team] = row["team_status"]
        state.team_columns[team] = row["to_team_column_id"]
    elif kind == K.BLOCKED:
        state.blocked, state.reason = True, row["reason"]
    elif kind == K.UNBLOCKED:
        state.blocked, state.reason = False, ""
    elif kind == K.PARENT_CHANGED:
        state.parent_id = row["to_parent_id"]
    elif kind == K.DELETED:
        state.deleted, state.deleted_at = True, row["at"]
    elif kind == K.RESTORED:
        state.deleted, state.deleted_at = False, None


_ROW_FIELDS = (
    "item_id",
    "kind",
    "source",
    "team_id",
    "to_column_id",
    "to_name",
    "team_status",
    "to_team_column_id",
    "reason",
    "to_parent_id",
    "at",
)


def replay(nexus: Nexus) -> dict[int, _Replayed]:
    """Each PBI's state (by item id) as its transition log rows lead to it, in log order (`at`, `id`).
    One query, streamed."""
    states: dict[int, _Replayed] = {}
    rows = (
        Transition.objects.filter(item__backlog__nexus=nexus)
        .order_by("item_id", "at", "id")
        .values(*_ROW_FIELDS)
    )
    for row in rows.iterator(chunk_size=5000):
        state = states.get(row["item_id"])
        if state is None:
            state = states[row["item_id"]] = _Replayed()
        _apply(state, row)
    return states


def _named(result: CheckResult, line: str) -> None:
    if len(result.mismatches) < MAX_NAMED:
        result.mismatches.append(line)
    elif len(result.mismatches) == MAX_NAMED:
        result.mismatches.append("... and more (only the first ones are named)")


def items_check(nexus: Nexus, repair: bool = False) -> CheckResult:
    """Every PBI's column, team squares, block, parent and soft delete against its last log rows; ranks
    unique; columns of the item's own Nexus. `repair` is ignored: history and items are never rewritten."""
    result = CheckResult()
    states = replay(nexus)
    columns = dict(WorkflowColumn.objects.filter(nexus=nexus).values_list("id", "name"))
    squares: dict[int, dict[int, tuple[str, int | None]]] = {}
    for item_id, team_id, status, team_column_id in TeamInvolvement.objects.filter(
        item__backlog__nexus=nexus
    ).values_list("item_id", "team_id", "status", "team_column_id"):
        squares.setdefault(item_id, {})[team_id] = (status, team_column_id)
    ranks: Counter[int] = Counter()
    imported_squares = 0
    items = ProductBacklogItem.objects.filter(backlog__nexus=nexus).values_list(
        "id", "column_id", "is_blocked", "blocked_reason", "parent_id", "deleted_at", "rank"
    )
    for pk, column_id, is_blocked, reason, parent_id, deleted_at, rank in items.iterator(chunk_size=5000):
        ranks[rank] += 1
        state = states.get(pk, _Replayed())
        name = f"PBI {pk}"
        if column_id not in columns:
            _named(result, f"{name}: its column {column_id} is not a column of this Nexus")
        elif not state.has_column_row:
            _named(
                result,
                f"{name}: no `column` row in the transition log (stored column {columns[column_id]!r})",
            )
        elif state.column_id != column_id and not (
            state.column_id is None and state.column_name == columns[column_id]
        ):
            _named(
                result,
                f"{name}: stored column {columns[column_id]!r}, the log's last column row says "
                f"{state.column_name!r}",
            )
        stored = {team: status for team, (status, _) in squares.get(pk, {}).items()}
        if state.imported:  # an import forecasts teams without `team_added` rows: only logged ones count
            unlogged = {t for t in stored if t not in state.logged_teams}
            imported_squares += len(unlogged)
            stored = {t: v for t, v in stored.items() if t not in unlogged}
        if stored != state.squares:
            _named(
                result,
                f"{name}: stored team squares {sorted(stored.items())}, log {sorted(state.squares.items())}",
            )
        else:
            for team, square in squares.get(pk, {}).items():
                board_column = square[1]
                logged = state.team_columns.get(team)
                if team in state.team_columns and logged is not None and logged != board_column:
                    _named(
                        result,
                        f"{name}: team {team}'s board column is {board_column}, the log says {logged}",
                    )
        if is_blocked != state.blocked or (is_blocked and reason != state.reason):
            _named(
                result,
                f"{name}: stored blocked={is_blocked} ({reason!r}), "
                f"log blocked={state.blocked} ({state.reason!r})",
            )
        if parent_id != state.parent_id:
            _named(
                result, f"{name}: stored parent {parent_id}, the log's last parent row says {state.parent_id}"
            )
        if (deleted_at is not None) != state.deleted:
            _named(
                result,
                f"{name}: stored {'deleted' if deleted_at else 'alive'}, the log says "
                f"{'deleted' if state.deleted else 'alive'} "
                + (
                    "(a tombstone naming a live PBI: sync clients drop it)"
                    if deleted_at
                    else "(no tombstone: sync clients keep it)"
                ),
            )
        elif deleted_at is not None and deleted_at != state.deleted_at:
            _named(
                result,
                f"{name}: its tombstone is dated {deleted_at.isoformat()}, the log's deletion "
                f"{state.deleted_at.isoformat() if state.deleted_at else None} (a sync client asking "
                "for deletions since a time between them misses it)",
            )
    if imported_squares:
        result.notes.append(
            f"{imported_squares} team square(s) of imported PBIs have no log rows (the import forecasts "
            "teams without `team_added` rows); their later changes are checked"
        )
    for rank, n in ranks.items():
        if n > 1:
            _named(result, f"rank {rank} is held by {n} PBIs (ranks are unique in the Product Backlog)")
    return result


def tombstones_check(nexus: Nexus, repair: bool = False) -> CheckResult:
    """No tombstone names a row that still exists (tombstones are left by deletions only), nor is of a
    kind no app declares. Deleted PBIs are soft-deleted: their tombstone is the row itself (`deleted_at`),
    checked against the log by `items_check`; a `Tombstone` naming one is of no declared kind.
    Dependencies are removed, not deleted (the row and its log stay): every removed one has its
    tombstone, and a tombstone may name a dependency whose log has a `removed` row (reopened since)."""
    result = CheckResult()
    by_kind: dict[str, list[int]] = {}
    for kind, object_id in Tombstone.objects.filter(nexus_id=nexus.pk).values_list("kind", "object_id"):
        by_kind.setdefault(kind, []).append(object_id)
    declared = {spec.kind for ext in extensions.extensions() for spec in ext.tombstones}
    for kind in sorted(set(by_kind) - declared):
        for pk in sorted(by_kind[kind]):
            _named(
                result,
                f"tombstone {kind} {pk}: no app declares the kind {kind!r} (no sync client is sent it; "
                "a deleted PBI's tombstone is its own row)",
            )
    for ext in extensions.extensions():
        for spec in ext.tombstones:
            ids = by_kind.get(spec.kind)
            if not ids or spec.kind == DEPENDENCY_TOMBSTONE:
                continue
            alive = spec.model._default_manager.filter(pk__in=ids).values_list("pk", flat=True)  # type: ignore[attr-defined]
            for pk in sorted(alive):
                _named(result, f"tombstone {spec.kind} {pk}: the row still exists")
    _dependency_tombstones(nexus, set(by_kind.get(DEPENDENCY_TOMBSTONE, ())), result)
    return result


def _dependency_tombstones(nexus: Nexus, tombstoned: set[int], result: CheckResult) -> None:
    """A removed dependency without a tombstone, or a tombstone naming a dependency that was never
    removed (its log has no `removed` row), is a mismatch."""
    removed = set(
        Dependency.objects.filter(nexus_id=nexus.pk, status=DependencyStatus.REMOVED).values_list(
            "pk", flat=True
        )
    )
    for pk in sorted(removed - tombstoned):
        _named(result, f"dependency {pk} is removed but has no tombstone (sync clients keep it)")
    if not tombstoned:
        return
    ever_removed = set(
        DependencyChange.objects.filter(
            dependency_id__in=tombstoned, kind=DependencyChangeKind.REMOVED
        ).values_list("dependency_id", flat=True)
    )
    existing = set(Dependency.objects.filter(pk__in=tombstoned).values_list("pk", flat=True))
    for pk in sorted(existing - ever_removed):
        _named(result, f"tombstone {DEPENDENCY_TOMBSTONE} {pk}: the row still exists and was never removed")


def backlog_checks() -> tuple[ConsistencyCheck, ...]:
    """`backlog`'s checks, registered by `BacklogConfig.ready`."""
    return (
        ConsistencyCheck("items against the transition log", items_check, order=10),
        ConsistencyCheck("tombstones", tombstones_check, order=20),
    )
