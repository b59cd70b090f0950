"""Storing flow figures: write only what differs from what is stored.

The full recompute (`flow.services.flow_recompute`) and the incremental update (`flow.incremental`) both
end here. A full recompute compares its per-item rows (`ItemFlow`) with the stored ones and writes the
difference: rows gone are deleted, new rows inserted (COPY on PostgreSQL, one `executemany` on
SQLite), changed rows updated in place (one statement), unchanged rows left alone; the snapshots
(`FlowSnapshot`, one per scope) are updated in place; each scope's daily series is one row of its own
(`FlowSeries`, written whole by `flow.series`). A nightly recompute after a quiet day so writes the
series of each scope, the figures, and no item row. Everything runs in the caller's transaction.

Before any row, digests: the full recompute keeps on each snapshot a digest of the daily series it
stored (`flow.series.digest`) and on the Nexus's one a digest of the per-item rows (`items_digest`); a
scope whose new digest equals the stored one is not read or written at all. The incremental update
empties the digests of what it writes, so the next recompute compares those rows one by one.

JSON columns (`milestones`, `teams`) are written as JSON text (cast to `jsonb` on PostgreSQL).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import date, datetime
from typing import Any, cast

import numpy as np
from django.db import connection, models
from django.db.models import TextField
from django.db.models.functions import Cast

from flow.models import ItemFlow

__all__ = [
    "CopyOpen",
    "binding_cursor",
    "items_digest",
    "items_storing",
    "rows_delete",
    "rows_insert",
    "rows_inserting",
    "rows_update",
    "rows_update_each",
]

#: ItemFlow's stored columns besides `item_id` and `nexus_id`, in the order of an item row.
ITEM_FIELDS = ("started_on", "finished_on", "cycle_time", "milestones", "first_day", "teams")
_JSON = {"milestones", "teams"}
BATCH = 2000
#: Rows per piece of COPY text (`_copy_batch`): each piece is sent as soon as it is made, so the server
#: parses one while the next is made (one piece of 10,000 rows kept it idle until all were made).
COPY_BATCH = 1000
#: Up to this many rows, `rows_insert` inserts with one `INSERT ... VALUES` on PostgreSQL, not COPY.
FEW = 100

ItemRow = tuple[date | None, date | None, int | None, list[int | None], date | None, list[int]]


def rows_insert(model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Insert many rows of `model` (column names `fields`): COPY on PostgreSQL, one `executemany`
    elsewhere (SQLite). Lists are written as JSON text. No statement for no rows; on PostgreSQL a few
    rows (up to `FEW`, the incremental update's) go in one `INSERT ... VALUES`: one round trip, where
    COPY takes two and its own protocol."""
    with rows_inserting(model, fields, rows):
        pass


@contextmanager
def rows_inserting(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    copy_text: Callable[[Sequence[Sequence[Any]]], str] | None = None,
) -> Iterator[None]:
    """`rows_insert` whose COPY (PostgreSQL, more than `FEW` rows) stays open while the caller's block
    runs: every row is sent before the block starts, and the server parses, checks and indexes them on
    its own core while the block computes; the COPY ends (and its errors are raised) when the block is
    done. The block must not use the database connection meanwhile: psycopg would wait for the COPY
    to end, which waits for the block, forever; so a query through Django in the block raises
    `CopyOpen` instead. Elsewhere, and for a few rows, the rows are inserted before the block runs.

    `copy_text`: makes the COPY text of a batch of rows when the caller knows a faster way than the
    general one (`_copy_batch`); its text is checked as `_copy_batch` checks its own (`ValueError`
    when it does not hold one line per row, one tab between values, no backslash but NULLs')."""
    rows = list(rows)
    if not rows:
        yield
        return
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f) for f in fields)  # attnames = column names here
    if connection.vendor == "postgresql" and len(rows) > FEW:
        sql = f"COPY {table} ({columns}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for i in range(0, len(rows), COPY_BATCH):
                _copy_batch(copy, rows[i : i + COPY_BATCH], len(fields), copy_text=copy_text)
            with connection.execute_wrapper(_refuse_while_copying):
                yield
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            marks = "(" + ", ".join(["%s"] * len(fields)) + ")"
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([marks] * len(rows))}",
                [_json_param(v) for row in rows for v in row],
            )
        else:
            marks = ", ".join(["%s"] * len(fields))
            params: list[list[Any]] = []
            sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
            for row in rows:
                params.append([_json_param(v) for v in row])
                if len(params) >= BATCH:
                    cursor.executemany(sql, params)
                    params = []
            if params:
                cursor.executemany(sql, params)
    yield


class CopyOpen(RuntimeError):
    """A query was asked for while `rows_inserting`'s COPY is open on the connection."""


def _refuse_while_copying(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    """Django execute wrapper of `rows_inserting`'s block: no query while its COPY is open."""
    raise CopyOpen(f"no query while a COPY is open on the connection (its rows are being stored): {sql[:80]}")


def _copy_batch(
    copy: Any,
    rows: Sequence[Sequence[Any]],
    width: int,
    *,
    copy_text: Callable[[Sequence[Sequence[Any]]], str] | None = None,
) -> None:
    """Send rows through COPY in its text format, made in one pass and checked once for the whole
    batch (`_copy_text_holds`): the values stored here (ints, dates, JSON arrays of ints) need none of
    COPY's escaping, which `write_row` did value by value with a regular expression (for the JDT
    Nexus's 10,814 item rows, half of their write). The text is the caller's `copy_text(rows)` when
    given (ValueError when it does not hold: the caller promised text COPY reads as written), else
    made here; when a value would break it (text with a tab, a newline or a backslash), the batch goes
    row by row through `write_row`."""
    if copy_text is not None:
        text = copy_text(rows)
        if not _copy_text_holds(text, rows=len(rows), width=width, nulls=text.count("\\N")):
            raise ValueError(f"COPY text that COPY would read otherwise: {text[:200]!r}")
        copy.write(text)
        return
    nulls = 0
    lines: list[str] = []
    for row in rows:
        values = [_json_param(v) for v in row]
        nulls += values.count(None)
        lines.append("\t".join(["\\N" if v is None else str(v) for v in values]) + "\n")
    text = "".join(lines)
    if _copy_text_holds(text, rows=len(rows), width=width, nulls=nulls):
        copy.write(text)
        return
    for row in rows:
        copy.write_row([_json_param(v) for v in row])


def _copy_text_holds(text: str, *, rows: int, width: int, nulls: int) -> bool:
    """Whether COPY reads `text` as `rows` rows of `width` values as written: exactly one tab between
    values, one newline per row, no carriage return, and no backslash but the `\\N` of the `nulls`
    NULLs (COPY would read any other as an escape)."""
    return (
        text.count("\t") == rows * (width - 1)
        and text.count("\n") == rows
        and text.count("\\") == nulls
        and "\r" not in text
    )


def binding_cursor() -> Any:
    """A cursor whose parameters are bound by the database: on PostgreSQL sent apart from the
    statement (binary where psycopg can, e.g. `bytes`), not quoted into its text by the client
    (Django's default), which for the snapshots' figures and detail, megabytes of JSON, took longer
    than the statement; elsewhere (SQLite, which always binds) Django's own cursor. Logged and counted
    like any cursor. Use as a context manager."""
    if connection.vendor != "postgresql":
        return connection.cursor()
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
        with binding_cursor() as cursor:
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
    with binding_cursor() as cursor:
        cursor.executemany(sql, params)


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


@contextmanager
def items_storing(*, nexus_id: int, rows: dict[int, ItemRow], width: int | None = None) -> Iterator[int]:
    """Make the Nexus's `ItemFlow` rows exactly `rows` (item id -> `ITEM_FIELDS` values: dates in the
    Nexus's time zone, Cycle Time in calendar days, milestones as date ordinals or None, Scrum Team
    ids), writing only the difference with the stored rows (read in one query); yields the number of
    rows written (added, changed or deleted).

    The last step, the COPY of the rows added (`rows_inserting`), stays open while the caller's block
    runs: the server stores them on its own core while the block computes (the full recompute's
    scopes). The block must not use the database connection: a query through Django there raises
    `CopyOpen`. Errors of the COPY are raised when the block is done.

    `width`: the number of milestones of each row (the Nexus's columns). When a stored row has another
    number (a column was added or removed: every row differs), the stored rows are not read and
    compared one by one but deleted and written anew (one statement and one COPY on PostgreSQL),
    counted as the comparison counts them: each item stored before or after once."""
    if width is not None and _stored_width(nexus_id) not in (None, width):
        table = connection.ops.quote_name(ItemFlow._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE nexus_id = %s RETURNING item_id", [nexus_id])
            deleted = {pk for (pk,) in cursor.fetchall()}
        with _items_adding(nexus_id, rows, list(rows)):
            yield len(deleted | rows.keys())
        return
    columns = [_json_text(f) if f in _JSON else f for f in ITEM_FIELDS]
    stored = {
        item_id: tuple(values)
        for item_id, *values in ItemFlow.objects.filter(nexus_id=nexus_id)
        .values_list("item_id", *columns)
        .iterator(chunk_size=5000)
    }
    gone = [pk for pk in stored if pk not in rows]
    changed = [(pk, *row) for pk, row in rows.items() if pk in stored and stored[pk] != _as_text(row)]
    rows_delete(ItemFlow, gone)
    rows_update(ItemFlow, ITEM_FIELDS, changed)
    added = [pk for pk in rows if pk not in stored]
    with _items_adding(nexus_id, rows, added):
        yield len(gone) + len(added) + len(changed)


def _stored_width(nexus_id: int) -> int | None:
    """The number of milestones of one stored `ItemFlow` row of the Nexus (-1 for a row stored without
    them), None when none is stored. One query."""
    found = list(ItemFlow.objects.filter(nexus_id=nexus_id).values_list(_json_text("milestones"))[:1])
    if not found:
        return None
    text = found[0][0]
    return -1 if text is None else len(json.loads(text))


def _items_adding(nexus_id: int, rows: dict[int, ItemRow], added: list[int]) -> AbstractContextManager[None]:
    """Insert the rows of the items `added` (`rows_inserting`: COPY on PostgreSQL, open for the block;
    its text made by `_items_copy_text`)."""
    return rows_inserting(
        ItemFlow,
        ("item_id", "nexus_id", *ITEM_FIELDS),
        [(pk, nexus_id, *rows[pk]) for pk in added],
        copy_text=_items_copy_text,
    )


def _items_copy_text(rows: Sequence[Sequence[Any]]) -> str:
    """The COPY text of item rows (item id, Nexus id, *`ItemRow`), one f-string per row: their values
    are ints, dates and lists of ints and None, which COPY reads as written (JDT's 10,814 rows: 18 ms,
    against 48 ms through the general `_copy_batch`, which looks at the type of each value; this is
    the largest COPY of a recompute, made while the server waits for it)."""
    nul = "\\N"
    lines: list[str] = []
    for item_id, nexus_id, started, finished, cycle, milestones, first, teams in rows:
        lines.append(
            f"{item_id}\t{nexus_id}\t{nul if started is None else started.isoformat()}"
            f"\t{nul if finished is None else finished.isoformat()}\t{nul if cycle is None else cycle}"
            f"\t{_list_text(milestones)}\t{nul if first is None else first.isoformat()}"
            f"\t{_list_text(teams)}\n"
        )
    return "".join(lines)


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
