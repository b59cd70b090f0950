"""The flow recompute through a real Celery worker (Redis, test database): a burst of changes ends in
stored snapshots per Nexus and per team with their daily rows; the nightly job runs through the broker."""

from __future__ import annotations

import pytest

from backlog.services import pbi_create, pbi_transition
from flow.models import FlowSnapshot, FlowState
from flow.tasks import recompute_all
from tests.factories import column, nexus_build
from tests.flow.builders import nexus_days

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_burst_of_changes_is_stored_per_nexus_and_team(celery_worker_process):
    nexus = nexus_build(teams=3)
    teams = list(nexus.teams.all())
    for i in range(6):
        item = pbi_create(nexus=nexus, title=f"Item {i}", actor=None, teams=[teams[i % 3]])
        if i % 2:
            pbi_transition(item=item, to_column=column(nexus, "In Progress"), actor=None)

    def settled() -> bool:
        state = FlowState.objects.get(nexus=nexus)
        snap = FlowSnapshot.objects.filter(nexus=nexus, team=None).first()
        return (
            state.pending_since is None
            and state.enqueued_at is None
            and snap is not None
            and snap.figures["items_total"] == 6
            and snap.figures["in_progress"] == 3
        )

    celery_worker_process.wait_for(settled, what="the coalesced recompute")
    assert FlowSnapshot.objects.filter(nexus=nexus).count() == 4  # the Nexus and its three teams
    assert len(nexus_days(nexus)) == 4  # one day each, today
    team_a = FlowSnapshot.objects.get(nexus=nexus, team=teams[0])
    assert team_a.figures["items_total"] == 2


def test_nightly_job_through_the_broker(celery_worker_process):
    quiet = nexus_build(teams=3)  # never changed: no recompute requested yet
    assert not FlowSnapshot.objects.filter(nexus=quiet).exists()
    recompute_all.delay()
    celery_worker_process.wait_for(
        lambda: FlowSnapshot.objects.filter(nexus=quiet, team=None).exists(), what="the nightly recompute"
    )
    assert FlowState.objects.get(nexus=quiet).computed_at is not None
