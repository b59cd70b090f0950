"""The Definition of Done and Integrated Increment resources: refusals naming field and reason, ETag and
If-Match, Idempotency-Key, keyset pages, updated_since, tombstones, constant query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integration.models import DoneCriterion, IntegratedIncrement
from tests.api.helpers import base, error_fields, people, token_client
from tests.factories import nexus_build
from tests.integration.helpers import dod_build, increment_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def nx():
    return nexus_build(items=6)


@pytest.fixture
def who(nx):
    return people(nx)


def test_dod_crud_with_etag_versions_and_tombstones(nx, who):
    nit, dev = token_client(who["nit"]), token_client(who["dev"])
    url = base(nx) + "/definition-of-done/"
    created = nit.post(url, {"text": "Code reviewed"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["team"] is None
    assert created["ETag"] == '"1"'
    # a team never changes the Nexus's criteria: 403 naming `team` and the reason
    refused = dev.patch(f"{url}{body['id']}/", {"text": "If time allows"}, format="json")
    assert refused.status_code == 403
    assert error_fields(refused) == ["team"]
    assert "never remove or weaken" in refused.json()["message"]
    team_id = who["dev"].nexus_memberships.get().team_id
    own = dev.post(url, {"text": "Screen-reader checked", "team": team_id}, format="json")
    assert own.status_code == 201
    stale = nit.patch(f"{url}{body['id']}/", {"text": "Reviewed"}, format="json", HTTP_IF_MATCH='"7"')
    assert stale.status_code == 412
    ok = nit.patch(f"{url}{body['id']}/", {"text": "Reviewed by two"}, format="json", HTTP_IF_MATCH='"1"')
    assert ok.status_code == 200
    assert ok["ETag"] == '"2"'
    assert nit.get(f"{url}{body['id']}/", HTTP_IF_NONE_MATCH='"2"').status_code == 304
    bad = nit.post(url, {"text": ""}, format="json")
    assert bad.status_code == 400
    assert error_fields(bad) == ["text"]
    versions = nit.get(url + "versions/").json()["results"]
    assert [v["number"] for v in versions] == [3, 2, 1]
    assert versions[0]["created_by"] == who["nit"].username
    assert nit.delete(f"{url}{own.json()['id']}/").status_code == 204
    deleted = nit.get(url + "deleted/").json()["results"]
    assert [d["id"] for d in deleted] == [own.json()["id"]]
    assert [c["id"] for c in nit.get(url + "?updated_since=2000-01-01T00:00:00Z").json()["results"]] == [
        body["id"]
    ]


def test_increment_flow_over_the_api(nx, who):
    dod_build(nx)
    increment, scope = increment_build(nx, n_items=1)
    po, dev = token_client(who["po"]), token_client(who["dev"], HTTP_IDEMPOTENCY_KEY="k-1")
    url = f"{base(nx)}/increments/{increment.pk}/"
    got = po.get(url)
    assert got.json()["state"] == "open"
    assert got.json()["items"] == [scope[0].pk]
    criteria = [c["id"] for c in got.json()["criteria"]]
    early = po.post(url + "done/", format="json")
    assert early.status_code == 409
    assert error_fields(early) == ["criteria"]
    first = dev.post(url + "confirm/", {"criterion": criteria[0]}, format="json")
    assert first.status_code == 200, first.content
    replay = dev.post(url + "confirm/", {"criterion": criteria[0]}, format="json")  # same Idempotency-Key
    assert replay.status_code == 200
    assert replay.json() == first.json()
    twice = token_client(who["dev"]).post(url + "confirm/", {"criterion": criteria[0]}, format="json")
    assert twice.status_code == 409
    assert error_fields(twice) == ["criterion"]
    po.post(
        url + "confirm/",
        {"criterion": criteria[1], "evidence_url": "https://ci.example.com/9"},
        format="json",
    )
    done = po.post(url + "done/", format="json")
    assert done.status_code == 200
    assert done.json()["state"] == "done"
    released = po.post(url + "release/", {"released_on": "2026-02-01"}, format="json")
    assert released.json()["released_on"] == "2026-02-01"
    again = po.post(url + "release/", {}, format="json")
    assert again.status_code == 409
    assert error_fields(again) == ["state"]
    unknown = po.post(url + "integrate/", {"item": 10**6}, format="json")
    assert unknown.status_code == 400
    assert error_fields(unknown) == ["item"]


def test_increment_list_queries_constant(nx, who):
    dod_build(nx)
    increment_build(nx, n_items=1)
    po = token_client(who["po"])
    url = f"{base(nx)}/increments/"
    po.get(url)
    with CaptureQueriesContext(connection) as few:
        assert po.get(url).status_code == 200
    increment_build(nx, n_items=3, sprint=IntegratedIncrement.objects.get().sprint)
    with CaptureQueriesContext(connection) as more:
        assert len(po.get(url).json()["results"]) == 2
    assert len(more) == len(few)
    assert DoneCriterion.objects.count() == 2
