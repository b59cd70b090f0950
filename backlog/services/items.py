"""Services that create, edit (`pbi_update`: fields, labels, teams and column), move between columns and
delete Product Backlog Items. The move in the Product Backlog order is `ordering.pbi_move`, the split
`split.pbi_split`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from backlog.errors import Conflict, DomainError, VersionConflict
from backlog.models import (
    ClassOfService,
    ColumnCategory,
    GoalStatus,
    Label,
    Nexus,
    ProductBacklog,
    ProductBacklogItem,
    ProductGoal,
    ScrumTeam,
    Source,
    TeamInvolvement,
    TeamStatus,
    Transition,
    TransitionKind,
    WorkflowColumn,
)
from backlog.services.common import (
    items_changed_batched,
    notify_item_event,
    notify_items_changed,
    structure_check,
    version_check,
)
from backlog.services.dependencies import dependencies_on_item_deleted
from backlog.services.log import NEW, ItemState, _change_rows, _log, _log_changes, _log_many, _row
from backlog.services.ordering import backlog_renumber, lock_backlog, rank_at_bottom, rank_at_top
from backlog.services.squares import finish_refusal, square_check, square_set
from backlog.services.wip import wip_warnings
from nexus_site.db import retry_transient

Actor = User | AnonymousUser | None

EDITABLE_FIELDS = {
    "title",
    "description",
    "acceptance_criteria",
    "size",
    "class_of_service",
    "is_blocked",
    "blocked_reason",
    "external_id",
    "parent",
    "product_goal",
}


def _actor(actor: Actor) -> User | None:
    return actor if isinstance(actor, User) else None


def _clean_fields(
    backlog: ProductBacklog, item: ProductBacklogItem | None, values: dict[str, Any]
) -> dict[str, Any]:
    unknown = set(values) - EDITABLE_FIELDS
    if unknown:
        raise DomainError(f"Unknown field(s): {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    if "title" in values:
        values["title"] = (values["title"] or "").strip()
        if not values["title"]:
            raise DomainError("A Product Backlog Item needs a title.", field="title")
        if len(values["title"]) > 300:
            raise DomainError("The title is longer than 300 characters.", field="title")
    if "class_of_service" in values and values["class_of_service"] not in ClassOfService.values:
        raise DomainError(
            f"Class of service must be one of {', '.join(ClassOfService.values)}.", field="class_of_service"
        )
    if values.get("size") is not None:
        try:
            size = Decimal(str(values["size"]))
        except ArithmeticError as exc:
            raise DomainError("Size must be a number.", field="size") from exc
        if size < 0 or size >= 100000:
            raise DomainError("Size must be between 0 and 99999.", field="size")
        values["size"] = size
    if "external_id" in values:
        values["external_id"] = (values["external_id"] or "").strip()
        ext = values["external_id"]
        if ext:
            clash = ProductBacklogItem.objects.filter(backlog=backlog, external_id=ext)
            if item is not None:
                clash = clash.exclude(pk=item.pk)
            if clash.exists():
                raise DomainError(
                    f"Another item of this Nexus has the external id {ext!r}.", field="external_id"
                )
    if values.get("parent") is not None:
        parent = values["parent"]
        if parent.backlog_id != backlog.pk:
            raise DomainError("The parent belongs to another Nexus.", field="parent")
        if item is not None:
            node: ProductBacklogItem | None = parent
            while node is not None:
                if node.pk == item.pk:
                    raise DomainError("An item cannot be its own ancestor.", field="parent")
                node = node.parent
    if values.get("product_goal") is not None:
        goal = values["product_goal"]
        if not isinstance(goal, ProductGoal) or goal.backlog_id != backlog.pk:
            raise DomainError("The Product Goal belongs to another Nexus.", field="product_goal")
        if goal.status != GoalStatus.ACTIVE and (item is None or item.product_goal_id != goal.pk):
            raise DomainError(
                f"That Product Goal is {goal.get_status_display().lower()}: link PBIs to the active one.",
                field="product_goal",
            )
    blocked = values.get("is_blocked", item.is_blocked if item else False)
    if not blocked:
        values["blocked_reason"] = ""
    return values


def _labels(nexus: Nexus, names: Iterable[str]) -> list[Label]:
    wanted = sorted({n.strip() for n in names if n and n.strip()})
    existing = {lab.name: lab for lab in Label.objects.filter(nexus=nexus, name__in=wanted)}
    missing = [Label(nexus=nexus, name=n) for n in wanted if n not in existing]
    if missing:
        Label.objects.bulk_create(missing)
        existing.update(
            {lab.name: lab for lab in Label.objects.filter(nexus=nexus, name__in=[m.name for m in missing])}
        )
    return [existing[n] for n in wanted]


def creation_check(*, column: WorkflowColumn, teams: Sequence[ScrumTeam]) -> None:
    """Raise `Conflict` (409, field `column`) when a new PBI with `teams` would start in a finished
    column: its new squares are not started, and a PBI enters the finished part only when every
    square is filled (`backlog.services.squares.finish_refusal`). Used by every door that creates."""
    if teams and column.category == ColumnCategory.DONE:
        raise Conflict(
            f"A PBI enters '{column.name}' only when every Scrum Team forecast on it is ready to "
            "integrate or Done, and a new team's square is not started: create it in an earlier column.",
            field="column",
        )


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def pbi_create(
    *,
    nexus: Nexus,
    title: str,
    actor: Actor,
    source: str = Source.UI,
    position: str = "bottom",
    after: ProductBacklogItem | None = None,
    column: WorkflowColumn | None = None,
    labels: Sequence[str] = (),
    teams: Sequence[ScrumTeam] = (),
    **fields: Any,
) -> ProductBacklogItem:
    """Create a PBI at the top or bottom of the Product Backlog, or directly below `after`.

    `column` defaults to the first column of the Definition of Workflow; the creation is logged as a
    column transition (from nothing into that column), plus a `team_added` row per team and `blocked`
    and `parent_changed` rows when it starts blocked or with a parent. `fields` are any of `EDITABLE_FIELDS`.
    Raises `DomainError` naming the field for invalid input.
    """
    backlog = lock_backlog(nexus.backlog.pk)
    values = _clean_fields(backlog, None, {"title": title, **fields})
    now_columns, now_teams = structure_check(
        nexus_id=nexus.pk, columns=[column] if column is not None else [], teams=teams
    )
    if column is None:
        column = WorkflowColumn.objects.filter(nexus=nexus).order_by("position").first()
        if column is None:
            raise DomainError("The Nexus has no Definition of Workflow yet.", field="column")
    else:
        column = now_columns[column.pk]
        creation_check(column=column, teams=teams)
    if after is not None:
        if after.backlog_id != backlog.pk:
            raise DomainError("The item named as 'after' belongs to another Nexus.", field="after")
        nxt = (
            ProductBacklogItem.objects.filter(backlog=backlog, rank__gt=after.rank)
            .order_by("rank")
            .values_list("rank", flat=True)
            .first()
        )
        if nxt is not None and nxt - after.rank < 2:
            backlog_renumber(backlog_id=backlog.pk)
            after.refresh_from_db(fields=["rank"])
            nxt = (
                ProductBacklogItem.objects.filter(backlog=backlog, rank__gt=after.rank)
                .order_by("rank")
                .values_list("rank", flat=True)
                .first()
            )
        rank = (after.rank + nxt) // 2 if nxt is not None else rank_at_bottom(backlog.pk)
    elif position == "top":
        rank = rank_at_top(backlog.pk)
    elif position == "bottom":
        rank = rank_at_bottom(backlog.pk)
    else:
        raise DomainError("Position is 'top' or 'bottom'.", field="position")
    now = timezone.now()
    item = ProductBacklogItem.objects.create(
        backlog=backlog, rank=rank, column=column, created_at=now, updated_at=now, **values
    )
    if labels:
        item.labels.set(_labels(nexus, labels))
    team_ids = list(dict.fromkeys(t.pk for t in teams))
    TeamInvolvement.objects.bulk_create(TeamInvolvement(item=item, team=now_teams[t]) for t in team_ids)
    # The starting state, in the log: the column, then the teams, block and parent it is given.
    common: dict[str, Any] = {"item": item, "actor": actor, "source": source, "at": now}
    _log_many(
        [
            _row(kind=TransitionKind.COLUMN, to_column=column, to_name=column.name, **common),
            *(
                _row(kind=TransitionKind.TEAM_ADDED, team_id=t, to_name=TeamStatus.NOT_STARTED, **common)
                for t in team_ids
            ),
            *_change_rows(before=NEW, **common),
        ]
    )
    notify_items_changed(nexus.pk, items=[item.pk])  # flow: this item
    notify_item_event(nexus.pk, item.pk, "created")
    return item


@transaction.atomic
def _pbi_update_fields(
    *,
    item: ProductBacklogItem,
    actor: Actor,
    expected_version: int | None = None,
    labels: Sequence[str] | None = None,
    source: str = Source.UI,
    **fields: Any,
) -> ProductBacklogItem:
    """Write a PBI's fields (any of `EDITABLE_FIELDS`, plus `labels` as names): the fields part of
    `pbi_update`, which calls it with only what differs. A change of block (`blocked`/`unblocked`,
    with the reason) or of parent (`parent_changed`) is logged.

    With `expected_version`, raises `VersionConflict` when someone saved the item in the meantime and
    changes nothing (optimistic concurrency). Raises `DomainError` naming the field for invalid input.
    """
    locked = (
        ProductBacklogItem.objects.select_for_update(of=("self",), no_key=True)
        .select_related("backlog__nexus")
        .get(pk=item.pk)
    )
    if locked.deleted_at is not None:
        raise DomainError("This item has been deleted.", field="item")
    if expected_version is not None and locked.version != expected_version:
        raise VersionConflict(
            "Someone else saved this item after you opened it; nothing was overwritten.",
            current_version=locked.version,
        )
    values = _clean_fields(locked.backlog, locked, dict(fields))
    before = ItemState.of(locked)
    for name, value in values.items():
        setattr(locked, name, value)
    locked.version += 1
    locked.updated_at = timezone.now()
    locked.save(update_fields=[*values, "version", "updated_at"])
    _log_changes(item=locked, before=before, actor=actor, source=source, at=locked.updated_at)
    if labels is not None:
        locked.labels.set(_labels(locked.backlog.nexus, labels))
    notify_items_changed(locked.backlog.nexus_id, flow=False)  # flow reads none of these fields
    notify_item_event(locked.backlog.nexus_id, locked.pk, "updated")
    return locked


@dataclass
class ItemChanges:
    """What a client asks to change on a PBI; `None` leaves that part as it is.

    `fields`: any of `EDITABLE_FIELDS` (`parent` as a `ProductBacklogItem` or None, `product_goal` as a
    `ProductGoal` of the item's Product Backlog or None). `labels`: label
    names (the whole set). `teams`: the Scrum Teams forecast (the whole set; kept teams keep their
    status). `column`: the Definition of Workflow column (a change is a logged transition)."""

    fields: dict[str, Any] = field(default_factory=dict)
    labels: list[str] | None = None
    teams: list[ScrumTeam] | None = None
    column: WorkflowColumn | None = None


@dataclass
class WriteResult:
    """Outcome of a write: the item as saved, whether it was created, whether anything changed (a
    re-sent identical write changes nothing and keeps the version), and soft-WIP-limit warnings."""

    item: ProductBacklogItem
    created: bool = False
    changed: bool = False
    warnings: list[str] = field(default_factory=list)


def _same(item: ProductBacklogItem, name: str, value: Any) -> bool:
    """Whether `value` equals the item's current `name` (after the normalisation the services do)."""
    if name in ("parent", "product_goal"):
        return bool(getattr(item, f"{name}_id") == (value.pk if value is not None else None))
    current = getattr(item, name)
    if name == "size":
        if value is None or current is None:
            return value is None and current is None
        try:
            return Decimal(str(value)) == current
        except ArithmeticError:
            return False
    if isinstance(value, str):
        value = value.strip() if name in ("title", "external_id") else value
    return bool(current == value)


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
@items_changed_batched()  # one change counted, after the locks of every part (`nexus_changed`)
def pbi_update(
    *,
    item: ProductBacklogItem,
    actor: Actor,
    changes: ItemChanges | None = None,
    expected_version: int | None = None,
    source: str = Source.UI,
    labels: Sequence[str] | None = None,
    teams: Sequence[ScrumTeam] | None = None,
    column: WorkflowColumn | None = None,
    **fields: Any,
) -> WriteResult:
    """Change a PBI: its fields, labels, forecast Scrum Teams and column, in one transaction. The one
    update service: the backlog page, the REST API (PATCH, transition, upsert), sync and the admin call
    it. Give the change as `changes` (an `ItemChanges`) or as keywords (`labels`, `teams`, `column`
    and any of `EDITABLE_FIELDS`), not both. Only the parts that differ are written, each by its own
    step: the fields and labels (`_pbi_update_fields`), the teams (`pbi_set_teams`), the column
    (`pbi_transition`, logged with `source`; WIP limits apply). Changing nothing keeps the version.

    With `expected_version` (`If-Match`, or the version a form was opened with), raises
    `PreconditionFailed` (a `VersionConflict`, HTTP 412) when the item's version differs, and changes
    nothing. Raises `DomainError` (naming the field) for invalid input or a deleted item,
    `WipLimitReached` when the new column's hard WIP limit is full. Returns a `WriteResult` (the item as
    saved, `changed`, soft-WIP-limit `warnings`).
    """
    if changes is None:
        changes = ItemChanges(
            dict(fields),
            None if labels is None else list(labels),
            None if teams is None else list(teams),
            column,
        )
    elif fields or labels is not None or teams is not None or column is not None:
        raise TypeError("pbi_update takes `changes` or keywords, not both.")
    unknown = set(changes.fields) - EDITABLE_FIELDS
    if unknown:
        raise DomainError(f"Unknown field(s): {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    locked = ProductBacklogItem.objects.select_for_update(no_key=True).get(pk=item.pk)
    if locked.deleted_at is not None:
        raise DomainError("This item has been deleted.", field="item")
    version_check(locked, expected_version)
    fields = {k: v for k, v in changes.fields.items() if not _same(locked, k, v)}
    wanted_labels = None
    if changes.labels is not None:
        wanted = sorted({n.strip() for n in changes.labels if n and n.strip()})
        if wanted != sorted(locked.labels.values_list("name", flat=True)):
            wanted_labels = wanted
    result = WriteResult(locked)
    if fields or wanted_labels is not None:
        locked = _pbi_update_fields(item=locked, actor=actor, labels=wanted_labels, source=source, **fields)
        result.changed = True
    if changes.teams is not None:
        wanted_teams = {t.pk for t in changes.teams}
        if wanted_teams != set(locked.involvements.values_list("team_id", flat=True)):
            locked = pbi_set_teams(item=locked, teams=changes.teams, actor=actor, source=source)
            result.changed = True
    if changes.column is not None and changes.column.pk != locked.column_id:
        moved = pbi_transition(item=locked, to_column=changes.column, actor=actor, source=source)
        locked, result.warnings, result.changed = moved.item, moved.warnings, True
    result.item = locked
    return result


def pbi_product_goal_set(
    *,
    item: ProductBacklogItem,
    goal: ProductGoal | None,
    actor: Actor,
    expected_version: int | None = None,
    source: str = Source.UI,
) -> WriteResult:
    """Link the PBI to `goal` (a Product Goal of its Product Backlog), or unlink it with None: through
    `pbi_update`, the one update service (same locks, version and events). Linking to the active goal
    only (a PBI keeps the link it has to a goal since achieved or abandoned). Raises `DomainError`
    naming `product_goal` (another Nexus's goal, a closed one), `PreconditionFailed` (412) with a stale
    `expected_version`. Changing nothing keeps the version."""
    return pbi_update(
        item=item, actor=actor, expected_version=expected_version, source=source, product_goal=goal
    )


@dataclass
class TransitionResult:
    """Outcome of `pbi_transition`: the item and any soft-WIP-limit warnings (messages for a person)."""

    item: ProductBacklogItem
    warnings: list[str] = field(default_factory=list)


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def pbi_transition(
    *,
    item: ProductBacklogItem,
    to_column: WorkflowColumn,
    actor: Actor,
    source: str = Source.UI,
    at: datetime | None = None,
    expected_version: int | None = None,
) -> TransitionResult:
    """Move a PBI to another column of the Definition of Workflow and log it (same transaction).

    Raises `DomainError` when the column belongs to another Nexus, `Conflict` (409, `column`) when the
    PBI would enter the finished column (or one after it) while a team square is not filled yet (ready
    to integrate or Done; `squares.finish_refusal`), `WipLimitReached` when a hard WIP limit is full,
    `VersionConflict` when `expected_version` is stale. Moving into the column it is in already changes
    nothing.
    """
    locked = (
        ProductBacklogItem.objects.select_for_update(of=("self",), no_key=True)
        .select_related("column", "backlog")
        .get(pk=item.pk)
    )
    if locked.deleted_at is not None:
        raise DomainError("This item has been deleted.", field="item")
    if to_column.nexus_id != locked.backlog.nexus_id:
        raise DomainError("That column belongs to another Nexus.", field="column")
    if expected_version is not None and locked.version != expected_version:
        raise VersionConflict("Someone else changed this item meanwhile.", current_version=locked.version)
    if locked.column_id == to_column.pk:
        return TransitionResult(locked)
    # The column as it is now, under the Nexus lock: not deleted meanwhile, with its current WIP limit.
    to_column = structure_check(nexus_id=locked.backlog.nexus_id, columns=[to_column])[0][to_column.pk]
    refusal = finish_refusal(item=locked, from_column=locked.column, to_column=to_column)
    if refusal:
        raise Conflict(refusal, field="column")
    warnings = wip_warnings(item=locked, to_column=to_column)
    now = at or timezone.now()
    Transition.objects.create(
        item=locked,
        kind=TransitionKind.COLUMN,
        at=now,
        actor=_actor(actor),
        source=source,
        from_column=locked.column,
        to_column=to_column,
        from_name=locked.column.name,
        to_name=to_column.name,
    )
    locked.column = to_column
    locked.version += 1
    locked.updated_at = timezone.now()
    locked.save(update_fields=["column", "version", "updated_at"])
    notify_items_changed(locked.backlog.nexus_id, items=[locked.pk])  # flow: this item
    notify_item_event(locked.backlog.nexus_id, locked.pk, "transitioned")
    return TransitionResult(locked, warnings)


def _lock_live(item_id: int, *, field: str = "item") -> ProductBacklogItem:
    """The item, its row locked until the transaction ends (with its Product Backlog); raises
    `DomainError` (`field`) when it has been soft-deleted."""
    locked = (
        ProductBacklogItem.objects.select_for_update(of=("self",), no_key=True)
        .select_related("backlog")
        .get(pk=item_id)
    )
    if locked.deleted_at is not None:
        raise DomainError("This item has been deleted.", field=field)
    return locked


def _touch(item: ProductBacklogItem, at: datetime) -> None:
    """A write of the locked `item` that sync clients, `If-Match` and receivers must see."""
    item.version += 1
    item.updated_at = at
    item.save(update_fields=["version", "updated_at"])


def _started_square_check(actor: Actor, team_ids: list[int]) -> None:
    """Taking a started, filled or Done square off a PBI erases that team's progress: only who may
    change the team's squares may (`squares.square_check`, 403 naming `team`). Forecasting a team or
    taking off an empty square stays open to every editor (Cross-Team Refinement)."""
    if not team_ids:
        return
    for team in ScrumTeam.objects.filter(pk__in=team_ids).order_by("name"):
        square_check(actor=actor, team=team)


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def pbi_set_teams(
    *, item: ProductBacklogItem, teams: Sequence[ScrumTeam], actor: Actor, source: str = Source.UI
) -> ProductBacklogItem:
    """Set which Scrum Teams the PBI is forecast to need; kept teams keep their status.

    The difference with the teams it has is computed under the item's row lock, so concurrent writes of
    its teams (`involvement_add`, `involvement_remove`) are never undone; each team added or taken off
    is logged (`team_added`; `team_removed` with the status it had). Setting the teams it has changes
    nothing (not even the version). Raises `DomainError` for a deleted item (`item`) or a team of
    another Nexus or deleted meanwhile (`teams`); `NotAllowed` (403, `team`) when a team taken off has
    started its square and `actor` may not change that team's squares (as `involvement_remove`)."""
    locked = _lock_live(item.pk)
    structure_check(nexus_id=locked.backlog.nexus_id, teams=teams)  # none deleted meanwhile
    wanted = {t.pk for t in teams}
    have = dict(
        TeamInvolvement.objects.select_for_update().filter(item=locked).values_list("team_id", "status")
    )
    gone = sorted(set(have) - wanted)
    new = sorted(wanted - set(have))
    if not gone and not new:
        return locked
    _started_square_check(actor, [t for t in gone if have[t] != TeamStatus.NOT_STARTED])
    now = timezone.now()
    TeamInvolvement.objects.filter(item=locked, team_id__in=gone).delete()
    TeamInvolvement.objects.bulk_create(TeamInvolvement(item=locked, team_id=t) for t in new)
    common: dict[str, Any] = {"item": locked, "actor": actor, "source": source, "at": now}
    _log_many(
        [
            *(_row(kind=TransitionKind.TEAM_REMOVED, team_id=t, from_name=have[t], **common) for t in gone),
            *(
                _row(kind=TransitionKind.TEAM_ADDED, team_id=t, to_name=TeamStatus.NOT_STARTED, **common)
                for t in new
            ),
        ]
    )
    _touch(locked, now)
    notify_items_changed(locked.backlog.nexus_id, items=[locked.pk])  # flow: this item
    notify_item_event(locked.backlog.nexus_id, locked.pk, "updated")
    return locked


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def involvement_add(
    *,
    item: ProductBacklogItem,
    team: ScrumTeam,
    actor: Actor,
    status: str = TeamStatus.NOT_STARTED,
    source: str = Source.UI,
) -> TeamInvolvement:
    """Forecast one Scrum Team on a PBI (a team square), other teams untouched, and log it
    (`team_added`; then `team_status` when `status` is not "not started").

    Under the item's row lock: two teams added at once both land. Raises `DomainError` for a deleted
    item (`item`), a team of another Nexus or deleted meanwhile, or forecast already (`team`), or an
    unknown status (`status`)."""
    if status not in TeamStatus.values:
        raise DomainError(f"Team status must be one of {', '.join(TeamStatus.values)}.", field="status")
    locked = _lock_live(item.pk)
    structure_check(nexus_id=locked.backlog.nexus_id, teams=[team], teams_field="team")
    if TeamInvolvement.objects.filter(item=locked, team=team).exists():
        raise DomainError("That Scrum Team is forecast on this item already.", field="team")
    now = timezone.now()
    involvement = TeamInvolvement.objects.create(item=locked, team=team)
    _log(
        item=locked,
        kind=TransitionKind.TEAM_ADDED,
        actor=actor,
        source=source,
        at=now,
        team=team,
        to_name=TeamStatus.NOT_STARTED,
    )
    _touch(locked, now)
    notify_items_changed(locked.backlog.nexus_id, items=[locked.pk])  # flow: this item
    notify_item_event(locked.backlog.nexus_id, locked.pk, "updated")
    if status != TeamStatus.NOT_STARTED:
        involvement = involvement_set_status(
            involvement=involvement, status=status, actor=actor, source=source
        )
    return involvement


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def involvement_remove(*, involvement: TeamInvolvement, actor: Actor, source: str = Source.UI) -> None:
    """Take one Scrum Team off a PBI's forecast, its status with it, and log it (`team_removed`, with the
    status it had); other teams untouched. Under the item's row lock. Removing a team that is off the
    item already changes nothing. Raises `DomainError` (`item`) for a deleted item; `NotAllowed` (403,
    `team`) when the square has left "not started" and `actor` may not change that team's squares
    (`squares.square_refusal`: taking it off would erase the team's progress)."""
    locked = _lock_live(involvement.item_id)
    current = TeamInvolvement.objects.select_for_update().filter(pk=involvement.pk).first()
    if current is None:
        return
    if current.status != TeamStatus.NOT_STARTED:
        _started_square_check(actor, [current.team_id])
    now = timezone.now()
    current.delete()
    _log(
        item=locked,
        kind=TransitionKind.TEAM_REMOVED,
        actor=actor,
        source=source,
        at=now,
        team_id=current.team_id,
        from_name=current.status,
    )
    _touch(locked, now)
    notify_items_changed(locked.backlog.nexus_id, items=[locked.pk])  # flow: this item
    notify_item_event(locked.backlog.nexus_id, locked.pk, "updated")


def involvement_set_status(
    *, involvement: TeamInvolvement, status: str, actor: Actor, source: str = Source.UI
) -> TeamInvolvement:
    """Change one team's status on a PBI (a team square), logged in the transition log: the team's
    work moves to the first column of its board with that state (`squares.square_set`, whose result,
    with soft-WIP-limit warnings, the API uses). The PBI's Nexus column follows its squares.

    Raises `DomainError` for an unknown status (`status`), a deleted item (`item`) or a team taken off
    the item meanwhile (`team`); `NotAllowed` (403) when `actor` may not change the team's squares;
    `WipLimitReached` (409) for a hard WIP limit the change would break."""
    return square_set(involvement=involvement, status=status, actor=actor, source=source).involvement


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def pbi_delete(
    *,
    item: ProductBacklogItem,
    actor: Actor,
    source: str = Source.UI,
    expected_version: int | None = None,
) -> ProductBacklogItem:
    """Soft-delete a PBI: it leaves every list and board but stays as a tombstone for sync clients;
    its transition log is kept and gains a `deleted` row. Its children lose their parent (a
    `parent_changed` row each, source `system`). Deleting a deleted item changes nothing.

    With `expected_version` (the API's `If-Match`), raises `PreconditionFailed` (412, field `If-Match`)
    when the live item's version differs, and changes nothing."""
    locked = (
        ProductBacklogItem.objects.select_for_update(of=("self",), no_key=True)
        .select_related("backlog")
        .get(pk=item.pk)
    )
    if locked.deleted_at is not None:
        return locked
    version_check(locked, expected_version)
    now = timezone.now()
    locked.deleted_at = now
    locked.updated_at = now
    locked.version += 1
    locked.save(update_fields=["deleted_at", "updated_at", "version"])
    # Its children lose their parent: a change of theirs too, for sync clients, `If-Match`, webhook
    # receivers and the log.
    children = ProductBacklogItem.objects.filter(parent=locked)
    orphaned = list(children.values_list("pk", flat=True))
    children.update(parent=None, updated_at=now, version=F("version") + 1)
    _log_many(
        [
            _row(item=locked, kind=TransitionKind.DELETED, actor=actor, source=source, at=now),
            *(
                _row(
                    item=child_id,
                    kind=TransitionKind.PARENT_CHANGED,
                    actor=actor,
                    source=Source.SYSTEM,
                    at=now,
                    from_parent=locked,
                )
                for child_id in orphaned
            ),
        ]
    )
    # Its dependencies are removed (tombstones for sync), under the Nexus lock (after the item's).
    dependencies_on_item_deleted(item=locked, actor=actor, source=source, at=now)
    notify_items_changed(locked.backlog.nexus_id, items=[locked.pk])  # flow: this item
    notify_item_event(locked.backlog.nexus_id, locked.pk, "deleted")
    for child_id in orphaned:
        notify_item_event(locked.backlog.nexus_id, child_id, "updated")
    return locked


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def pbi_restore(
    *,
    item: ProductBacklogItem,
    actor: Actor,
    source: str = Source.UI,
    expected_version: int | None = None,
) -> ProductBacklogItem:
    """Undo a soft delete: the PBI is back, where it was in the Product Backlog order and in the column
    it was in, with its teams and labels; a `restored` row is logged. The children it had keep the
    parent they have now (the delete took them off it, logged). Restoring a live item changes nothing.

    Sync clients see it again through `updated_since` (its `updated_at` moves on); webhook receivers
    hear `item.updated`. With `expected_version`, raises `PreconditionFailed` (412, field `If-Match`)
    when the deleted item's version differs."""
    locked = (
        ProductBacklogItem.objects.select_for_update(of=("self",), no_key=True)
        .select_related("backlog")
        .get(pk=item.pk)
    )
    if locked.deleted_at is None:
        return locked
    version_check(locked, expected_version)
    now = timezone.now()
    locked.deleted_at = None
    locked.updated_at = now
    locked.version += 1
    locked.save(update_fields=["deleted_at", "updated_at", "version"])
    _log(item=locked, kind=TransitionKind.RESTORED, actor=actor, source=source, at=now)
    notify_items_changed(locked.backlog.nexus_id, items=[locked.pk])  # flow: this item
    notify_item_event(locked.backlog.nexus_id, locked.pk, "updated")
    return locked
