"""Stored results: snapshots per Nexus and per team with daily rows, idempotent recompute, stored figures
equal to figures computed from the log, when a view is served from storage, nightly and due recomputes."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from backlog.models import ScrumTeam
from flow.models import FlowSnapshot, FlowState, ItemFlow
from flow.report import FlowQuery, flow_compute, report_dict
from flow.selectors import flow_data_get
from flow.services import flow_recompute, flow_recompute_all, flow_recompute_due
from nexus_site.celery import app
from tests.factories import squares_fill
from tests.flow.builders import d, example_items, history_nexus, nexus_days, stored_days

pytestmark = pytest.mark.django_db
AS_OF = d(10)


@pytest.fixture
def example(tmp_path):
    return history_nexus(tmp_path, example_items())


def _stored_rows(nexus):
    return (
        FlowSnapshot.objects.filter(nexus=nexus).count(),
        len(nexus_days(nexus)),
        ItemFlow.objects.filter(nexus=nexus).count(),
    )


def test_recompute_stores_a_snapshot_per_nexus_and_per_team_with_daily_rows(example):
    summary = flow_recompute(nexus_id=example.pk, as_of=AS_OF)
    assert summary["finished_items"] == 2
    nexus_snap = FlowSnapshot.objects.get(nexus=example, team=None)
    assert (nexus_snap.as_of, nexus_snap.start, nexus_snap.end) == (AS_OF, d(1), AS_OF)
    assert nexus_snap.figures["finished_items"] == 2
    assert nexus_snap.figures["columns"] == ["Backlog", "Doing", "Review", "Done"]
    days = stored_days([nexus_snap])  # (snapshot, day, wip, wip_eod, throughput, cfd), by day
    assert [x[2] for x in days] == [0, 2, 3, 2, 1, 1, 1, 1, 1, 1]
    assert days[-1][5] == [4, 3, 2, 2]
    teams = {s.team.name: s for s in FlowSnapshot.objects.filter(nexus=example, team__isnull=False) if s.team}
    assert set(teams) == {"Core", "UI"}
    assert teams["Core"].figures["finished_items"] == 2
    assert json.loads(teams["UI"].detail)["ages"] == [["C", 1, 9]]
    assert len(stored_days([teams["UI"]])) == 10
    state = FlowState.objects.get(nexus=example)
    assert (state.computed_on, state.pending_since) == (AS_OF, None)


def test_recompute_is_idempotent(example):
    first = flow_recompute(nexus_id=example.pk, as_of=AS_OF)
    rows = _stored_rows(example)
    again = flow_recompute(nexus_id=example.pk, as_of=AS_OF)
    assert _stored_rows(example) == rows == (3, 30, 4)
    first.pop("timings"), again.pop("timings")
    assert first == again


def test_stored_figures_equal_figures_computed_from_the_log(example):
    flow_recompute(nexus_id=example.pk, as_of=AS_OF)
    for team in [None, *ScrumTeam.objects.filter(nexus=example)]:
        stored = flow_data_get(nexus=example, query=FlowQuery(team=team))
        assert stored.stored
        computed = flow_compute(nexus=example, query=FlowQuery(team=team, as_of=AS_OF))
        assert not computed.stored
        assert report_dict(stored) == report_dict(computed)
        assert stored.detail == computed.detail


def test_which_views_come_from_storage(example, django_assert_num_queries):
    flow_recompute(nexus_id=example.pk, as_of=AS_OF)
    with django_assert_num_queries(1):  # the snapshot: the page draws from it alone
        data = flow_data_get(nexus=example, query=FlowQuery())
        assert data.stored
        assert data.detail["wip"] == [0, 2, 3, 2, 1, 1, 1, 1, 1, 1]
    with django_assert_num_queries(1):  # the daily rows, read when asked for (API, CSV)
        assert [d.wip for d in data.days] == [0, 2, 3, 2, 1, 1, 1, 1, 1, 1]
    assert flow_data_get(nexus=example, query=FlowQuery(as_of=AS_OF, start=d(1), end=AS_OF)).stored
    assert not flow_data_get(nexus=example, query=FlowQuery(label="ui")).stored
    assert not flow_data_get(nexus=example, query=FlowQuery(class_of_service="expedite")).stored
    assert not flow_data_get(nexus=example, query=FlowQuery(as_of=d(5))).stored
    assert not flow_data_get(nexus=example, query=FlowQuery(start=d(3))).stored
    assert not flow_data_get(nexus=example, query=FlowQuery(mc_history_days=30)).stored
    # A snapshot stored in another shape (an older version) is not served until recomputed.
    FlowSnapshot.objects.filter(nexus=example, team=None).update(figures={"format": 0})
    assert not flow_data_get(nexus=example, query=FlowQuery()).stored


def test_other_forecast_questions_are_answered_from_the_stored_history(example):
    flow_recompute(nexus_id=example.pk, as_of=AS_OF)
    stored = flow_data_get(nexus=example, query=FlowQuery(mc_days=30, mc_items=3))
    assert stored.stored
    computed = flow_compute(nexus=example, query=FlowQuery(as_of=AS_OF, mc_days=30, mc_items=3))
    assert stored.figures["mc_how_many"] == computed.figures["mc_how_many"]
    assert stored.figures["mc_when"] == computed.figures["mc_when"]
    assert stored.detail["mc_when_histogram"] == computed.detail["mc_when_histogram"]


def test_a_change_replaces_the_stored_results(example):
    from backlog.models import ProductBacklogItem, WorkflowColumn
    from backlog.services import pbi_transition

    flow_recompute(nexus_id=example.pk, as_of=AS_OF)
    c = ProductBacklogItem.objects.get(external_id="C")
    done = WorkflowColumn.objects.get(nexus=example, name="Done")
    squares_fill(c)
    pbi_transition(item=c, to_column=done, actor=None, at=timezone.now())
    flow_recompute(nexus_id=example.pk)
    snap = FlowSnapshot.objects.get(nexus=example, team=None)
    assert snap.figures["finished_items"] == 3
    assert json.loads(snap.detail)["ages"] == []
    assert FlowSnapshot.objects.filter(nexus=example).count() == 3


def test_recompute_due_picks_stale_days_and_pending_marks(example, tmp_path):
    other = history_nexus(tmp_path, example_items(), slug="other")
    flow_recompute(nexus_id=example.pk)  # today: not due
    flow_recompute(nexus_id=other.pk, as_of=AS_OF)  # computed for an earlier day: due
    assert flow_recompute_due() == 1
    assert FlowState.objects.get(nexus=other).computed_on == timezone.now().date()
    # Pending while the broker was down (nothing queued): due.
    FlowState.objects.filter(nexus=example).update(pending_since=timezone.now() - timedelta(hours=2))
    assert flow_recompute_due() == 1
    assert FlowState.objects.get(nexus=example).pending_since is None
    assert flow_recompute_due() == 0


def test_recompute_all_goes_on_when_one_nexus_fails(example, tmp_path, monkeypatch):
    from flow.services import recompute

    other = history_nexus(tmp_path, example_items(), slug="other")
    real = recompute.flow_recompute

    def flaky(*, nexus_id, as_of=None):
        if nexus_id == example.pk:
            raise RuntimeError("disk full")
        return real(nexus_id=nexus_id, as_of=as_of)

    monkeypatch.setattr(recompute, "flow_recompute", flaky)
    assert flow_recompute_all() == 1
    assert FlowState.objects.get(nexus=other).computed_at is not None
    assert "disk full" in FlowState.objects.get(nexus=example).last_error


def test_nightly_and_hourly_jobs_are_scheduled():
    schedule = app.conf.beat_schedule
    tasks = {entry["task"] for entry in schedule.values()}
    assert {"flow.recompute_all", "flow.recompute_due"} <= tasks
    app.loader.import_default_modules()
    assert {"flow.recompute_all", "flow.recompute_due", "flow.recompute_nexus"} <= set(app.tasks)
    nightly: Any = next(e for e in schedule.values() if e["task"] == "flow.recompute_all")["schedule"]
    assert nightly.hour == {1}
    assert nightly.minute == {30}


def test_copy_keeps_text_that_copy_would_escape(monkeypatch: pytest.MonkeyPatch):
    """`store.rows_insert` through COPY (on PostgreSQL; `executemany` elsewhere): a batch whose text
    holds a tab, a newline, a backslash or the literal `\\N` goes row by row through `write_row` and is
    stored as given; a plain batch is sent as made. Every value comes back as written."""
    from flow import store
    from tests.factories import nexus_build

    monkeypatch.setattr(store, "FEW", 0)  # COPY even for a few rows
    nexus = nexus_build(teams=4)
    teams = list(ScrumTeam.objects.filter(nexus=nexus).order_by("pk"))
    day, now = timezone.localdate(), timezone.now()
    details = {
        None: "plain",
        teams[0].pk: "a\tb",
        teams[1].pk: "c\nd",
        teams[2].pk: "\\N",
        teams[3].pk: "e\rf",
    }

    def rows(texts: dict[int | None, str]) -> list[tuple[Any, ...]]:
        return [
            (nexus.pk, team, day, day, day, now, "nexus", {"k": 1}, text, "", text[:1], 0, 0)
            for team, text in texts.items()
        ]

    fields = (
        "nexus_id", "team_id", "as_of", "start", "end", "computed_at", "basis", "figures", "detail",
        "days_digest", "items_digest", "rows_version", "summaries_version",
    )  # fmt: skip
    for team, text in details.items():  # each text a batch of its own: each check must catch its own
        store.rows_insert(FlowSnapshot, fields, rows({team: text}))
    got = {s.team_id: (s.detail, s.items_digest, s.figures) for s in FlowSnapshot.objects.filter(nexus=nexus)}
    assert got == {t: (text, text[:1], {"k": 1}) for t, text in details.items()}


def _team_history(nexus) -> ScrumTeam:
    """Give the Nexus's team "UI" team-level history (its square of its unfinished PBI C filled), so
    its figures have the team basis; returns it."""
    from backlog.models import ProductBacklogItem

    ui = ScrumTeam.objects.get(nexus=nexus, name="UI")
    squares_fill(ProductBacklogItem.objects.get(backlog__nexus=nexus, external_id="C"))
    return ui


def test_the_item_rows_travel_while_the_scopes_are_computed(example, monkeypatch: pytest.MonkeyPatch):
    """On PostgreSQL the full recompute sends the Nexus's item rows through COPY, then computes every
    scope's figures (a team-basis one among them) while the server stores the rows: the COPY is still
    open then, so no query may run (PostgreSQL would refuse it). Elsewhere the rows are stored first.
    Either way what is stored is what a recompute comparing every row finds right."""
    from django.db import connection

    from flow import store
    from flow.services import recompute

    monkeypatch.setattr(store, "FEW", 0)  # COPY even for a few rows
    ui = _team_history(example)
    seen: list[Any] = []
    real = recompute._scopes_compute

    def spy(**kwargs: Any) -> Any:
        pg = connection.vendor == "postgresql"
        seen.append(connection.connection.info.transaction_status.name if pg else "stored first")
        return real(**kwargs)

    monkeypatch.setattr(recompute, "_scopes_compute", spy)
    summary = flow_recompute(nexus_id=example.pk)  # today: the squares were filled today
    assert summary["timings"]["rows_written"] > 0
    assert seen == ["ACTIVE" if connection.vendor == "postgresql" else "stored first"]  # ACTIVE: in the COPY
    assert FlowSnapshot.objects.get(nexus=example, team=ui).basis == "team"
    assert ItemFlow.objects.filter(nexus=example).count() == len(example_items())
    again = flow_recompute(nexus_id=example.pk, trust_digests=False)
    assert again["timings"]["rows_written"] == 0


def test_a_failure_while_the_item_rows_travel_keeps_the_stored_figures(
    example, monkeypatch: pytest.MonkeyPatch
):
    """A recompute that fails while its COPY of item rows is open ends the COPY and rolls back: the
    figures stored before stay as they were, and the connection serves the next query."""
    from backlog.services import pbi_create
    from flow import store
    from flow.services import recompute

    flow_recompute(nexus_id=example.pk, as_of=AS_OF)
    before = (
        _stored_rows(example),
        list(ItemFlow.objects.filter(nexus=example).order_by("item_id").values_list()),
        list(FlowSnapshot.objects.filter(nexus=example).order_by("pk").values_list("pk", "computed_at")),
    )
    monkeypatch.setattr(store, "FEW", 0)  # COPY even for a few rows
    pbi_create(nexus=example, title="New", actor=None)  # a new item: its row is added (COPY)

    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("the scopes could not be computed")

    monkeypatch.setattr(recompute, "_scopes_compute", broken)
    with pytest.raises(RuntimeError, match="could not be computed"):
        flow_recompute(nexus_id=example.pk, as_of=AS_OF)
    after = (
        _stored_rows(example),
        list(ItemFlow.objects.filter(nexus=example).order_by("item_id").values_list()),
        list(FlowSnapshot.objects.filter(nexus=example).order_by("pk").values_list("pk", "computed_at")),
    )
    assert after == before


def test_a_query_while_the_item_rows_travel_is_refused_not_left_waiting(
    example, monkeypatch: pytest.MonkeyPatch
):
    """The scopes are computed while the item rows' COPY is open (on PostgreSQL): a query then would
    wait for the COPY, which waits for the computation, forever. It is refused with `CopyOpen`
    instead, and nothing is stored."""
    from django.db import connection

    from flow import store
    from flow.services import recompute

    if connection.vendor != "postgresql":
        pytest.skip("the rows are stored before the scopes are computed off PostgreSQL")
    monkeypatch.setattr(store, "FEW", 0)  # COPY even for a few rows
    real = recompute._scopes_compute

    def querying(**kwargs: Any) -> Any:
        ScrumTeam.objects.filter(nexus=example).count()
        return real(**kwargs)

    monkeypatch.setattr(recompute, "_scopes_compute", querying)
    with pytest.raises(store.CopyOpen, match="no query while a COPY is open"):
        flow_recompute(nexus_id=example.pk, as_of=AS_OF)
    assert _stored_rows(example) == (0, 0, 0)
    assert ScrumTeam.objects.filter(nexus=example).count() == 2  # the connection serves queries again


def test_copy_text_made_by_the_caller_is_checked(example, monkeypatch: pytest.MonkeyPatch):
    """`rows_inserting(copy_text=...)`: the caller's COPY text is checked as the general one is, so a
    value COPY would read otherwise (a tab, a backslash) fails loudly instead of storing other rows."""
    from django.db import connection, transaction

    from flow import store

    if connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    monkeypatch.setattr(store, "FEW", 0)
    flow_recompute(nexus_id=example.pk, as_of=AS_OF)
    rows = list(ItemFlow.objects.filter(nexus=example).values_list("item_id", "nexus_id", *store.ITEM_FIELDS))
    ItemFlow.objects.filter(nexus=example).delete()
    fields = ("item_id", "nexus_id", *store.ITEM_FIELDS)
    for bad in ("\t", "\\"):

        def text(batch: Any, bad: str = bad) -> str:
            return store._items_copy_text(batch).replace("[", bad + "[", 1)

        with (
            pytest.raises(ValueError, match="COPY would read otherwise"),
            transaction.atomic(),  # the COPY fails: back to before it
            store.rows_inserting(ItemFlow, fields, rows, copy_text=text),
        ):
            pass
        assert not ItemFlow.objects.filter(nexus=example).exists()
    with store.rows_inserting(ItemFlow, fields, rows, copy_text=store._items_copy_text):
        pass
    assert sorted(
        ItemFlow.objects.filter(nexus=example).values_list("item_id", "nexus_id", *store.ITEM_FIELDS)
    ) == sorted(rows)
