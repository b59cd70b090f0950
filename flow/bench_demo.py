"""Bench rows of the four Nexus Daily Scrum writes on `make run`'s embedded default, measured as a user
would (the incremental issue): a fresh SQLite database in a temporary folder, `migrate` and `load_demo`
as `make run` runs them, then `runserver` (Celery eager, no Redis: the coalesced recompute runs in the
server's own thread, `flow.background`) and 20 HTTP requests of each write through the REST API from
this process: a column change, a team square change, a block or unblock, a title edit. Each row is the
wall time of the HTTP round trip on 127.0.0.1, back to back (the recompute thread the previous writes
asked for runs meanwhile, as it would when cards are dragged one after another). Target: p95 under
100 ms (the issue measured 1.5 to 1.7 s before). The bench database of `make bench` is not used.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings

from nexus_site.bench import BenchContext, Row, nearest_rank

WRITES = 20

#: Run in the demo database before the server starts: a token for the Nexus Integration Team's demo
#: user and what the writes need (in-progress PBIs with their next column, squares, the columns).
PICK = """
import json, django
django.setup()
from django.contrib.auth.models import User
from backlog.models import Nexus, ProductBacklogItem, TeamInvolvement, WorkflowColumn
from backlog.services.sync import token_create
nexus = Nexus.objects.get(slug="eclipse-jdt")
columns = list(WorkflowColumn.objects.filter(nexus=nexus).order_by("position").values("id", "position",
    "category", "is_finish"))
items = list(ProductBacklogItem.objects.open().filter(backlog__nexus=nexus, column__category="in_progress")
    .order_by("rank").values("id", "column_id")[:60])
squares = list(TeamInvolvement.objects.filter(item__backlog__nexus=nexus, item__deleted_at__isnull=True,
    status__in=["in_progress", "not_started"], item__column__category="in_progress")
    .order_by("id").values("id", "status")[:40])
_token, key = token_create(user=User.objects.get(username="nit"), name="bench-demo")
print(json.dumps({"slug": nexus.slug, "columns": columns, "items": items, "squares": squares, "key": key}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_XDIST_WORKER", "PYTEST_CURRENT_TEST")}
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{db}",
            "REDIS_URL": "",
            "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        env=env,
        cwd=Path(settings.BASE_DIR),
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _call(base: str, key: str, method: str, path: str, body: dict[str, Any]) -> float:
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Token {key}", "Content-Type": "application/json"},
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raise AssertionError((method, path, exc.code, exc.read()[:300])) from exc
    ms = (time.perf_counter() - started) * 1000
    assert status == 200, (method, path, status)
    return ms


def _row(name: str, times: list[float], note: str) -> Row:
    ordered = sorted(times)
    return Row(name, len(times), ordered[len(ordered) // 2], nearest_rank(times, 0.95), None, note)


def run(ctx: BenchContext) -> list[Row]:
    """The four rows (see the module): wall time in milliseconds of 20 HTTP writes each, median and
    nearest-rank p95. `ctx` is not used (the rows need `make run`'s own database). Raises
    `subprocess.CalledProcessError` when `migrate` or `load_demo` fails, `AssertionError` naming the
    request when a write answers other than 200, `RuntimeError` when the demo lacks what it writes."""
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        env = _env(Path(tmp) / "demo.sqlite3")
        started = time.perf_counter()
        _manage(env, "migrate", "--noinput", "-v", "0")
        _manage(env, "load_demo")
        loaded_s = time.perf_counter() - started
        picked = json.loads(
            subprocess.run(
                [sys.executable, "-c", PICK],
                env=env,
                cwd=Path(settings.BASE_DIR),
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            env=env,
            cwd=Path(settings.BASE_DIR),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            return _measure(f"http://127.0.0.1:{port}", picked, loaded_s)
        finally:
            server.terminate()
            server.wait(timeout=10)


def _measure(base: str, picked: dict[str, Any], loaded_s: float) -> list[Row]:
    for _ in range(100):  # the server is up
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2).read()
            break
        except OSError:
            time.sleep(0.2)
    key = picked["key"]
    api = f"/api/v1/nexuses/{picked['slug']}"
    columns = [c for c in picked["columns"] if c["category"] == "in_progress"]
    items = picked["items"]
    state = {it["id"]: it["column_id"] for it in items}
    squares = picked["squares"]
    if len(columns) < 2 or len(items) < WRITES or not squares:
        raise RuntimeError("The demo Nexus lacks the PBIs, columns or squares the bench writes.")

    def column_change(i: int) -> float:
        item = items[i % len(items)]["id"]
        ids = [c["id"] for c in columns]
        here = ids.index(state[item]) if state[item] in ids else 0
        to = ids[(here + 1) % len(ids)]  # within the in-progress columns: never the finishing rule
        state[item] = to
        return _call(base, key, "POST", f"{api}/items/{item}/transition/", {"column": to})

    def square(i: int) -> float:
        sq = squares[i % len(squares)]
        sq["status"] = "in_progress" if sq["status"] != "in_progress" else "not_started"
        return _call(base, key, "PATCH", f"{api}/involvements/{sq['id']}/", {"status": sq["status"]})

    def block(i: int) -> float:
        item = items[(i + 7) % len(items)]["id"]
        body = {"is_blocked": i % 2 == 0, "blocked_reason": "Waits for the build" if i % 2 == 0 else ""}
        return _call(base, key, "PATCH", f"{api}/items/{item}/", body)

    def title(i: int) -> float:
        item = items[(i + 13) % len(items)]["id"]
        return _call(base, key, "PATCH", f"{api}/items/{item}/", {"title": f"Renamed at the Daily Scrum {i}"})

    for warm in (column_change, square, block, title):
        warm(WRITES + 1)
    time.sleep(2)  # the recompute the warm-up asked for is done
    rows = []
    for name, write in (
        ("column change (POST items/{id}/transition/)", column_change),
        ("team square change (PATCH involvements/{id}/)", square),
        ("block / unblock (PATCH items/{id}/)", block),
        ("title edit (PATCH items/{id}/)", title),
    ):
        times = [write(i) for i in range(WRITES)]
        rows.append(
            _row(
                f"make run, demo Nexus, API over HTTP: {name}",
                times,
                "target p95 < 100 ms; SQLite, Celery eager, runserver; back to back "
                f"(demo loaded in {loaded_s:.0f} s)",
            )
        )
    return rows
