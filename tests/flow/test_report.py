"""`flow_report` through the database: output shape, a hand-worked example, per-team / label / class of
service filters, as-of replay, the Nexus's time zone, and errors that name the option."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.management import CommandError

from backlog.models import ProductBacklogItem
from backlog.services import pbi_update
from flow.report import REPORT_KEYS
from tests.flow.builders import d, example_items, history_nexus, report

pytestmark = pytest.mark.django_db
AS_OF = d(10).isoformat()


@pytest.fixture
def example(tmp_path):
    return history_nexus(tmp_path, example_items())


def test_output_has_exactly_the_keys_of_the_issue(example):
    r = report("hist", "--as-of", AS_OF)
    assert list(r) == list(REPORT_KEYS)
    assert list(r) == [
        "finished_items",
        "cycle_time_percentiles",
        "mean_weekly_throughput",
        "complete_weeks",
        "mean_daily_wip",
        "wip_as_of",
        "daily",
        "ages",
        "mc_how_many",
        "mc_when",
    ]
    assert set(r["cycle_time_percentiles"]) == {"50", "70", "85", "95"}
    assert set(r["mc_how_many"]) == set(r["mc_when"]) == {"50", "70", "85", "95"}
    assert set(r["daily"][0]) == {"date", "wip", "wip_eod", "throughput", "cfd"}
    assert list(r["daily"][0]["cfd"]) == ["Backlog", "Doing", "Review", "Done"]
    assert set(r["ages"][0]) == {"item", "column", "age"}


def test_hand_worked_example(example):
    r = report("hist", "--as-of", AS_OF)
    assert r["finished_items"] == 2
    assert r["cycle_time_percentiles"] == {"50": 1, "70": 3, "85": 3, "95": 3}
    assert [row["date"] for row in r["daily"]] == [d(i).isoformat() for i in range(1, 11)]
    assert [row["wip"] for row in r["daily"]] == [0, 2, 3, 2, 1, 1, 1, 1, 1, 1]
    assert [row["wip_eod"] for row in r["daily"]] == [0, 2, 2, 1, 1, 1, 1, 1, 1, 1]
    assert [row["throughput"] for row in r["daily"]] == [0, 0, 1, 1, 0, 0, 0, 0, 0, 0]
    # A and B skipped Review: it takes the milestone of Done.
    assert r["daily"][-1]["cfd"] == {"Backlog": 4, "Doing": 3, "Review": 2, "Done": 2}
    assert r["daily"][2]["cfd"] == {"Backlog": 4, "Doing": 3, "Review": 1, "Done": 1}
    assert r["mean_daily_wip"] == 1.3  # 13 item-days over 10 days
    assert (r["complete_weeks"], r["mean_weekly_throughput"]) == (1, 2.0)  # Mon d1 - Sun d7
    assert r["wip_as_of"] == 1
    assert r["ages"] == [{"item": "C", "column": "Doing", "age": 9}]
    # Monte Carlo from the 90 days up to d10 (two finishes): seeded, so the same twice.
    assert r["mc_how_many"] == report("hist", "--as-of", AS_OF)["mc_how_many"]


def test_team_filter(example):
    core = report("hist", "--as-of", AS_OF, "--team", "Core")
    assert (core["finished_items"], core["wip_as_of"], core["ages"]) == (2, 0, [])
    ui = report("hist", "--as-of", AS_OF, "--team", "ui")  # slug works too
    assert ui["finished_items"] == 0
    assert ui["cycle_time_percentiles"] == {"50": None, "70": None, "85": None, "95": None}
    assert ui["ages"] == [{"item": "C", "column": "Doing", "age": 9}]
    assert ui["mc_how_many"] == {"50": 0, "70": 0, "85": 0, "95": 0}
    assert ui["mc_when"] == {"50": None, "70": None, "85": None, "95": None}  # no Throughput: never
    assert ui["daily"][0]["date"] == d(1).isoformat()  # the team's first event


def test_label_and_class_of_service_filters(example):
    ui = report("hist", "--as-of", AS_OF, "--label", "ui")
    assert ui["finished_items"] == 1
    assert ui["cycle_time_percentiles"]["50"] == 3
    assert ui["ages"] == [{"item": "C", "column": "Doing", "age": 9}]
    api = report("hist", "--as-of", AS_OF, "--label", "api")
    assert (api["finished_items"], api["cycle_time_percentiles"]["95"], api["ages"]) == (1, 1, [])
    pbi_update(item=ProductBacklogItem.objects.get(external_id="B"), actor=None, class_of_service="expedite")
    exp = report("hist", "--as-of", AS_OF, "--class-of-service", "expedite")
    assert exp["finished_items"] == 1
    assert exp["cycle_time_percentiles"]["50"] == 1


def test_from_and_to_narrow_the_days(example):
    r = report("hist", "--as-of", AS_OF, "--from", d(3).isoformat(), "--to", d(4).isoformat())
    assert [row["date"] for row in r["daily"]] == [d(3).isoformat(), d(4).isoformat()]
    assert r["mean_daily_wip"] == 2.5
    assert r["finished_items"] == 2  # finished within the days
    assert r["ages"] == [{"item": "C", "column": "Doing", "age": 9}]  # still as of the as-of date


def test_as_of_replay_through_the_database(tmp_path):
    """Finished on d4, reopened on d6, finished again on d8: as of d5 it is finished (Cycle Time 3), as
    of d10 its finish is d8 (Cycle Time 7) and it was in progress on d5-d8 in that series."""
    history_nexus(
        tmp_path,
        {
            "R": (
                "Core",
                "",
                [(d(1), "Backlog"), (d(2), "Doing"), (d(4), "Done"), (d(6), "Doing"), (d(8), "Done")],
            ),
            "N": ("Core", "", [(d(7), "Backlog"), (d(7), "Doing")]),  # does not exist yet on d5
        },
    )
    then = report("hist", "--as-of", d(5).isoformat())
    assert then["finished_items"] == 1
    assert then["cycle_time_percentiles"]["50"] == 3
    assert [row["wip"] for row in then["daily"]] == [0, 1, 1, 1, 0]
    assert then["ages"] == []
    assert then["daily"][-1]["cfd"]["Backlog"] == 1
    now = report("hist", "--as-of", d(10).isoformat())
    assert now["cycle_time_percentiles"]["50"] == 7
    assert [row["wip"] for row in now["daily"]][:8] == [0, 1, 1, 1, 1, 1, 2, 2]
    assert now["ages"] == [{"item": "N", "column": "Doing", "age": 4}]


def test_days_are_counted_in_the_nexus_time_zone(tmp_path):
    """20:00 UTC on d1 is already d2 in Auckland (UTC+13 in January): every event a day later there."""
    items = {"T": ("Core", "", [(d(1), "Backlog"), (d(2), "Doing"), (d(4), "Done")])}
    history_nexus(tmp_path, items, slug="utc", hour=20)
    history_nexus(tmp_path, items, slug="akl", hour=20, time_zone="Pacific/Auckland")
    utc, akl = report("utc", "--as-of", AS_OF), report("akl", "--as-of", AS_OF)
    assert utc["daily"][0]["date"] == d(1).isoformat()
    assert [r["date"] for r in utc["daily"] if r["throughput"]] == [d(4).isoformat()]
    assert akl["daily"][0]["date"] == d(2).isoformat()
    assert [r["date"] for r in akl["daily"] if r["throughput"]] == [d(5).isoformat()]
    assert utc["cycle_time_percentiles"]["50"] == akl["cycle_time_percentiles"]["50"] == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "2024-13-01"], "--as-of: Enter a valid date"),
        (["--as-of", "2999-01-01"], "--as-of: The as-of date cannot be after today"),
        (["--team", "Nobody"], "--team: No Scrum Team 'Nobody'"),
        (["--label", "nope"], "--label: No label 'nope'"),
        (["--from", "2024-01-05", "--to", "2024-01-03", "--as-of", AS_OF], "--from: 'from' is after 'to'"),
        (["--to", "2024-01-20", "--as-of", AS_OF], "--to: 'to' cannot be after the as-of date"),
        (["--mc-days", "0"], "--mc-days: Ensure this value is greater than or equal to 1"),
        (["--mc-items", "x"], "--mc-items: Enter a whole number"),
        (["--class-of-service", "vip"], "--class-of-service: Select a valid choice"),
    ],
)
def test_bad_options_name_the_option(example, args, message):
    with pytest.raises(CommandError, match=message):
        report("hist", *args)


def test_unknown_nexus():
    with pytest.raises(CommandError, match="no Nexus with the slug 'ghost'"):
        report("ghost")


def test_monte_carlo_options(example):
    r = report("hist", "--as-of", AS_OF, "--mc-days", "90", "--mc-items", "2", "--mc-history-days", "10")
    # History: the 10 days d1..d10 hold two finishes; 90 days of resampling finish about 18 items.
    assert 5 <= r["mc_how_many"]["50"] <= 40
    assert all(date.fromisoformat(v) > d(10) for v in r["mc_when"].values())
