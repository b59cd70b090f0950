"""Every reference figure of backlog/data/eclipse-jdt/README.md, through the database: the real history
imported with `import_history`, then `flow_report` (and the stored recompute, and the API) on it.

Data: Lamkanfi, Pérez, Demeyer, "The Eclipse and Mozilla Defect Tracking Dataset: a Genuine Dataset for
Mining Bug Information", MSR 2013. Timestamps are reduced to dates in the Nexus's time zone (UTC).
"""

from __future__ import annotations

from datetime import date

import pytest
from django.core.management import call_command

from backlog.demo import DATA_DIR
from backlog.models import Nexus, Role, ScrumTeam
from flow.models import FlowSnapshot
from flow.services import flow_recompute
from tests.factories import member
from tests.flow.builders import report, stored_days

pytestmark = pytest.mark.django_db

FULL = {
    "finished_items": 10_814,
    "cycle_time_percentiles": {"50": 5, "70": 21, "85": 99, "95": 401},
    "mean_weekly_throughput": 38.85,
    "complete_weeks": 278,
    "mean_daily_wip": 387.79,
}
REPLAY = {
    "finished_items": 6_878,
    "cycle_time_percentiles": {"50": 4, "70": 15, "85": 66, "95": 271},
    "mean_weekly_throughput": 52.82,
    "complete_weeks": 130,
    "mean_daily_wip": 485.13,
}


def _import() -> None:
    call_command(
        "import_history",
        str(DATA_DIR / "transitions.csv.gz"),
        "--nexus",
        "jdt",
        "--workflow",
        str(DATA_DIR / "bugzilla_confirmed.json"),
        "--team-field",
        "component",
        "--label-field",
        "severity",
    )


def test_jdt_readme_figures_through_the_database_and_flow_report(client):
    _import()

    # All 10,814 items as of 2011-05-06 over the days from 2006-01-01.
    full = report("jdt", "--as-of", "2011-05-06", "--from", "2006-01-01")
    assert {k: full[k] for k in FULL} == FULL
    assert (full["daily"][0]["date"], full["daily"][-1]["date"]) == ("2006-01-01", "2011-05-06")
    day = next(r for r in full["daily"] if r["date"] == "2008-06-30")
    assert (day["wip"], day["wip_eod"], day["throughput"]) == (552, 542, 10)
    assert full["ages"] == []
    assert full["wip_as_of"] == 0

    # Replayed as of 2008-06-30 (days from the first event, 2006-01-01).
    replay = report("jdt", "--as-of", "2008-06-30")
    assert {k: replay[k] for k in REPLAY} == REPLAY
    assert (replay["daily"][0]["date"], replay["daily"][-1]["date"]) == ("2006-01-01", "2008-06-30")
    last = replay["daily"][-1]
    assert last["cfd"]["Triage"] == 7_394  # items that exist by then
    assert last["wip_eod"] == 516
    assert len(replay["ages"]) == 516
    assert replay["ages"][0] == {"item": "eclipse-122668", "column": "To Do", "age": 909}
    assert replay["wip_as_of"] == 516 + last["throughput"]

    # Per team and per label the parts add up to the whole (each item has one component, one severity).
    teams = list(ScrumTeam.objects.filter(nexus__slug="jdt").values_list("name", flat=True))
    assert len(teams) == 6
    per_team = [report("jdt", "--as-of", "2008-06-30", "--team", t) for t in teams]
    assert sum(r["finished_items"] for r in per_team) == 6_878
    assert sum(len(r["ages"]) for r in per_team) == 516
    per_label = [
        report("jdt", "--as-of", "2008-06-30", "--label", s)
        for s in ("blocker", "critical", "major", "minor", "normal", "trivial")
    ]
    assert sum(r["finished_items"] for r in per_label) == 6_878

    # The stored recompute as of 2011-05-06 holds the same figures, and the API serves them from storage.
    summary = flow_recompute(nexus_id=Nexus.objects.get(slug="jdt").pk, as_of=date(2011, 5, 6))
    assert {k: summary[k] for k in FULL} == FULL
    assert FlowSnapshot.objects.filter(nexus__slug="jdt").count() == 7  # the Nexus and six teams
    snap = FlowSnapshot.objects.get(nexus__slug="jdt", team=None)
    assert len(stored_days([snap])) == (date(2011, 5, 6) - date(2006, 1, 1)).days + 1
    client.force_login(member(snap.nexus, Role.STAKEHOLDER, username="viewer"))
    body = client.get("/api/v1/nexuses/jdt/flow/?as_of=2011-05-06").json()
    assert body["stored"] is True
    assert {k: body[k] for k in FULL} == FULL
    assert body["daily"] == full["daily"]
    assert body["mc_how_many"] == full["mc_how_many"]
    assert body["mc_when"] == full["mc_when"]
