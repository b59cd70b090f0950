"""Team-level flow (`flow.team_level`): a Scrum Team's Work Item Age, Cycle Time, Throughput, WIP and CFD
from its own team-level transitions (its square on each PBI), the fallback to the Nexus columns for a
team without team-level history, the stored basis, and both levels on the flow page and in the API."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from backlog.models import Nexus, Role, ScrumTeam, TeamInvolvement, TeamStatus, Transition, TransitionKind
from backlog.services import involvement_set_status, pbi_create, pbi_delete, pbi_transition
from flow.incremental import APPLIED, flow_apply
from flow.models import FlowSnapshot, ItemTeamFlow
from flow.services import flow_recompute
from flow.team_level import TEAM_WORKFLOW
from tests.factories import column, member, nexus_build
from tests.flow.builders import stored_days

pytestmark = pytest.mark.django_db

DAY1 = date(2024, 3, 4)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 3, 4, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def on(self, day: date, hour: int = 10) -> None:
        self.now = datetime(day.year, day.month, day.day, hour, 0, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(timezone, "now", c)
    return c


def _day(n: int) -> date:
    return DAY1 + timedelta(days=n - 1)


def _square(item: Any, team: ScrumTeam, status: str) -> None:
    square = TeamInvolvement.objects.get(item=item, team=team)
    involvement_set_status(involvement=square, status=status, actor=None)


@pytest.fixture
def story(clock: Clock) -> dict[str, Any]:
    """Team A works on three PBIs through its squares; Team B has none (no team-level history).

    A: created day 1, in progress day 2, ready to integrate day 4 -> Cycle Time 3 days.
    B: created day 5, in progress day 5, back to not started day 6, in progress day 7, Done day 9 (skips
       ready: finished on Done's day) -> started day 7 (the back-move reopened it), Cycle Time 3 days.
    C: created day 3, in progress day 8, not finished -> Work Item Age on day 10: 3 days.
    D: Team B's only item (in Team A's scope: no), never a square change.
    """
    nexus = nexus_build(teams=2)
    team_a, team_b = ScrumTeam.objects.filter(nexus=nexus).order_by("name")
    items: dict[str, Any] = {}
    clock.on(_day(1))
    items["A"] = pbi_create(nexus=nexus, title="A", actor=None, teams=[team_a])
    items["D"] = pbi_create(nexus=nexus, title="D", actor=None, teams=[team_b])
    clock.on(_day(2))
    _square(items["A"], team_a, TeamStatus.IN_PROGRESS)
    clock.on(_day(3))
    items["C"] = pbi_create(nexus=nexus, title="C", actor=None, teams=[team_a])
    clock.on(_day(4))
    _square(items["A"], team_a, TeamStatus.READY_TO_INTEGRATE)
    clock.on(_day(5))
    items["B"] = pbi_create(nexus=nexus, title="B", actor=None, teams=[team_a])
    _square(items["B"], team_a, TeamStatus.IN_PROGRESS)
    clock.on(_day(6))
    _square(items["B"], team_a, TeamStatus.NOT_STARTED)
    clock.on(_day(7))
    _square(items["B"], team_a, TeamStatus.IN_PROGRESS)
    clock.on(_day(8))
    _square(items["C"], team_a, TeamStatus.IN_PROGRESS)
    clock.on(_day(9))
    _square(items["B"], team_a, TeamStatus.DONE)
    clock.on(_day(10))
    flow_recompute(nexus_id=nexus.pk, as_of=_day(10))
    return {"nexus": nexus, "a": team_a, "b": team_b, "items": items}


def test_a_teams_figures_come_from_its_own_squares(story):
    nexus, team_a, items = story["nexus"], story["a"], story["items"]
    snap = FlowSnapshot.objects.get(nexus=nexus, team=team_a)
    assert snap.basis == "team"
    f = snap.figures
    assert f["basis"] == "team"
    assert f["team_history"] is True
    assert f["columns"] == list(TEAM_WORKFLOW.columns)
    assert f["columns"] == ["Not started", "In progress", "Ready to integrate", "Done"]
    assert f["finished_items"] == 2
    assert f["wip_as_of"] == 1  # C
    rows = {r.item_id: r for r in ItemTeamFlow.objects.filter(team=team_a)}  # A, B, C: D is Team B's
    assert set(rows) == {items["A"].pk, items["B"].pk, items["C"].pk}
    a, b, c = rows[items["A"].pk], rows[items["B"].pk], rows[items["C"].pk]
    assert (a.started_on, a.finished_on, a.cycle_time) == (_day(2), _day(4), 3)
    assert (b.started_on, b.finished_on, b.cycle_time) == (_day(7), _day(9), 3)  # reopened on day 6
    assert (c.started_on, c.finished_on, c.first_day) == (_day(8), None, _day(3))
    days = {  # the series starts on the first team row
        day: {"wip": wip, "throughput": thr, "cfd": cfd}
        for _snap, day, wip, _eod, thr, cfd in stored_days([snap])
    }
    assert min(days) == _day(1)
    assert days[_day(4)]["throughput"] == 1
    assert days[_day(9)]["throughput"] == 1
    # B's first start (day 5) was erased by its move back on day 6, as a back-move does at the Nexus
    # level: it counts in WIP from its new start, day 7
    assert days[_day(5)]["wip"] == 0
    assert days[_day(6)]["wip"] == 0
    assert days[_day(7)]["wip"] == 1
    assert days[_day(8)]["wip"] == 2
    assert days[_day(10)]["cfd"] == [3, 3, 2, 1]  # not started+, in progress+, ready+, Done
    assert days[_day(10)]["wip"] == 1
    # Work Item Age of C on day 10: 10 - 8 + 1
    ages = [age for _key, _col, age in f["oldest"]]
    assert ages == [3]


def test_a_team_without_team_level_history_keeps_the_nexus_columns(story):
    nexus, team_b = story["nexus"], story["b"]
    snap = FlowSnapshot.objects.get(nexus=nexus, team=team_b)
    assert snap.basis == "nexus"
    assert snap.figures["team_history"] is False
    assert snap.figures["columns"] == FlowSnapshot.objects.get(nexus=nexus, team=None).figures["columns"]
    assert not ItemTeamFlow.objects.filter(team=team_b).exists()
    assert FlowSnapshot.objects.get(nexus=nexus, team=None).basis == "nexus"


def test_square_changes_update_the_team_scope_incrementally(story, clock):
    nexus, team_a, items = story["nexus"], story["a"], story["items"]
    clock.on(_day(11))
    _square(items["C"], team_a, TeamStatus.READY_TO_INTEGRATE)
    assert flow_apply(nexus_id=nexus.pk, item_ids=[items["C"].pk]) == APPLIED
    row = ItemTeamFlow.objects.get(item=items["C"], team=team_a)
    assert (row.finished_on, row.cycle_time) == (_day(11), 4)
    snap = FlowSnapshot.objects.get(nexus=nexus, team=team_a)
    (throughput,) = [thr for _snap, day, _wip, _eod, thr, _cfd in stored_days([snap]) if day == _day(11)]
    assert throughput == 1
    # a deletion takes the item out of the team's own flow
    pbi_delete(item=items["A"], actor=None)
    assert flow_apply(nexus_id=nexus.pk, item_ids=[items["A"].pk]) == APPLIED
    assert not ItemTeamFlow.objects.filter(item=items["A"]).exists()
    stored = [(day, cfd) for _snap, day, _wip, _eod, _thr, cfd in stored_days([snap])]
    flow_recompute(nexus_id=nexus.pk, as_of=_day(11))
    assert [(day, cfd) for _snap, day, _wip, _eod, _thr, cfd in stored_days([snap])] == stored


# --- The flow page and the API -------------------------------------------------------------------------


@pytest.fixture
def viewer(client: Any, story: dict[str, Any]) -> Any:
    user = member(story["nexus"], Role.STAKEHOLDER, username="watcher")
    client.force_login(user)
    return user


def _page(client: Any, nexus: Nexus, **params: Any) -> str:
    response = client.get(reverse("flow:flow", args=[nexus.slug]), params)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def test_flow_page_offers_both_levels_for_a_team(client, viewer, story, clock):
    nexus, team_a, team_b = story["nexus"], story["a"], story["b"]
    own = _page(client, nexus, team=team_a.slug)
    assert "<strong>Team level:</strong>" in own
    assert "Ready to integrate" in own  # the CFD bands are the square states
    assert 'href="?team=team-a&amp;level=nexus"' in own
    assert 'aria-current="true">Team&#x27;s own flow</a>' in own
    columns = _page(client, nexus, team=team_a.slug, level="nexus")
    assert "<strong>Nexus level:</strong>" in columns
    assert 'aria-current="true">Nexus columns of its items</a>' in columns
    assert 'name="level" value="nexus"' in columns  # kept when the filters are applied
    fallback = _page(client, nexus, team=team_b.slug)
    assert f"<strong>No team-level history for {team_b.name}</strong>" in fallback
    assert 'aria-disabled="true"' in fallback
    whole = _page(client, nexus)
    assert "level-note" not in whole


def test_flow_page_queries_are_constant_at_both_levels(
    client, viewer, story, clock, django_assert_max_num_queries
):
    nexus, team_a = story["nexus"], story["a"]
    url = reverse("flow:flow", args=[nexus.slug])
    with django_assert_max_num_queries(14) as small:
        assert client.get(url, {"team": team_a.slug}).status_code == 200
    with django_assert_max_num_queries(30) as small_nexus:
        assert client.get(url, {"team": team_a.slug, "level": "nexus"}).status_code == 200
    for i in range(30):  # more of the team's work
        item = pbi_create(nexus=nexus, title=f"More {i}", actor=None, teams=[team_a])
        _square(item, team_a, TeamStatus.IN_PROGRESS)
    flow_recompute(nexus_id=nexus.pk, as_of=_day(10))
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert client.get(url, {"team": team_a.slug}).status_code == 200
    with django_assert_max_num_queries(len(small_nexus.captured_queries)):
        assert client.get(url, {"team": team_a.slug, "level": "nexus"}).status_code == 200


def test_api_level_and_basis(client, viewer, story):
    nexus, team_a, team_b = story["nexus"], story["a"], story["b"]
    url = f"/api/v1/nexuses/{nexus.slug}/flow/"
    own = client.get(url, {"team": team_a.slug}).json()
    assert (own["basis"], own["level"], own["team_history"], own["stored"]) == ("team", None, True, True)
    assert own["finished_items"] == 2
    assert set(own["daily"][-1]["cfd"]) == {"Not started", "In progress", "Ready to integrate", "Done"}
    asked = client.get(url, {"team": team_a.slug, "level": "team"}).json()
    assert (asked["basis"], asked["stored"]) == ("team", True)
    columns = client.get(url, {"team": team_a.slug, "level": "nexus"}).json()
    assert (columns["basis"], columns["level"], columns["stored"]) == ("nexus", "nexus", False)
    assert "Not started" not in columns["daily"][-1]["cfd"]
    fallback = client.get(url, {"team": team_b.slug, "level": "team"}).json()
    assert (fallback["basis"], fallback["team_history"], fallback["stored"]) == ("nexus", False, True)
    replay = client.get(url, {"team": team_a.slug, "as_of": _day(5).isoformat()}).json()
    assert (replay["basis"], replay["stored"], replay["finished_items"]) == ("team", False, 1)
    whole = client.get(url).json()
    assert (whole["basis"], whole["team_history"]) == ("nexus", False)
    bad = client.get(url, {"team": team_a.slug, "level": "squad"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "level"
    blank = client.get(url, {"level": ""})
    assert blank.status_code == 400
    assert blank.json()["errors"][0]["field"] == "level"


# --- Imported squares on a team's own flow --------------------------------------------------------------


def _imported(item: Any, team: ScrumTeam) -> None:
    """The square as an import leaves it: forecast, with no `team_added` row (test set-up only)."""
    Transition.objects.filter(item=item, team=team, kind=TransitionKind.TEAM_ADDED).delete()


def test_an_imported_square_counts_from_its_nexus_columns_until_its_first_team_level_row(clock):
    nexus = nexus_build(teams=2)
    team_a, _ = ScrumTeam.objects.filter(nexus=nexus).order_by("name")
    clock.on(_day(1))
    old = pbi_create(nexus=nexus, title="Imported", actor=None, teams=[team_a])
    _imported(old, team_a)
    clock.on(_day(2))
    pbi_transition(item=old, to_column=column(nexus, "In Progress"), actor=None)  # started at the Nexus level
    clock.on(_day(3))
    new = pbi_create(nexus=nexus, title="New", actor=None, teams=[team_a])
    _square(new, team_a, TeamStatus.IN_PROGRESS)  # Team A's first team-level row: its own flow
    flow_recompute(nexus_id=nexus.pk, as_of=_day(5))
    snap = FlowSnapshot.objects.get(nexus=nexus, team=team_a)
    assert snap.basis == "team"
    assert snap.figures["imported_squares"] == 1
    assert snap.figures["wip_as_of"] == 2  # the imported PBI in progress is not dropped
    row = ItemTeamFlow.objects.get(item=old, team=team_a)
    assert (row.started_on, row.finished_on, row.first_day) == (_day(2), None, _day(1))
    assert [age for _key, _col, age in snap.figures["oldest"]] == [4, 3]  # Work Item Age from day 2

    # Its first team-level row: from then on its square's rows count (started stays the Nexus's day 2).
    clock.on(_day(6))
    _square(old, team_a, TeamStatus.READY_TO_INTEGRATE)
    assert flow_apply(nexus_id=nexus.pk, item_ids=[old.pk]) == APPLIED
    row = ItemTeamFlow.objects.get(item=old, team=team_a)
    assert (row.started_on, row.finished_on, row.cycle_time) == (_day(2), _day(6), 5)
    # A Nexus move of an imported square without team-level rows reaches the team's flow incrementally.
    clock.on(_day(7))
    other = pbi_create(nexus=nexus, title="Imported too", actor=None, teams=[team_a])
    _imported(other, team_a)
    assert flow_apply(nexus_id=nexus.pk, item_ids=[other.pk]) == APPLIED
    pbi_transition(item=other, to_column=column(nexus, "In Progress"), actor=None)
    assert flow_apply(nexus_id=nexus.pk, item_ids=[other.pk]) == APPLIED
    assert ItemTeamFlow.objects.get(item=other, team=team_a).started_on == _day(7)
    stored = [(day, wip, cfd) for _snap, day, wip, _eod, _thr, cfd in stored_days([snap])]
    items = sorted(
        ItemTeamFlow.objects.filter(team=team_a).values_list("item_id", "started_on", "finished_on")
    )
    summary = flow_recompute(nexus_id=nexus.pk, as_of=_day(7))  # the incremental rows are the full's
    assert summary["timings"]["rows_written"] == 0
    assert [(day, wip, cfd) for _snap, day, wip, _eod, _thr, cfd in stored_days([snap])] == stored
    assert (
        sorted(ItemTeamFlow.objects.filter(team=team_a).values_list("item_id", "started_on", "finished_on"))
        == items
    )
    assert FlowSnapshot.objects.get(nexus=nexus, team=team_a).figures["imported_squares"] == 2
