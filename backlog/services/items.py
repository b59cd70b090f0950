"""Services that create, edit, move between columns and delete Product Backlog Items."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from backlog.errors import DomainError, VersionConflict, WipLimitReached
from backlog.models import (
    ClassOfService,
    Label,
    Nexus,
    ProductBacklog,
    ProductBacklogItem,
    ScrumTeam,
    Source,
    TeamInvolvement,
    TeamStatus,
    Transition,
    TransitionKind,
    WipLimitKind,
    WorkflowColumn,
)
from backlog.services.common import nexus_lock_wip, notify_item_event, notify_items_changed, structure_check
from backlog.services.ordering import backlog_renumber, lock_backlog, rank_at_bottom, rank_at_top

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
    column transition (from nothing into that column). `fields` are any of `EDITABLE_FIELDS`.
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
    for team_id in dict.fromkeys(t.pk for t in teams):
        TeamInvolvement.objects.create(item=item, team=now_teams[team_id])
    Transition.objects.create(
        item=item,
        kind=TransitionKind.COLUMN,
        at=now,
        actor=_actor(actor),
        source=source,
        to_column=column,
        to_name=column.name,
    )
    notify_items_changed(nexus.pk)
    notify_item_event(nexus.pk, item.pk, "created")
    return item


@transaction.atomic
def pbi_update(
    *,
    item: ProductBacklogItem,
    actor: Actor,
    expected_version: int | None = None,
    labels: Sequence[str] | None = None,
    **fields: Any,
) -> ProductBacklogItem:
    """Edit a PBI's fields (any of `EDITABLE_FIELDS`, plus `labels` as names).

    With `expected_version`, raises `VersionConflict` when someone saved the item in the meantime and
    changes nothing (optimistic concurrency). Raises `DomainError` naming the field for invalid input.
    """
    locked = (
        ProductBacklogItem.objects.select_for_update(of=("self",))
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
    for name, value in values.items():
        setattr(locked, name, value)
    locked.version += 1
    locked.updated_at = timezone.now()
    locked.save(update_fields=[*values, "version", "updated_at"])
    if labels is not None:
        locked.labels.set(_labels(locked.backlog.nexus, labels))
    notify_items_changed(locked.backlog.nexus_id)
    notify_item_event(locked.backlog.nexus_id, locked.pk, "updated")
    return locked


@dataclass
class TransitionResult:
    """Outcome of `pbi_transition`: the item and any soft-WIP-limit warnings (messages for a person)."""

    item: ProductBacklogItem
    warnings: list[str] = field(default_factory=list)


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

    Raises `DomainError` when the column belongs to another Nexus, `WipLimitReached` when a hard WIP
    limit is full, `VersionConflict` when `expected_version` is stale. Moving into the column it is in
    already changes nothing.
    """
    locked = (
        ProductBacklogItem.objects.select_for_update(of=("self",))
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
    notify_items_changed(locked.backlog.nexus_id)
    notify_item_event(locked.backlog.nexus_id, locked.pk, "transitioned")
    return TransitionResult(locked, warnings)


@transaction.atomic
def pbi_set_teams(
    *, item: ProductBacklogItem, teams: Sequence[ScrumTeam], actor: Actor
) -> ProductBacklogItem:
    """Set which Scrum Teams the PBI is forecast to need; kept teams keep their status."""
    locked = (
        ProductBacklogItem.objects.select_for_update(of=("self",)).select_related("backlog").get(pk=item.pk)
    )
    structure_check(nexus_id=locked.backlog.nexus_id, teams=teams)  # none deleted meanwhile
    wanted = {t.pk for t in teams}
    TeamInvolvement.objects.filter(item=locked).exclude(team_id__in=wanted).delete()
    have = set(TeamInvolvement.objects.filter(item=locked).values_list("team_id", flat=True))
    TeamInvolvement.objects.bulk_create(TeamInvolvement(item=locked, team_id=t) for t in wanted - have)
    locked.version += 1
    locked.updated_at = timezone.now()
    locked.save(update_fields=["version", "updated_at"])
    notify_items_changed(locked.backlog.nexus_id)
    notify_item_event(locked.backlog.nexus_id, locked.pk, "updated")
    return locked


@transaction.atomic
def involvement_set_status(
    *, involvement: TeamInvolvement, status: str, actor: Actor, source: str = Source.UI
) -> TeamInvolvement:
    """Change one team's status on a PBI (a team square) and log it in the transition log."""
    if status not in TeamStatus.values:
        raise DomainError(f"Team status must be one of {', '.join(TeamStatus.values)}.", field="status")
    # Locks in the order every item write takes them: the item, then its involvements.
    list(ProductBacklogItem.objects.select_for_update().filter(pk=involvement.item_id).values_list("pk"))
    locked = (
        TeamInvolvement.objects.select_for_update(of=("self",))
        .select_related("item__backlog")
        .get(pk=involvement.pk)
    )
    if locked.status == status:
        return locked
    now = timezone.now()
    Transition.objects.create(
        item=locked.item,
        kind=TransitionKind.TEAM_STATUS,
        at=now,
        actor=_actor(actor),
        source=source,
        team_id=locked.team_id,
        from_name=locked.status,
        to_name=status,
    )
    locked.status = status
    locked.save(update_fields=["status"])
    ProductBacklogItem.objects.filter(pk=locked.item_id).update(
        updated_at=now, version=locked.item.version + 1
    )
    notify_items_changed(locked.item.backlog.nexus_id)
    notify_item_event(locked.item.backlog.nexus_id, locked.item_id, "updated")
    return locked


@transaction.atomic
def pbi_delete(*, item: ProductBacklogItem, actor: Actor) -> ProductBacklogItem:
    """Soft-delete a PBI: it leaves every list and board but stays as a tombstone for sync clients;
    its transition log is kept. Deleting a deleted item changes nothing."""
    locked = (
        ProductBacklogItem.objects.select_for_update(of=("self",)).select_related("backlog").get(pk=item.pk)
    )
    if locked.deleted_at is None:
        now = timezone.now()
        locked.deleted_at = now
        locked.updated_at = now
        locked.version += 1
        locked.save(update_fields=["deleted_at", "updated_at", "version"])
        # Its children lose their parent: a change of theirs too, for sync clients, `If-Match` and
        # webhook receivers.
        children = ProductBacklogItem.objects.filter(parent=locked)
        orphaned = list(children.values_list("pk", flat=True))
        children.update(parent=None, updated_at=now, version=F("version") + 1)
        notify_items_changed(locked.backlog.nexus_id)
        notify_item_event(locked.backlog.nexus_id, locked.pk, "deleted")
        for child_id in orphaned:
            notify_item_event(locked.backlog.nexus_id, child_id, "updated")
    return locked
