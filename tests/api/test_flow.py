"""The flow figures endpoint (`flow/api.py`) keeps the API's conventions: the one error format with the
refused query parameter in `field` (an empty one included, as `StrictFilterSet` refuses it), 404 for
another Nexus, 401 without credentials, and a fixed number of queries for the stored results."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from backlog.models import Role
from flow.forms import MAX_SERIES_DAYS, QUERY_FIELDS
from flow.report import MAX_MC_DAYS, MAX_MC_ITEMS
from flow.services import flow_recompute
from nexus_site.api.base import BLANK_MESSAGE
from tests.api.helpers import error_fields, token_client
from tests.factories import member, nexus_build
from tests.flow.builders import d, example_items, history_nexus, many_items

pytestmark = pytest.mark.django_db
AS_OF = d(10)
MAXIMUM = {"mc_days": MAX_MC_DAYS, "mc_items": MAX_MC_ITEMS, "mc_history_days": MAX_MC_DAYS}


@pytest.fixture
def hist(tmp_path: Any) -> Any:
    """The hand-worked example of the flow tests, its figures stored as of day 10."""
    nexus = history_nexus(tmp_path, example_items(), slug="flowapi")
    flow_recompute(nexus_id=nexus.pk, as_of=AS_OF)
    return nexus


@pytest.fixture
def stakeholder(hist: Any) -> APIClient:
    """The least of the Nexus's roles: reading the flow figures is every member's right."""
    return token_client(member(hist, Role.STAKEHOLDER, username="flow-viewer"))


def _url(nexus: Any) -> str:
    return reverse("api:flow", args=[nexus.slug])


def _refused(response: Any) -> list[dict[str, Any]]:
    """The errors of a 400 in the API's error format (asserting the shape)."""
    assert response.status_code == 400, response.content
    error_fields(response)
    body = response.json()
    assert body["code"] == "invalid"
    assert body["errors"][0]["message"] in body["message"]  # for a person: the first error
    return list(body["errors"])


def test_the_route_is_the_apis_with_nexus_slug(hist):
    assert _url(hist) == f"/api/v1/nexuses/{hist.slug}/flow/"


def test_members_read_the_stored_figures(stakeholder, hist):
    response = stakeholder.get(_url(hist))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["nexus"] == hist.slug
    assert body["stored"] is True
    assert body["as_of"] == AS_OF.isoformat()


@pytest.mark.parametrize(
    "value", ["2024-13-01", "yesterday", "2024-01-05T00:00:00", "01/05/2024", "2024-1-5", " 2024-01-05"]
)
@pytest.mark.parametrize("name", ["as_of", "from", "to"])
def test_a_bad_date_is_a_400_naming_it(stakeholder, hist, name, value):
    errors = _refused(stakeholder.get(_url(hist), {name: value}))
    assert errors == [{"field": name, "code": "invalid", "message": "Enter a valid date."}]


def test_an_as_of_date_too_early_for_its_history_is_a_400_not_a_crash(stakeholder, hist):
    """The Monte Carlo history (90 days by default) before the as-of date must fit in the calendar."""
    day_90 = date.fromordinal(90).isoformat()  # 0001-03-31: its 90 days start on 0001-01-01
    response = stakeholder.get(_url(hist), {"as_of": day_90})
    assert response.status_code == 200, response.content
    assert response.json()["as_of"] == day_90
    for params in ({"as_of": "0001-01-05"}, {"as_of": day_90, "mc_history_days": 91}):
        errors = _refused(stakeholder.get(_url(hist), params))
        assert [(e["field"], e["code"]) for e in errors] == [("as_of", "invalid")]
        assert "too early" in errors[0]["message"]


@pytest.mark.parametrize("name", QUERY_FIELDS)
@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_parameter_is_a_400_naming_it(stakeholder, hist, name, value):
    errors = _refused(stakeholder.get(f"{_url(hist)}?{name}={value.replace(' ', '%20')}"))
    assert errors == [{"field": name, "code": "blank", "message": BLANK_MESSAGE}]


def test_an_empty_class_of_service_is_refused_like_the_item_filter(stakeholder, hist):
    """`?class_of_service=` is not "all classes": the same answer as the PBI list's filter gives."""
    flow = _refused(stakeholder.get(f"{_url(hist)}?class_of_service="))
    items = _refused(stakeholder.get(f"/api/v1/nexuses/{hist.slug}/items/?class_of_service="))
    assert flow == items == [{"field": "class_of_service", "code": "blank", "message": BLANK_MESSAGE}]


def test_every_refused_parameter_is_named(stakeholder, hist):
    response = stakeholder.get(f"{_url(hist)}?team=&as_of=nope&mc_items=0&label=ui")
    assert {e["field"] for e in _refused(response)} == {"team", "as_of", "mc_items"}


def test_an_unknown_team_or_class_is_a_400_naming_it(stakeholder, hist):
    errors = _refused(stakeholder.get(_url(hist), {"team": "ghost"}))
    assert errors == [{"field": "team", "code": "invalid", "message": "No Scrum Team 'ghost' in this Nexus."}]
    errors = _refused(stakeholder.get(_url(hist), {"label": "nope"}))
    assert errors == [{"field": "label", "code": "invalid", "message": "No label 'nope' in this Nexus."}]
    errors = _refused(stakeholder.get(_url(hist), {"class_of_service": "urgent"}))
    assert [(e["field"], e["code"]) for e in errors] == [("class_of_service", "invalid_choice")]


def test_from_after_to_is_a_400_naming_from(stakeholder, hist):
    errors = _refused(stakeholder.get(_url(hist), {"from": "2024-01-05", "to": "2024-01-02"}))
    assert errors == [{"field": "from", "code": "invalid", "message": "'from' is after 'to'."}]


def test_a_series_longer_than_fifty_years_is_a_400_naming_from(stakeholder, hist):
    """Each day is a row of the answer: `from` in year 1 would build 740,000 of them."""
    for start in ("0001-01-01", "1900-01-01"):
        errors = _refused(stakeholder.get(_url(hist), {"from": start, "as_of": AS_OF.isoformat()}))
        assert [e["field"] for e in errors] == ["from"]
        assert f"at most {MAX_SERIES_DAYS:,} days" in errors[0]["message"]
    longest = AS_OF - timedelta(days=MAX_SERIES_DAYS - 1)
    response = stakeholder.get(_url(hist), {"from": longest.isoformat(), "as_of": AS_OF.isoformat()})
    assert response.status_code == 200
    assert len(response.json()["daily"]) == MAX_SERIES_DAYS


def test_an_as_of_date_after_today_is_a_400_naming_it(stakeholder, hist):
    errors = _refused(stakeholder.get(_url(hist), {"as_of": "9999-12-31"}))
    assert [e["field"] for e in errors] == ["as_of"]
    assert "cannot be after today" in errors[0]["message"]


def test_a_domain_error_of_the_figures_is_a_400_naming_its_field(stakeholder, hist):
    """`to` before the first event leaves no day to show: `flow_data_get` refuses it (a `DomainError`),
    and the API answers in its own format, naming `to`."""
    errors = _refused(stakeholder.get(_url(hist), {"to": "2023-12-31"}))
    assert [(e["field"], e["code"]) for e in errors] == [("to", "invalid")]
    assert errors[0]["message"].startswith("No days to show")


@pytest.mark.parametrize("name", ["mc_days", "mc_items", "mc_history_days"])
@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("-1", "min_value"),
        ("0", "min_value"),
        ("huge", "max_value"),
        ("10" + "0" * 40, "max_value"),
        ("9" * 5000, "invalid"),  # past Python's limit on digits converted to int
        ("1.5", "invalid"),
        ("5.0", "invalid"),
        (" 5", "invalid"),
        ("+5", "invalid"),
        ("ten", "invalid"),
    ],
)
def test_monte_carlo_numbers_out_of_range_are_a_400_naming_them(stakeholder, hist, name, value, code):
    raw = str(MAXIMUM[name] + 1) if value == "huge" else value
    errors = _refused(stakeholder.get(_url(hist), {name: raw}))
    assert [(e["field"], e["code"]) for e in errors] == [(name, code)]


@pytest.mark.parametrize("name", ["mc_days", "mc_items", "mc_history_days"])
def test_monte_carlo_numbers_at_their_bounds_are_accepted(stakeholder, hist, name):
    for value in (1, MAXIMUM[name]):
        response = stakeholder.get(_url(hist), {name: value})
        assert response.status_code == 200, (name, value, response.content)


def test_another_nexus_is_a_404_in_the_apis_format(stakeholder, hist):
    other = nexus_build(slug="someone-elses")
    response = stakeholder.get(_url(other))
    assert response.status_code == 404
    assert error_fields(response) == []
    assert response.json()["code"] == "not_found"
    assert stakeholder.get("/api/v1/nexuses/no-such-nexus/flow/").json() == response.json()


def test_no_credentials_is_a_401_in_the_apis_format(hist):
    for client in (APIClient(), APIClient(HTTP_AUTHORIZATION="Token not-a-token")):
        response = client.get(_url(hist))
        assert response.status_code == 401, response.content
        assert response["WWW-Authenticate"].startswith("Token")
        error_fields(response)
        assert response.json()["code"] == "not_authenticated"


def test_the_query_count_of_the_stored_figures_is_constant(
    stakeholder, hist, tmp_path, django_assert_max_num_queries
):
    url = _url(hist)
    with django_assert_max_num_queries(7) as small:
        response = stakeholder.get(url)
    assert response.status_code == 200
    assert response.json()["stored"] is True
    # Many more items, Scrum Teams, labels and days: the stored figures are still the same few rows.
    items = many_items(120)
    history_nexus(tmp_path, items, slug=hist.slug)
    flow_recompute(nexus_id=hist.pk, as_of=d(60))
    for params in ({}, {"team": "T3"}, {"mc_days": 30, "mc_items": 20}):
        with django_assert_max_num_queries(len(small.captured_queries)):
            response = stakeholder.get(url, params)
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["stored"] is True
        assert body["as_of"] == d(60).isoformat()
    assert body["finished_items"] > 100
