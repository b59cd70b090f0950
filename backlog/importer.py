"""Import a real work-item history (an event log CSV) into a Nexus: `python manage.py import_history`.

The format is that of `backlog/data/eclipse-jdt/` (see its README): one row per status change with the
columns `item_id, from_state, to_state, timestamp` (ISO-8601; a naive timestamp is taken as UTC) plus
any attribute columns (title, team, labels...). A workflow JSON maps raw states onto Definition of
Workflow columns: `{"columns": [...], "mapping": {state: column}, "started": column, "done": column}`.

The whole import is one transaction with bulk writes: it either lands whole or writes nothing. It is
idempotent: items are matched on `external_id`, events on an import key built from the original
timestamp and states, so re-running it (even on another day with `--shift-to-today`) adds nothing.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import time
import zoneinfo
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from backlog.errors import DomainError
from backlog.models import (
    RANK_GAP,
    ColumnCategory,
    Label,
    Nexus,
    ProductBacklogItem,
    ScrumTeam,
    Source,
    TeamInvolvement,
    TeamStatus,
    Transition,
    TransitionKind,
    WorkflowColumn,
)
from backlog.services.common import items_changed_batched, nexus_lock, notify_items_changed
from backlog.services.nexus import ColumnSpec, nexus_create, team_create, team_slug
from backlog.services.ordering import lock_backlog, rank_at_bottom

REQUIRED_COLUMNS = ("item_id", "from_state", "to_state", "timestamp")
BATCH = 2000
CATEGORY_TO_TEAM_STATUS = {
    ColumnCategory.NOT_STARTED: TeamStatus.NOT_STARTED,
    ColumnCategory.IN_PROGRESS: TeamStatus.IN_PROGRESS,
    ColumnCategory.DONE: TeamStatus.DONE,
}


class ImportFailed(DomainError):
    """The file or the workflow is unusable; `line` is the 1-based CSV line (header = line 1), if any."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


@dataclass(frozen=True)
class WorkflowFile:
    """A parsed workflow JSON: ordered column names, raw state -> column name, started/done columns."""

    columns: tuple[str, ...]
    mapping: dict[str, str]
    started: str
    done: str
    description: str = ""

    @classmethod
    def load(cls, path: Path) -> WorkflowFile:
        """Read and validate a workflow JSON. Raises `ImportFailed` naming what is wrong."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ImportFailed(f"cannot read the workflow file {path}: {exc}") from exc
        try:
            wf = cls(
                columns=tuple(data["columns"]),
                mapping=dict(data["mapping"]),
                started=data["started"],
                done=data["done"],
                description=data.get("description", ""),
            )
        except (KeyError, TypeError) as exc:
            raise ImportFailed(
                f"the workflow file needs 'columns', 'mapping', 'started' and 'done' ({exc})"
            ) from exc
        for name in (wf.started, wf.done, *wf.mapping.values()):
            if name not in wf.columns:
                raise ImportFailed(f"the workflow file names a column {name!r} that is not in 'columns'")
        if wf.columns.index(wf.started) > wf.columns.index(wf.done):
            raise ImportFailed("the workflow's 'started' column comes after its 'done' column")
        return wf

    def column_specs(self) -> list[ColumnSpec]:
        start, done = self.columns.index(self.started), self.columns.index(self.done)
        specs = []
        for i, name in enumerate(self.columns):
            category = (
                ColumnCategory.NOT_STARTED
                if i < start
                else ColumnCategory.IN_PROGRESS
                if i < done
                else ColumnCategory.DONE
            )
            specs.append(ColumnSpec(name=name, category=category, is_start=i == start, is_finish=i == done))
        return specs


@dataclass
class _Event:
    line: int
    at: datetime
    raw_from: str
    raw_to: str
    column: str | None
    after_cutoff: bool = False


@dataclass
class _Item:
    external_id: str
    attrs: dict[str, str]
    line: int
    events: list[_Event] = field(default_factory=list)


@dataclass
class ImportReport:
    """What an import did. Times in seconds; `unmapped` counts events skipped per raw state."""

    nexus: Nexus
    rows: int = 0
    items_created: int = 0
    items_updated: int = 0
    events_added: int = 0
    events_ignored_after_cutoff: int = 0
    items_skipped: int = 0
    items_after_cutoff: int = 0
    teams_created: int = 0
    #: Scrum Team name -> the other spellings of it in the file (values that slugify alike).
    team_spellings: dict[str, list[str]] = field(default_factory=dict)
    #: Team squares a person changed since the previous import, which the import left as they are.
    team_squares_kept: int = 0
    unmapped: Counter[str] = field(default_factory=Counter)
    shift_days: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [
            f"Nexus '{self.nexus.slug}': {self.rows} rows read; {self.items_created} items created, "
            f"{self.items_updated} updated, {self.events_added} events added, "
            f"{self.teams_created} teams created.",
        ]
        for name, others in self.team_spellings.items():
            spellings = ", ".join(repr(o) for o in others)
            lines.append(
                f"Team {spellings} imported as the Scrum Team {name!r} (the same name but for case, "
                "spaces or punctuation)."
            )
        if self.team_squares_kept:
            lines.append(
                f"{self.team_squares_kept} team squares a person changed since the last import were kept."
            )
        if self.events_ignored_after_cutoff:
            lines.append(
                f"{self.events_ignored_after_cutoff} events after the replay cut-off ignored "
                f"({self.items_after_cutoff} items did not exist yet at the cut-off)."
            )
        if self.shift_days:
            lines.append(f"Timestamps shifted by {self.shift_days} days so the cut-off is today.")
        if self.unmapped:
            states = ", ".join(f"{s or '(empty)'}: {n}" for s, n in sorted(self.unmapped.items()))
            lines.append(f"Unmapped states skipped: {states}.")
        if self.items_skipped:
            lines.append(f"{self.items_skipped} items had no mapped event and were skipped.")
        lines.append(f"Took {self.seconds:.1f} s.")
        return "\n".join(lines)


def _open_text(path: Path) -> io.TextIOBase:
    if str(path).endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _parse_ts(value: str, line: int) -> datetime:
    try:
        ts = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise ImportFailed(f"unparseable timestamp {value!r} (expected ISO-8601)", line=line) from exc
    return ts if ts.tzinfo else ts.replace(tzinfo=zoneinfo.ZoneInfo("UTC"))


def _read(
    path: Path, wf: WorkflowFile, tz: zoneinfo.ZoneInfo, replay_until: date | None, report: ImportReport
) -> dict[str, _Item]:
    items: dict[str, _Item] = {}
    try:
        fh = _open_text(path)
    except OSError as exc:
        raise ImportFailed(f"cannot open {path}: {exc}") from exc
    with fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ImportFailed(f"missing column(s) {', '.join(missing)} in the header", line=1)
        try:
            rows: Iterator[dict[str, Any]] = iter(reader)
            for row in rows:
                line = reader.line_num
                report.rows += 1
                ext = (row["item_id"] or "").strip()
                if not ext:
                    raise ImportFailed("empty item_id", line=line)
                at = _parse_ts(row["timestamp"] or "", line)
                item = items.get(ext)
                if item is None:
                    item = items[ext] = _Item(
                        ext, {k: (v or "") for k, v in row.items() if k not in REQUIRED_COLUMNS}, line
                    )
                if item.events and at < item.events[-1].at:
                    raise ImportFailed(
                        f"event out of order for item {ext}: {row['timestamp']} is earlier than the item's "
                        f"previous event (line {item.events[-1].line})",
                        line=line,
                    )
                raw_to = (row["to_state"] or "").strip()
                if replay_until is not None and at.astimezone(tz).date() > replay_until:
                    report.events_ignored_after_cutoff += 1
                    item.events.append(
                        _Event(line, at, "", "", None, after_cutoff=True)
                    )  # for the order check
                    continue
                column = wf.mapping.get(raw_to)
                if column is None:
                    report.unmapped[raw_to] += 1
                item.events.append(_Event(line, at, (row["from_state"] or "").strip(), raw_to, column))
        except csv.Error as exc:
            raise ImportFailed(f"malformed CSV: {exc}", line=reader.line_num) from exc
        except UnicodeDecodeError as exc:
            raise ImportFailed(f"the file is not UTF-8 text: {exc}") from exc
    return items


def _new_events(
    items: dict[str, _Item], known_keys: set[tuple[str, str]]
) -> dict[str, list[tuple[_Event, str, str | None]]]:
    """Per item (external id), its mapped events not imported before, in order, each with its import key
    (the original timestamp and raw states, numbered when repeated) and the column it left."""
    new: dict[str, list[tuple[_Event, str, str | None]]] = {}
    for ext, it in items.items():
        previous: str | None = None
        seen: Counter[str] = Counter()
        for e in it.events:
            if e.column is None:
                continue
            key = f"{e.at.isoformat()}|{e.raw_from}|{e.raw_to}"[:120]
            seen[key] += 1
            if seen[key] > 1:
                key = f"{key[:110]}|{seen[key]}"
            if (ext, key) not in known_keys:
                new.setdefault(ext, []).append((e, key, previous))
            previous = e.column
    return new


def _teams(
    nexus: Nexus, items: dict[str, _Item], team_field: str, report: ImportReport
) -> dict[str, ScrumTeam]:
    """The Scrum Team of each value of `team_field` (call under the Nexus lock). Values that slugify alike
    ("Parser", "parser") are one Scrum Team: the Nexus's team of that name or slug if it has one, else
    a new team named as the value is first seen in the file; the other spellings go to `report`."""
    by_name: dict[str, ScrumTeam] = {}
    by_slug: dict[str, ScrumTeam] = {}
    for existing in ScrumTeam.objects.filter(nexus=nexus):
        by_name[existing.name] = existing
        by_slug.setdefault(existing.slug, existing)
        by_slug.setdefault(team_slug(existing.name), existing)
    team_of: dict[str, ScrumTeam] = {}
    for it in items.values():  # in the order of the file
        value = it.attrs.get(team_field, "").strip()
        if not value or value in team_of:
            continue
        team: ScrumTeam | None = by_name.get(value) or by_slug.get(team_slug(value))
        if team is None:
            try:
                team = team_create(nexus=nexus, name=value)
            except DomainError as exc:
                raise ImportFailed(f"the Scrum Team {value!r}: {exc.message}", line=it.line) from exc
            by_name[team.name] = by_slug[team.slug] = team
            report.teams_created += 1
        elif team.name != value:
            report.team_spellings.setdefault(team.name, []).append(value)
        team_of[value] = team
    return team_of


def _move_known(
    known: dict[str, ProductBacklogItem],
    new_events: dict[str, list[tuple[_Event, str, str | None]]],
    columns: dict[str, WorkflowColumn],
    shift: timedelta,
    report: ImportReport,
) -> None:
    """Move the existing items that received new events to their latest column (call with them locked),
    and their team squares to that column's status, logged (`source=import`). A team square whose latest
    change in the log is a person's (not an import's) is left as it is: the person knows better."""
    moves: dict[int, tuple[WorkflowColumn, datetime]] = {}
    for ext, events in new_events.items():
        pbi = known.get(ext)
        if pbi is not None:
            last = events[-1][0]
            column = columns[last.column or ""]
            if column.pk != pbi.column_id:
                moves[pbi.pk] = (column, last.at + shift)
    if not moves:
        return
    now = timezone.now()
    for pk, (column, _) in moves.items():
        ProductBacklogItem.objects.filter(pk=pk).update(
            column=column, version=F("version") + 1, updated_at=now
        )
    report.items_updated += len(moves)
    latest_source: dict[tuple[int, int | None], str] = {
        (item_id, team_id): source
        for item_id, team_id, source in Transition.objects.filter(
            kind=TransitionKind.TEAM_STATUS, item_id__in=list(moves)
        )
        .order_by("recorded_at", "id")
        .values_list("item_id", "team_id", "source")
    }
    log: list[Transition] = []
    for inv in TeamInvolvement.objects.filter(item_id__in=list(moves)).order_by("pk"):
        column, at = moves[inv.item_id]
        status = CATEGORY_TO_TEAM_STATUS[ColumnCategory(column.category)]
        if inv.status == status:
            continue
        if latest_source.get((inv.item_id, inv.team_id), Source.IMPORT) != Source.IMPORT:
            report.team_squares_kept += 1
            continue
        log.append(
            Transition(
                item_id=inv.item_id,
                kind=TransitionKind.TEAM_STATUS,
                at=at,
                source=Source.IMPORT,
                team_id=inv.team_id,
                from_name=inv.status,
                to_name=status,
            )
        )
        TeamInvolvement.objects.filter(pk=inv.pk).update(status=status)
    Transition.objects.bulk_create(log, batch_size=BATCH)


def history_import(
    *,
    path: Path,
    nexus_slug: str,
    workflow: WorkflowFile,
    team_field: str | None = None,
    label_fields: tuple[str, ...] = ("labels",),
    replay_until: date | None = None,
    shift_to_today: bool = False,
    time_zone: str = "UTC",
    nexus_name: str | None = None,
    description: str = "",
    today: date | None = None,
) -> ImportReport:
    """Import the event log at `path` into the Nexus `nexus_slug` (created if missing, with the workflow's
    columns as its Definition of Workflow and one Scrum Team per value of `team_field`).

    `replay_until` ignores events after that date (in the Nexus's time zone); with `shift_to_today`
    every timestamp moves by whole days so that the cut-off date becomes `today` (default: today in
    the Nexus's time zone). Raises `ImportFailed` (with the CSV line) for a missing column, an
    unparseable timestamp, an event out of order for its item or a team value that cannot be a Scrum
    Team's name; nothing is written then.

    Writes by the rules of the services: Scrum Teams are created by `team_create` under the Nexus lock
    (values that slugify alike, "Parser" and "parser", are one team named as first seen; the other
    spellings are in the report); new items are ranked `RANK_GAP` apart below the backlog; an existing
    item that receives new events moves to its latest column and its team squares follow, each change
    logged (`source=import`), except a square whose latest change is a person's.
    """
    started = time.monotonic()
    if shift_to_today and replay_until is None:
        raise ImportFailed("--shift-to-today needs --replay-until (the date that becomes today)")
    existing = Nexus.objects.filter(slug=nexus_slug).first()
    tz_name = existing.time_zone if existing else time_zone
    try:
        tz = zoneinfo.ZoneInfo(tz_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ImportFailed(f"unknown time zone {tz_name!r}") from exc
    report = ImportReport(nexus=existing or Nexus(slug=nexus_slug))
    items = _read(path, wf=workflow, tz=tz, replay_until=replay_until, report=report)
    if team_field and items:
        first = next(iter(items.values()))
        if team_field not in first.attrs:
            raise ImportFailed(f"the team column {team_field!r} is not in the file", line=1)
    shift = timedelta(0)
    if shift_to_today and replay_until is not None:
        shift = timedelta(days=((today or timezone.now().astimezone(tz).date()) - replay_until).days)
        report.shift_days = shift.days

    # The batch counts the change of the Nexus once, after the Product Backlog's lock (`nexus_changed`).
    with transaction.atomic(), items_changed_batched():
        nexus = existing or nexus_create(
            name=nexus_name or nexus_slug.replace("-", " ").title(),
            slug=nexus_slug,
            description=description,
            time_zone=tz_name,
            columns=workflow.column_specs(),
        )
        report.nexus = nexus
        # Locks in the order every write takes them: the Product Backlog, then the items (and their
        # involvements) that move, then the Nexus (`backlog.services.common`).
        backlog = lock_backlog(nexus.backlog.pk)
        known = {
            pbi.external_id: pbi
            for pbi in ProductBacklogItem.objects.filter(backlog=backlog, external_id__in=list(items)).only(
                "id", "external_id", "column_id", "version"
            )
        }
        known_keys: set[tuple[str, str]] = {
            (ext, key)
            for ext, key in Transition.objects.filter(item__backlog=backlog, kind=TransitionKind.COLUMN)
            .exclude(import_key="")
            .values_list("item__external_id", "import_key")
        }
        new_events = _new_events(items, known_keys)
        moving = sorted(known[ext].pk for ext in new_events if ext in known)
        if moving:
            list(
                ProductBacklogItem.objects.select_for_update(no_key=True)
                .filter(pk__in=moving)
                .values_list("pk")
            )
            list(TeamInvolvement.objects.select_for_update().filter(item_id__in=moving).values_list("pk"))
        # Under the Nexus lock: columns and Scrum Teams as they are now, and the teams this file needs.
        nexus_lock(nexus.pk)
        columns = {c.name: c for c in WorkflowColumn.objects.filter(nexus=nexus)}
        absent = [c for c in workflow.columns if c not in columns]
        if absent:
            raise ImportFailed(f"the Nexus has no column(s) {', '.join(absent)} of the workflow file")
        team_of = _teams(nexus, items, team_field, report) if team_field else {}

        # Items to create, in the order of their first event, appended at the bottom of the backlog.
        # `created_at` is the source's; `updated_at` is now: this tool's rows change now, and a sync
        # client asking what changed since its last visit must see the imported items.
        imported_at = timezone.now()
        rank = rank_at_bottom(backlog.pk)
        to_create: list[ProductBacklogItem] = []
        label_names: dict[str, list[str]] = {}
        for ext, it in items.items():
            mapped = [e for e in it.events if e.column is not None]
            if not mapped:
                if ext not in known and any(not e.after_cutoff for e in it.events):
                    report.items_skipped += 1
                elif ext not in known:
                    report.items_after_cutoff += 1
                continue
            if ext in known:
                continue
            title = (it.attrs.get("title") or ext).strip()[:300] or ext
            to_create.append(
                ProductBacklogItem(
                    backlog=backlog,
                    title=title,
                    external_id=ext,
                    rank=rank,
                    column=columns[mapped[-1].column or ""],
                    created_at=mapped[0].at + shift,
                    updated_at=imported_at,
                )
            )
            rank += RANK_GAP
            labels = [
                part.strip()
                for lf in label_fields
                for part in it.attrs.get(lf, "").replace(";", ",").split(",")
                if part.strip()
            ]
            if labels:
                label_names[ext] = labels
        ProductBacklogItem.objects.bulk_create(to_create, batch_size=BATCH)
        report.items_created = len(to_create)
        created_ids = {p.external_id: p for p in to_create}
        if len(created_ids) and any(p.pk is None for p in to_create):  # backends without RETURNING
            created_ids = {
                p.external_id: p
                for p in ProductBacklogItem.objects.filter(backlog=backlog, external_id__in=list(created_ids))
            }
        all_items = {**known, **created_ids}

        # Labels (M2M through rows in bulk).
        if label_names:
            wanted = sorted({n for names in label_names.values() for n in names})
            have = {lab.name for lab in Label.objects.filter(nexus=nexus, name__in=wanted)}
            Label.objects.bulk_create([Label(nexus=nexus, name=n) for n in wanted if n not in have])
            by_name = {lab.name: lab.pk for lab in Label.objects.filter(nexus=nexus, name__in=wanted)}
            through = ProductBacklogItem.labels.through
            through.objects.bulk_create(
                [
                    through(productbacklogitem_id=created_ids[ext].pk, label_id=by_name[n])
                    for ext, names in label_names.items()
                    if ext in created_ids
                    for n in sorted(set(names))
                ],
                batch_size=BATCH,
            )

        # Transitions: every mapped event not imported before, in order.
        transitions = [
            Transition(
                item_id=all_items[ext].pk,
                kind=TransitionKind.COLUMN,
                at=e.at + shift,
                source=Source.IMPORT,
                from_column=columns[previous] if previous else None,
                to_column=columns[e.column or ""],
                from_name=previous or "",
                to_name=e.column or "",
                raw_from=e.raw_from,
                raw_to=e.raw_to,
                import_key=key,
            )
            for ext, events in new_events.items()
            if ext in all_items
            for e, key, previous in events
        ]
        Transition.objects.bulk_create(transitions, batch_size=BATCH)
        report.events_added = len(transitions)

        # Existing items that received new events move to their latest column; their team squares follow.
        _move_known(known, new_events, columns, shift, report)

        if team_field:
            TeamInvolvement.objects.bulk_create(
                [
                    TeamInvolvement(
                        item_id=p.pk,
                        team=team_of[items[ext].attrs[team_field].strip()],
                        status=CATEGORY_TO_TEAM_STATUS[ColumnCategory(p.column.category)],
                    )
                    for ext, p in created_ids.items()
                    if items[ext].attrs.get(team_field, "").strip() in team_of
                ],
                batch_size=BATCH,
            )
        if report.items_created or report.events_added or report.items_updated:
            notify_items_changed(nexus.pk)
    if report.items_created or report.events_added:
        statistics_refresh()
    report.seconds = time.monotonic() - started
    return report


#: The tables a bulk load fills (the importer, the bench's synthetic Nexus).
BULK_TABLES = (ProductBacklogItem, Transition, TeamInvolvement)


def statistics_refresh() -> None:
    """After a bulk load, refresh PostgreSQL's planner statistics of the tables it filled (`ANALYZE`),
    as autovacuum would a minute later. Without it, the first pages after an import are planned as if
    the tables were still empty (the board's finished columns took 340 ms instead of 25 on the synthetic
    Nexus). A no-op on other databases."""
    if connection.vendor != "postgresql":
        return
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in BULK_TABLES)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {tables}")
