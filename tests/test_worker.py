"""A real Celery worker through Redis runs the flow recompute against the test database."""

from __future__ import annotations

import time

import pytest

from backlog.services import pbi_create
from flow.models import FlowState
from tests.conftest import worker_output
from tests.factories import nexus_build


@pytest.mark.worker
def test_recompute_through_a_real_worker(celery_worker_process):
    worker = celery_worker_process
    nexus = nexus_build()
    FlowState.objects.filter(nexus=nexus).update(computed_at=None, enqueued_at=None, pending_since=None)
    pbi_create(nexus=nexus, title="A", actor=None)  # on commit: items_changed -> recompute via Redis
    deadline = time.monotonic() + 60
    state = FlowState.objects.get(nexus=nexus)
    while time.monotonic() < deadline:
        state.refresh_from_db()
        if state.computed_at is not None:
            break
        assert worker.poll() is None, worker_output(worker)
        time.sleep(0.3)
    assert state.computed_at is not None, "the worker did not recompute within 60 s"
    assert state.summary["items"] == 1
    assert state.pending_since is None
