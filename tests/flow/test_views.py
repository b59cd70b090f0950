"""The flow page, its CSV downloads and the flow API: log-in, other Nexuses invisible, stored or computed,
filters, errors with the field, stale banner, constant query counts."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from backlog.models import Role, WorkflowColumn
from flow.models import FlowState
from flow.report import REPORT_KEYS
from flow.services import flow_recompute
from tests.factories import member
from tests.flow.builders import d, example_items, history_nexus, many_items, report

pytestmark = pytest.mark.django_db
AS_OF = d(10)


@pytest.fixture
def example(tmp_path):
    nexus = history_nexus(tmp_path, example_items())
    flow_recompute(nexus_id=nexus.pk, as_of=AS_OF)
    return nexus


@pytest.fixture
def viewer(client, example):
    user = member(example, Role.STAKEHOLDER, username="viewer")
    client.force_login(user)
    return user


def _url(nexus, **params):
    from urllib.parse import urlencode

    return reverse("flow:flow", args=[nexus.slug]) + (f"?{urlencode(params)}" if params else "")


def test_flow_page_needs_login_and_hides_other_nexuses(client, example, tmp_path):
    response = client.get(_url(example))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    other = history_nexus(tmp_path, example_items(), slug="other")
    client.force_login(member(example, Role.DEVELOPER, username="dev", team_obj=example.teams.first()))
    assert client.get(_url(other)).status_code == 404
    assert client.get(reverse("flow:flow-csv", args=[other.slug, "daily"])).status_code == 404
    assert client.get(f"/api/v1/nexuses/{other.slug}/flow/").status_code == 404


def test_default_view_is_read_from_stored_results(client, viewer, example):
    html = client.get(_url(example)).content.decode()
    assert "stored figures computed" in html
    for canvas in ("cfd", "scatter", "aging", "throughput", "wip", "mc-how-many", "mc-when"):
        assert f'data-chart="{canvas}"' in html
    assert "chart-4.6.1.umd.min.js" in html
    assert 'id="flow-data"' in html
    assert 'id="flow-detail"' in html
    assert "Flow</a>" in html  # the nav link
    payload = json.loads(html.split('id="flow-data" type="application/json">')[1].split("</script>")[0])
    assert payload["columns"] == ["Backlog", "Doing", "Review", "Done"]
    assert payload["percentiles"] == {"50": 1, "70": 3, "85": 3, "95": 3}
    detail = json.loads(html.split('id="flow-detail" type="application/json">')[1].split("</script>")[0])
    assert detail["wip"] == [0, 2, 3, 2, 1, 1, 1, 1, 1, 1]
    assert detail["cfd"][3][-1] == 2
    assert detail["weeks"] == [["2024-01-01", 2, True], ["2024-01-08", 0, False]]
    assert detail["ages"] == [["C", 1, 9]]
    assert [p[1] for p in detail["scatter"]] == [1, 3]


def test_filters_and_as_of_are_computed_on_request(client, viewer, example):
    html = client.get(_url(example, label="ui", as_of=d(5).isoformat())).content.decode()
    assert "computed now from the transition log" in html
    assert "label “ui”" in html
    team = client.get(_url(example, team="core")).content.decode()
    assert "stored figures computed" in team  # a team's default view is stored too
    assert "Flow · Core" in team


@pytest.mark.parametrize(
    ("params", "field", "code", "reason"),
    [
        ({"as_of": "yesterday"}, "as_of", "invalid", "Enter a valid date."),
        ({"team": "ghost"}, "team", "invalid", "No Scrum Team 'ghost' in this Nexus."),
        ({"from": "2024-01-05", "to": "2024-01-02"}, "from", "invalid", "'from' is after 'to'."),
        ({"mc_items": "0"}, "mc_items", "min_value", "Ensure this value is greater than or equal to 1."),
        (
            {"as_of": "0001-01-05"},
            "as_of",
            "invalid",
            "The as-of date is too early: the 90 days of Throughput history before it would start before "
            "0001-01-01.",
        ),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(client, viewer, example, params, field, code, reason):
    page = client.get(_url(example, **params))
    assert page.status_code == 400
    assert reason.replace("'", "&#x27;") in page.content.decode()
    api = client.get(f"/api/v1/nexuses/{example.slug}/flow/", params)
    assert api.status_code == 400
    body = api.json()  # the API's one error format
    assert body["errors"] == [{"field": field, "code": code, "message": reason}]
    assert body["message"] == f"{field}: {reason}"
    csv_response = client.get(reverse("flow:flow-csv", args=[example.slug, "daily"]), params)
    assert csv_response.status_code == 400


def test_stale_figures_say_since_when(client, viewer, example):
    FlowState.objects.filter(nexus=example).update(
        pending_since=timezone.now(), last_error="broker unreachable: connection refused"
    )
    html = client.get(_url(example)).content.decode()
    assert "Stored figures are stale since" in html
    assert "broker unreachable" in html
    body = client.get(f"/api/v1/nexuses/{example.slug}/flow/").json()
    assert body["stale_since"] is not None


@pytest.mark.parametrize(
    ("table", "header", "rows"),
    [
        (
            "daily",
            ["date", "wip", "wip_eod", "throughput", "cfd:Backlog", "cfd:Doing", "cfd:Review", "cfd:Done"],
            10,
        ),
        (
            "weekly",
            [
                "week_start",
                "throughput",
                "complete_week",
                "mean_wip",
                "cfd:Backlog",
                "cfd:Doing",
                "cfd:Review",
                "cfd:Done",
            ],
            2,
        ),
        ("cycle-times", ["item", "finished", "cycle_time_days"], 2),
        ("ages", ["item", "column", "work_item_age_days"], 1),
    ],
)
def test_csv_downloads(client, viewer, example, table, header, rows):
    response = client.get(reverse("flow:flow-csv", args=[example.slug, table]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f"hist-{table}-as-of-2024-01-10.csv" in response["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(response.content.decode())))
    assert lines[0] == header
    assert len(lines) - 1 == rows
    if table == "daily":
        assert lines[3] == ["2024-01-03", "3", "2", "1", "4", "3", "1", "1"]
    if table == "ages":
        assert lines[1] == ["C", "Doing", "9"]


def test_csv_forecasts_and_unknown_table(client, viewer, example):
    text = client.get(
        reverse("flow:flow-csv", args=[example.slug, "forecasts"]), {"mc_days": 7}
    ).content.decode()
    assert "how many in 7 days,85%," in text
    assert client.get(reverse("flow:flow-csv", args=[example.slug, "nope"])).status_code == 404


def test_api_serves_the_figures_of_flow_report(client, viewer, example):
    body = client.get(f"/api/v1/nexuses/{example.slug}/flow/").json()
    assert body["stored"] is True
    assert body["as_of"] == AS_OF.isoformat()
    assert body["computed_at"]
    assert set(REPORT_KEYS) <= set(body)
    cli = report(example.slug, "--as-of", AS_OF.isoformat())
    assert {k: body[k] for k in REPORT_KEYS} == cli
    filtered = client.get(
        f"/api/v1/nexuses/{example.slug}/flow/", {"label": "ui", "as_of": AS_OF.isoformat()}
    ).json()
    assert filtered["stored"] is False
    assert filtered["finished_items"] == 1
    assert {k: filtered[k] for k in REPORT_KEYS} == report(
        example.slug, "--as-of", AS_OF.isoformat(), "--label", "ui"
    )
    assert client.get(f"/api/v1/nexuses/{example.slug}/flow/", {"team": "ui"}).json()["ages"] == [
        {"item": "C", "column": "Doing", "age": 9}
    ]


def test_api_needs_authentication(client, example):
    response = client.get(f"/api/v1/nexuses/{example.slug}/flow/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_api_is_documented():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    op = schema["paths"]["/api/v1/nexuses/{nexus_slug}/flow/"]["get"]
    names = {p["name"] for p in op["parameters"]}
    assert {"team", "label", "class_of_service", "as_of", "from", "to", "mc_days", "mc_items"} <= names
    assert "nexus_slug" in names
    assert set(op["responses"]) >= {"200", "400", "401", "403", "404"}
    for code in ("400", "401", "403", "404"):  # the API's one error format
        assert op["responses"][code]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    assert op["tags"] == ["flow"]
    props = schema["components"]["schemas"]["FlowReport"]["properties"]
    assert set(REPORT_KEYS) <= set(props)


def test_query_count_of_the_flow_page_is_constant(
    client, viewer, example, tmp_path, django_assert_max_num_queries
):
    url = _url(example)
    with django_assert_max_num_queries(12) as small:
        assert client.get(url).status_code == 200
    # Many more items, teams, labels and days: the stored page still reads the same rows.
    items = many_items(120)
    history_nexus(tmp_path, items, slug="hist")
    flow_recompute(nexus_id=example.pk, as_of=d(60))
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = client.get(url)
    assert response.status_code == 200
    assert "124" in response.content.decode()  # 120 more items reached the CFD's first column


def test_board_query_count_stays_constant(client, viewer, example, tmp_path, django_assert_max_num_queries):
    url = reverse("events:board", args=[example.slug])
    doing = WorkflowColumn.objects.get(nexus=example, name="Doing")
    more = reverse("events:board-cards", args=[example.slug, doing.pk])
    hx = {"HTTP_HX_REQUEST": "true"}
    # 25 since the live board (issue 16): its state (timer, walk), dependency badges, integration
    # issues per card (a provider), the side panels (aging, issues, dependencies found, Sprint Goal),
    # the filters' teams and labels; the point is below: no more with more items.
    with django_assert_max_num_queries(25) as small:
        assert client.get(url).status_code == 200
    with django_assert_max_num_queries(12) as small_more:
        assert client.get(more, {"after": -(2**62)}, **hx).status_code == 200
    items = {f"N{i}": (f"T{i % 5}", "", [(d(1), "Backlog"), (d(2), "Doing")]) for i in range(60)}
    history_nexus(tmp_path, items, slug="hist")
    flow_recompute(nexus_id=example.pk, as_of=AS_OF)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert client.get(url).status_code == 200
    with django_assert_max_num_queries(len(small_more.captured_queries)):
        assert client.get(more, {"after": -(2**62)}, **hx).status_code == 200
