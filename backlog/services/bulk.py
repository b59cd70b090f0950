"""Bulk upsert of up to 1,000 PBIs by `external_id`, all or nothing, with every refused entry listed.

It does what `pbi_upsert` does for each entry, with the same validation (`items._clean_fields`), the
same rows (the item, its labels and teams, a creation entry in the transition log), the same version
and time stamps and the same signals, but in a constant number of statements for the common cases:
new items are inserted with `bulk_create`; changes of fields and labels of existing items are written
with `bulk_update`. Changes of column or teams of existing items go through `pbi_transition` and
`pbi_set_teams` item by item (WIP limits, the transition log). `test_bulk` checks that both paths
leave the same state as the item services.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from backlog.errors import DomainError
from backlog.models import (
    RANK_GAP,
    Nexus,
    ProductBacklogItem,
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
    structure_lock,
)
from backlog.services.items import (
    Actor,
    ItemChanges,
    WriteResult,
    _clean_fields,
    _labels,
    _same,
    creation_check,
    pbi_set_teams,
    pbi_transition,
)
from backlog.services.log import NEW, ItemState, _change_rows, _log_many, _row
from backlog.services.ordering import lock_backlog, rank_at_bottom
from backlog.services.sync import ItemGone, _clean_external_id
from nexus_site.db import retry_transient

#: The most PBIs one bulk upsert may carry.
BULK_MAX_ITEMS = 1000
BATCH = 500


@dataclass(frozen=True)
class BulkItemError:
    """Why one entry of a bulk upsert was refused: its 0-based `index` in the request, its
    `external_id`, the `field` at fault and a `message` for a person."""

    index: int
    external_id: str
    field: str | None
    message: str


class BulkUpsertFailed(DomainError):
    """At least one entry of a bulk upsert was refused; nothing was written. `errors` lists them all."""

    def __init__(self, errors: list[BulkItemError]) -> None:
        super().__init__(
            f"{len(errors)} of the items were refused; nothing was written.", field=errors[0].field
        )
        self.errors = errors


@dataclass
class BulkResult:
    """Outcome of a bulk upsert, one `WriteResult` per entry in request order."""

    results: list[WriteResult]

    @property
    def created(self) -> int:
        return sum(r.created for r in self.results)

    @property
    def updated(self) -> int:
        return sum(r.changed and not r.created for r in self.results)

    @property
    def unchanged(self) -> int:
        return sum(not r.changed for r in self.results)


@dataclass
class _Entry:
    index: int
    external_id: str
    changes: ItemChanges
    result: WriteResult | None = None


def _clean_entries(entries: Sequence[tuple[str, ItemChanges]]) -> tuple[list[_Entry], list[BulkItemError]]:
    """External ids cleaned and unique within the request."""
    errors: list[BulkItemError] = []
    out: list[_Entry] = []
    seen: dict[str, int] = {}
    for index, (external_id, changes) in enumerate(entries):
        try:
            ext = _clean_external_id(external_id)
        except DomainError as exc:
            errors.append(BulkItemError(index, external_id, exc.field, exc.message))
            continue
        if ext in seen:
            errors.append(
                BulkItemError(index, ext, "external_id", f"Also at index {seen[ext]}: send each item once.")
            )
            continue
        seen[ext] = index
        out.append(_Entry(index, ext, changes))
    return out, errors


@dataclass
class _NewRow:
    entry: _Entry
    item: ProductBacklogItem


def _plan_creates(nexus: Nexus, entries: list[_Entry], errors: list[BulkItemError]) -> list[_NewRow]:
    """Validate the new items as `pbi_create` does; the unsaved items, in request order."""
    backlog = nexus.backlog
    # The columns and teams the new items name, as they are now under the Nexus lock (none deleted
    # meanwhile), and the first column, the default.
    now_columns, now_teams = structure_lock(
        nexus_id=nexus.pk,
        column_ids=[e.changes.column.pk for e in entries if e.changes.column is not None],
        team_ids=[t.pk for e in entries for t in e.changes.teams or ()],
    )
    first_column = WorkflowColumn.objects.filter(nexus=nexus).order_by("position").first()
    rows: list[_NewRow] = []
    now = timezone.now()
    for entry in entries:
        changes = entry.changes
        try:
            if changes.fields.get("title") is None:
                raise DomainError("A new Product Backlog Item needs a title.", field="title")
            fields = {k: v for k, v in changes.fields.items() if k != "external_id"}
            values = _clean_fields(backlog, None, fields)
            column = now_columns.get(changes.column.pk) if changes.column is not None else first_column
            if column is None and changes.column is not None:
                raise DomainError(
                    "That column is not in this Nexus's Definition of Workflow (any more).", field="column"
                )
            if column is None:
                raise DomainError("The Nexus has no Definition of Workflow yet.", field="column")
            if any(t.pk not in now_teams for t in changes.teams or ()):
                raise DomainError("That Scrum Team is not in this Nexus (any more).", field="teams")
            creation_check(column=column, teams=list(changes.teams or ()))
        except DomainError as exc:
            errors.append(BulkItemError(entry.index, entry.external_id, exc.field, exc.message))
            continue
        item = ProductBacklogItem(
            backlog=backlog,
            column=column,
            external_id=entry.external_id,
            created_at=now,
            updated_at=now,
            rank=0,
            **values,
        )
        rows.append(_NewRow(entry, item))
    return rows


def _create(nexus: Nexus, rows: list[_NewRow], actor: Actor, source: str) -> None:
    """Insert the new items at the bottom, in request order: items, labels, teams and the creation
    entries of the transition log, in a few statements."""
    if not rows:
        return
    bottom = rank_at_bottom(nexus.backlog.pk)
    for i, row in enumerate(rows):
        row.item.rank = bottom + i * RANK_GAP
    ProductBacklogItem.objects.bulk_create([row.item for row in rows], batch_size=BATCH)
    wanted = {
        row.item.pk: {n.strip() for n in row.entry.changes.labels or () if n and n.strip()} for row in rows
    }
    names = set().union(*wanted.values())
    by_name = {label.name: label for label in _labels(nexus, names)} if names else {}
    through = ProductBacklogItem.labels.through
    through.objects.bulk_create(
        [through(productbacklogitem_id=pk, label_id=by_name[n].pk) for pk, ns in wanted.items() for n in ns],
        batch_size=BATCH,
    )
    TeamInvolvement.objects.bulk_create(
        [
            TeamInvolvement(item=row.item, team=team)
            for row in rows
            for team in {t.pk: t for t in row.entry.changes.teams or ()}.values()
        ],
        batch_size=BATCH,
    )
    now = rows[0].item.created_at
    # The starting state of each, as `pbi_create` logs it: column, teams, block, parent.
    log: list[Transition] = []
    for row in rows:
        common: dict[str, Any] = {"item": row.item, "actor": actor, "source": source, "at": now}
        log.append(
            _row(
                kind=TransitionKind.COLUMN, to_column=row.item.column, to_name=row.item.column.name, **common
            )
        )
        log.extend(
            _row(kind=TransitionKind.TEAM_ADDED, team_id=t, to_name=TeamStatus.NOT_STARTED, **common)
            for t in dict.fromkeys(t.pk for t in row.entry.changes.teams or ())
        )
        log.extend(_change_rows(before=NEW, **common))
    _log_many(log)
    notify_items_changed(nexus.pk)
    for row in rows:
        notify_item_event(nexus.pk, row.item.pk, "created")
        row.entry.result = WriteResult(row.item, created=True, changed=True)


@dataclass
class _Change:
    entry: _Entry
    item: ProductBacklogItem
    values: dict[str, Any]
    labels: list[str] | None
    teams: bool
    column: bool


def _plan_updates(
    nexus: Nexus, entries: list[_Entry], existing: dict[str, ProductBacklogItem], errors: list[BulkItemError]
) -> list[_Change]:
    """Compare each entry with its item (labels and teams read for all items at once) and validate
    the changed fields as `pbi_update` does; unchanged entries get their result here."""
    items = [existing[e.external_id] for e in entries]
    through = ProductBacklogItem.labels.through
    labels_now: dict[int, set[str]] = {}
    for item_id, name in through.objects.filter(productbacklogitem__in=items).values_list(
        "productbacklogitem_id", "label__name"
    ):
        labels_now.setdefault(item_id, set()).add(name)
    teams_now: dict[int, set[int]] = {}
    for item_id, team_id in TeamInvolvement.objects.filter(item__in=items).values_list("item_id", "team_id"):
        teams_now.setdefault(item_id, set()).add(team_id)
    plan: list[_Change] = []
    for entry in entries:
        item, changes = existing[entry.external_id], entry.changes
        try:
            if item.deleted_at is not None:
                raise ItemGone(
                    f"The item with the external id {entry.external_id!r} was deleted on "
                    f"{item.deleted_at:%Y-%m-%d %H:%M} UTC; deleted items are not recreated.",
                    field="external_id",
                )
            fields = {k: v for k, v in changes.fields.items() if k != "external_id" and not _same(item, k, v)}
            values = _clean_fields(nexus.backlog, item, fields) if fields else {}
        except DomainError as exc:
            errors.append(BulkItemError(entry.index, entry.external_id, exc.field, exc.message))
            continue
        labels = None
        if changes.labels is not None:
            wanted = sorted({n.strip() for n in changes.labels if n and n.strip()})
            if wanted != sorted(labels_now.get(item.pk, set())):
                labels = wanted
        teams = changes.teams is not None and {t.pk for t in changes.teams} != teams_now.get(item.pk, set())
        column = changes.column is not None and changes.column.pk != item.column_id
        entry.result = WriteResult(item)
        if values or labels is not None or teams or column:
            plan.append(_Change(entry, item, values, labels, teams, column))
    return plan


def _update(
    nexus: Nexus, plan: list[_Change], actor: Actor, source: str, errors: list[BulkItemError]
) -> None:
    """Write the planned changes: fields and labels of all items in a few statements (each changed
    item's version up by one), then teams and column item by item through their services."""
    now = timezone.now()
    edited = [c for c in plan if c.values or c.labels is not None]
    log: list[Transition] = []
    for change in edited:
        before = ItemState.of(change.item)
        for name, value in change.values.items():
            setattr(change.item, name, value)
        change.item.version += 1
        change.item.updated_at = now
        log.extend(_change_rows(item=change.item, before=before, actor=actor, source=source, at=now))
    if edited:
        fields = sorted({name for c in edited for name in c.values})
        ProductBacklogItem.objects.bulk_update(
            [c.item for c in edited], [*fields, "version", "updated_at"], batch_size=BATCH
        )
        _log_many(log)  # blocked, unblocked, parent changed
    relabel = {c.item.pk: c.labels for c in edited if c.labels is not None}
    if relabel:
        by_name = {label.name: label for label in _labels(nexus, {n for ns in relabel.values() for n in ns})}
        through = ProductBacklogItem.labels.through
        through.objects.filter(productbacklogitem_id__in=list(relabel)).delete()
        through.objects.bulk_create(
            [
                through(productbacklogitem_id=pk, label_id=by_name[n].pk)
                for pk, ns in relabel.items()
                for n in ns
            ],
            batch_size=BATCH,
        )
    if edited:
        notify_items_changed(nexus.pk)
        for change in edited:
            notify_item_event(nexus.pk, change.item.pk, "updated")
    for change in plan:
        result, item = change.entry.result, change.item
        assert result is not None
        try:
            if change.teams:
                item = pbi_set_teams(
                    item=item, teams=change.entry.changes.teams or [], actor=actor, source=source
                )
            if change.column:
                column = change.entry.changes.column
                assert column is not None
                moved = pbi_transition(item=item, to_column=column, actor=actor, source=source)
                item, result.warnings = moved.item, moved.warnings
        except DomainError as exc:
            errors.append(BulkItemError(change.entry.index, change.entry.external_id, exc.field, exc.message))
            continue
        result.item, result.changed = item, True


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def pbi_bulk_upsert(
    *,
    nexus: Nexus,
    entries: Sequence[tuple[str, ItemChanges]],
    actor: Actor,
    source: str = Source.API,
) -> BulkResult:
    """Upsert up to `BULK_MAX_ITEMS` PBIs, each `(external_id, changes)` as in `pbi_upsert`, all or
    nothing: if any entry is refused, nothing is written and `BulkUpsertFailed` lists every refused
    entry (index, external id, field, message). New items are appended in request order. Holds the
    Product Backlog lock and the existing items' row locks. Re-sending the same data changes nothing.
    """
    if not entries:
        raise DomainError("Send at least one item.", field="items")
    if len(entries) > BULK_MAX_ITEMS:
        raise DomainError(f"Send at most {BULK_MAX_ITEMS} items at once.", field="items")
    cleaned, errors = _clean_entries(entries)
    lock_backlog(nexus.backlog.pk)
    existing = {
        i.external_id: i
        for i in ProductBacklogItem.objects.select_for_update(of=("self",), no_key=True).filter(
            backlog__nexus=nexus, external_id__in=[e.external_id for e in cleaned]
        )
    }
    new = _plan_creates(nexus, [e for e in cleaned if e.external_id not in existing], errors)
    plan = _plan_updates(nexus, [e for e in cleaned if e.external_id in existing], existing, errors)
    if not errors:
        with items_changed_batched():
            _create(nexus, new, actor, source)
            _update(nexus, plan, actor, source, errors)
    if errors:
        raise BulkUpsertFailed(sorted(errors, key=lambda e: e.index))
    return BulkResult([e.result for e in cleaned if e.result is not None])
