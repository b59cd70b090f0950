"""Shared fixtures: real-browser launch options, eager Celery by default, and domain builders."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium, never a downloaded browser."""
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium", "args": CHROMIUM_ARGS}


@pytest.fixture(autouse=True)
def _eager_celery(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tasks run inline unless the test is marked `worker` (which starts a real worker via Redis)."""
    from nexus_site.celery import app

    eager = request.node.get_closest_marker("worker") is None
    old = app.conf.task_always_eager
    app.conf.task_always_eager = eager or old
    yield
    app.conf.task_always_eager = old


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def celery_worker_process(transactional_db: None) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker (a subprocess, `--pool=solo`) consuming from Redis and writing to the
    test database, never the development one. For tests marked `worker` (tasks are not eager there);
    needs REDIS_URL and PostgreSQL. Stopped when the test ends."""
    from django.conf import settings
    from django.db import connection

    from nexus_site.celery import app

    if not settings.REDIS_URL:
        pytest.fail("REDIS_URL is not set: `make test` runs against Redis (see README).")
    app.conf.task_always_eager = False
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "REDIS_URL": settings.REDIS_URL,
    }
    app.control.purge()  # tasks left in Redis by earlier runs must not reach this worker
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "nexus_site",
            "worker",
            "--pool=solo",
            "-l",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield worker
    finally:
        worker.terminate()
        worker.wait(timeout=20)


def worker_output(worker: subprocess.Popen[bytes]) -> str:
    """What a dead worker printed (for an assertion message)."""
    return worker.stdout.read().decode() if worker.stdout else "worker died"


@pytest.fixture
def nexus(db: None) -> Any:
    from tests.factories import nexus_build

    return nexus_build()
