"""`/api/v1/nexuses/{slug}/dependencies/`: create, refusals naming the field, list and sync, ETag and
If-Match, Idempotency-Key, tombstones, and a query count that does not grow with the rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backlog.models import Dependency, ProductBacklogItem
from backlog.services import pbi_create, pbi_delete, pbi_set_teams
from backlog.services.dependencies import dependency_create
from tests.api.helpers import base, error_fields
from tests.factories import nexus_build, team

pytestmark = pytest.mark.django_db


def _items(nx):
    return list(ProductBacklogItem.objects.filter(backlog__nexus=nx).order_by("rank"))


def test_create_get_patch_delete_and_sync(nx, api):
    a, b, c, *_ = _items(nx)
    url = base(nx) + "/dependencies/"
    response = api("dev").post(url, {"item": a.pk, "depends_on": b.pk, "found_at": "planning"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "open"
    assert body["found_by"].startswith("dev-")
    assert response["ETag"] == '"1"'
    assert response["Location"].endswith(f"/dependencies/{body['id']}/")
    detail = url + f"{body['id']}/"
    assert api("po").get(detail, HTTP_IF_NONE_MATCH='"1"').status_code == 304
    stale = api("po").patch(detail, {"status": "resolved"}, format="json", HTTP_IF_MATCH='"7"')
    assert stale.status_code == 412
    assert error_fields(stale) == ["If-Match"]
    done = api("po").patch(
        detail, {"status": "resolved", "event": "review"}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert done.status_code == 200, done.content
    assert done.json()["status"] == "resolved"
    assert done["ETag"] == '"2"'
    since = done.json()["updated_at"]
    listed = api("stakeholder").get(url, {"updated_since": since}).json()["results"]
    assert [d["id"] for d in listed] == [body["id"]]
    assert api("po").delete(detail).status_code == 204
    assert api("po").get(url).json()["results"] == []
    assert [d["id"] for d in api("po").get(url, {"status": "removed"}).json()["results"]] == [body["id"]]
    gone = api("po").get(url + "deleted/", {"since": since}).json()["results"]
    assert [d["id"] for d in gone] == [body["id"]]
    # The pair may be added again once removed; c integrates with a (stored with the smaller id first).
    assert api("dev").post(url, {"item": a.pk, "depends_on": b.pk}, format="json").status_code == 201
    sym = api("dev").post(url, {"item": c.pk, "depends_on": a.pk, "kind": "integrates_with"}, format="json")
    assert (sym.json()["item"], sym.json()["depends_on"]) == (a.pk, c.pk)


@pytest.mark.parametrize(
    ("case", "status", "field"),
    [
        ("itself", 400, "depends_on"),
        ("other_nexus", 400, "depends_on"),
        ("deleted", 400, "depends_on"),
        ("duplicate", 409, "depends_on"),
        ("cycle", 409, "depends_on"),
        ("bad_kind", 400, "kind"),
        ("bad_event", 400, "found_at"),
        ("string_id", 400, "item"),
        ("unknown_field", 400, "teams"),
    ],
)
def test_refusals_name_the_field_and_save_nothing(nx, api, case, status, field):
    a, b, *_ = _items(nx)
    body = {"item": a.pk, "depends_on": b.pk}
    if case == "itself":
        body["depends_on"] = a.pk
    elif case == "other_nexus":
        body["depends_on"] = pbi_create(nexus=nexus_build(), title="Elsewhere", actor=None).pk
    elif case == "deleted":
        pbi_delete(item=b, actor=None)
    elif case == "duplicate":
        dependency_create(item=a, depends_on=b, actor=None)
    elif case == "cycle":
        dependency_create(item=b, depends_on=a, actor=None)
    elif case == "bad_kind":
        body["kind"] = "blocks"
    elif case == "bad_event":
        body["found_at"] = "lunch"
    elif case == "string_id":
        body["item"] = str(a.pk)
    else:
        body["teams"] = [1]
    before = Dependency.objects.count()
    response = api("dev").post(base(nx) + "/dependencies/", body, format="json")
    assert response.status_code == status, response.content
    assert field in error_fields(response)
    assert Dependency.objects.count() == before


def test_a_developer_of_neither_side_may_not_resolve(nx, api):
    a, b, *_ = _items(nx)
    pbi_set_teams(item=a, teams=[team(nx, "Team A")], actor=None)
    dep = dependency_create(item=a, depends_on=b, actor=None)
    url = base(nx) + f"/dependencies/{dep.pk}/"
    refused = api("dev_other").patch(url, {"status": "resolved"}, format="json")
    assert refused.status_code == 403
    assert "neither" in refused.json()["message"]
    assert api("dev").patch(url, {"status": "resolved"}, format="json").status_code == 200
    bad = api("dev").patch(url, {"status": "gone"}, format="json")
    assert bad.status_code == 400
    assert error_fields(bad) == ["status"]
    same = api("dev").patch(url, {}, format="json")  # nothing to change
    assert same.status_code == 200
    assert same.json()["status"] == "resolved"


def test_idempotency_key_replays_the_creation(nx, api):
    a, b, *_ = _items(nx)
    url = base(nx) + "/dependencies/"
    first = api("dev").post(url, {"item": a.pk, "depends_on": b.pk}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    again = api("dev").post(url, {"item": a.pk, "depends_on": b.pk}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert Dependency.objects.count() == 1


def test_list_queries_do_not_grow_with_the_rows(nx, api):
    items = _items(nx)
    more = [pbi_create(nexus=nx, title=f"More {i}", actor=None, teams=[team(nx)]) for i in range(12)]
    url = base(nx) + "/dependencies/"
    client = api("po")
    client.get(url)  # the token's first use is written once

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    dependency_create(item=items[0], depends_on=items[1], actor=None)
    few = count()
    for i in range(10):
        dependency_create(item=more[i], depends_on=more[i + 1], actor=None)
    assert count() == few
