"""Storing flow figures: write only what differs from what is stored.

The full recompute (`flow.services.flow_recompute`) and the incremental update (`flow.incremental`) both
end here. A full recompute compares its per-item rows (`ItemFlow`) and daily rows (`FlowDay`) with the
stored ones and writes the difference: rows gone are deleted, new rows inserted (COPY on PostgreSQL, one
`executemany` on SQLite), changed rows updated in place (one `executemany`), unchanged rows left alone;
the snapshots (`FlowSnapshot`, one per scope) are updated in place. A nightly recompute after a quiet day
so writes one new daily row per scope, the figures, and nothing else. Everything runs in the caller's
transaction.

Before any row, digests: the full recompute keeps on each snapshot a digest of the daily rows it stored
(`series_digest`) and on the Nexus's one a digest of the per-item rows (`items_digest`); a scope whose
new digest equals the stored one is not read at all. The incremental update empties the digests of what
it writes, so the next recompute compares those rows one by one. The recompute's daily series arrive as
numpy arrays (`series_store`): no per-day objects, the CFD's JSON text made by one format per day.

JSON columns (`cfd`, `milestones`, `teams`) are written as JSON text (cast to `jsonb` on PostgreSQL).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from itertools import repeat
from typing import Any, cast

import numpy as np
from django.db import connection, models
from django.db.models import TextField
from django.db.models.functions import Cast

from flow.metrics import FlowSeries
from flow.models import FlowDay, ItemFlow

__all__ = [
    "days_shift",
    "days_store",
    "items_digest",
    "items_store",
    "rows_delete",
    "rows_insert",
    "rows_update",
    "rows_update_each",
    "series_append",
    "series_digest",
    "series_store",
]

#: ItemFlow's stored columns besides `item_id` and `nexus_id`, in the order of an item row.
ITEM_FIELDS = ("started_on", "finished_on", "cycle_time", "milestones", "first_day", "teams")
#: FlowDay's value columns, in the order of a day's values.
DAY_FIELDS = ("wip", "wip_eod", "throughput", "cfd")
_JSON = {"cfd", "milestones", "teams"}
BATCH = 2000
#: Runs of days per `days_shift` statement on PostgreSQL.
SHIFT_BATCH = 1000
#: Up to this many rows, `rows_insert` inserts with one `INSERT ... VALUES` on PostgreSQL, not COPY.
FEW = 100
#: What COPY's text format escapes: a text value holding one of these is written by `write_row`.
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")

ItemRow = tuple[date | None, date | None, int | None, list[int | None], date | None, list[int]]
DayValues = tuple[int, int, int, list[int]]


def rows_insert(model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Insert many rows of `model` (column names `fields`): COPY on PostgreSQL, one `executemany`
    elsewhere (SQLite). Lists are written as JSON text. No statement for no rows; on PostgreSQL a few
    rows (up to `FEW`, the incremental update's) go in one `INSERT ... VALUES`: one round trip, where
    COPY takes two and its own protocol."""
    if not isinstance(rows, (list, tuple)):
        rows = list(rows)
    if not rows:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f) for f in fields)  # attnames = column names here
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and len(rows) <= FEW:
            marks = "(" + ", ".join(["%s"] * len(fields)) + ")"
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([marks] * len(rows))}",
                [_json_param(v) for row in rows for v in row],
            )
            return
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                # COPY's text format made here, a batch at a time: the values stored here (ints, dates,
                # JSON arrays of ints) need no escaping, which `write_row` did value by value with a
                # regular expression (80 ms for the JDT Nexus's 10,814 item rows). A text value that
                # would need it goes through `write_row`.
                lines: list[str] = []
                for row in rows:
                    values = [_json_param(v) for v in row]
                    if any(isinstance(v, str) and _COPY_SPECIAL.search(v) for v in values):
                        if lines:
                            copy.write("".join(lines))
                            lines = []
                        copy.write_row(values)
                        continue
                    lines.append("\t".join("\\N" if v is None else str(v) for v in values) + "\n")
                    if len(lines) >= BATCH * 5:
                        copy.write("".join(lines))
                        lines = []
                if lines:
                    copy.write("".join(lines))
            return
        marks = ", ".join(["%s"] * len(fields))
        batch: list[list[Any]] = []
        sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
        for row in rows:
            batch.append([_json_param(v) for v in row])
            if len(batch) >= BATCH:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)


def _binding_cursor() -> Any:
    """A cursor whose parameters PostgreSQL binds on the server: sent apart from the statement, not
    quoted into its text by the client (Django's default), which for the snapshots' figures and
    detail, megabytes of JSON, took longer than the statement. Logged and counted like any cursor."""
    import psycopg

    connection.ensure_connection()
    raw = psycopg.Cursor(cast(psycopg.Connection[Any], connection.connection))
    return connection._prepare_cursor(raw)  # type: ignore[attr-defined]


def _json_fields(model: type[models.Model]) -> set[str]:
    return {f.name for f in model._meta.concrete_fields if isinstance(f, models.JSONField)}


def _json_param(value: Any) -> Any:
    """A JSON column's value as written: a list as `_list_text` makes it, a dict by `json.dumps`,
    text (already JSON) as it is."""
    if isinstance(value, list):
        return _list_text(value)
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def rows_update(model: type[models.Model], fields: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Update rows of `model` in place: each row is (primary key, *values of `fields`). On PostgreSQL
    one statement whatever the number of rows (`UPDATE ... FROM unnest(arrays)`: a back-move rewrites a
    few thousand daily rows, which one `UPDATE` per row, even pipelined, took 100-200 ms to do), its
    cost in proportion to the rows named, not to the table; one
    `executemany` elsewhere (SQLite)."""
    if not rows:
        return
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    pk = qn(model._meta.pk.column)
    json_fields = _json_fields(model)
    if connection.vendor == "postgresql":
        meta = model._meta
        cols = [cast(models.Field, meta.pk), *(cast(models.Field, meta.get_field(f)) for f in fields)]
        names = [qn(c.column) for c in cols]
        # JSON values travel as text (`_json_param`) and are cast back to jsonb in the SET.
        types = ["text" if c.name in json_fields else (c.db_type(connection) or "text") for c in cols]
        arrays = [list(col) for col in zip(*rows, strict=True)]
        arrays[1:] = [
            [_json_param(v) for v in values] if f in json_fields else values
            for f, values in zip(fields, arrays[1:], strict=True)
        ]
        sets = ", ".join(
            f"{name} = v.{name}{'::jsonb' if f in json_fields else ''}"
            for f, name in zip(fields, names[1:], strict=True)
        )
        unnest = ", ".join(f"%s::{t}[]" for t in types)
        # The keys again as `= ANY(...)`: without it the planner hashes the whole table (a sequential
        # scan, so a change of 700 daily rows cost 10 ms on a 55,000-row table and grew with it); with
        # it, an index scan of the rows named (2.5 ms).
        sql = (
            f"UPDATE {table} AS t SET {sets} FROM unnest({unnest}) AS v({', '.join(names)}) "
            f"WHERE t.{pk} = v.{pk} AND t.{pk} = ANY(%s::{types[0]}[])"
        )
        # Each array as the text of a PostgreSQL array literal, made here in one join: the driver's
        # own adaptation went element by element in Python (a back-move's 2,500 daily rows: 12,500
        # values, a good half of the update's time).
        literals = [_array_literal(values) for values in arrays]
        with _binding_cursor() as cursor:
            cursor.execute(sql, [*literals, literals[0]])
        return
    sets = ", ".join(f"{qn(f)} = %s" for f in fields)
    sql = f"UPDATE {table} SET {sets} WHERE {pk} = %s"
    with connection.cursor() as cursor:
        cursor.executemany(sql, [[*(_json_param(v) for v in row[1:]), row[0]] for row in rows])


def _array_literal(values: list[Any]) -> str:
    """A PostgreSQL array literal (`{1,NULL,"[1, 2]",2024-01-31}`) of ints, dates and text (text
    quoted, with its quotes and backslashes escaped), cast by the statement to the column's type.
    A column of ints, or of text with nothing to escape, is made by one join."""
    kinds = {type(v) for v in values}
    if kinds <= {int}:
        return "{" + ",".join(map(str, values)) + "}"
    if kinds <= {str} and not any('"' in v or "\\" in v for v in values):
        return '{"' + '","'.join(values) + '"}'
    parts: list[str] = []
    for v in values:
        if v is None:
            parts.append("NULL")
        elif isinstance(v, bool):
            parts.append("true" if v else "false")
        elif isinstance(v, int) or (isinstance(v, date) and not isinstance(v, datetime)):
            parts.append(str(v))
        else:  # text, a timestamp: quoted
            parts.append('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(parts) + "}"


def rows_update_each(model: type[models.Model], fields: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Update rows of `model` in place, one `UPDATE` per row (`executemany`): for a few rows with large
    values, the snapshots' figures and detail (megabytes of JSON), which `rows_update`'s arrays would
    escape character by character. Each row is (primary key, *values of `fields`), the values as the
    model's fields hold them (prepared by the fields). On PostgreSQL the parameters are bound on the
    server: sent apart from the statement, not quoted into it."""
    if not rows:
        return
    meta = model._meta
    columns = [cast(models.Field, meta.get_field(f)) for f in fields]
    qn = connection.ops.quote_name
    sets = ", ".join(f"{qn(c.column)} = %s" for c in columns)
    sql = f"UPDATE {qn(meta.db_table)} SET {sets} WHERE {qn(cast(models.Field, meta.pk).column)} = %s"
    params = [
        [*(c.get_db_prep_value(v, connection) for c, v in zip(columns, row[1:], strict=True)), row[0]]
        for row in rows
    ]
    with _binding_cursor() if connection.vendor == "postgresql" else connection.cursor() as cursor:
        cursor.executemany(sql, params)


def days_shift(shifts: Sequence[tuple[int, date, date, Sequence[int]]]) -> None:
    """Add to stored daily rows (`FlowDay`) a change: each shift is (snapshot id, first day, last day
    inclusive, change of wip, wip_eod, throughput, then of each CFD count), applied to that snapshot's
    rows of those days in the database, none read. The incremental update's way to change a run of
    days by the same amount (a back-move changes every day since the item started: a few runs, a few
    thousand rows). Runs of one snapshot must not overlap.

    On PostgreSQL one statement per CFD width (`UPDATE ... FROM (VALUES ...)`, the CFD rebuilt by
    `jsonb_build_array`); on SQLite one `executemany` per width, the CFD's JSON text made as
    `_list_text` makes it (a full recompute compares the text)."""
    by_width: dict[int, list[tuple[int, date, date, Sequence[int]]]] = {}
    for shift in shifts:
        by_width.setdefault(len(shift[3]) - 3, []).append(shift)
    table = connection.ops.quote_name(FlowDay._meta.db_table)
    with connection.cursor() as cursor:
        for width, rows in by_width.items():
            if connection.vendor == "postgresql":
                cfd = ", ".join(f"(t.cfd->>{k})::int + v.c{k}" for k in range(width))
                names = ", ".join(["snap", "lo", "hi", "wip", "eod", "thr", *(f"c{k}" for k in range(width))])
                marks = ", ".join(["%s::bigint", "%s::date", "%s::date", *["%s::int"] * (3 + width)])
                for i in range(0, len(rows), SHIFT_BATCH):  # many changed items at once: a few statements
                    batch = rows[i : i + SHIFT_BATCH]
                    values = ", ".join([f"({marks})"] * len(batch))
                    sql = (
                        f"UPDATE {table} AS t SET wip = t.wip + v.wip, wip_eod = t.wip_eod + v.eod, "
                        f"throughput = t.throughput + v.thr, cfd = jsonb_build_array({cfd}) "
                        f"FROM (VALUES {values}) AS v({names}) "
                        "WHERE t.snapshot_id = v.snap AND t.date BETWEEN v.lo AND v.hi"
                    )
                    params: list[Any] = [x for pk, lo, hi, delta in batch for x in (pk, lo, hi, *delta)]
                    cursor.execute(sql, params)
                continue
            # the text `_list_text` writes (`[1, 2]`), so that a full recompute finds the row unchanged
            cfd = " || ', ' || ".join(f"(json_extract(cfd, '$[{k}]') + %s)" for k in range(width))
            sql = (
                f"UPDATE {table} SET wip = wip + %s, wip_eod = wip_eod + %s, throughput = throughput + %s, "
                f"cfd = '[' || {cfd} || ']' WHERE snapshot_id = %s AND date BETWEEN %s AND %s"
            )
            cursor.executemany(sql, [[*delta, pk, lo, hi] for pk, lo, hi, delta in rows])


def rows_delete(model: type[models.Model], pks: Sequence[Any]) -> None:
    """Delete rows of `model` by primary key (in batches of `BATCH` ids)."""
    for i in range(0, len(pks), BATCH):
        model._default_manager.filter(pk__in=pks[i : i + BATCH])._raw_delete(connection.alias)


def _list_text(values: list[Any]) -> str:
    """`json.dumps` of a list of ints and None, faster (the comparisons run over every stored row)."""
    return "[" + ", ".join(["null" if v is None else str(v) for v in values]) + "]"


def _as_text(row: Sequence[Any]) -> tuple[Any, ...]:
    """A row with its lists as JSON text, the way the stored rows are read back (`_json_text`)."""
    return tuple(_list_text(v) if isinstance(v, list) else v for v in row)


def int_list(text: str) -> list[int]:
    """A JSON array of ints, as stored by `_list_text` (or printed by PostgreSQL), read back: a few
    times faster than `json.loads` through the JSON field for the short arrays of a daily row."""
    inner = text[1:-1]
    return [int(v) for v in inner.split(",")] if inner.strip() else []


def json_text(name: str) -> Cast:
    """A JSON column read as its text (see `_json_text`)."""
    return _json_text(name)


def _json_text(name: str) -> Cast:
    """A JSON column read as its text: comparing text is much cheaper than decoding every stored row
    (PostgreSQL prints `jsonb` arrays as `json.dumps` does; on SQLite the text is what was written;
    a row whose text differs only in spacing is merely written again)."""
    return Cast(name, TextField())


def items_store(*, nexus_id: int, rows: dict[int, ItemRow]) -> int:
    """Make the Nexus's `ItemFlow` rows exactly `rows` (item id -> `ITEM_FIELDS` values), writing only
    the difference with the stored rows (read in one query). Returns the number of rows written."""
    columns = [_json_text(f) if f in _JSON else f for f in ITEM_FIELDS]
    stored = {
        item_id: tuple(values)
        for item_id, *values in ItemFlow.objects.filter(nexus_id=nexus_id)
        .values_list("item_id", *columns)
        .iterator(chunk_size=5000)
    }
    gone = [pk for pk in stored if pk not in rows]
    new = [(pk, nexus_id, *_item_text(row)) for pk, row in rows.items() if pk not in stored]
    changed = [(pk, *row) for pk, row in rows.items() if pk in stored and stored[pk] != _as_text(row)]
    rows_delete(ItemFlow, gone)
    rows_update(ItemFlow, ITEM_FIELDS, changed)
    rows_insert(ItemFlow, ("item_id", "nexus_id", *ITEM_FIELDS), new)
    return len(gone) + len(new) + len(changed)


def _item_text(row: ItemRow) -> tuple[Any, ...]:
    """An item row as written: dates as ISO text, lists as JSON text (no conversion per value later)."""
    started, finished, cycle, milestones, first, teams = row
    return (
        started.isoformat() if started is not None else None,
        finished.isoformat() if finished is not None else None,
        cycle,
        _list_text(milestones),
        first.isoformat() if first is not None else None,
        _list_text(teams),
    )


def days_store(*, days: dict[int, dict[date, DayValues]]) -> int:
    """Make the daily rows of each snapshot (snapshot id -> date -> `DAY_FIELDS` values) exactly the
    ones given, writing only the difference with the stored rows (read in one query). Returns the
    number of rows written."""
    stored: dict[tuple[int, date], tuple[int, tuple[Any, ...]]] = {}
    qs = FlowDay.objects.filter(snapshot_id__in=list(days)).values_list(
        "id", "snapshot_id", "date", "wip", "wip_eod", "throughput", _json_text("cfd")
    )
    for pk, snap, day, wip, eod, thr, cfd in qs.iterator(chunk_size=5000):
        stored[(snap, day)] = (pk, (wip, eod, thr, cfd))
    gone = [pk for key, (pk, _) in stored.items() if key[1] not in days.get(key[0], {})]
    changed: list[tuple[Any, ...]] = []
    new: list[tuple[Any, ...]] = []
    for snap, rows in days.items():
        for day, values in rows.items():
            old = stored.get((snap, day))
            if old is None:
                new.append((snap, day, *values))
            elif old[1] != (values[0], values[1], values[2], _list_text(values[3])):
                changed.append((old[0], *values))
    rows_delete(FlowDay, gone)
    rows_update(FlowDay, DAY_FIELDS, changed)
    rows_insert(FlowDay, ("snapshot_id", "date", *DAY_FIELDS), new)
    return len(gone) + len(new) + len(changed)


def series_digest(start: date, series: FlowSeries, *, days: int | None = None) -> str:
    """Digest (hex) of the daily rows a scope's series makes: its first day and every value. Equal
    digests, equal rows. `days`: of its first `days` days only (the rows stored before the day
    turned: `series_append`)."""
    n = len(series) if days is None else days
    h = hashlib.blake2b(digest_size=20)
    h.update(f"days1:{start.toordinal()}:{n}:{series.cfd.shape[0]}:".encode())
    for values in (series.wip[:n], series.wip_eod[:n], series.throughput[:n], series.cfd[:, :n]):
        h.update(np.ascontiguousarray(values, dtype=np.int64).tobytes())
    return h.hexdigest()


def series_append(*, scopes: dict[int, tuple[date, FlowSeries, int]]) -> int:
    """Insert, for each snapshot (snapshot id -> (first day, series, stored days)), the daily rows of its
    series after its first `stored days` days, which are stored already and unchanged (the caller
    compared their digest: `series_digest(days=)`). The full recompute after the day turned with nothing
    else changed writes so one row per scope, reading none, in one insert. Returns the number of rows
    written."""
    rows: list[tuple[Any, ...]] = []
    for snapshot_id, (start, series, stored_days) in scopes.items():
        rows += _series_rows(snapshot_id, start, series, skip=stored_days)
    _days_insert(rows)
    return len(rows)


def _series_rows(
    snapshot_id: int, start: date, series: FlowSeries, *, skip: int = 0
) -> list[tuple[Any, ...]]:
    """The daily rows of a series from its day `skip` (0 = its first day, `start`) on, as `_days_insert`
    takes them: (snapshot id, ISO day, wip, wip_eod, throughput, CFD JSON text)."""
    n = len(series) - skip
    if n <= 0:
        return []
    texts = _cfd_texts(series.cfd[:, skip:])
    wip, eod, thr = (
        series.wip[skip:].tolist(),
        series.wip_eod[skip:].tolist(),
        series.throughput[skip:].tolist(),
    )
    days = _iso_days(start.toordinal() + skip, n)
    return list(zip(repeat(snapshot_id), days, wip, eod, thr, texts, strict=False))


def items_digest(
    *,
    ids: list[int],
    milestones: Any,
    first_days: list[int],
    teams: list[list[int]],
    started: int,
    finished: int,
) -> str:
    """Digest (hex) of a Nexus's per-item rows, from what they are made of: the item ids, their
    milestones (numpy array, items x columns, date ordinals, 0 = None: the started and finished dates
    and the Cycle Time follow from them and the `started`/`finished` column indexes), first days (date
    ordinals, 0 = None) and Scrum Teams, in the items' order."""
    flat: list[int] = []
    for team_ids in teams:
        flat.append(len(team_ids))
        flat.extend(team_ids)
    h = hashlib.blake2b(digest_size=20)
    h.update(f"items1:{started}:{finished}:{milestones.shape}:".encode())
    for values in (ids, milestones, first_days, flat):
        h.update(np.ascontiguousarray(values, dtype=np.int64).tobytes())
    return h.hexdigest()


def _cfd_texts(cfd: Any) -> list[str]:
    """Each day's CFD counts as the JSON text `_list_text` gives (`[1, 2, 3]`), from the columns x days
    array."""
    pattern = "[" + ", ".join(["%d"] * cfd.shape[0]) + "]"
    return [pattern % counts for counts in zip(*cfd.tolist(), strict=True)]


def series_store(*, scopes: dict[int, tuple[date, FlowSeries]]) -> int:
    """Make the daily rows of each snapshot (snapshot id -> (first day, series)) exactly the series'
    days, writing only the difference with the stored rows (read in one query, as plain values).
    Like `days_store`, for the full recompute's arrays: no per-day objects. Returns the number of rows
    written."""
    if not scopes:
        return 0
    pg = connection.vendor == "postgresql"
    qn = connection.ops.quote_name
    table = qn(FlowDay._meta.db_table)
    marks = ", ".join(["%s"] * len(scopes))
    stored: dict[int, dict[int, tuple[int, tuple[Any, ...]]]] = {pk: {} for pk in scopes}
    cfd_sql = "cfd::text" if pg else "cfd"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, snapshot_id, date, wip, wip_eod, throughput, {cfd_sql} FROM {table} "
            f"WHERE snapshot_id IN ({marks})",
            list(scopes),
        )
        fromiso = date.fromisoformat
        for pk, snap, day, wip, eod, thr, cfd in cursor.fetchall():
            ordinal = fromiso(day).toordinal() if isinstance(day, str) else day.toordinal()
            stored[snap][ordinal] = (pk, (wip, eod, thr, cfd))
    gone: list[int] = []
    changed: list[tuple[Any, ...]] = []
    new: list[tuple[Any, ...]] = []
    for snap, (start, series) in scopes.items():
        have = stored[snap]
        if not have:  # nothing stored (a new scope): every day is new
            new += _series_rows(snap, start, series)
            continue
        base = start.toordinal()
        texts = _cfd_texts(series.cfd)
        wip, eod, thr = series.wip.tolist(), series.wip_eod.tolist(), series.throughput.tolist()
        for i, row in enumerate(zip(wip, eod, thr, texts, strict=True)):
            old = have.pop(base + i, None)
            if old is None:
                new.append((snap, date.fromordinal(base + i).isoformat(), *row))
            elif old[1] != row:
                changed.append((old[0], *row))
        gone.extend(pk for pk, _ in have.values())
    rows_delete(FlowDay, gone)
    rows_update(FlowDay, DAY_FIELDS, changed)  # the CFD as JSON text already (a str is passed as it is)
    _days_insert(new)
    return len(gone) + len(new) + len(changed)


def _iso_days(first: int, n: int) -> list[str]:
    """The `n` days from date ordinal `first` as ISO text (`2001-10-10`), made by numpy."""
    epoch = date(1970, 1, 1).toordinal()
    days: list[str] = np.arange(first - epoch, first - epoch + n).astype("datetime64[D]").astype(str).tolist()
    return days


def _days_insert(rows: list[tuple[Any, ...]]) -> None:
    """Insert daily rows (snapshot id, ISO date text, wip, wip_eod, throughput, CFD JSON text): one COPY
    of the whole text on PostgreSQL (the values need no escaping), `executemany` in batches elsewhere."""
    if not rows:
        return
    fields = ("snapshot_id", "date", *DAY_FIELDS)
    table = connection.ops.quote_name(FlowDay._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f) for f in fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for i in range(0, len(rows), BATCH * 5):
                    copy.write(
                        "".join(
                            f"{s}\t{d}\t{w}\t{e}\t{t}\t{c}\n" for s, d, w, e, t, c in rows[i : i + BATCH * 5]
                        )
                    )
            return
        sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
        for i in range(0, len(rows), BATCH * 5):
            cursor.executemany(sql, rows[i : i + BATCH * 5])
