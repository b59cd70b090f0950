"""The demo step of `events`: the demo Nexus's Sprints reconstructed from its real history (closed ones on
the cadence with their real Throughput, the active one with its plan, a planned next one), second teams
forecast by the areas named in titles, and the not-started part of the Product Backlog (reports filed
after the replay date)."""

from __future__ import annotations

import gzip
import itertools
from datetime import date, timedelta

import pytest
from django.core.management import call_command

from backlog.demo import CUTOFF, DATA_DIR
from backlog.models import Nexus, ProductBacklogItem, TeamInvolvement, Transition
from events import demo
from events.models import ScopeChangeKind, Sprint, SprintItem, SprintScopeChange, SprintSnapshot

pytestmark = pytest.mark.django_db

HEADER = (
    "item_id,from_state,to_state,timestamp,tracker,product,component,resolution,priority,severity,assignee,"
    "title\n"
)


def _row(ext, frm, to, ts, component, title, severity="normal", at="10:00:00"):
    return f"{ext},{frm},{to},{ts}T{at}Z,eclipse,JDT,{component},FIXED,,{severity},dev-x,{title}\n"


CRAFTED = [
    # Finished four weeks before the replay date: Throughput of a closed Sprint.
    _row("eclipse-1", "", "NEW", "2008-05-10", "Core", "[search] slow on big workspaces"),
    _row("eclipse-1", "NEW", "ASSIGNED", "2008-05-20", "Core", "[search] slow on big workspaces"),
    _row("eclipse-1", "ASSIGNED", "RESOLVED", "2008-06-01", "Core", "[search] slow on big workspaces"),
    # In progress since May: carried from Sprint to Sprint into the active one; UI's, but "[search]" is
    # Core's area, so Core gets a second square.
    _row("eclipse-2", "", "NEW", "2008-05-01", "UI", "[search] results view loses selection"),
    _row("eclipse-2", "NEW", "RESOLVED", "2008-08-01", "UI", "[search] results view loses selection"),
    _row("eclipse-5", "", "NEW", "2007-01-01", "Core", "[search] old"),
    _row("eclipse-5", "NEW", "RESOLVED", "2007-02-01", "Core", "[search] old"),
    # Filed on the replay date itself (just after midnight UTC: in the past whatever the time now), so
    # during the active Sprint, which holds today.
    _row("eclipse-6", "", "NEW", "2008-06-30", "Core", "[search] started lately", at="00:00:01"),
    # Filed after the replay date: a not-started PBI of the Product Backlog, without its later history.
    _row("eclipse-3", "", "NEW", "2008-07-05", "Text", "[hovering] flicker", "major"),
    _row("eclipse-3", "NEW", "RESOLVED", "2008-07-20", "Text", "[hovering] flicker", "major"),
    # Filed too late to be in the not-started part.
    _row("eclipse-4", "", "NEW", "2008-09-01", "Text", "[hovering] later"),
]


def _load(tmp_path, lines):
    path = tmp_path / "log.csv"
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    call_command("load_demo", "--file", str(path), "--slug", "demo-x")
    return Nexus.objects.get(slug="demo-x")


def test_crafted_history(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "TAG_MIN", 1)
    nexus = _load(tmp_path, CRAFTED)
    by_ext = {p.external_id: p for p in ProductBacklogItem.objects.filter(backlog__nexus=nexus)}
    sprints = list(Sprint.objects.filter(nexus=nexus).order_by("number"))
    assert [s.state for s in sprints] == ["closed"] * demo.PAST_SPRINTS + ["active", "planned"]
    for a, b in itertools.pairwise(sprints):
        assert b.start_date == a.end_date + timedelta(days=1)
        assert b.start_date.weekday() == 0
    from flow.history import nexus_today

    active = sprints[-2]
    assert active.start_date <= nexus_today(nexus) <= active.end_date
    assert active.goal == demo.NEXUS_SPRINT_GOAL
    assert active.team_goals.exists()
    # eclipse-1 finished in the Sprint holding its (shifted) resolution day: that Sprint's Throughput.
    done_day = nexus_today(nexus) - (CUTOFF - date(2008, 6, 1))
    holding = Sprint.objects.get(nexus=nexus, start_date__lte=done_day, end_date__gte=done_day)
    assert holding.state == "closed"
    close = SprintSnapshot.objects.get(sprint=holding, kind="close").data
    assert by_ext["eclipse-1"].pk in close["done"]
    # eclipse-2 is in progress: carried over into the active Sprint, whose plan holds it.
    assert SprintItem.objects.filter(sprint=active, item=by_ext["eclipse-2"]).exists()
    start = SprintSnapshot.objects.get(sprint=active, kind="start").data
    assert by_ext["eclipse-2"].pk in [row["id"] for row in start["items"]]
    kinds = set(SprintScopeChange.objects.filter(item=by_ext["eclipse-2"]).values_list("kind", flat=True))
    assert {ScopeChangeKind.CARRIED_IN, ScopeChangeKind.CARRIED_OUT} <= kinds
    # eclipse-6 started on the replay date (today), during the active Sprint: added then.
    added = SprintScopeChange.objects.get(sprint=active, item=by_ext["eclipse-6"])
    assert (added.kind, added.event) == ("added", "daily_scrum")
    # eclipse-5 finished long before the reconstructed year: in no Sprint.
    assert not SprintItem.objects.filter(item=by_ext["eclipse-5"]).exists()
    # The second team: Core on UI's "[search]" report (Core owns 3 of the 4 "[search]" reports).
    teams = set(TeamInvolvement.objects.filter(item=by_ext["eclipse-2"]).values_list("team__name", flat=True))
    assert teams == {"UI", "Core"}
    # The not-started part: eclipse-3 in Triage, Text's, labelled major, without its later history.
    upcoming = by_ext["eclipse-3"]
    assert upcoming.column.name == "Triage"
    assert list(upcoming.teams.values_list("name", flat=True)) == ["Text"]
    assert list(upcoming.labels.values_list("name", flat=True)) == ["major"]
    assert Transition.objects.filter(item=upcoming, kind="column").count() == 1
    assert "eclipse-4" not in by_ext
    # The next Sprint is planned and empty: Nexus Sprint Planning has the not-started PBIs to pick from.
    assert not sprints[-1].scope.exists()


def test_invariants_on_a_slice_of_the_real_history_and_idempotent(tmp_path):
    with gzip.open(DATA_DIR / "transitions.csv.gz", "rt", encoding="utf-8") as src:
        lines = list(itertools.islice(src, 1, 6001))
    nexus = _load(tmp_path, lines)
    counts = (Sprint.objects.count(), SprintItem.objects.count(), SprintScopeChange.objects.count())
    call_command("load_demo", "--file", str(tmp_path / "log.csv"), "--slug", "demo-x")
    assert (Sprint.objects.count(), SprintItem.objects.count(), SprintScopeChange.objects.count()) == counts
    sprints = list(Sprint.objects.filter(nexus=nexus).order_by("number"))
    open_ids = [s.pk for s in sprints if s.state != "closed"]
    items = list(SprintItem.objects.filter(sprint_id__in=open_ids).values_list("item_id", flat=True))
    assert len(items) == len(set(items))  # a PBI in at most one open Sprint
    for k, sprint in enumerate(sprints[:-2]):
        scope = set(SprintItem.objects.filter(sprint=sprint).values_list("item_id", flat=True))
        close = SprintSnapshot.objects.get(sprint=sprint, kind="close").data
        assert set(close["done"]) | {row["id"] for row in close["not_done"]} == scope
        carried = {row["id"] for row in close["not_done"] if row["destination"] == "next"}
        nxt = sprints[k + 1]
        carried_in = set(
            SprintScopeChange.objects.filter(sprint=nxt, kind="carried_in").values_list("item_id", flat=True)
        )
        assert carried == carried_in
