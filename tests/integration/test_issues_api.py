"""The integration-issues resource of the REST API (`integration.api_issues`): raise (201, Location,
ETag), list with filters, keyset pages and `updated_since`, GET with ETag/304, PATCH with If-Match,
escalate/resolve/decide, history, tombstones, Idempotency-Key, the soft WIP warning header, bad input as
400/409 naming the field, and a query count that does not grow with the data."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backlog.models import ProductBacklogItem, Role, ScrumTeam
from integration.models_issues import IntegrationIssue
from integration.services_issues import issue_escalate, issue_raise, issue_wip_limit_set
from tests.api.helpers import base, error_fields, people, token_client
from tests.factories import member, nexus_build

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def nx(db):
    return nexus_build(items=5)


@pytest.fixture
def who(nx):
    return {**people(nx), "eat": member(nx, Role.EAT_MEMBER, username=f"eat-{nx.slug}")}


@pytest.fixture
def api(who):
    cache = {}

    def get(role):
        if role not in cache:
            cache[role] = token_client(who[role])
        return cache[role]

    return get


def url(nx, tail=""):
    return base(nx) + "/integration-issues/" + tail


def test_raise_get_list_and_etag(nx, api):
    team = ScrumTeam.objects.filter(nexus=nx).earliest("name")
    item = ProductBacklogItem.objects.filter(backlog__nexus=nx).earliest("id")
    response = api("dev").post(
        url(nx),
        {
            "title": "Nightly build red",
            "event": "daily_scrum",
            "raised_by_team": team.pk,
            "teams": [team.pk],
            "items": [item.pk],
            "owner": f"nit-{nx.slug}",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["level"], body["status"], body["raised_by"], body["owner"]) == (
        1,
        "open",
        f"dev-{nx.slug}",
        f"nit-{nx.slug}",
    )
    assert body["teams"] == [team.pk]
    assert body["items"] == [item.pk]
    assert body["ages"] == [{"level": 1, "days": 0, "current": True}]
    assert response["ETag"] == '"1"'
    assert response["Location"].endswith(f"/integration-issues/{body['id']}/")
    got = api("stakeholder").get(url(nx, f"{body['id']}/"))
    assert got.status_code == 200
    assert got["ETag"] == '"1"'
    assert api("eat").get(url(nx, f"{body['id']}/"), HTTP_IF_NONE_MATCH='"1"').status_code == 304
    assert [r["id"] for r in api("eat").get(url(nx)).json()["results"]] == [body["id"]]


def test_escalate_to_the_top_then_409(nx, api):
    issue = issue_raise(nexus=nx, actor=None, title="Build red").issue
    for level in (2, 3):
        r = api("nit").post(url(nx, f"{issue.pk}/escalate/"), {"note": "Beyond us"}, format="json")
        assert r.status_code == 200, r.content
        assert r.json()["level"] == level
    r = api("nit").post(url(nx, f"{issue.pk}/escalate/"), {}, format="json")
    assert r.status_code == 409
    assert error_fields(r) == ["level"]
    assert "no level above" in r.json()["message"]
    # The EAT decides, a developer may not close it at level 3, the EAT does.
    assert (
        api("eat").post(url(nx, f"{issue.pk}/decide/"), {"decision": "Fund it"}, format="json").status_code
        == 200
    )
    r = api("dev").post(url(nx, f"{issue.pk}/resolve/"), {"resolution": "x"}, format="json")
    assert r.status_code == 403
    r = api("eat").post(url(nx, f"{issue.pk}/resolve/"), {"resolution": "Funded"}, format="json")
    assert r.status_code == 200
    assert r.json()["status"] == "resolved"
    assert r.json()["decision"] == "Fund it"
    hist = api("dev").get(url(nx, f"{issue.pk}/history/")).json()["results"]
    assert [h["kind"] for h in hist] == ["raised", "escalated", "escalated", "decision", "resolved"]


def test_escalating_a_resolved_issue_is_409_naming_status(nx, api):
    issue = issue_raise(nexus=nx, actor=None, title="Build red").issue
    assert (
        api("dev").post(url(nx, f"{issue.pk}/resolve/"), {"resolution": "ok"}, format="json").status_code
        == 200
    )
    r = api("nit").post(url(nx, f"{issue.pk}/escalate/"), {}, format="json")
    assert r.status_code == 409
    assert error_fields(r) == ["status"]
    r = api("dev").patch(url(nx, f"{issue.pk}/"), {"title": "x"}, format="json")
    assert r.status_code == 409
    assert error_fields(r) == ["status"]


def test_bad_input_is_400_naming_the_field(nx, api):
    other = nexus_build()
    cases = [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x", "event": "party"}, "event"),
        ({"title": "x", "level": 3}, "level"),
        ({"title": "x", "teams": [ScrumTeam.objects.filter(nexus=other).earliest("name").pk]}, "teams"),
        ({"title": "x", "owner": "nobody-here"}, "owner"),
        ({"title": "x", "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        r = api("dev").post(url(nx), body, format="json")
        assert r.status_code == 400, (body, r.content)
        assert any(f.startswith(field) for f in error_fields(r)), (body, r.json())
    issue = issue_raise(nexus=nx, actor=None, title="Build red").issue
    r = api("dev").post(url(nx, f"{issue.pk}/resolve/"), {"resolution": "x", "status": "open"}, format="json")
    assert r.status_code == 400
    assert error_fields(r) == ["status"]
    r = api("eat").post(url(nx, f"{issue.pk}/decide/"), {"decision": "Fund"}, format="json")
    assert r.status_code == 409
    assert error_fields(r) == ["level"]
    assert IntegrationIssue.objects.count() == 1


def test_patch_with_if_match(nx, api):
    issue = issue_raise(nexus=nx, actor=None, title="Build red").issue
    stale = api("dev").patch(url(nx, f"{issue.pk}/"), {"title": "X"}, format="json", HTTP_IF_MATCH='"9"')
    assert stale.status_code == 412
    assert error_fields(stale) == ["If-Match"]
    ok = api("dev").patch(url(nx, f"{issue.pk}/"), {"title": "X"}, format="json", HTTP_IF_MATCH='"1"')
    assert ok.status_code == 200
    assert ok["ETag"] == '"2"'
    assert ok.json()["title"] == "X"


def test_wip_limit_hard_409_soft_warning_header(nx, api, who):
    issue_wip_limit_set(nexus=nx, actor=None, limit=1, kind="hard")
    assert api("dev").post(url(nx), {"title": "One"}, format="json").status_code == 201
    r = api("dev").post(url(nx), {"title": "Two"}, format="json")
    assert r.status_code == 409
    assert error_fields(r) == ["limit"]
    issue_wip_limit_set(nexus=nx, actor=None, limit=1, kind="soft")
    r = api("dev").post(url(nx), {"title": "Two"}, format="json")
    assert r.status_code == 201
    assert "WIP limit" in r["Warning"]


def test_idempotency_key_raises_once(nx, api):
    first = api("dev").post(url(nx), {"title": "Once"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api("dev").post(url(nx), {"title": "Once"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert IntegrationIssue.objects.filter(nexus=nx).count() == 1


def test_filters_updated_since_pages_and_tombstones(nx, api):
    old = issue_raise(nexus=nx, actor=None, title="Old").issue
    IntegrationIssue.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=2))
    for i in range(4):
        issue_raise(nexus=nx, actor=None, title=f"New {i}")
    high = issue_raise(nexus=nx, actor=None, title="High", level=2).issue
    assert [r["id"] for r in api("dev").get(url(nx) + "?level=2").json()["results"]] == [high.pk]
    assert api("dev").get(url(nx) + "?status=resolved").json()["results"] == []
    since = quote((timezone.now() - timedelta(days=1)).isoformat())
    synced = api("dev").get(url(nx) + f"?updated_since={since}").json()["results"]
    assert old.pk not in [r["id"] for r in synced]
    assert len(synced) == 5
    page = api("dev").get(url(nx) + "?page_size=2").json()
    seen = [r["id"] for r in page["results"]]
    while page["next"]:
        page = api("dev").get(page["next"]).json()
        seen += [r["id"] for r in page["results"]]
    assert len(seen) == 6 == len(set(seen))
    assert api("nit").delete(url(nx, f"{old.pk}/")).status_code == 204
    gone = api("dev").get(url(nx, "deleted/")).json()["results"]
    assert [g["id"] for g in gone] == [old.pk]
    assert api("dev").get(url(nx) + "?levle=2").status_code == 400


def test_list_queries_do_not_grow(nx, api):
    team = ScrumTeam.objects.filter(nexus=nx).earliest("name")
    issue_raise(nexus=nx, actor=None, title="First", teams=[team])
    client = api("dev")
    client.get(url(nx))  # warm the token and the rules
    with CaptureQueriesContext(connection) as few:
        assert client.get(url(nx)).status_code == 200
    for i in range(20):
        issue = issue_raise(nexus=nx, actor=None, title=f"More {i}", teams=[team], items=[]).issue
        if i % 2:
            issue_escalate(issue=issue, actor=None)
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(url(nx)).json()["results"]) == 21
    assert len(many.captured_queries) == len(few.captured_queries)


def test_the_eat_role_through_the_membership_api(nx, api):
    """The new role is accepted like the other roles without a team (and refused a team); the member reads
    the Nexus like a Stakeholder: items are read, not changed."""
    from tests.factories import UserFactory

    UserFactory.create(username="erin")
    body = {"username": "erin", "role": "eat_member"}
    r = api("admin").post(base(nx) + "/memberships/", body, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["role"] == "eat_member"
    assert r.json()["team"] is None
    item = ProductBacklogItem.objects.filter(backlog__nexus=nx).earliest("id")
    assert api("eat").get(base(nx) + f"/items/{item.pk}/").status_code == 200
    assert api("eat").patch(base(nx) + f"/items/{item.pk}/", {"title": "x"}, format="json").status_code == 403
