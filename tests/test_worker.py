"""A real Celery worker through Redis runs the flow recompute against the test database."""

from __future__ import annotations

import pytest

from backlog.services import pbi_create
from flow.models import FlowState
from tests.factories import nexus_build


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_recompute_through_a_real_worker(celery_worker_process):
    nexus = nexus_build()
    FlowState.objects.filter(nexus=nexus).update(computed_at=None, enqueued_at=None, pending_since=None)
    pbi_create(nexus=nexus, title="A", actor=None)  # on commit: items_changed -> recompute via Redis
    state = FlowState.objects.get(nexus=nexus)

    def computed() -> bool:
        state.refresh_from_db()
        return state.computed_at is not None

    celery_worker_process.wait_for(computed, what="the recompute")
    assert state.summary["items"] == 1
    assert state.pending_since is None
