"""The full recompute's shortcuts give the figures a row-by-row recompute gives.

* Each Scrum Team's scope is computed from the Nexus's replayed items (`compute_flow_of_items`): the
  same result as replaying that team's events (`compute_flow`), series, items and figures.
* A scope whose digest did not change is not read at all; a scope the incremental update wrote has its
  digest emptied, so the next recompute compares its rows one by one and repairs what the log says.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backlog.models import Transition, TransitionKind
from backlog.services import pbi_create, pbi_transition
from flow import metrics
from flow.incremental import APPLIED, flow_apply
from flow.models import FlowSeries, FlowSnapshot, ItemFlow
from flow.services import flow_recompute
from tests.factories import column, nexus_build, team
from tests.flow.builders import d, history_nexus, many_items, nexus_days

pytestmark = pytest.mark.django_db

WF = metrics.Workflow(columns=("Backlog", "Doing", "Review", "Done"), started=1, finished=3)


def _events(n: int = 60) -> list[metrics.ItemEvent]:
    """Items moving forward, back and skipping columns over a few weeks; item i is in team i % 3."""
    out: list[metrics.ItemEvent] = []
    seq = 0
    for i in range(n):
        path: list[tuple[int, int | None]] = [(0, 0), (1 + i % 4, 1), (3 + i % 5, 3 if i % 3 else 2)]
        if i % 7 == 0:
            path.append((9 + i % 3, 1))  # moved back: in progress again
        if i % 11 == 0:
            path = [(2, None), (4, 2)]  # an unmapped state first
        for offset, col in path:
            out.append(
                metrics.ItemEvent(f"i{i}", date(2024, 1, 1) + timedelta(days=offset + i % 13), col, seq)
            )
            seq += 1
    return out


def test_a_team_scope_from_replayed_items_equals_the_replay_of_its_events():
    events = _events()
    as_of = date(2024, 2, 10)
    whole = metrics.compute_flow(events, WF, as_of=as_of)
    for t in range(3):
        keys = {f"i{i}" for i in range(60) if i % 3 == t}
        own = [ev for ev in events if ev.item in keys]
        expected = metrics.compute_flow(own, WF, as_of=as_of)
        indexes = [k for k, it in enumerate(whole.items) if it.key in keys]
        for ordinals in (None, whole.milestone_ordinals[indexes]):
            got = metrics.compute_flow_of_items(
                [whole.items[k] for k in indexes],
                WF,
                as_of=as_of,
                start=expected.start,
                history_days=90,
                milestone_ordinals=ordinals,
            )
            assert got == expected  # every field, the series' arrays included
            assert got.daily == expected.daily


def test_no_item_gives_the_one_day_of_the_as_of_date():
    got = metrics.compute_flow_of_items([], WF, as_of=date(2024, 3, 1), start=date(2024, 3, 1))
    assert got == metrics.compute_flow([], WF, as_of=date(2024, 3, 1))
    assert [(r.date, r.wip, r.cfd["Backlog"]) for r in got.daily] == [(date(2024, 3, 1), 0, 0)]


def _stored(nexus) -> tuple[list[tuple], list[tuple]]:
    days = nexus_days(nexus)  # (team id, day, wip, wip_eod, throughput, cfd), by scope then day
    items = list(
        ItemFlow.objects.filter(nexus=nexus)
        .order_by("item_id")
        .values_list("item_id", "started_on", "finished_on", "cycle_time", "milestones", "first_day", "teams")
    )
    return days, items


def _from_scratch(nexus, as_of: date | None = None) -> tuple[list[tuple], list[tuple]]:
    """What a full recompute into an empty store stores (the Nexus's flow rows deleted first)."""
    FlowSeries.objects.filter(snapshot__nexus=nexus).delete()
    ItemFlow.objects.filter(nexus=nexus).delete()
    FlowSnapshot.objects.filter(nexus=nexus).delete()
    flow_recompute(nexus_id=nexus.pk, as_of=as_of)
    return _stored(nexus)


def test_an_unchanged_recompute_reads_no_stored_row(tmp_path):
    nexus = history_nexus(tmp_path, many_items(60))
    first = flow_recompute(nexus_id=nexus.pk, as_of=d(40))
    assert first["timings"]["rows_written"] > 0
    assert all(s.days_digest for s in FlowSnapshot.objects.filter(nexus=nexus))
    before = _stored(nexus)
    with CaptureQueriesContext(connection) as ctx:
        again = flow_recompute(nexus_id=nexus.pk, as_of=d(40))
    assert again["timings"]["rows_written"] == 0
    read = [
        q["sql"] for q in ctx.captured_queries if "flow_flowseries" in q["sql"] or "flow_itemflow" in q["sql"]
    ]
    assert read == []  # the digests matched: neither the daily rows nor the items were read
    assert _stored(nexus) == before
    # a day later every scope has one more day: its stored days are the first days of its new series
    # (their digest is the stored one), so only the new rows are written, and no stored row is read
    with CaptureQueriesContext(connection) as ctx:
        later = flow_recompute(nexus_id=nexus.pk, as_of=d(41))
    scopes = FlowSnapshot.objects.filter(nexus=nexus).count()
    assert later["timings"]["rows_written"] == scopes
    read = [
        q["sql"]
        for q in ctx.captured_queries
        if q["sql"].startswith("SELECT") and "flow_flowseries" in q["sql"]
    ]
    assert read == []
    # the check looks at the right table: the new days were written to it
    assert any("flow_flowseries" in q["sql"] for q in ctx.captured_queries)
    appended = _stored(nexus)
    assert _from_scratch(nexus, as_of=d(41)) == appended


def test_a_day_turned_over_changed_days_compares_them(tmp_path):
    """The first days of the new series differ from what the last recompute stored (a PBI's past
    changed in the log, and no incremental update followed): their digest is not the stored one, so
    the stored rows are compared and mended, not merely extended."""
    nexus = history_nexus(tmp_path, many_items(30))
    flow_recompute(nexus_id=nexus.pk, as_of=d(40))
    moved = Transition.objects.filter(item__backlog__nexus=nexus, kind=TransitionKind.COLUMN).order_by("-at")[
        0
    ]
    Transition.objects.filter(pk=moved.pk).update(at=moved.at - timedelta(days=3))
    later = flow_recompute(nexus_id=nexus.pk, as_of=d(41))
    scopes = FlowSnapshot.objects.filter(nexus=nexus).count()
    assert later["timings"]["rows_written"] > scopes  # more than the one new day of each scope
    mended = _stored(nexus)
    assert _from_scratch(nexus, as_of=d(41)) == mended


def test_rows_the_incremental_update_wrote_are_compared_again():
    nexus = nexus_build(teams=2)
    team_a = team(nexus, "Team A")
    item = pbi_create(nexus=nexus, title="A", actor=None, teams=[team_a])
    other = pbi_create(nexus=nexus, title="B", actor=None)
    pbi_transition(item=other, to_column=column(nexus, "In Progress"), actor=None)
    flow_recompute(nexus_id=nexus.pk)
    snaps = {s.team_id: s for s in FlowSnapshot.objects.filter(nexus=nexus)}
    assert all(s.days_digest for s in snaps.values())
    assert snaps[None].items_digest

    pbi_transition(item=item, to_column=column(nexus, "In Progress"), actor=None)
    assert flow_apply(nexus_id=nexus.pk, item_ids=[item.pk]) == APPLIED
    after = {s.team_id: s for s in FlowSnapshot.objects.filter(nexus=nexus)}
    assert after[None].days_digest == after[None].items_digest == ""  # the Nexus's rows and items
    assert after[team_a.pk].days_digest == ""  # the item's team
    untouched = [t for t in after if t not in (None, team_a.pk)]
    assert untouched
    assert all(after[t].days_digest == snaps[t].days_digest for t in untouched)

    # The item goes back to where it was, and no incremental update follows (a lost one): the log now
    # says what the last full recompute stored, its digests again, but the rows say otherwise.
    pbi_transition(item=item, to_column=column(nexus, "Ready"), actor=None)
    repaired = flow_recompute(nexus_id=nexus.pk)
    assert repaired["timings"]["rows_written"] > 0
    stored = _stored(nexus)
    assert _from_scratch(nexus) == stored
