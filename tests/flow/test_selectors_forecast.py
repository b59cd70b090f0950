"""The dependency-aware forecast read from the database (`flow.selectors_forecast`): each team's stored
Throughput and queue, the chain of open dependencies, "cannot forecast" with the reason, the penalty of
a PBI waiting on a slower team, the cache per change counter, and a fixed number of queries."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backlog.errors import DomainError
from backlog.services import pbi_create, pbi_transition, pbi_update
from backlog.services.dependencies import dependency_create
from flow.selectors_forecast import dependency_forecast_get, forecast_payload
from flow.services import flow_recompute
from tests.factories import column, nexus_build, squares_fill, team

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_cache():
    cache.clear()


def _finish(nexus, teams, n):
    """`n` PBIs of `teams` finished today: the teams' Throughput history."""
    for i in range(n):
        item = pbi_create(nexus=nexus, title=f"Done {i}", teams=teams, actor=None)
        pbi_transition(item=item, to_column=column(nexus, "In Progress"), actor=None)
        squares_fill(item)
        pbi_transition(item=item, to_column=column(nexus, "Done"), actor=None)


def _nexus():
    nexus = nexus_build(teams=3)
    a, b = team(nexus, "Team A"), team(nexus, "Team B")
    _finish(nexus, [a], 6)  # Team A: 6 a day on its last day, a fast team
    _finish(nexus, [b], 1)  # Team B: 1 on its last day, a slow one; Team C: none
    flow_recompute(nexus_id=nexus.pk)
    return nexus


def test_a_pbi_waiting_on_a_slower_team_pays_a_penalty():
    nexus = _nexus()
    a, b = team(nexus, "Team A"), team(nexus, "Team B")
    blockers = [pbi_create(nexus=nexus, title=f"B work {i}", teams=[b], actor=None) for i in range(4)]
    waiting = pbi_create(nexus=nexus, title="A work", teams=[a], actor=None)
    dependency_create(item=waiting, depends_on=blockers[-1], actor=None)
    found = dependency_forecast_get(nexus=nexus, item_ids=[waiting.pk])
    assert found.targets == (waiting.pk,)
    assert found.chain == (blockers[-1].pk,)
    outcome = found.forecast.scope  # type: ignore[union-attr]
    assert outcome.reason is None
    assert outcome.days_with["85"] > outcome.days_without["85"]  # type: ignore[index,operator]
    assert outcome.penalty_days["85"] == outcome.days_with["85"] - outcome.days_without["85"]  # type: ignore[index,operator]
    assert outcome.penalty_probability["85"] > 0  # type: ignore[index]
    body = forecast_payload(found)
    assert [i["item"] for i in body["items"]] == [waiting.pk, blockers[-1].pk]
    assert body["items"][0]["depends_on"] == [blockers[-1].pk]
    assert body["items"][1]["target"] is False
    assert body["trials"] == 10_000


def test_cannot_forecast_names_the_reason():
    nexus = _nexus()
    a, c = team(nexus, "Team A"), team(nexus, "Team C")
    no_history = pbi_create(nexus=nexus, title="C work", teams=[c], actor=None)
    no_team = pbi_create(nexus=nexus, title="Nobody's", actor=None)
    waits = pbi_create(nexus=nexus, title="A work", teams=[a], actor=None)
    dependency_create(item=waits, depends_on=no_history, actor=None)
    found = dependency_forecast_get(nexus=nexus, item_ids=[no_history.pk, no_team.pk, waits.pk])
    items = {i["item"]: i for i in forecast_payload(found)["items"]}
    assert "Team C has no Throughput" in items[no_history.pk]["cannot_forecast"]
    assert items[no_team.pk]["cannot_forecast"] == "no Scrum Team is forecast to work on it"
    assert items[waits.pk]["dates_without"] is not None  # its own team can forecast it
    assert items[waits.pk]["dates_with"] is None
    assert "cannot be forecast" in items[waits.pk]["cannot_forecast"]
    assert found.forecast.scope.reason.startswith("2 of 3 PBIs cannot be forecast")  # type: ignore[union-attr]


def test_finished_pbis_are_left_out_and_bad_ids_refused():
    nexus = _nexus()
    other = nexus_build()
    theirs = pbi_create(nexus=other, title="Elsewhere", actor=None)
    done = pbi_create(nexus=nexus, title="Teams finished", teams=[team(nexus, "Team A")], actor=None)
    squares_fill(done)
    found = dependency_forecast_get(nexus=nexus, item_ids=[done.pk])
    assert found.finished == (done.pk,)
    assert found.forecast is None
    assert "finished" in (found.reason or "")
    assert dependency_forecast_get(nexus=nexus, item_ids=[]).reason == "No PBI to forecast."
    with pytest.raises(DomainError) as refused:
        dependency_forecast_get(nexus=nexus, item_ids=[theirs.pk])
    assert refused.value.field == "items"


def test_cached_per_change_counter_and_queries_fixed():
    nexus = _nexus()
    a = team(nexus, "Team A")
    few = [pbi_create(nexus=nexus, title=f"A {i}", teams=[a], actor=None) for i in range(2)]
    with CaptureQueriesContext(connection) as small:
        dependency_forecast_get(nexus=nexus, item_ids=[few[0].pk])
    many = [pbi_create(nexus=nexus, title=f"A more {i}", teams=[a], actor=None) for i in range(40)]
    for i in range(1, 20):
        dependency_create(item=many[i], depends_on=many[i - 1], actor=None)
    with CaptureQueriesContext(connection) as large:
        first = dependency_forecast_get(nexus=nexus, item_ids=[m.pk for m in many])
    assert len(small.captured_queries) == len(large.captured_queries)
    with CaptureQueriesContext(connection) as again:
        assert dependency_forecast_get(nexus=nexus, item_ids=[m.pk for m in many]) == first
    assert len(again.captured_queries) == 2  # the change counter and the flow state
    pbi_update(item=many[0], title="Renamed", actor=None)
    fresh = dependency_forecast_get(nexus=nexus, item_ids=[m.pk for m in many])
    assert fresh.titles[many[0].pk] == "Renamed"
