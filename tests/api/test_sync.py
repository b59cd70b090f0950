"""Sync scenarios: two clients, paging while others write, concurrent edits (412), idempotent retries,
tombstones, upsert by external id, and all-or-nothing bulk upsert."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection

from backlog.models import ProductBacklogItem, Role
from backlog.services import pbi_create
from tests.api.helpers import base, error_fields, token_client
from tests.factories import UserFactory, membership_add, nexus_build


def _sync(client, url):
    """Every row of a paged list, following `next`."""
    rows = []
    while url:
        page = client.get(url).json()
        rows += page["results"]
        url = page["next"]
    return rows


def test_paging_while_another_client_writes_misses_nothing(nx, api):
    for i in range(25):
        pbi_create(nexus=nx, title=f"Item {i + 6}", actor=None)
    reader, writer = api("dev"), api("sm")
    url = f"{base(nx)}/items/?updated_since=2000-01-01T00:00:00Z&page_size=10"
    first = reader.get(url).json()
    seen = {i["id"]: i["version"] for i in first["results"]}
    already = first["results"][0]["id"]
    later = ProductBacklogItem.objects.latest("id").pk
    writer.patch(f"{base(nx)}/items/{already}/", {"title": "Changed after it was read"}, format="json")
    writer.patch(f"{base(nx)}/items/{later}/", {"title": "Changed before it was read"}, format="json")
    created = writer.post(f"{base(nx)}/items/", {"title": "Created meanwhile"}, format="json").json()
    for row in _sync(reader, first["next"]):
        seen[row["id"]] = row["version"]
    live = dict(ProductBacklogItem.objects.filter(backlog__nexus=nx).values_list("id", "version"))
    assert seen == live  # every item, each at its latest version
    assert created["id"] in seen


def test_incremental_sync_from_the_last_updated_at(nx, api):
    rows = _sync(api("dev"), f"{base(nx)}/items/?updated_since=2000-01-01T00:00:00Z")
    mark = max(r["updated_at"] for r in rows)
    item = ProductBacklogItem.objects.earliest("id")
    api("sm").patch(f"{base(nx)}/items/{item.pk}/", {"title": "Edited"}, format="json")
    changed = _sync(api("dev"), f"{base(nx)}/items/?updated_since={mark.replace('+', '%2B')}")
    assert item.pk in [r["id"] for r in changed]
    assert len(changed) <= 2  # the edited item, plus the boundary item (>= is inclusive)


def test_two_clients_edit_the_same_item(nx, api):
    item = ProductBacklogItem.objects.earliest("id")
    url = f"{base(nx)}/items/{item.pk}/"
    a, b = api("dev"), api("sm")
    tag_a, tag_b = a.get(url)["ETag"], b.get(url)["ETag"]
    assert a.patch(url, {"title": "A's title"}, format="json", HTTP_IF_MATCH=tag_a).status_code == 200
    conflict = b.patch(url, {"description": "B's text"}, format="json", HTTP_IF_MATCH=tag_b)
    assert conflict.status_code == 412
    fresh = b.get(url)
    retry = b.patch(url, {"description": "B's text"}, format="json", HTTP_IF_MATCH=fresh["ETag"])
    assert retry.status_code == 200
    assert (retry.json()["title"], retry.json()["description"]) == ("A's title", "B's text")


def test_idempotent_retry_returns_the_first_response(nx, api):
    client = api("dev")
    key = str(uuid.uuid4())
    first = client.post(f"{base(nx)}/items/", {"title": "Once"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    again = client.post(f"{base(nx)}/items/", {"title": "Once"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert again["ETag"] == first["ETag"]
    assert again["Location"] == first["Location"]
    assert ProductBacklogItem.objects.filter(title="Once").count() == 1
    other = client.post(f"{base(nx)}/items/", {"title": "Twice"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert other.status_code == 422
    assert error_fields(other) == ["Idempotency-Key"]


def test_idempotency_keys_are_per_user_and_failures_are_not_stored(nx, api):
    key = "retry-me"
    bad = api("dev").post(f"{base(nx)}/items/", {"title": 5}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert bad.status_code == 400
    good = api("dev").post(f"{base(nx)}/items/", {"title": "Fixed"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert good.status_code == 201
    by_other = api("sm").post(
        f"{base(nx)}/items/", {"title": "Fixed"}, format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert by_other.status_code == 201
    assert by_other.json()["id"] != good.json()["id"]


def test_idempotent_move_and_bulk(nx, api):
    items = list(ProductBacklogItem.objects.filter(backlog__nexus=nx).order_by("rank"))
    move = f"{base(nx)}/items/{items[-1].pk}/move/"
    r1 = api("po").post(move, {"before": items[0].pk}, format="json", HTTP_IDEMPOTENCY_KEY="m1")
    r2 = api("po").post(move, {"before": items[0].pk}, format="json", HTTP_IDEMPOTENCY_KEY="m1")
    assert r1.json() == r2.json()
    bulk = {"items": [{"external_id": "K", "title": "K"}]}
    b1 = api("po").post(f"{base(nx)}/items/bulk/", bulk, format="json", HTTP_IDEMPOTENCY_KEY="b1")
    b2 = api("po").post(f"{base(nx)}/items/bulk/", bulk, format="json", HTTP_IDEMPOTENCY_KEY="b1")
    assert b1.json() == b2.json()
    assert b1.json()["created"] == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve", "tab\there"])
def test_bad_idempotency_keys(nx, api, key):
    response = api("dev").post(f"{base(nx)}/items/", {"title": "K"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert error_fields(response) == ["Idempotency-Key"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_key_create_one_item():
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is checked on PostgreSQL")
    nexus = nexus_build()
    user = UserFactory.create(username="racer")
    membership_add(nexus=nexus, user=user, role=Role.NIT_MEMBER)
    barrier, results = threading.Barrier(4), []

    def post() -> None:
        client = token_client(user)
        barrier.wait()
        response = client.post(
            f"{base(nexus)}/items/", {"title": "Raced"}, format="json", HTTP_IDEMPOTENCY_KEY="race"
        )
        results.append((response.status_code, response.json()["id"]))
        connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {code for code, _ in results} == {201}
    assert len({pk for _, pk in results}) == 1
    assert ProductBacklogItem.objects.filter(title="Raced").count() == 1


def test_tombstones(nx, api):
    item = ProductBacklogItem.objects.earliest("id")
    before = api("dev").get(f"{base(nx)}/items/").json()["results"]
    assert api("dev").delete(f"{base(nx)}/items/{item.pk}/").status_code == 204
    stones = api("stakeholder").get(f"{base(nx)}/items/deleted/").json()["results"]
    assert [(s["id"], s["external_id"]) for s in stones] == [(item.pk, "")]
    since = stones[0]["deleted_at"].replace("+", "%2B")
    assert len(api("dev").get(f"{base(nx)}/items/deleted/?since={since}").json()["results"]) == 1
    later = "2999-01-01T00:00:00Z"
    assert api("dev").get(f"{base(nx)}/items/deleted/?since={later}").json()["results"] == []
    assert len(api("dev").get(f"{base(nx)}/items/").json()["results"]) == len(before) - 1
    bad = api("dev").get(f"{base(nx)}/items/deleted/?since=soon")
    assert bad.status_code == 400
    assert error_fields(bad) == ["since"]


def test_upsert_creates_then_updates_and_resend_changes_nothing(nx, api):
    url = f"{base(nx)}/items/by-external-id/JIRA-1/"
    created = api("dev").put(url, {"title": "From Jira", "labels": ["sync"]}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["external_id"] == "JIRA-1"
    same = api("dev").put(url, {"title": "From Jira", "labels": ["sync"]}, format="json")
    assert same.status_code == 200
    assert same.json()["version"] == created.json()["version"]
    changed = api("dev").put(url, {"title": "From Jira, edited"}, format="json", HTTP_IF_MATCH=same["ETag"])
    assert changed.status_code == 200
    assert changed.json()["version"] > same.json()["version"]
    stale = api("dev").put(url, {"title": "Late"}, format="json", HTTP_IF_MATCH=same["ETag"])
    assert stale.status_code == 412
    assert ProductBacklogItem.objects.filter(external_id="JIRA-1").count() == 1


def test_upsert_edge_cases(nx, api):
    missing = api("dev").put(
        f"{base(nx)}/items/by-external-id/NEW/", {"title": "x"}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert missing.status_code == 412
    no_title = api("dev").put(f"{base(nx)}/items/by-external-id/NEW/", {"description": "x"}, format="json")
    assert no_title.status_code == 400
    assert error_fields(no_title) == ["title"]
    other = api("dev").put(
        f"{base(nx)}/items/by-external-id/NEW/", {"title": "x", "external_id": "OLD"}, format="json"
    )
    assert other.status_code == 400
    assert error_fields(other) == ["external_id"]
    gone = api("dev").put(f"{base(nx)}/items/by-external-id/GONE/", {"title": "x"}, format="json").json()
    api("dev").delete(f"{base(nx)}/items/{gone['id']}/")
    again = api("dev").put(f"{base(nx)}/items/by-external-id/GONE/", {"title": "x"}, format="json")
    assert again.status_code == 409
    assert error_fields(again) == ["external_id"]


def test_external_id_is_unique_per_nexus(nx, api):
    api("dev").put(f"{base(nx)}/items/by-external-id/DUP/", {"title": "x"}, format="json")
    response = api("dev").post(f"{base(nx)}/items/", {"title": "y", "external_id": "DUP"}, format="json")
    assert response.status_code == 400
    assert error_fields(response) == ["external_id"]


def test_bulk_upsert_of_1000(nx, api):
    items = [{"external_id": f"B-{i}", "title": f"Bulk {i}", "labels": ["bulk"]} for i in range(1000)]
    response = api("dev").post(f"{base(nx)}/items/bulk/", {"items": items}, format="json")
    assert response.status_code == 200, response.content[:500]
    assert (response.json()["created"], response.json()["updated"]) == (1000, 0)
    items[3]["title"] = "Bulk 3, edited"
    again = api("dev").post(f"{base(nx)}/items/bulk/", {"items": items}, format="json").json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 1, 999)
    too_many = api("dev").post(
        f"{base(nx)}/items/bulk/", {"items": [*items, {"external_id": "X", "title": "X"}]}, format="json"
    )
    assert too_many.status_code == 400
    assert error_fields(too_many) == ["items"]


def test_bulk_upsert_is_all_or_nothing_with_every_error(nx, api):
    before = ProductBacklogItem.objects.count()
    items = [
        {"external_id": "OK-1", "title": "Fine"},
        {"external_id": "BAD-1", "title": ""},
        {"external_id": "OK-2", "title": "Fine too", "size": "big"},
        {"external_id": "OK-1", "title": "Again"},
        {"external_id": "NEW", "description": "no title"},
        {"title": "no external id"},
    ]
    response = api("dev").post(f"{base(nx)}/items/bulk/", {"items": items}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(1, "title"), (2, "size"), (5, "external_id")]
    assert ProductBacklogItem.objects.count() == before
    items = [items[0], items[3], items[4]]
    response = api("dev").post(f"{base(nx)}/items/bulk/", {"items": items}, format="json")
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(1, "external_id"), (2, "title")]
    assert ProductBacklogItem.objects.count() == before
