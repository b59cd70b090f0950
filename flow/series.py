"""The stored daily series of each scope: one `FlowSeries` row per `FlowSnapshot`, its days as one array.

A scope's daily series (Kanban Guide for Scrum Teams: WIP and Throughput per day; the Cumulative Flow
Diagram's counts per column) is `width` values per calendar day (in the Nexus's time zone) from its
first day to the snapshot's last: WIP counting items on their start and finish days, end-of-day WIP,
Throughput, then one CFD count per column, left to right. In memory it is a numpy int64 array of
shape (width, days), column `i` = day `start + i` (`values_of` makes it from the engine's
`metrics.FlowSeries`); stored, the same values as little-endian 32-bit ints, row after row
(`pack` / `unpack`). The series is always read and written whole, in one statement for all the scopes
asked for (`load`, `save`):

* the full recompute (`flow.services.flow_recompute`) writes the scopes whose digest changed
  (`store_changed`);
* the incremental update (`flow.incremental`) reads the scopes a change concerns, adds the change to
  the days it affects, and writes them back;
* the readers (the flow page's CSV and API through `days_of`, the team forecasts through `load`)
  read the rows they show.

Why not one table row per day: the JDT Nexus's seven scopes are 53,000 days. As rows, a full recompute
that changed them all (a Definition of Workflow change, or an empty store) spent most of its time
writing and comparing them; as seven arrays, writing them is a few milliseconds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import numpy as np
from django.db import connection

from flow.metrics import FlowSeries as EngineSeries
from flow.models import FlowSeries
from flow.store import binding_cursor

__all__ = [
    "add_runs",
    "days_of",
    "digest",
    "extended",
    "last_day",
    "load",
    "pack",
    "save",
    "store_changed",
    "unpack",
    "values_of",
]

#: A loaded series: its first day and its values, int64 array (width, days).
Loaded = tuple[date, np.ndarray]


def values_of(series: EngineSeries) -> np.ndarray:
    """The engine's series (`metrics.FlowSeries`) as one int64 array (3 + columns, days): WIP,
    end-of-day WIP, Throughput, then the CFD counts of each column."""
    n = len(series)
    out = np.empty((3 + series.cfd.shape[0], n), dtype=np.int64)
    out[0], out[1], out[2] = series.wip, series.wip_eod, series.throughput
    out[3:] = series.cfd[:, :n]
    return out


def pack(values: np.ndarray) -> bytes:
    """The stored form of a series: its values (width, days) as little-endian int32, row after row.
    Raises ValueError when a value does not fit in 32 bits (a count of items never comes near)."""
    if values.size and (values.min() < -(2**31) or values.max() >= 2**31):
        raise ValueError("a daily value does not fit in 32 bits")
    return np.ascontiguousarray(values, dtype="<i4").tobytes()


def unpack(data: bytes | memoryview, width: int) -> np.ndarray:
    """A stored series back as a writable int64 array (width, days). Raises ValueError when the bytes
    are not whole days of `width` values."""
    raw = np.frombuffer(data, dtype="<i4")
    if width <= 0 or raw.size % width:
        raise ValueError(f"{raw.size} stored values are not whole days of {width}")
    return raw.reshape(width, raw.size // width).astype(np.int64)


def load(snapshot_ids: Iterable[int]) -> dict[int, Loaded]:
    """The stored series of the snapshots `snapshot_ids`: snapshot id -> (first day, values (width,
    days)). A snapshot without a stored series is left out. One query. Raises ValueError when a stored
    series is not whole days of its width (`unpack`)."""
    ids = list(snapshot_ids)
    if not ids:
        return {}
    rows = FlowSeries.objects.filter(snapshot_id__in=ids).values_list("snapshot_id", "start", "width", "data")
    return {pk: (start, unpack(data, width)) for pk, start, width, data in rows}


def save(series: dict[int, Loaded]) -> None:
    """Store each snapshot's series (snapshot id -> (first day, values (width, days))), replacing the
    one it had: one statement for all of them (`INSERT ... ON CONFLICT DO UPDATE`, one round trip). On
    PostgreSQL the arrays travel as binary parameters, bound on the server (not quoted into the
    statement's text)."""
    if not series:
        return
    table = connection.ops.quote_name(FlowSeries._meta.db_table)
    rows = ", ".join(["(%s, %s, %s, %s)"] * len(series))
    sql = (
        f"INSERT INTO {table} (snapshot_id, start, width, data) VALUES {rows} "
        "ON CONFLICT (snapshot_id) DO UPDATE SET start = excluded.start, width = excluded.width, "
        "data = excluded.data"
    )
    params = [x for pk, (start, values) in series.items() for x in (pk, start, values.shape[0], pack(values))]
    with binding_cursor() as cursor:
        cursor.execute(sql, params)


def digest(start: date, series: EngineSeries, *, days: int | None = None) -> str:
    """Digest (hex, 40 characters) of the daily series a scope stores: its first day and every value.
    Equal digests, equal series. `days`: of its first `days` days only (the days stored before the day
    turned: `store_changed`). The full recompute keeps it on the snapshot (`days_digest`) and compares
    it before reading or writing the series."""
    n = len(series) if days is None else days
    h = hashlib.blake2b(digest_size=20)
    h.update(f"days1:{start.toordinal()}:{n}:{series.cfd.shape[0]}:".encode())
    for values in (series.wip[:n], series.wip_eod[:n], series.throughput[:n], series.cfd[:, :n]):
        h.update(np.ascontiguousarray(values, dtype=np.int64).tobytes())
    return h.hexdigest()


def days_of(start: date, values: np.ndarray) -> list[tuple[date, int, int, int, list[int]]]:
    """A series as one tuple per day, oldest first: (day, WIP, end-of-day WIP, Throughput, CFD counts
    left to right)."""
    if values.shape[1] == 0:
        return []
    cols = values.T.tolist()
    first = start.toordinal()
    return [(date.fromordinal(first + i), row[0], row[1], row[2], row[3:]) for i, row in enumerate(cols)]


def _changed_days(old: Loaded | None, new: Loaded) -> int:
    """Days whose row a write of `new` over `old` changes: added, removed or with another value."""
    if old is None:
        return new[1].shape[1]
    (o_start, o_vals), (n_start, n_vals) = old, new
    o_first, n_first = o_start.toordinal(), n_start.toordinal()
    o_last, n_last = o_first + o_vals.shape[1] - 1, n_first + n_vals.shape[1] - 1
    lo, hi = max(o_first, n_first), min(o_last, n_last)
    common = max(0, hi - lo + 1)
    added = n_vals.shape[1] - common
    gone = o_vals.shape[1] - common
    if not common:
        return added + gone
    if o_vals.shape[0] != n_vals.shape[0]:
        return added + gone + common  # another number of columns: every kept day changes
    a = o_vals[:, lo - o_first : hi - o_first + 1]
    b = n_vals[:, lo - n_first : hi - n_first + 1]
    return added + gone + int(np.count_nonzero((a != b).any(axis=0)))


def store_changed(*, scopes: dict[int, tuple[date, EngineSeries, int]]) -> int:
    """Write the series of the scopes whose digest changed (snapshot id -> (first day, the engine's
    series, days known unchanged)). The last item says how many first days equal the stored ones (the
    full recompute compared their digest, `digest(days=)`: the day turned and
    nothing else changed), so the stored series is not read; with 0 it is read (one query for all
    such scopes) to count the days that change. Returns the number of days written (added, removed or
    changed), the figure of the recompute's timings."""
    if not scopes:
        return 0
    new = {pk: (start, values_of(series)) for pk, (start, series, _kept) in scopes.items()}
    unknown = [pk for pk, (_start, _series, kept) in scopes.items() if not kept]
    stored = load(unknown)
    written = 0
    for pk, (_start, series, kept) in scopes.items():
        written += len(series) - kept if kept else _changed_days(stored.get(pk), new[pk])
    save(new)
    return written


def extended(loaded: Loaded, *, start: date, end: date) -> np.ndarray:
    """A stored series laid over the days `start..end`: the stored days kept, days before its first one
    zeros, days after its last one its last day carried forward (nothing happened on them: the WIP is
    the end-of-day WIP, no Throughput, the same CFD), days outside `start..end` dropped. Returns a new
    int64 array (width, days)."""
    first, values = loaded
    width, n = values.shape
    out = np.zeros((width, (end - start).days + 1), dtype=np.int64)
    if n == 0:
        return out
    o_first = first.toordinal()
    o_last = o_first + n - 1
    s, e = start.toordinal(), end.toordinal()
    lo, hi = max(s, o_first), min(e, o_last)
    if lo <= hi:
        out[:, lo - s : hi - s + 1] = values[:, lo - o_first : hi - o_first + 1]
    if e > o_last:
        carry = values[:, -1].copy()
        carry[0] = carry[1]
        carry[2] = 0
        from_ = max(o_last + 1, s)
        out[:, from_ - s :] = carry[:, None]
    return out


def add_runs(values: np.ndarray, start: date, runs: Iterable[tuple[date, date, Any]]) -> None:
    """Add to `values` (width, days from `start`) each run (first day, last day inclusive, change of
    each of the width values), in place; the part of a run outside the array is ignored."""
    n = values.shape[1]
    for lo, hi, delta in runs:
        a = max(0, (lo - start).days)
        b = min(n, (hi - start).days + 1)
        if a < b:
            values[:, a:b] += np.asarray(delta, dtype=np.int64)[:, None]


def last_day(loaded: Loaded) -> date:
    """The last day of a loaded series."""
    return loaded[0] + timedelta(days=loaded[1].shape[1] - 1)
