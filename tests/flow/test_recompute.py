"""Recompute from the transition log, stored per item and per Nexus; coalesced requests; broker down."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from backlog.services import pbi_create, pbi_transition
from flow.models import FlowState, ItemFlow
from flow.services import flow_recompute, recompute_request
from tests.factories import column, nexus_build

pytestmark = pytest.mark.django_db


def test_recompute_stores_item_dates_and_summary():
    nexus = nexus_build()
    a = pbi_create(nexus=nexus, title="A", actor=None)
    b = pbi_create(nexus=nexus, title="B", actor=None)
    day1 = timezone.now() + timedelta(days=1)
    pbi_transition(item=a, to_column=column(nexus, "In Progress"), actor=None, at=day1)
    pbi_transition(item=a, to_column=column(nexus, "Done"), actor=None, at=day1 + timedelta(days=1))
    pbi_transition(item=b, to_column=column(nexus, "In Progress"), actor=None, at=day1)
    summary = flow_recompute(nexus_id=nexus.pk, as_of=(day1 + timedelta(days=3)).date())
    assert summary["finished_items"] == 1
    assert summary["cycle_time_percentiles"]["50"] == 2
    assert ItemFlow.objects.get(item=a).cycle_time == 2
    flow_b = ItemFlow.objects.get(item=b)
    assert flow_b.finished_on is None
    assert summary["oldest"][0]["age"] == 4


def test_changes_request_a_recompute_that_runs_eagerly(django_capture_on_commit_callbacks):
    nexus = nexus_build()
    with django_capture_on_commit_callbacks(execute=True):
        pbi_create(nexus=nexus, title="A", actor=None)
    state = FlowState.objects.get(nexus=nexus)
    assert state.computed_at is not None
    assert state.pending_since is None


def test_broker_down_leaves_the_change_saved_and_marks_pending(
    monkeypatch, django_capture_on_commit_callbacks
):
    from kombu.exceptions import OperationalError

    from flow import tasks

    nexus = nexus_build()

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(tasks.recompute_nexus, "delay", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        item = pbi_create(nexus=nexus, title="A", actor=None)
    item.refresh_from_db()
    state = FlowState.objects.get(nexus=nexus)
    assert state.pending_since is not None
    assert state.enqueued_at is None
    assert "broker unreachable" in state.last_error


def test_request_is_coalesced():
    nexus = nexus_build()
    FlowState.objects.update_or_create(nexus=nexus, defaults={"enqueued_at": timezone.now()})
    assert recompute_request(nexus_id=nexus.pk) is False
