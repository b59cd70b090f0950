"""The retrospective resources of the REST API (`events.api_retro`, `events.api_retro_actions`): record
items and agree actions (201, Location, ETag), list with filters, keyset pages and `updated_since`, GET
with ETag/304, PATCH with If-Match (412), status changes and their history, tombstones, Idempotency-Key,
bad input as 400/403/409 naming the field, and list query counts that do not grow with the data."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backlog.models import ProductBacklogItem
from events.models import ImprovementAction, RetroItem
from events.services.retro import action_agree, retro_item_add
from tests.api.helpers import base, error_fields, people, token_client
from tests.events.sprint_helpers import sprint_build
from tests.factories import nexus_build, team

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def nx(db):
    return nexus_build(items=3)


@pytest.fixture
def who(nx):
    return people(nx)


@pytest.fixture
def sprint(nx):
    return sprint_build(nx, started=True)


@pytest.fixture
def api(who):
    cache = {}

    def get(role):
        if role not in cache:
            cache[role] = token_client(who[role])
        return cache[role]

    return get


def items_url(nx, tail=""):
    return base(nx) + "/retrospectives/items/" + tail


def actions_url(nx, tail=""):
    return base(nx) + "/retrospectives/actions/" + tail


def test_record_items_of_both_parts(nx, sprint, api):
    r = api("dev").post(items_url(nx), {"sprint": sprint.pk, "text": "Build red"}, format="json")
    assert r.status_code == 201, r.content
    issue = r.json()
    assert (issue["part"], issue["team"], issue["author"]) == ("cross_team", None, f"dev-{nx.slug}")
    assert r["ETag"] == '"1"'
    assert r["Location"].endswith(f"/retrospectives/items/{issue['id']}/")
    body = {
        "sprint": sprint.pk,
        "text": "We merged late",
        "team": team(nx).pk,
        "cross_team_issue": issue["id"],
    }
    r = api("dev").post(items_url(nx), body, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["cross_team_issue"] == issue["id"]
    r = api("dev_other").post(items_url(nx), body, format="json")
    assert r.status_code == 403
    assert error_fields(r) == ["team"]
    got = api("stakeholder").get(items_url(nx, f"{issue['id']}/"))
    assert got.status_code == 200
    assert (
        api("stakeholder").get(items_url(nx, f"{issue['id']}/"), HTTP_IF_NONE_MATCH='"1"').status_code == 304
    )
    assert [i["id"] for i in api("nit").get(items_url(nx) + "?part=team").json()["results"]] == [
        RetroItem.objects.get(part="team").pk
    ]


def test_bad_input_is_400_or_409_naming_the_field(nx, sprint, api):
    planned = sprint_build(nx)
    cases = [
        ({"sprint": sprint.pk, "text": ""}, 400, "text"),
        ({"sprint": sprint.pk, "text": "x", "colour": "red"}, 400, "colour"),
        ({"sprint": 10**9, "text": "x"}, 400, "sprint"),
        ({"sprint": planned.pk, "text": "x"}, 409, "sprint"),
        (
            {"sprint": sprint.pk, "text": "x", "team": team(nx).pk, "cross_team_issue": 10**9},
            400,
            "cross_team_issue",
        ),
    ]
    for body, code, field in cases:
        r = api("nit").post(items_url(nx), body, format="json")
        assert r.status_code == code, (body, r.content)
        assert error_fields(r) == [field]
    r = api("nit").post(
        actions_url(nx), {"sprint": sprint.pk, "title": "x", "owner": "nobody"}, format="json"
    )
    assert r.status_code == 400
    assert error_fields(r) == ["owner"]
    assert not RetroItem.objects.exists()
    assert not ImprovementAction.objects.exists()


def test_patch_with_if_match_and_delete_leaves_a_tombstone(nx, sprint, api):
    item = retro_item_add(sprint=sprint, actor=None, text="Build red")
    r = api("dev").patch(
        items_url(nx, f"{item.pk}/"), {"text": "Build red 3 days"}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert r.status_code == 200, r.content
    assert r["ETag"] == '"2"'
    r = api("dev").patch(items_url(nx, f"{item.pk}/"), {"text": "Stale"}, format="json", HTTP_IF_MATCH='"1"')
    assert r.status_code == 412
    assert api("stakeholder").delete(items_url(nx, f"{item.pk}/")).status_code == 403
    assert api("dev").delete(items_url(nx, f"{item.pk}/")).status_code == 204
    assert [g["id"] for g in api("dev").get(items_url(nx, "deleted/")).json()["results"]] == [item.pk]


def test_agree_follow_and_history_of_actions(nx, sprint, api, who):
    body = {"sprint": sprint.pk, "title": "Build every merge", "owner": f"nit-{nx.slug}"}
    r = api("sm").post(actions_url(nx), body, format="json", HTTP_IDEMPOTENCY_KEY="a-1")
    again = api("sm").post(actions_url(nx), body, format="json", HTTP_IDEMPOTENCY_KEY="a-1")
    assert r.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    action = r.json()
    assert (action["status"], action["kind"], action["owner"], action["sprint_number"]) == (
        "open",
        "action",
        f"nit-{nx.slug}",
        sprint.number,
    )
    path = f"{action['id']}/"
    r = api("dev").post(actions_url(nx, path + "status/"), {"status": "done", "note": "Green"}, format="json")
    assert r.status_code == 200, r.content
    assert (r.json()["status"], r.json()["closed_sprint"]) == ("done", sprint.pk)
    r = api("dev").post(actions_url(nx, path + "status/"), {"status": "done"}, format="json")
    assert r.status_code == 409
    assert error_fields(r) == ["status"]
    hist = api("stakeholder").get(actions_url(nx, path + "history/")).json()["results"]
    assert [(h["kind"], h["from_status"], h["to_status"]) for h in hist] == [
        ("agreed", None, "open"),
        ("status", "open", "done"),
    ]
    r = api("dev").patch(
        actions_url(nx, path), {"owner": f"dev-{nx.slug}"}, format="json", HTTP_IF_MATCH='"2"'
    )
    assert r.status_code == 200, r.content
    assert r.json()["owner"] == f"dev-{nx.slug}"
    pbi = api("dev").post(actions_url(nx), {**body, "kind": "pbi", "title": "Shared fixture"}, format="json")
    assert pbi.status_code == 201
    item = ProductBacklogItem.objects.get(pk=pbi.json()["item"])
    assert item.title == "Shared fixture"
    r = api("dev").post(actions_url(nx, f"{pbi.json()['id']}/status/"), {"status": "done"}, format="json")
    assert r.status_code == 409
    assert error_fields(r) == ["kind"]
    assert api("stakeholder").post(actions_url(nx), body, format="json").status_code == 403
    open_ones = api("eat" if "eat" in who else "stakeholder").get(actions_url(nx) + "?status=open&kind=pbi")
    assert [a["id"] for a in open_ones.json()["results"]] == [pbi.json()["id"]]


def test_updated_since_and_pages(nx, sprint, api, who):
    old = retro_item_add(sprint=sprint, actor=None, text="Old")
    RetroItem.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=2))
    for i in range(4):
        retro_item_add(sprint=sprint, actor=None, text=f"New {i}")
    since = quote((timezone.now() - timedelta(days=1)).isoformat())
    synced = api("dev").get(items_url(nx) + f"?updated_since={since}").json()["results"]
    assert len(synced) == 4
    page = api("dev").get(items_url(nx) + "?page_size=2").json()
    seen = [r["id"] for r in page["results"]]
    while page["next"]:
        page = api("dev").get(page["next"]).json()
        seen += [r["id"] for r in page["results"]]
    assert len(seen) == 5 == len(set(seen))
    assert api("dev").get(items_url(nx) + "?prat=team").status_code == 400


def test_list_queries_do_not_grow(nx, sprint, api, who):
    retro_item_add(sprint=sprint, actor=None, text="First")
    action_agree(sprint=sprint, actor=None, title="First", owner=who["nit"])
    client = api("dev")
    client.get(items_url(nx))
    counts = {}
    for name, url in (("items", items_url(nx)), ("actions", actions_url(nx))):
        with CaptureQueriesContext(connection) as few:
            assert client.get(url).status_code == 200
        counts[name] = len(few.captured_queries)
    for i in range(15):
        issue = retro_item_add(sprint=sprint, actor=None, text=f"More {i}")
        retro_item_add(sprint=sprint, actor=None, text=f"Team {i}", team=team(nx), cross_team_issue=issue)
        action_agree(
            sprint=sprint, actor=None, title=f"More {i}", owner=who["nit"], kind="pbi" if i % 2 else "action"
        )
    for name, url in (("items", items_url(nx)), ("actions", actions_url(nx))):
        with CaptureQueriesContext(connection) as many:
            assert client.get(url).status_code == 200
        assert len(many.captured_queries) == counts[name], name
