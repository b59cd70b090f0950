"""The coalesced job after incremental updates: the summaries refreshed from the stored per-item rows
(`flow.refresh`), the full recompute when a change was not applied incrementally, and the guards
(day turned, a later job wrote first, constant queries). That the refreshed figures equal the full
recompute's is the property test in `test_incremental.py`."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backlog.models import WorkflowColumn
from backlog.services import pbi_create, pbi_transition
from flow import incremental, receivers, refresh, services, tasks
from flow.incremental import APPLIED, flow_apply
from flow.locks import flow_lock
from flow.models import FlowPendingItem, FlowSnapshot, FlowState
from flow.refresh import FULL, REFRESHED, SUPERSEDED, flow_refresh
from flow.services import flow_recompute, pending_items_keep, recompute, recompute_job
from tests.factories import column, nexus_build

pytestmark = pytest.mark.django_db


def _no_log_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the full recompute's reads of the transition log."""
    calls: list[int] = []
    real = recompute.load_events

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(recompute, "load_events", counting)
    return calls


def test_job_after_an_incremental_change_refreshes_without_reading_the_log(
    monkeypatch, django_capture_on_commit_callbacks
):
    nexus = nexus_build(teams=2)
    teams = list(nexus.teams.order_by("pk"))
    with django_capture_on_commit_callbacks(execute=True):
        items = [
            pbi_create(nexus=nexus, title=f"Item {i}", actor=None, teams=[teams[i % 2]]) for i in range(4)
        ]
    flow_recompute(nexus_id=nexus.pk)
    assert FlowState.objects.get(nexus=nexus).full_needed is False
    log_reads = _no_log_reads(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):  # the request's commit: incremental + job
        pbi_transition(item=items[0], to_column=column(nexus, "In Progress"), actor=None)
    state = FlowState.objects.get(nexus=nexus)
    assert log_reads == []  # Celery runs eagerly in tests: the job ran, and refreshed
    assert state.full_needed is False
    assert state.pending_since is None
    assert state.summary["wip_as_of"] == 1
    snap = FlowSnapshot.objects.get(nexus=nexus, team=None)
    assert snap.figures["in_progress"] == 1
    assert FlowSnapshot.objects.get(nexus=nexus, team=teams[0]).figures["in_progress"] == 1
    assert FlowSnapshot.objects.get(nexus=nexus, team=teams[1]).figures["in_progress"] == 0


def test_a_change_naming_no_items_makes_the_job_a_full_recompute(
    monkeypatch, django_capture_on_commit_callbacks
):
    nexus = nexus_build(teams=1)
    with django_capture_on_commit_callbacks(execute=True):
        pbi_create(nexus=nexus, title="Item", actor=None)
    flow_recompute(nexus_id=nexus.pk)
    log_reads = _no_log_reads(monkeypatch)
    services.recompute_request(nexus_id=nexus.pk, full=False)  # an applied change (eager: the job runs)
    assert log_reads == []  # refreshed
    services.recompute_request(nexus_id=nexus.pk)  # e.g. the Definition of Workflow: the full recompute
    assert log_reads == [1]
    assert FlowState.objects.get(nexus=nexus).full_needed is False  # cleared by the full recompute
    FlowState.objects.filter(nexus=nexus).update(full_needed=True)  # a change not applied, job to come
    assert flow_refresh(nexus_id=nexus.pk) == FULL  # nothing written: the job runs the full recompute
    recompute_job(nexus_id=nexus.pk)
    assert log_reads == [1, 1]


def test_refresh_hands_over_when_the_day_turned():
    nexus = nexus_build(teams=1, items=2)
    yesterday = timezone.localdate() - timedelta(days=2)
    flow_recompute(nexus_id=nexus.pk, as_of=yesterday)
    assert flow_refresh(nexus_id=nexus.pk) == FULL
    assert FlowState.objects.get(nexus=nexus).full_needed is True  # the next job is the full recompute


def test_refresh_hands_over_when_the_definition_of_workflow_changed():
    nexus = nexus_build(teams=1, items=2)
    flow_recompute(nexus_id=nexus.pk)
    WorkflowColumn.objects.filter(nexus=nexus, name="In Progress").update(name="Doing")
    assert flow_refresh(nexus_id=nexus.pk) == FULL


def test_an_older_job_never_overwrites_a_later_one():
    nexus = nexus_build(teams=1, items=2)
    flow_recompute(nexus_id=nexus.pk)
    later = timezone.now() + timedelta(minutes=5)  # a job that started after this one wrote already
    FlowState.objects.filter(nexus=nexus).update(computed_at=later)
    before = FlowSnapshot.objects.get(nexus=nexus, team=None).computed_at
    assert flow_refresh(nexus_id=nexus.pk) == SUPERSEDED
    assert FlowSnapshot.objects.get(nexus=nexus, team=None).computed_at == before
    assert FlowState.objects.get(nexus=nexus).computed_at == later


def test_refresh_leaves_the_digests_and_dates_to_the_incremental_update():
    nexus = nexus_build(teams=1, items=2)
    flow_recompute(nexus_id=nexus.pk)
    FlowSnapshot.objects.filter(nexus=nexus).update(
        days_digest="", items_digest=""
    )  # as an update leaves them
    assert flow_refresh(nexus_id=nexus.pk) == REFRESHED
    assert set(FlowSnapshot.objects.filter(nexus=nexus).values_list("days_digest", "items_digest")) == {
        ("", "")
    }


def _refresh_queries(items: int) -> int:
    nexus = nexus_build(teams=3)
    teams = list(nexus.teams.all())
    progress = column(nexus, "In Progress")
    for i in range(items):
        item = pbi_create(nexus=nexus, title=f"Item {i}", actor=None, teams=[teams[i % 3]])
        if i % 2:
            pbi_transition(item=item, to_column=progress, actor=None)
    flow_recompute(nexus_id=nexus.pk)
    with CaptureQueriesContext(connection) as ctx:
        assert flow_refresh(nexus_id=nexus.pk) == REFRESHED
    return len(ctx.captured_queries)


def test_refresh_issues_a_constant_number_of_queries():
    assert _refresh_queries(4) == _refresh_queries(40)


def _marked(nexus: Any) -> dict[int | None, bool]:
    """Per scope: whether its detail is still the marker `_mark` wrote (the refresh did not make it)."""
    return {s.team_id: s.detail == '{"marker":1}' for s in FlowSnapshot.objects.filter(nexus=nexus)}


def _stale(nexus: Any) -> set[int | None]:
    """The scopes whose rows changed since their summaries were made."""
    return {
        s.team_id for s in FlowSnapshot.objects.filter(nexus=nexus) if s.rows_version != s.summaries_version
    }


def _stored_items(nexus: Any, teams: Any, capture: Any) -> list[Any]:
    """One PBI per team of `teams` (committed, so each reaches flow), then the full recompute: the
    stored figures the test's changes start from."""
    with capture(execute=True):
        items = [
            pbi_create(nexus=nexus, title=f"Item {i}", actor=None, teams=[t]) for i, t in enumerate(teams)
        ]
    flow_recompute(nexus_id=nexus.pk)
    return items


def _mark(nexus: Any) -> None:
    FlowSnapshot.objects.filter(nexus=nexus).update(detail='{"marker":1}')


def test_refresh_makes_only_the_scopes_changed_since_the_last_summaries(django_capture_on_commit_callbacks):
    nexus = nexus_build(teams=3)
    a, b, c = nexus.teams.order_by("pk")
    items = _stored_items(nexus, (a, b), django_capture_on_commit_callbacks)
    assert _stale(nexus) == set()
    _mark(nexus)  # what the summaries were before: a marker no refresh would write
    with django_capture_on_commit_callbacks(execute=True):  # team A's item moves; the job refreshes
        pbi_transition(item=items[0], to_column=column(nexus, "In Progress"), actor=None)
    assert _marked(nexus) == {None: False, a.pk: False, b.pk: True, c.pk: True}
    assert _stale(nexus) == set()
    computed = FlowState.objects.get(nexus=nexus).computed_at
    assert set(FlowSnapshot.objects.filter(nexus=nexus).values_list("computed_at", flat=True)) == {computed}

    # A change the refresh has not made the summaries of stays counted until one does.
    _mark(nexus)
    with django_capture_on_commit_callbacks(execute=False):  # the change, its callbacks not run
        pbi_transition(item=items[1], to_column=column(nexus, "In Progress"), actor=None)
    assert flow_apply(nexus_id=nexus.pk, item_ids=[items[1].pk]) == APPLIED  # the update, no job yet
    assert _stale(nexus) == {None, b.pk}
    assert flow_refresh(nexus_id=nexus.pk) == REFRESHED
    assert _marked(nexus) == {None: False, a.pk: True, b.pk: False, c.pk: True}
    assert FlowSnapshot.objects.get(nexus=nexus, team=b).figures["in_progress"] == 1


def test_refresh_makes_every_scope_again_when_the_forecast_settings_changed():
    nexus = nexus_build(teams=2, items=2)
    flow_recompute(nexus_id=nexus.pk)
    _mark(nexus)
    nexus.sprint_length_days += 7
    nexus.save(update_fields=["sprint_length_days"])
    assert flow_refresh(nexus_id=nexus.pk) == REFRESHED
    assert not any(_marked(nexus).values())
    assert {s.figures["mc_days"] for s in FlowSnapshot.objects.filter(nexus=nexus)} == {
        nexus.sprint_length_days
    }


def test_a_change_applied_while_the_refresh_computes_leaves_its_scopes_stale(
    monkeypatch, django_capture_on_commit_callbacks
):
    """The refresh reads the rows' versions before the rows: a change applied after that (here, in the
    middle of its computing) is not in the summaries it writes, so its scopes stay stale for the next."""
    nexus = nexus_build(teams=2)
    a, b = nexus.teams.order_by("pk")
    items = _stored_items(nexus, (a, b), django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        pbi_transition(item=items[0], to_column=column(nexus, "In Progress"), actor=None)
    assert flow_apply(nexus_id=nexus.pk, item_ids=[items[0].pk]) == APPLIED
    real_keys = refresh.item_keys

    def keys_then_a_change(nexus_arg: Any) -> Any:  # after the rows were read
        with django_capture_on_commit_callbacks(execute=False):
            pbi_transition(item=items[1], to_column=column(nexus, "In Progress"), actor=None)
        assert flow_apply(nexus_id=nexus.pk, item_ids=[items[1].pk]) == APPLIED
        return real_keys(nexus_arg)

    monkeypatch.setattr(refresh, "item_keys", keys_then_a_change)
    assert flow_refresh(nexus_id=nexus.pk) == REFRESHED
    assert FlowSnapshot.objects.get(nexus=nexus, team=b).figures["in_progress"] == 0  # read before it
    assert _stale(nexus) == {None, b.pk}
    monkeypatch.setattr(refresh, "item_keys", real_keys)
    assert flow_refresh(nexus_id=nexus.pk) == REFRESHED
    assert _stale(nexus) == set()
    assert FlowSnapshot.objects.get(nexus=nexus, team=b).figures["in_progress"] == 1
    assert FlowSnapshot.objects.get(nexus=nexus, team=a).figures["in_progress"] == 1


@pytest.mark.django_db(transaction=True)  # the lock is a transaction's: each one here commits
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the flow lock held from another connection")
def test_a_change_a_running_full_recompute_turned_away_is_applied_by_the_next_job(
    monkeypatch, django_capture_on_commit_callbacks
):
    """A change made while a full recompute holds the flow lock (`BUSY`) is kept, and the job after it
    applies it incrementally and refreshes: no second full recompute."""
    nexus = nexus_build(teams=2)
    a, b = nexus.teams.order_by("pk")
    items = _stored_items(nexus, (a, b), django_capture_on_commit_callbacks)
    requested: list[bool] = []
    monkeypatch.setattr(receivers, "recompute_request", lambda **kw: requested.append(kw["full"]))
    holding, release = threading.Event(), threading.Event()

    def full_recompute_running() -> None:  # holds the Nexus's flow lock, as a full recompute does
        try:
            with flow_lock(nexus.pk, wait=True):
                holding.set()
                release.wait(30)
        finally:
            db_connection.close()

    holder = threading.Thread(target=full_recompute_running)
    holder.start()
    try:
        assert holding.wait(10)
        with django_capture_on_commit_callbacks(execute=True):
            pbi_transition(item=items[0], to_column=column(nexus, "In Progress"), actor=None)
    finally:
        release.set()
        holder.join(10)
    assert requested == [False]  # the job may refresh: the change is kept for it
    assert list(FlowPendingItem.objects.filter(nexus=nexus).values_list("item_id", flat=True)) == [
        items[0].pk
    ]
    assert FlowState.objects.get(nexus=nexus).full_needed is False
    log_reads = _no_log_reads(monkeypatch)
    assert recompute_job(nexus_id=nexus.pk) == {"refreshed": REFRESHED}
    assert log_reads == []  # applied and refreshed, no full recompute
    assert not FlowPendingItem.objects.filter(nexus=nexus).exists()
    assert FlowSnapshot.objects.get(nexus=nexus, team=None).figures["in_progress"] == 1
    assert FlowSnapshot.objects.get(nexus=nexus, team=a).figures["in_progress"] == 1
    summary = flow_recompute(nexus_id=nexus.pk)  # and nothing is left for the full recompute to write
    assert summary["timings"]["rows_written"] == 0


def test_kept_changes_the_incremental_update_cannot_apply_make_the_job_a_full_recompute(monkeypatch):
    nexus = nexus_build(teams=1, items=2)
    flow_recompute(nexus_id=nexus.pk)
    item = nexus.backlog.items.earliest("pk")
    pending_items_keep(nexus_id=nexus.pk, item_ids=[item.pk, item.pk])
    WorkflowColumn.objects.filter(nexus=nexus, name="In Progress").update(name="Doing")  # FULL
    log_reads = _no_log_reads(monkeypatch)
    recompute_job(nexus_id=nexus.pk)
    assert log_reads == [1]
    assert not FlowPendingItem.objects.filter(nexus=nexus).exists()


def test_a_change_made_while_the_job_runs_queues_the_next_job(monkeypatch):
    """The job releases its claim and takes the kept changes before it reads anything, so a change it
    may not have read (here, one made while it applies the kept changes) queues the job after it and
    stays kept for it instead of waiting unseen."""
    nexus = nexus_build(teams=1, items=2)
    flow_recompute(nexus_id=nexus.pk)
    item = nexus.backlog.items.earliest("pk")
    pending_items_keep(nexus_id=nexus.pk, item_ids=[item.pk])
    FlowState.objects.filter(nexus=nexus).update(enqueued_at=timezone.now())  # this job, queued
    sent: list[int] = []
    monkeypatch.setattr(tasks.recompute_nexus, "delay", lambda nexus_id: sent.append(nexus_id))
    claimed: list[bool] = []
    real_apply = incremental.flow_apply

    def apply_while_a_change_comes(**kwargs: Any) -> str:
        # the same item changes again, turned away by a running update: kept for the next job
        pending_items_keep(nexus_id=nexus.pk, item_ids=[item.pk])
        claimed.append(services.recompute_request(nexus_id=nexus.pk, full=False))
        return real_apply(**kwargs)

    monkeypatch.setattr(incremental, "flow_apply", apply_while_a_change_comes)
    recompute_job(nexus_id=nexus.pk)
    assert claimed == [True]
    assert sent == [nexus.pk]
    # the change kept meanwhile is still there for that next job (this one may not have read it)
    assert list(FlowPendingItem.objects.filter(nexus=nexus).values_list("item_id", flat=True)) == [item.pk]
