"""The Sprint resource of the REST API (`events.api`): list, create, PATCH with ETag/If-Match, start, close
with destinations, plan and unplan with squares, the scope log, tombstones, Idempotency-Key, webhook
events, bad input as 400/403/409 naming the field, and query counts that do not grow with the data."""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backlog.models import ProductBacklogItem, ScrumTeam
from backlog.models_api import WebhookDelivery
from backlog.services import pbi_create
from backlog.services.webhooks import webhook_create
from events.models import Sprint, SprintItem, SprintState
from tests.api.helpers import base, error_fields
from tests.events.sprint_helpers import START, day, finish, sprint_build

pytestmark = pytest.mark.django_db


def _items(nx):
    return list(ProductBacklogItem.objects.filter(backlog__nexus=nx).order_by("rank"))


def _teams(nx):
    return list(ScrumTeam.objects.filter(nexus=nx).order_by("name"))


def test_create_list_get_and_etag(nx, api):
    a = _teams(nx)[0]
    response = api("po").post(
        base(nx) + "/sprints/",
        {"start_date": "2026-01-05", "goal": "Ship it", "team_goals": [{"team": a.pk, "goal": "Index"}]},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["number"] == 1
    assert body["end_date"] == "2026-01-18"
    assert body["state"] == "planned"
    assert body["team_goals"] == [{"team": a.pk, "goal": "Index"}]
    assert response["ETag"] == '"1"'
    assert response["Location"].endswith(f"/sprints/{body['id']}/")
    listed = api("dev").get(base(nx) + "/sprints/").json()
    assert [s["number"] for s in listed["results"]] == [1]
    got = api("stakeholder").get(base(nx) + f"/sprints/{body['id']}/")
    assert got["ETag"] == '"1"'
    assert api("dev").get(base(nx) + f"/sprints/{body['id']}/", HTTP_IF_NONE_MATCH='"1"').status_code == 304


def test_patch_with_if_match(nx, api):
    sprint = sprint_build(nx)
    url = base(nx) + f"/sprints/{sprint.pk}/"
    stale = api("nit").patch(url, {"goal": "X"}, format="json", HTTP_IF_MATCH='"9"')
    assert stale.status_code == 412
    assert error_fields(stale) == ["If-Match"]
    ok = api("nit").patch(url, {"goal": "X"}, format="json", HTTP_IF_MATCH=f'"{sprint.version}"')
    assert ok.status_code == 200, ok.content
    assert ok.json()["goal"] == "X"
    assert ok["ETag"] == f'"{sprint.version + 1}"'


def test_overlapping_dates_are_a_409_naming_start_date(nx, api):
    sprint_build(nx)
    response = api("po").post(base(nx) + "/sprints/", {"start_date": "2026-01-10"}, format="json")
    assert response.status_code == 409
    assert error_fields(response) == ["start_date"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start_date": "2026-13-01"}, "start_date"),
        ({"start_date": "2026-01-10", "end_date": "2026-01-01"}, "end_date"),
        ({"goal": 3}, "goal"),
        ({"team_goals": [{"team": 999999, "goal": "x"}]}, "team_goals[0].team"),
        ({"team_goals": "x"}, "team_goals"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_create_bodies_name_the_field(nx, api, body, field):
    response = api("po").post(base(nx) + "/sprints/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in error_fields(response)
    assert not Sprint.objects.exists()


def test_plan_list_and_unplan(nx, api):
    a, b, _c = _teams(nx)
    one, two = _items(nx)[:2]
    sprint = sprint_build(nx)
    url = base(nx) + f"/sprints/{sprint.pk}/items/"
    response = api("po").post(url, {"item": one.pk, "teams": [a.pk, b.pk]}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["squares"] == [
        {"team": a.pk, "status": "not_started"},
        {"team": b.pk, "status": "not_started"},
    ]
    assert api("po").post(url, {"item": two.pk, "teams": [a.pk]}, format="json").status_code == 201
    again = api("po").post(url, {"item": one.pk, "teams": []}, format="json")
    assert again.status_code == 200
    rows = api("dev").get(url).json()["results"]
    assert [r["item"] for r in rows] == [one.pk, two.pk]
    assert rows[0]["group"] == "not_started"
    assert api("po").delete(url + f"{one.pk}/").status_code == 204
    assert api("po").delete(url + f"{one.pk}/").status_code == 404
    log = api("stakeholder").get(base(nx) + f"/sprints/{sprint.pk}/scope-log/").json()["results"]
    assert [(r["item"], r["kind"], r["actor"]) for r in log] == [
        (one.pk, "added", f"po-{nx.slug}"),
        (two.pk, "added", f"po-{nx.slug}"),
        (one.pk, "removed", f"po-{nx.slug}"),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"teams": []}, "item"),
        ({"item": "one", "teams": []}, "item"),
        ({"item": 999999, "teams": []}, "item"),
        ({"item": None, "teams": [1]}, "item"),
        ({"item": 0, "teams": "A"}, "teams"),
        ({"item": 0, "teams": [], "event": "party"}, "event"),
    ],
)
def test_bad_plan_bodies_name_the_field(nx, api, body, field):
    sprint = sprint_build(nx)
    if body.get("item") == 0:
        body["item"] = _items(nx)[0].pk
    response = api("po").post(base(nx) + f"/sprints/{sprint.pk}/items/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in error_fields(response)


def test_plan_without_any_team_names_teams(nx, api):
    sprint = sprint_build(nx)
    response = api("po").post(
        base(nx) + f"/sprints/{sprint.pk}/items/", {"item": _items(nx)[0].pk}, format="json"
    )
    assert response.status_code == 400
    assert error_fields(response) == ["teams"]


def test_plan_into_a_closed_sprint_and_an_item_in_two_sprints_are_409(nx, api):
    one = _items(nx)[0]
    closed = sprint_build(nx, started=True)
    api("po").post(base(nx) + f"/sprints/{closed.pk}/close/", {}, format="json")
    a = _teams(nx)[0]
    response = api("po").post(
        base(nx) + f"/sprints/{closed.pk}/items/", {"item": one.pk, "teams": [a.pk]}, format="json"
    )
    assert response.status_code == 409
    assert error_fields(response) == ["sprint"]
    first, second = sprint_build(nx, planned=[one]), sprint_build(nx)
    assert first.number == 2
    response = api("po").post(
        base(nx) + f"/sprints/{second.pk}/items/", {"item": one.pk, "teams": [a.pk]}, format="json"
    )
    assert response.status_code == 409
    assert error_fields(response) == ["item"]


def test_start_and_close_with_destinations(nx, api):
    one, two, three = _items(nx)[:3]
    sprint = sprint_build(nx, planned=[one, two, three])
    start = api("po").post(base(nx) + f"/sprints/{sprint.pk}/start/", format="json")
    assert start.status_code == 200, start.content
    assert start.json()["state"] == "active"
    again = api("po").post(base(nx) + f"/sprints/{sprint.pk}/start/", format="json")
    assert again.status_code == 409
    assert error_fields(again) == ["state"]
    finish(one)
    url = base(nx) + f"/sprints/{sprint.pk}/close/"
    refused = api("po").post(url, {}, format="json")
    assert refused.status_code == 400
    assert error_fields(refused) == ["destinations"]
    nxt = sprint_build(nx)
    closed = api("nit").post(
        url, {"destinations": [{"item": three.pk, "destination": "backlog"}]}, format="json"
    )
    assert closed.status_code == 200, closed.content
    assert closed.json()["state"] == "closed"
    assert list(SprintItem.objects.filter(sprint=nxt).values_list("item_id", flat=True)) == [two.pk]
    kinds = [
        r["kind"] for r in api("dev").get(base(nx) + f"/sprints/{sprint.pk}/scope-log/").json()["results"]
    ]
    assert kinds[-2:] == ["carried_out", "returned"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"destinations": [{"item": 1, "destination": "moon"}]}, "destinations[0].destination"),
        ({"destinations": {"1": "next"}}, "destinations"),
        ({"destinations": [{"item": "x", "destination": "next"}]}, "destinations[0].item"),
        ({"destinations": [{"item": 999999, "destination": "next"}]}, "destinations"),
        ({"event": "party"}, "event"),
        ([], "body"),
    ],
)
def test_bad_close_bodies_name_the_field(nx, api, body, field):
    sprint = sprint_build(nx, planned=_items(nx)[:1], started=True)
    sprint_build(nx)
    response = api("po").post(base(nx) + f"/sprints/{sprint.pk}/close/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in error_fields(response)
    sprint.refresh_from_db()
    assert sprint.state == SprintState.ACTIVE


def test_developers_and_stakeholders_read_but_do_not_plan(nx, api):
    sprint = sprint_build(nx)
    for role in ("dev", "stakeholder", "sm"):
        response = api(role).post(base(nx) + f"/sprints/{sprint.pk}/start/", format="json")
        assert response.status_code == 403
        assert "Product Owner" in response.json()["message"]
    assert api("outsider").get(base(nx) + "/sprints/").status_code == 404


def test_delete_a_planned_sprint_leaves_a_tombstone(nx, api):
    sprint = sprint_build(nx)
    mark = timezone.now()
    assert api("po").delete(base(nx) + f"/sprints/{sprint.pk}/").status_code == 204
    rows = api("dev").get(base(nx) + f"/sprints/deleted/?since={quote(mark.isoformat())}").json()["results"]
    assert [r["id"] for r in rows] == [sprint.pk]
    active = sprint_build(nx, started=True)
    response = api("po").delete(base(nx) + f"/sprints/{active.pk}/")
    assert response.status_code == 409
    assert error_fields(response) == ["state"]


def test_updated_since_and_keyset_pages(nx, api):
    first = sprint_build(nx)
    mark = timezone.now()
    second = sprint_build(nx)
    rows = api("dev").get(base(nx) + f"/sprints/?updated_since={quote(mark.isoformat())}").json()["results"]
    assert [r["id"] for r in rows] == [second.pk]
    page = api("dev").get(base(nx) + "/sprints/?page_size=1").json()
    assert [r["id"] for r in page["results"]] == [first.pk]
    assert [r["id"] for r in api("dev").get(page["next"]).json()["results"]] == [second.pk]
    bad = api("dev").get(base(nx) + "/sprints/?updated_since=yesterday")
    assert bad.status_code == 400
    assert error_fields(bad) == ["updated_since"]


def test_idempotency_key_creates_once(nx, api):
    url = base(nx) + "/sprints/"
    first = api("po").post(url, {"goal": "G"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    second = api("po").post(url, {"goal": "G"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert Sprint.objects.filter(nexus=nx).count() == 1


def test_webhook_events_are_sent(nx, api, settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    from backlog.services import webhooks

    webhook_create(
        nexus=nx,
        url="http://127.0.0.1:9/hook",
        events=["sprint.planned", "sprint.started", "sprint.closed"],
        actor=None,
    )
    webhooks._forget_hooks(nx.pk)
    one = _items(nx)[0]
    sprint = sprint_build(nx)
    api("po").post(
        base(nx) + f"/sprints/{sprint.pk}/items/",
        {"item": one.pk, "teams": [_teams(nx)[0].pk]},
        format="json",
    )
    api("po").post(base(nx) + f"/sprints/{sprint.pk}/start/", format="json")
    api("po").post(
        base(nx) + f"/sprints/{sprint.pk}/close/",
        {"destinations": [{"item": one.pk, "destination": "backlog"}]},
        format="json",
    )
    events = list(WebhookDelivery.objects.order_by("id").values_list("event", flat=True))
    assert events == ["sprint.planned", "sprint.started", "sprint.closed"]
    payload = WebhookDelivery.objects.get(event="sprint.closed").payload
    assert payload["sprint"]["number"] == 1
    assert payload["sprint"]["state"] == "closed"


def test_lists_take_a_fixed_number_of_queries(nx, api):
    def count(n):
        for _ in range(n):
            sprint = sprint_build(nx, goal="G", team_goals={_teams(nx)[0].pk: "T"})
        for i in range(n):
            item = pbi_create(nexus=nx, title=f"P{i}", actor=None)
            from events.services import sprint_plan

            sprint_plan(sprint=sprint, item=item, teams=_teams(nx)[:2], actor=None)
        counts = []
        for path in ("/sprints/", f"/sprints/{sprint.pk}/items/", f"/sprints/{sprint.pk}/scope-log/"):
            with CaptureQueriesContext(connection) as ctx:
                assert api("dev").get(base(nx) + path).status_code == 200
            counts.append(len(ctx.captured_queries))
        return counts

    api("dev").get(base(nx) + "/sprints/")  # the first request of a token records its use
    small = count(1)
    large = count(15)
    assert small == large


def test_dates_are_calendar_days(nx, api):
    sprint = sprint_build(nx)
    body = api("dev").get(base(nx) + f"/sprints/{sprint.pk}/").json()
    assert date.fromisoformat(body["start_date"]) == START
    assert date.fromisoformat(body["end_date"]) == day(13)


def test_a_representative_plans_their_own_lane_and_goal_only(nx, api):
    """A Developer of Team A (`dev`): Team A's lane and Sprint Goal through the API; Team B's lane, the
    Nexus Sprint Goal and another team's goal are a 403 naming the field, nothing saved."""
    a, b, _c = _teams(nx)
    first, second = _items(nx)[:2]
    sprint = sprint_build(nx, goal="Search that finds", team_goals=[{"team": b.pk, "goal": "Ranking"}])
    items_url = base(nx) + f"/sprints/{sprint.pk}/items/"
    response = api("dev").post(items_url, {"item": first.pk, "teams": [a.pk]}, format="json")
    assert response.status_code == 201, response.content
    assert [sq["team"] for sq in response.json()["squares"]] == [a.pk]
    for teams in ([b.pk], [a.pk, b.pk]):
        refused = api("dev").post(items_url, {"item": second.pk, "teams": teams}, format="json")
        assert refused.status_code == 403, refused.content
        assert error_fields(refused) == ["team"]
        assert "Team B's lane" in refused.json()["message"]
    assert not SprintItem.objects.filter(sprint=sprint, item=second).exists()
    assert not second.involvements.exists()
    # Team B's PBI stays; Team A's goes.
    api("po").post(items_url, {"item": second.pk, "teams": [b.pk]}, format="json")
    refused = api("dev").delete(items_url + f"{second.pk}/")
    assert refused.status_code == 403
    assert error_fields(refused) == ["team"]
    assert SprintItem.objects.filter(sprint=sprint, item=second).exists()
    assert api("dev").delete(items_url + f"{first.pk}/").status_code == 204
    # Goals: their own team's, the others sent as they are.
    url = base(nx) + f"/sprints/{sprint.pk}/"
    mine = [{"team": a.pk, "goal": "Indexing"}, {"team": b.pk, "goal": "Ranking"}]
    response = api("sm").patch(url, {"team_goals": mine}, format="json")
    assert response.status_code == 200, response.content
    version = response.json()["version"]
    for body, field in [
        ({"goal": "Mine"}, "goal"),
        ({"team_goals": [{"team": a.pk, "goal": "Indexing"}]}, "team_goals"),  # drops Team B's
        ({"team_goals": [{"team": b.pk, "goal": "Rewritten"}, {"team": a.pk, "goal": "x"}]}, "team_goals"),
    ]:
        refused = api("dev").patch(url, body, format="json")
        assert refused.status_code == 403, (body, refused.content)
        assert error_fields(refused) == [field]
    sprint.refresh_from_db()
    assert (sprint.version, sprint.goal) == (version, "Search that finds")
    assert dict(sprint.team_goals.values_list("team_id", "goal")) == {a.pk: "Indexing", b.pk: "Ranking"}
    # Team B's Developer writes Team B's goal; neither starts the Sprint.
    ok = api("dev_other").patch(
        url,
        {"team_goals": [{"team": a.pk, "goal": "Indexing"}, {"team": b.pk, "goal": "Ranking v2"}]},
        format="json",
    )
    assert ok.status_code == 200, ok.content
    for role in ("dev", "dev_other"):
        assert api(role).post(url + "start/", format="json").status_code == 403
