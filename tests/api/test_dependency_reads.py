"""`/api/v1/nexuses/{slug}/dependency-matrix/` and `dependency-forecast/`: the bodies, the scope's
query parameters and their refusals naming the field, and queries that do not grow with the rows."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backlog.services import pbi_create
from backlog.services.dependencies import dependency_create
from tests.api.helpers import base, error_fields, token_client
from tests.events.sprint_helpers import sprint_build
from tests.factories import nexus_build, team

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_cache():
    cache.clear()


def _chain(nexus, n):
    a, b = team(nexus, "Team A"), team(nexus, "Team B")
    items = [
        pbi_create(nexus=nexus, title=f"Chain {i}", teams=[a if i % 2 else b], actor=None) for i in range(n)
    ]
    for i in range(1, n):
        dependency_create(item=items[i], depends_on=items[i - 1], actor=None)
    return items


def test_matrix_body_and_constant_queries(nx, api):
    _chain(nx, 3)
    response = api("stakeholder").get(base(nx) + "/dependency-matrix/")
    assert response.status_code == 200, response.content
    body = response.json()
    names = {t["id"]: t["name"] for t in body["teams"]}
    cells = {(names[c["team"]], names[c["depends_on_team"]]): c["open"] for c in body["now"]["cells"]}
    assert cells == {("Team A", "Team B"): 1, ("Team B", "Team A"): 1}
    assert body["now"]["open_total"] == 2
    assert body["trend"] == []  # no Sprint has started
    with CaptureQueriesContext(connection) as few:
        api("po").get(base(nx) + "/dependency-matrix/")
    big = nexus_build()
    _chain(big, 25)
    client = token_client(User.objects.get(username=f"po-{big.slug}"))
    with CaptureQueriesContext(connection) as many:
        assert client.get(base(big) + "/dependency-matrix/", {"sprints": "3"}).status_code == 200
    assert len(many.captured_queries) <= len(few.captured_queries)


def test_forecast_of_a_pbi_and_of_a_sprint(nx, api):
    items = _chain(nx, 3)
    one = api("dev").get(base(nx) + "/dependency-forecast/", {"item": items[-1].pk})
    assert one.status_code == 200, one.content
    body = one.json()
    assert body["scope"] == {"item": items[-1].pk, "sprint": None}
    assert body["targets"] == [items[-1].pk]
    assert [i["item"] for i in body["items"]] == [items[-1].pk, items[0].pk, items[1].pk]  # then by rank
    assert "has no Throughput history yet" in body["items"][0]["cannot_forecast"]
    assert body["whole"]["dates_without"] is None
    sprint = sprint_build(nx, planned=items[:2], started=True)
    whole = api("dev").get(base(nx) + "/dependency-forecast/").json()
    assert whole["scope"] == {"item": None, "sprint": sprint.number}
    assert sorted(whole["targets"]) == sorted(i.pk for i in items[:2])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"item": "abc"}, "item"),
        ({"item": "1", "sprint": "1"}, "sprint"),
        ({"sprint": "99"}, "sprint"),
        ({"sprint": ""}, "sprint"),
        ({}, "sprint"),  # no active Sprint
        ({"colour": "red"}, "colour"),
    ],
)
def test_forecast_refusals_name_the_field(nx, api, query, field):
    response = api("po").get(base(nx) + "/dependency-forecast/", query)
    assert response.status_code == 400, response.content
    assert field in error_fields(response)


def test_matrix_refuses_a_bad_number_of_sprints(nx, api):
    response = api("po").get(base(nx) + "/dependency-matrix/", {"sprints": "0"})
    assert response.status_code == 400
    assert error_fields(response) == ["sprints"]
