"""Storing flow figures: write only what differs from what is stored.

The full recompute (`flow.services.flow_recompute`) and the incremental update (`flow.incremental`) both
end here. A full recompute compares its per-item rows (`ItemFlow`) and daily rows (`FlowDay`) with the
stored ones and writes the difference: rows gone are deleted, new rows inserted (COPY on PostgreSQL, one
`executemany` on SQLite), changed rows updated in place (one `executemany`), unchanged rows left alone;
the snapshots (`FlowSnapshot`, one per scope) are updated in place. A nightly recompute after a quiet day
so writes one new daily row per scope, the figures, and nothing else. Everything runs in the caller's
transaction.

JSON columns (`cfd`, `milestones`, `teams`) are written as JSON text (cast to `jsonb` on PostgreSQL).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from django.db import connection, models
from django.db.models import TextField
from django.db.models.functions import Cast

from flow.models import FlowDay, ItemFlow

__all__ = ["days_store", "items_store", "rows_delete", "rows_insert", "rows_update"]

#: ItemFlow's stored columns besides `item_id` and `nexus_id`, in the order of an item row.
ITEM_FIELDS = ("started_on", "finished_on", "cycle_time", "milestones", "first_day", "teams")
#: FlowDay's value columns, in the order of a day's values.
DAY_FIELDS = ("wip", "wip_eod", "throughput", "cfd")
_JSON = {"cfd", "milestones", "teams"}
BATCH = 2000

ItemRow = tuple[date | None, date | None, int | None, list[int | None], date | None, list[int]]
DayValues = tuple[int, int, int, list[int]]


def _param(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, list) else value


def rows_insert(model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Insert many rows of `model` (column names `fields`): COPY on PostgreSQL, one `executemany`
    elsewhere (SQLite). Lists are written as JSON text."""
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f) for f in fields)  # attnames = column names here
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([_param(v) for v in row])
            return
        marks = ", ".join(["%s"] * len(fields))
        batch: list[list[Any]] = []
        sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
        for row in rows:
            batch.append([_param(v) for v in row])
            if len(batch) >= BATCH:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)


def rows_update(model: type[models.Model], fields: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Update rows of `model` in place: each row is (primary key, *values of `fields`). One
    `executemany` (pipelined by psycopg 3 on PostgreSQL)."""
    if not rows:
        return
    qn = connection.ops.quote_name
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    sets = ", ".join(f"{qn(f)} = %s{cast if f in _JSON else ''}" for f in fields)
    pk = qn(model._meta.pk.column)
    sql = f"UPDATE {qn(model._meta.db_table)} SET {sets} WHERE {pk} = %s"
    with connection.cursor() as cursor:
        cursor.executemany(sql, [[*(_param(v) for v in row[1:]), row[0]] for row in rows])


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
    new = [(pk, nexus_id, *row) for pk, row in rows.items() if pk not in stored]
    changed = [(pk, *row) for pk, row in rows.items() if pk in stored and stored[pk] != _as_text(row)]
    rows_delete(ItemFlow, gone)
    rows_update(ItemFlow, ITEM_FIELDS, changed)
    rows_insert(ItemFlow, ("item_id", "nexus_id", *ITEM_FIELDS), new)
    return len(gone) + len(new) + len(changed)


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
