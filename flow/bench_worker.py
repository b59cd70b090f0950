"""Bench rows of the flow figures' freshness with a Celery worker (the incremental issue: "with
PostgreSQL and a worker, the stored figures up to date within 1 s of the change").

On the synthetic Nexus of `make bench` (PostgreSQL only), a real Celery worker process
(`celery -A nexus_site worker --pool=solo`) is started on the bench database and a Redis database of its
own (`BENCH_REDIS_URL`, default `redis://127.0.0.1:6379/13`, purged first), and a driver process with
the same settings makes column changes through the services, as a request would (the change commits,
the incremental update runs, the coalesced job is queued). For each change it records the time from
the start of the write to the moment the stored summaries include it: `FlowState.computed_at` at or
after the change committed (the job that wrote them started after the commit, so it read the change).

Two rows: changes one at a time (the next once the figures show the previous one), and a steady
stream (one change every 250 ms for 12 s, the figures polled meanwhile: a change made while a job runs
waits for that job and the next). Neither is a target of its own here: the issue's target is p95 under
1 s. The bench database is left as the other rows left it (the changes move items within the Nexus).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from nexus_site.bench import BenchContext, Row, nearest_rank, postgres_url
from nexus_site.celery import worker_command

#: Run by the driver process (Django set up with the bench database and the worker's Redis).
DRIVER = r"""
import json, sys, time, django
django.setup()
from django.utils import timezone
from backlog.models import Nexus, ProductBacklogItem, WorkflowColumn
from backlog.services import pbi_transition
from flow.models import FlowState
from flow.services import flow_recompute
from nexus_site.celery import app

mode, count, gap = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
nexus = Nexus.objects.get(slug=sys.argv[4])
columns = list(WorkflowColumn.objects.filter(nexus=nexus).order_by("position"))
start = next(i for i, c in enumerate(columns) if c.is_start)
items = list(ProductBacklogItem.objects.open()
    .filter(backlog__nexus=nexus, column__in=columns[start:start + 2]).order_by("pk")[:count])
flow_recompute(nexus_id=nexus.pk)  # figures current, and the next jobs may refresh
state = lambda: FlowState.objects.filter(nexus=nexus).values_list("computed_at", flat=True).get()

def change(i):
    item = items[i % len(items)]
    item.refresh_from_db()
    here = next(k for k, c in enumerate(columns) if c.pk == item.column_id)
    to = columns[start] if here > start else columns[start + 1]  # forward and back
    t0 = time.perf_counter()
    pbi_transition(item=item, to_column=to, actor=None)  # commits: incremental update, job queued
    return t0, timezone.now()

latencies, waits = [], []
deadline = time.perf_counter() + 120
if mode == "one":
    for i in range(count):
        t0, committed = change(i)
        while time.perf_counter() < deadline:
            computed = state()
            if computed is not None and computed >= committed:
                latencies.append(time.perf_counter() - t0)
                break
            time.sleep(0.003)
else:
    open_changes = []
    next_at = time.perf_counter()
    made = 0
    while (made < count or open_changes) and time.perf_counter() < deadline:
        now = time.perf_counter()
        if made < count and now >= next_at:
            open_changes.append(change(made))
            made += 1
            next_at += gap
        computed = state()
        if computed is not None:
            seen = [c for c in open_changes if c[1] <= computed]
            for t0, _ in seen:
                latencies.append(time.perf_counter() - t0)
            open_changes = [c for c in open_changes if c[1] > computed]
        time.sleep(0.003)
print(json.dumps({"latencies": latencies, "lost": count - len(latencies)}))
"""


def _env(redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_XDIST_WORKER", "PYTHONDONTWRITEBYTECODE")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE,
            "DATABASE_URL": postgres_url(),
            "REDIS_URL": redis_url,  # set: tasks go to the broker, not run in-process
        }
    )
    return env


def _row(name: str, latencies: list[float], lost: int, note: str) -> Row:
    ms = sorted(x * 1000 for x in latencies)
    if not ms:
        return Row(name, 0, 0, 0, None, f"no change seen ({lost} lost); {note}")
    return Row(name, len(ms), ms[len(ms) // 2], nearest_rank(ms, 0.95), None, f"max {ms[-1]:.0f} ms; {note}")


def run(ctx: BenchContext) -> list[Row]:
    if connection.vendor != "postgresql":
        return [Row("flow: figures with a worker", 0, 0, 0, None, "skipped: the bench runs on SQLite")]
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    env = _env(redis_url)
    root = Path(settings.BASE_DIR)
    purge = [sys.executable, "-m", "celery", "-A", "nexus_site", "purge", "-f"]
    subprocess.run(purge, cwd=root, env=env, capture_output=True, check=False, timeout=60)
    worker = subprocess.Popen(
        worker_command(),
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    rows: list[Row] = []
    try:
        time.sleep(3)  # the worker connects to Redis and the database
        slug = ctx.nexus.slug
        for mode, count, gap, name, note in (
            (
                "one",
                20,
                0.0,
                "flow: change to stored figures with a worker, one change at a time",
                "synthetic Nexus, PostgreSQL + Redis, a Celery worker; target p95 < 1 s",
            ),
            (
                "stream",
                48,
                0.25,
                "flow: change to stored figures with a worker, a change every 250 ms",
                "synthetic Nexus; 48 changes in 12 s; a change made while a job runs waits for the next",
            ),
        ):
            out = subprocess.run(
                [sys.executable, "-c", DRIVER, mode, str(count), str(gap), slug],
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            if out.returncode != 0:
                rows.append(Row(name, 0, 0, 0, None, f"failed: {out.stderr.strip()[-300:]}"))
                continue
            result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(_row(name, result["latencies"], result["lost"], note))
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
    return rows
