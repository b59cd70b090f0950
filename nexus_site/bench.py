"""The benchmark harness behind `make bench`: timing helpers and the table it prints.

Each app adds rows in its own `<app>/bench.py` with a `run(ctx: BenchContext) -> list[Row]` function;
`manage.py bench` calls them in order. A benchmark measures, it never passes or fails on time.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, reset_queries
from django.test.utils import CaptureQueriesContext


@dataclass
class Row:
    """One line of the table: a name, how many runs, median and 95th percentile in milliseconds, SQL
    queries per run (max over the runs), and a free note (rows written, sizes...)."""

    name: str
    runs: int
    median_ms: float
    p95_ms: float
    queries: int | None = None
    note: str = ""


@dataclass
class BenchContext:
    """What the generator made, for the apps' rows: the synthetic Nexus, the JDT Nexus, users."""

    nexus: Any
    jdt_nexus: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def nearest_rank(values: list[float], p: float) -> float:
    """Nearest-rank percentile (the value at rank ceil(p·n) of the sorted values)."""
    ordered = sorted(values)
    k = max(1, -(-int(p * 100) * len(ordered) // 100))
    return ordered[k - 1]


def measure(
    name: str, fn: Callable[[int], object], *, runs: int = 20, warmup: int = 2, note: str = ""
) -> Row:
    """Run `fn(i)` `warmup` + `runs` times (warm-up runs get i < 0); time each run and count its SQL
    queries. Returns a `Row` with the median and nearest-rank 95th percentile in milliseconds."""
    for i in range(warmup):
        fn(-1 - i)
    times: list[float] = []
    queries = 0
    for i in range(runs):
        reset_queries()
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            fn(i)
            times.append((time.perf_counter() - started) * 1000)
        queries = max(queries, len(ctx.captured_queries))
    return Row(name, runs, statistics.median(times), nearest_rank(times, 0.95), queries, note)


def once(name: str, fn: Callable[[], object], *, note: str = "") -> tuple[Row, object]:
    """Time one run of `fn()` (for the generator and imports); returns the row and fn's result."""
    started = time.perf_counter()
    result = fn()
    ms = (time.perf_counter() - started) * 1000
    return Row(name, 1, ms, ms, None, note), result


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| benchmark | runs | median | p95 | SQL queries | note |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        q = "" if r.queries is None else str(r.queries)
        lines.append(f"| {r.name} | {r.runs} | {_fmt(r.median_ms)} | {_fmt(r.p95_ms)} | {q} | {r.note} |")
    return "\n".join(lines)


def _fmt(ms: float) -> str:
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.1f} ms"


@contextmanager
def tasks_queued() -> Iterator[None]:
    """Queue Celery tasks (the broker of the settings; in memory without REDIS_URL) instead of running
    them inline, as in production, so that a timed write never includes a flow recompute; restored
    afterwards. `manage.py bench` runs every group of rows inside it."""
    from nexus_site.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        yield
    finally:
        app.conf.task_always_eager = eager


def postgres_url(name: str | None = None) -> str:
    """`DATABASE_URL` of the PostgreSQL database `name` (default: the one this process uses) on this
    process's server, with its user and password, for a process the bench starts (a worker, a
    recompute, another tree's `manage.py`)."""
    from urllib.parse import quote

    db = connection.settings_dict
    user = quote(str(db["USER"] or "postgres"))
    password = f":{quote(str(db['PASSWORD']))}" if db["PASSWORD"] else ""
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{user}{password}@{host}:{port}/{name or db['NAME']}"


def postgres_admin(statements: list[str]) -> None:
    """Run `statements` (e.g. `DROP DATABASE`, `CREATE DATABASE`: names made by the bench from its
    settings, never user input) on this process's PostgreSQL server, connected to its `postgres`
    database in autocommit. Raises psycopg's errors."""
    import psycopg

    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=int(db["PORT"] or 5432),
        user=db["USER"] or "postgres",
        password=db["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        for sql in statements:
            conn.execute(sql)
