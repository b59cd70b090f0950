"""Shared fixtures: real-browser launch options, eager Celery by default, and domain builders."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
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


@pytest.fixture(scope="session", autouse=True)
def delete_output_dir() -> None:
    """Keep test-results/ between pytest runs: pytest-playwright's fixture of this name empties it at
    the start of every session, so `make smoke` (run after the suite) erased the screenshots the
    browser tests had just written (board*.png, flow*.png)."""


@pytest.fixture(scope="session", autouse=True)
def _empty_shared_cache() -> None:
    """The cache is shared and outlives a run (Redis, or files): start each session with it empty, as
    the per-process memory cache was (throttle counters of an earlier run within the minute)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _eager_celery(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tasks run inline unless the test is marked `worker` (which starts a real worker via Redis)."""
    from nexus_site.celery import app

    eager = request.node.get_closest_marker("worker") is None
    old = app.conf.task_always_eager
    app.conf.task_always_eager = eager or old
    yield
    app.conf.task_always_eager = old


@pytest.fixture
def nexus(db: None) -> Any:
    from tests.factories import nexus_build

    return nexus_build()


ROOT = Path(__file__).resolve().parents[1]


class WorkerProcess:
    """A real Celery worker (solo pool) started against the test database through Redis."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process

    def wait_for(
        self, condition: Callable[[], bool], *, timeout: float = 60, what: str = "the worker"
    ) -> None:
        """Poll `condition` until true; fail with the worker's output if it dies or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            if self.process.poll() is not None:
                out = self.process.stdout.read().decode() if self.process.stdout else ""
                pytest.fail(f"the Celery worker died: {out}")
            time.sleep(0.3)
        pytest.fail(f"{what} did not finish within {timeout:.0f} s")


@pytest.fixture
def celery_worker_process(transactional_db: None) -> Iterator[WorkerProcess]:
    """Start a real Celery worker on the test database (never the development one) through Redis, with
    eager execution off; stopped after the test. Mark the test `worker` and
    `django_db(transaction=True)` so that the worker sees committed rows."""
    from django.conf import settings

    from nexus_site.bench import postgres_url
    from nexus_site.celery import app, worker_command

    if not settings.REDIS_URL:
        pytest.fail("REDIS_URL is not set: `make test` runs against Redis (see README).")
    app.conf.task_always_eager = False
    env = {
        # Not PYTEST_XDIST_WORKER: the settings would move REDIS_URL, already this test worker's, again.
        **{k: v for k, v in os.environ.items() if k != "PYTEST_XDIST_WORKER"},
        # The worker must use the test database, never the development one.
        "DATABASE_URL": postgres_url(),
        "REDIS_URL": settings.REDIS_URL,
    }
    app.control.purge()  # tasks left in Redis by earlier runs must not reach this worker
    worker = subprocess.Popen(
        worker_command(),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield WorkerProcess(worker)
    finally:
        # A worker still busy (a delivery waiting on a slow receiver) would keep its connection to the
        # test database, which then cannot be dropped, and the next `make test` could not create it.
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=20)


@pytest.fixture
def extension_registry() -> Iterator[Any]:
    """`nexus_site.extensions` as it is, restored after the test: a test registers what a later
    capability would in its `AppConfig.ready()` without leaving it for the other tests."""
    import copy

    from nexus_site import extensions

    saved = extensions._registry
    extensions._registry = copy.copy(saved)
    for name in ("apps", "rules", "tombstones", "tombstones_by_model", "webhook_events", "listeners"):
        setattr(extensions._registry, name, copy.copy(getattr(saved, name)))
    yield extensions
    extensions._registry = saved
