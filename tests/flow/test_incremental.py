"""The incremental update of stored flow figures (`flow.incremental`) equals a full recompute.

A Hypothesis property test drives a Nexus through random sequences of column moves (forward and back),
Scrum Team changes, team squares and moves on a team's board (forward and back), deletions and
restores, with the clock jumping across day boundaries in several time zones; every change reaches flow
the way a request's does (the `items_changed` signal on commit) and only the incremental update runs
(except a team's first square change, which changes the basis of its figures from the Nexus columns to
its own flow: the full recompute's job, run then as the coalesced job would). Then a full recompute as
of the same day must store exactly the same daily rows for every scope (the Nexus, each team on either
basis) and the same per-item rows (`ItemFlow`, `ItemTeamFlow`): it finds nothing to write. Before it,
the coalesced job's refresh of the summaries from those stored rows (`flow.refresh.flow_refresh`) must
give the figures, chart lists and summary the full recompute then gives. The coalesced job also runs at
random points of the sequence (a refresh, or the full recompute once the day turned), so the last
refresh makes only the scopes changed since the one before and must still give every scope's figures.
A PBI may start with imported squares (no `team_added` rows), which a team's own flow counts from
their Nexus columns until their first team-level row.
"""

from __future__ import annotations

import json
import zoneinfo
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import numpy as np
import pytest
from django.utils import timezone
from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st

from backlog.errors import DomainError
from backlog.models import (
    Nexus,
    ProductBacklogItem,
    ScrumTeam,
    TeamColumn,
    TeamInvolvement,
    TeamStatus,
    Transition,
    TransitionKind,
    WorkflowColumn,
)
from backlog.services import (
    involvement_set_status,
    pbi_create,
    pbi_delete,
    pbi_restore,
    pbi_set_teams,
    pbi_transition,
    pbi_update,
)
from backlog.services.squares import team_item_move
from flow import incremental, montecarlo, receivers, report
from flow.incremental import APPLIED, FULL, UNCHANGED, flow_apply
from flow.models import FlowSnapshot, FlowState, ItemFlow, ItemTeamFlow
from flow.refresh import REFRESHED, flow_refresh
from flow.services import flow_recompute, recompute_job
from tests.factories import column, nexus_build, squares_fill
from tests.flow.builders import stored_days

pytestmark = pytest.mark.django_db

ZONES = ["UTC", "Pacific/Auckland", "America/Los_Angeles", "Asia/Kolkata"]


class Clock:
    """`timezone.now()` for the services and `nexus_today`, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime(2024, 2, 27, 9, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(timezone, "now", c)
    return c


@pytest.fixture
def cheap_forecasts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The full recompute's Monte Carlo forecasts with few trials: this test compares stored rows, not
    forecasts, and runs many recomputes."""
    monkeypatch.setattr(
        report.montecarlo, "forecast_how_many", partial(montecarlo.forecast_how_many, trials=20)
    )
    monkeypatch.setattr(
        report.montecarlo, "forecast_when", partial(montecarlo.forecast_when, trials=20, max_days=60)
    )


@pytest.fixture
def applied(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Only the incremental update runs after a change (no coalesced recompute); its outcomes."""
    seen: list[str] = []

    def spy(**kwargs: Any) -> str:
        result = flow_apply(**kwargs)
        seen.append(result)
        if result == FULL:  # what the coalesced job does then
            flow_recompute(nexus_id=kwargs["nexus_id"])
        return result

    monkeypatch.setattr(receivers, "recompute_request", lambda **kwargs: False)
    monkeypatch.setattr(receivers, "flow_apply", spy)
    return seen


def stored(nexus: Nexus) -> dict[str, Any]:
    """Everything the incremental update maintains: per scope its days and rows; per item its row."""
    snaps = {s.pk: s for s in FlowSnapshot.objects.filter(nexus=nexus)}
    days: dict[Any, list[tuple[Any, ...]]] = {s.team_id: [] for s in snaps.values()}
    for snap_id, *row in stored_days(snaps):
        days[snaps[snap_id].team_id].append(tuple(row))
    return {
        "scopes": {s.team_id: (s.as_of, s.start, s.end, s.basis) for s in snaps.values()},
        "team_items": sorted(
            ItemTeamFlow.objects.filter(nexus=nexus).values_list(
                "item_id", "team_id", "started_on", "finished_on", "cycle_time", "milestones", "first_day"
            )
        ),
        "days": days,
        "items": {
            pk: tuple(rest)
            for pk, *rest in ItemFlow.objects.filter(nexus=nexus)
            .order_by("item_id")
            .values_list(
                "item_id", "started_on", "finished_on", "cycle_time", "milestones", "first_day", "teams"
            )
        },
    }


def summaries(nexus: Nexus) -> dict[str, Any]:
    """What the refresh of the summaries writes: each scope's figures and detail, and the summary."""
    return {
        "scopes": {
            s.team_id: (s.figures, json.loads(s.detail)) for s in FlowSnapshot.objects.filter(nexus=nexus)
        },
        "summary": FlowState.objects.get(nexus=nexus).summary,
    }


ops = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.lists(st.integers(0, 1), max_size=2, unique=True)),
        st.tuples(st.just("move"), st.integers(0, 50), st.integers(0, 3)),
        st.tuples(st.just("teams"), st.integers(0, 50), st.lists(st.integers(0, 1), max_size=2, unique=True)),
        st.tuples(
            st.just("square"), st.integers(0, 50), st.integers(0, 1), st.sampled_from(TeamStatus.values)
        ),
        st.tuples(st.just("board"), st.integers(0, 50), st.integers(0, 1), st.integers(0, 5)),
        st.tuples(st.just("delete"), st.integers(0, 50)),
        st.tuples(st.just("restore"), st.integers(0, 50)),
        st.tuples(st.just("title"), st.integers(0, 50)),
        st.tuples(st.just("wait"), st.integers(1, 60)),
        st.tuples(st.just("job")),  # the coalesced job meanwhile: the stale scopes' summaries made again
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # each example is slow: shrinking takes minutes
)
@given(
    zone=st.sampled_from(ZONES),
    steps=ops,
    start_hour=st.integers(0, 23),
    history=st.lists(st.integers(0, 1), max_size=2, unique=True),
    imported=st.booleans(),
)
def test_incremental_update_equals_full_recompute(
    zone,
    steps,
    start_hour,
    history,
    imported,
    clock,
    cheap_forecasts,
    applied,
    django_capture_on_commit_callbacks,
):
    clock.now = datetime(2024, 2, 27, start_hour, 30, tzinfo=UTC)
    applied.clear()
    nexus = nexus_build(teams=2)
    Nexus.objects.filter(pk=nexus.pk).update(time_zone=zone)
    nexus.refresh_from_db()
    teams = list(ScrumTeam.objects.filter(nexus=nexus).order_by("pk"))
    columns = list(WorkflowColumn.objects.filter(nexus=nexus).order_by("position"))
    items: list[ProductBacklogItem] = []
    with django_capture_on_commit_callbacks(execute=True):
        items.append(pbi_create(nexus=nexus, title="Seed", actor=None, teams=[teams[t] for t in history]))
        for inv in TeamInvolvement.objects.filter(item=items[0]):  # team-level history from the start
            involvement_set_status(involvement=inv, status=TeamStatus.IN_PROGRESS, actor=None)
        if imported:  # squares as an import leaves them (no team_added row): counted from the Nexus columns
            items.append(pbi_create(nexus=nexus, title="Imported", actor=None, teams=teams))
            Transition.objects.filter(item=items[-1], kind=TransitionKind.TEAM_ADDED).delete()
    flow_recompute(nexus_id=nexus.pk)  # the stored figures the changes start from
    board = {t.pk: list(TeamColumn.objects.filter(team=t).order_by("position")) for t in teams}
    applied.clear()

    def item(i: int) -> ProductBacklogItem:
        return ProductBacklogItem.objects.get(pk=items[i % len(items)].pk)

    for step in [*steps, ("create", [0])]:  # end with a change: the rows run to that day
        kind = step[0]
        if kind == "wait":
            clock.now += timedelta(hours=step[1])
            continue
        if kind == "job":
            recompute_job(nexus_id=nexus.pk)  # a refresh, or the full recompute once the day turned
            continue
        clock.now += timedelta(minutes=7)
        try:
            with django_capture_on_commit_callbacks(execute=True):
                if kind == "create":
                    items.append(
                        pbi_create(nexus=nexus, title="New", actor=None, teams=[teams[t] for t in step[1]])
                    )
                elif kind == "move":
                    pbi_transition(item=item(step[1]), to_column=columns[step[2]], actor=None)
                elif kind == "teams":
                    pbi_set_teams(item=item(step[1]), teams=[teams[t] for t in step[2]], actor=None)
                elif kind == "square":
                    square = TeamInvolvement.objects.filter(item=item(step[1]), team=teams[step[2]]).first()
                    if square is not None:
                        involvement_set_status(involvement=square, status=step[3], actor=None)
                elif kind == "board":  # a move on the team's own board, forward or back
                    target, cols = item(step[1]), board[teams[step[2]].pk]
                    if TeamInvolvement.objects.filter(item=target, team=teams[step[2]]).exists():
                        col = cols[step[3] % len(cols)]
                        team_item_move(item=target, team=teams[step[2]], to_column=col, actor=None)
                elif kind == "delete":
                    pbi_delete(item=item(step[1]), actor=None)
                elif kind == "restore":
                    pbi_restore(item=item(step[1]), actor=None)
                elif kind == "title":
                    pbi_update(item=item(step[1]), actor=None, title=f"Renamed {clock.now}")
        except DomainError:
            pass  # a deleted item, a full hard WIP limit: nothing changed
    note(f"zone={zone} start_hour={start_hour} steps={steps}")
    assert set(applied) <= {APPLIED, UNCHANGED, FULL}, applied
    assert applied.count(FULL) <= 2 - len(history)  # once per team, when its own history begins

    today = clock.now.astimezone(zoneinfo.ZoneInfo(zone)).date()
    incremental_rows = stored(nexus)
    own_flow = sum(scope[3] == "team" for scope in incremental_rows["scopes"].values())
    event(f"teams on their own flow at the end: {own_flow}")
    event(f"items in a team's own flow: {min(len(incremental_rows['team_items']), 3)}+")
    assert all(scope[2] == today for scope in incremental_rows["scopes"].values())
    # The coalesced job's refresh of the summaries from the stored rows (`flow.refresh`) ...
    assert flow_refresh(nexus_id=nexus.pk) == REFRESHED
    refreshed = summaries(nexus)
    summary = flow_recompute(nexus_id=nexus.pk, as_of=today)
    assert stored(nexus) == incremental_rows
    assert summary["timings"]["rows_written"] == 0  # the full recompute found nothing to change
    # ... gives the full recompute's figures, chart lists and summary
    assert summaries(nexus) == refreshed


def test_title_edit_requests_no_recompute(nexus, django_capture_on_commit_callbacks, monkeypatch):
    from backlog.signals import items_changed

    heard: list[dict[str, Any]] = []

    def on_changed(sender: Any, **kwargs: Any) -> None:
        heard.append(kwargs)

    requests: list[int] = []
    monkeypatch.setattr(receivers, "recompute_request", lambda **kw: requests.append(kw["nexus_id"]))
    item = pbi_create(nexus=nexus, title="A", actor=None)
    items_changed.connect(on_changed, dispatch_uid="test-title")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            pbi_update(item=item, actor=None, title="B", description="longer", is_blocked=True)
    finally:
        items_changed.disconnect(dispatch_uid="test-title")
    assert [h["flow"] for h in heard] == [False]
    assert requests == []
    # a column change names its item, and asks for the incremental update and the refresh
    with django_capture_on_commit_callbacks(execute=True):
        pbi_update(item=item, actor=None, column=column(nexus, "In Progress"))
    assert requests == [nexus.pk]


def _query_count(nexus: Nexus, django_assert_max_num_queries: Any, n_items: int) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for i in range(n_items):
        it = pbi_create(
            nexus=nexus, title=f"I{i}", actor=None, teams=list(ScrumTeam.objects.filter(nexus=nexus))
        )
        pbi_transition(item=it, to_column=column(nexus, "In Progress"), actor=None)
        for square in TeamInvolvement.objects.filter(item=it):  # the teams' own flow (team basis)
            involvement_set_status(involvement=square, status=TeamStatus.IN_PROGRESS, actor=None)
    flow_recompute(nexus_id=nexus.pk)
    first = ProductBacklogItem.objects.filter(backlog__nexus=nexus).first()
    assert first is not None
    it = first
    squares_fill(it)
    pbi_transition(item=it, to_column=column(nexus, "Done"), actor=None)
    with CaptureQueriesContext(connection) as ctx:
        assert flow_apply(nexus_id=nexus.pk, item_ids=[it.pk]) == APPLIED
    return len(ctx.captured_queries)


def test_queries_per_change_do_not_grow_with_the_nexus(cheap_forecasts, django_assert_max_num_queries):
    small = _query_count(nexus_build(teams=1), django_assert_max_num_queries, 2)
    large = _query_count(nexus_build(teams=3), django_assert_max_num_queries, 40)
    assert large == small
    assert small <= 18


def test_a_new_day_extends_every_scope_and_a_workflow_change_needs_the_full_recompute(clock, cheap_forecasts):
    nexus = nexus_build(teams=2)
    item = pbi_create(
        nexus=nexus, title="A", actor=None, teams=list(ScrumTeam.objects.filter(nexus=nexus)[:1])
    )
    pbi_transition(item=item, to_column=column(nexus, "In Progress"), actor=None)
    flow_recompute(nexus_id=nexus.pk)
    clock.now += timedelta(days=3)
    # the team's first square change: its figures change basis, the full recompute's job
    square = TeamInvolvement.objects.get(item=item)
    involvement_set_status(involvement=square, status=TeamStatus.IN_PROGRESS, actor=None)
    assert flow_apply(nexus_id=nexus.pk, item_ids=[item.pk]) == incremental.FULL
    flow_recompute(nexus_id=nexus.pk)
    squares_fill(item)
    pbi_transition(item=item, to_column=column(nexus, "Done"), actor=None)
    assert flow_apply(nexus_id=nexus.pk, item_ids=[item.pk]) == APPLIED
    ends = set(FlowSnapshot.objects.filter(nexus=nexus).values_list("end", flat=True))
    assert ends == {clock.now.date()}
    assert ItemFlow.objects.get(item=item).finished_on == clock.now.date()
    WorkflowColumn.objects.filter(nexus=nexus, name="Review").update(name="Checked")
    assert flow_apply(nexus_id=nexus.pk, item_ids=[item.pk]) == incremental.FULL
    assert FlowState.objects.get(nexus=nexus).computed_on is not None


@pytest.mark.django_db(transaction=True)
def test_the_embedded_default_refreshes_the_figures_in_a_thread_after_the_response(
    settings, cheap_forecasts, monkeypatch
):
    from flow import background

    settings.FLOW_RECOMPUTE_IN_THREAD = True  # as with no REDIS_URL (tests otherwise run it inline)
    monkeypatch.setattr(background, "DELAY", 0.5)
    nexus = nexus_build(teams=1)
    try:
        item = pbi_create(nexus=nexus, title="A", actor=None)  # nothing stored yet: the thread computes
        assert background.wait_idle(60)
        assert FlowState.objects.get(nexus=nexus).computed_at is not None
        pbi_transition(item=item, to_column=column(nexus, "In Progress"), actor=None)
        # the daily rows and the item's dates are current when the write returns ...
        assert ItemFlow.objects.get(item=item).started_on is not None
        assert FlowState.objects.get(nexus=nexus).pending_since is not None
        # ... and the headline figures follow in the thread
        assert background.wait_idle(60)
        state = FlowState.objects.get(nexus=nexus)
        assert state.pending_since is None
        assert state.summary["wip_as_of"] == 1
    finally:
        background.wait_idle(60)


@pytest.mark.smoke  # `make test` runs it on PostgreSQL with the suite, then on SQLite (`make smoke`)
def test_back_moves_shift_the_stored_days_in_the_database_as_a_full_recompute_stores_them(
    clock, cheap_forecasts, applied, django_capture_on_commit_callbacks
):
    """Back-moves change every stored day since the item started: the incremental update adds the
    change to the stored series run by run (`flow.series.add_runs`), and carries it to the days since
    it was stored. Both databases must store what a full recompute stores."""
    nexus = nexus_build(teams=2)
    teams = list(ScrumTeam.objects.filter(nexus=nexus).order_by("pk"))
    cols = list(WorkflowColumn.objects.filter(nexus=nexus).order_by("position"))
    with django_capture_on_commit_callbacks(execute=True):
        items = [
            pbi_create(nexus=nexus, title=f"I{i}", actor=None, teams=teams[: 1 + i % 2]) for i in range(4)
        ]
    for day in range(1, 4):  # each a column further every ten days
        clock.now += timedelta(days=10)
        with django_capture_on_commit_callbacks(execute=True):
            for it in items:
                pbi_transition(item=it, to_column=cols[min(day, len(cols) - 2)], actor=None)
        squares_fill(items[3])
        pbi_transition(item=items[3], to_column=cols[-1], actor=None)  # finished 10 days ago
    flow_recompute(nexus_id=nexus.pk)
    applied.clear()
    clock.now += timedelta(days=5)
    with django_capture_on_commit_callbacks(execute=True):
        pbi_transition(item=items[0], to_column=cols[0], actor=None)  # started 35 days ago: not started
        pbi_transition(item=items[1], to_column=cols[1], actor=None)  # back from a later column
        pbi_transition(item=items[3], to_column=cols[2], actor=None)  # no longer finished
    clock.now += timedelta(days=2)
    with django_capture_on_commit_callbacks(execute=True):
        pbi_delete(item=items[2], actor=None)  # its days out of both teams' rows
        pbi_transition(item=items[0], to_column=cols[2], actor=None)  # started again, today
    assert applied
    assert set(applied) == {APPLIED}, applied
    # team-level rows (both teams are on their own flow since item 3's squares were filled): a square
    # change, and a back-move of a PBI with squares, applied from the items' team events
    squares = list(TeamInvolvement.objects.filter(item=items[1]).order_by("team_id"))
    clock.now += timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        involvement_set_status(involvement=squares[0], status=TeamStatus.IN_PROGRESS, actor=None)
        involvement_set_status(involvement=squares[1], status=TeamStatus.READY_TO_INTEGRATE, actor=None)
    with django_capture_on_commit_callbacks(execute=True):
        pbi_transition(item=items[1], to_column=cols[0], actor=None)
    assert set(applied) <= {APPLIED, UNCHANGED}, applied
    assert ItemTeamFlow.objects.filter(item=items[1]).count() == 2  # its part in both teams' own flow
    assert {s.basis for s in FlowSnapshot.objects.filter(nexus=nexus, team__isnull=False)} == {"team"}
    incremental_rows = stored(nexus)
    nexus_snap = FlowSnapshot.objects.get(nexus=nexus, team=None)
    assert len(stored_days([nexus_snap])) >= 35  # the back-moves changed days over weeks
    summary = flow_recompute(nexus_id=nexus.pk)
    assert stored(nexus) == incremental_rows
    assert summary["timings"]["rows_written"] == 0  # not even the CFD's JSON text differs


def test_add_runs_adds_each_run_to_its_days_only():
    """`flow.series.add_runs` on many runs (a kept batch of changes): each run's change lands on its
    days, none elsewhere; the part of a run outside the series is ignored."""
    from flow import series as flow_series

    start = date(2024, 1, 1)
    width = 5
    values = np.ones((width, 30), dtype=np.int64)
    runs = [
        (start + timedelta(days=k), start + timedelta(days=k), [k, 1, 0, *([k % 3] * (width - 3))])
        for k in range(0, 20, 2)
    ]
    runs.append((start - timedelta(days=5), start - timedelta(days=1), [9] * width))  # before: ignored
    runs.append((start + timedelta(days=29), start + timedelta(days=40), [0, 0, 7, 0, 0]))  # cut at 29
    flow_series.add_runs(values, start, runs)
    for k in range(30):
        shifted = k < 20 and k % 2 == 0
        expected = [1 + k, 2, 1, *([1 + k % 3] * (width - 3))] if shifted else [1] * width
        if k == 29:
            expected = [1, 1, 8, 1, 1]
        assert values[:, k].tolist() == expected, k


def test_a_series_extended_keeps_its_days_carries_its_last_and_pads_with_zeros():
    """`flow.series.extended`: the stored days kept, days before the first zeros, days after the last
    one the last day carried forward (WIP = end-of-day WIP, no Throughput, the same CFD), days outside
    the new range dropped."""
    from flow import series as flow_series

    first = date(2024, 3, 10)
    values = np.array([[1, 2, 3], [1, 2, 2], [0, 1, 1], [5, 6, 7], [0, 1, 2]], dtype=np.int64)
    out = flow_series.extended(
        (first, values), start=first - timedelta(days=2), end=first + timedelta(days=4)
    )
    assert out.T.tolist() == [
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
        [1, 1, 0, 5, 0],
        [2, 2, 1, 6, 1],
        [3, 2, 1, 7, 2],
        [2, 2, 0, 7, 2],
        [2, 2, 0, 7, 2],
    ]
    later = flow_series.extended(
        (first, values), start=first + timedelta(days=1), end=first + timedelta(days=1)
    )
    assert later.T.tolist() == [[2, 2, 1, 6, 1]]
    assert flow_series.last_day((first, values)) == first + timedelta(days=2)


@pytest.mark.smoke
def test_series_are_stored_whole_and_replaced():
    """`flow.series.save` stores each snapshot's series in one statement (`INSERT ... ON CONFLICT`, on
    SQLite as on PostgreSQL) and replaces a stored one whole, width and days included; `load` reads
    them back as they were given."""
    from flow import series as flow_series

    nexus = nexus_build(teams=1)
    flow_recompute(nexus_id=nexus.pk)
    snaps = list(FlowSnapshot.objects.filter(nexus=nexus).order_by("pk"))
    first = date(2024, 5, 1)
    old = {
        s.pk: (first, np.arange(6 * (i + 2), dtype=np.int64).reshape(6, i + 2)) for i, s in enumerate(snaps)
    }
    flow_series.save(old)
    got = flow_series.load(s.pk for s in snaps)
    assert {pk: (d, v.tolist()) for pk, (d, v) in got.items()} == {
        pk: (d, v.tolist()) for pk, (d, v) in old.items()
    }
    new = {snaps[0].pk: (first - timedelta(days=1), np.full((4, 3), 7, dtype=np.int64))}
    flow_series.save(new)
    got = flow_series.load([snaps[0].pk])
    assert got[snaps[0].pk][0] == first - timedelta(days=1)
    assert got[snaps[0].pk][1].tolist() == [[7, 7, 7]] * 4
    assert flow_series.load([snaps[1].pk])[snaps[1].pk][1].tolist() == old[snaps[1].pk][1].tolist()


def test_a_series_packs_and_unpacks_unchanged():
    from flow import series as flow_series

    values = np.arange(-6, 30, dtype=np.int64).reshape(4, 9)
    assert flow_series.unpack(flow_series.pack(values), 4).tolist() == values.tolist()
    with pytest.raises(ValueError, match="whole days"):
        flow_series.unpack(flow_series.pack(values), 5)
    with pytest.raises(ValueError, match="32 bits"):
        flow_series.pack(np.array([[2**31]], dtype=np.int64))
