"""A real Celery worker through Redis runs the flow recompute against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from backlog.services import pbi_create
from flow.models import FlowState
from tests.factories import nexus_build

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_recompute_through_a_real_worker():
    if not settings.REDIS_URL:
        pytest.fail("REDIS_URL is not set: `make test` runs against Redis (see README).")
    from nexus_site.celery import app

    app.conf.task_always_eager = False
    nexus = nexus_build()
    FlowState.objects.filter(nexus=nexus).update(computed_at=None, enqueued_at=None, pending_since=None)
    db = connection.settings_dict
    env = {
        **os.environ,
        # The worker must use the test database, never the development one.
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
        pbi_create(nexus=nexus, title="A", actor=None)  # on commit: items_changed -> recompute via Redis
        deadline = time.monotonic() + 60
        state = FlowState.objects.get(nexus=nexus)
        while time.monotonic() < deadline:
            state.refresh_from_db()
            if state.computed_at is not None:
                break
            assert worker.poll() is None, worker.stdout.read().decode() if worker.stdout else "worker died"
            time.sleep(0.3)
        assert state.computed_at is not None, "the worker did not recompute within 60 s"
        assert state.summary["items"] == 1
        assert state.pending_since is None
    finally:
        worker.terminate()
        worker.wait(timeout=20)
