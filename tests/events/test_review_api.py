"""The review notes resource of the REST API (`events.api_review`) and the items' `product_goal`: record
(201, Location, ETag), list with filters, keyset pages and `updated_since`, GET with ETag/304, PATCH with
If-Match, to-pbi and link, history, tombstones, Idempotency-Key, bad input as 400/409/412 naming the field,
and a query count that does not grow with the data."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backlog.models import ProductBacklogItem
from backlog.services import goal_create
from events.models import ReviewNote
from events.services.review import review_note_add
from tests.api.helpers import base, error_fields, people, token_client
from tests.events.sprint_helpers import items, sprint_build
from tests.factories import nexus_build

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def nx(db):
    return nexus_build(items=5)


@pytest.fixture
def sprint(nx):
    return sprint_build(nx, planned=items(nx)[:2], started=True)


@pytest.fixture
def api(nx):
    who = people(nx)
    cache = {}

    def get(role):
        if role not in cache:
            cache[role] = token_client(who[role])
        return cache[role]

    return get


def url(nx, tail=""):
    return base(nx) + "/reviews/" + tail


def test_record_get_list_etag_and_history(nx, sprint, api):
    r = api("stakeholder").post(
        url(nx), {"sprint": sprint.pk, "text": "Love it", "stakeholder": "CFO"}, format="json"
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["outcome"], body["item"], body["author"], body["sprint"]) == (
        "open",
        None,
        f"sh-{nx.slug}",
        sprint.pk,
    )
    assert r["ETag"] == '"1"'
    assert r["Location"].endswith(f"/reviews/{body['id']}/")
    got = api("dev").get(url(nx, f"{body['id']}/"))
    assert got.status_code == 200
    assert api("dev").get(url(nx, f"{body['id']}/"), HTTP_IF_NONE_MATCH='"1"').status_code == 304
    assert [n["id"] for n in api("dev").get(url(nx) + f"?sprint={sprint.pk}").json()["results"]] == [
        body["id"]
    ]
    assert api("dev").get(url(nx) + "?outcome=new_pbi").json()["results"] == []
    hist = api("dev").get(url(nx, f"{body['id']}/history/")).json()["results"]
    assert [h["kind"] for h in hist] == ["added"]


def test_patch_with_if_match_and_history(nx, sprint, api):
    note = review_note_add(sprint=sprint, text="Slow", actor=None)
    stale = api("dev").patch(
        url(nx, f"{note.pk}/"), {"text": "Slow search"}, format="json", HTTP_IF_MATCH='"9"'
    )
    assert stale.status_code == 412
    ok = api("dev").patch(url(nx, f"{note.pk}/"), {"text": "Slow search"}, format="json", HTTP_IF_MATCH='"1"')
    assert ok.status_code == 200, ok.content
    assert ok["ETag"] == '"2"'
    assert api("stakeholder").patch(url(nx, f"{note.pk}/"), {"text": "x"}, format="json").status_code == 403
    hist = api("dev").get(url(nx, f"{note.pk}/history/")).json()["results"]
    assert hist[1]["data"] == {"text": ["Slow", "Slow search"]}


def test_to_pbi_then_409_naming_outcome(nx, sprint, api):
    note = review_note_add(sprint=sprint, text="Add a default case", actor=None)
    r = api("dev").post(url(nx, f"{note.pk}/to-pbi/"), {}, format="json")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["outcome"] == "new_pbi"
    assert ProductBacklogItem.objects.get(pk=body["item"]).title == "Add a default case"
    again = api("dev").post(url(nx, f"{note.pk}/to-pbi/"), {}, format="json")
    assert again.status_code == 409
    assert error_fields(again) == ["outcome"]
    assert api("dev").patch(url(nx, f"{note.pk}/"), {"text": "x"}, format="json").status_code == 409


def test_link_changes_the_pbi_and_refuses_another_nexus(nx, sprint, api):
    note = review_note_add(sprint=sprint, text="Records too", actor=None)
    target = items(nx)[3]
    foreign = items(nexus_build(items=1))[0]
    bad = api("dev").post(url(nx, f"{note.pk}/link/"), {"item": foreign.pk}, format="json")
    assert bad.status_code == 400
    assert error_fields(bad) == ["item"]
    stale = api("dev").post(
        url(nx, f"{note.pk}/link/"), {"item": target.pk, "title": "X", "item_version": 99}, format="json"
    )
    assert stale.status_code == 412
    r = api("dev").post(
        url(nx, f"{note.pk}/link/"),
        {"item": target.pk, "description": "Also records", "item_version": target.version},
        format="json",
    )
    assert r.status_code == 200, r.content
    target.refresh_from_db()
    assert (r.json()["outcome"], r.json()["item"], target.description) == (
        "changed_pbi",
        target.pk,
        "Also records",
    )


def test_bad_input_names_the_field(nx, sprint, api):
    planned = sprint_build(nx)
    cases = [
        ({"sprint": sprint.pk}, 400, ["text"]),
        ({"sprint": sprint.pk, "text": "   "}, 400, ["text"]),
        ({"sprint": sprint.pk, "text": 12}, 400, ["text"]),
        ({"sprint": 999999, "text": "ok"}, 400, ["sprint"]),
        ({"sprint": sprint.pk, "text": "ok", "author": "me"}, 400, ["author"]),
        ({"sprint": planned.pk, "text": "Too early"}, 409, ["sprint"]),
    ]
    for body, code, fields in cases:
        r = api("dev").post(url(nx), body, format="json")
        assert r.status_code == code, (body, r.content)
        assert error_fields(r) == fields, body
    assert not ReviewNote.objects.exists()


def test_idempotency_key_records_once(nx, sprint):
    client = token_client(people(nx)["dev"], HTTP_IDEMPOTENCY_KEY="note-1")
    body = {"sprint": sprint.pk, "text": "Once"}
    first = client.post(url(nx), body, format="json")
    second = client.post(url(nx), body, format="json")
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] == second.json()["id"]
    assert ReviewNote.objects.count() == 1


def test_pages_updated_since_and_tombstones(nx, sprint, api):
    notes = [review_note_add(sprint=sprint, text=f"N{k}", actor=None) for k in range(5)]
    page = api("dev").get(url(nx) + "?page_size=2").json()
    assert [n["id"] for n in page["results"]] == [notes[0].pk, notes[1].pk]
    rest = api("dev").get(page["next"]).json()
    assert [n["id"] for n in rest["results"]] == [notes[2].pk, notes[3].pk]
    since = quote(notes[3].updated_at.isoformat())
    synced = api("dev").get(url(nx) + f"?updated_since={since}").json()["results"]
    assert [n["id"] for n in synced] == [notes[3].pk, notes[4].pk]
    assert api("dev").delete(url(nx, f"{notes[0].pk}/")).status_code == 403
    assert api("po").delete(url(nx, f"{notes[0].pk}/"), HTTP_IF_MATCH='"1"').status_code == 204
    gone = api("dev").get(url(nx, "deleted/")).json()["results"]
    assert [g["id"] for g in gone] == [notes[0].pk]


def test_list_queries_do_not_grow(nx, sprint, api):
    counts = []
    for n in (2, 30):
        for k in range(n - ReviewNote.objects.count()):
            review_note_add(sprint=sprint, text=f"N{k}", actor=None)
        api("dev").get(url(nx))  # the token's first use is looked up and cached
        with CaptureQueriesContext(connection) as ctx:
            assert api("dev").get(url(nx)).status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts


def test_items_product_goal_field(nx, api):
    goal = goal_create(nexus=nx, text="Pay online")
    item = items(nx)[0]
    r = api("dev").patch(base(nx) + f"/items/{item.pk}/", {"product_goal": goal.pk}, format="json")
    assert r.status_code == 200, r.content
    assert (
        r.json()["item"]["product_goal"] == goal.pk
        if "item" in r.json()
        else r.json()["product_goal"] == goal.pk
    )
    assert api("dev").get(base(nx) + f"/items/{item.pk}/").json()["product_goal"] == goal.pk
    other = goal_create(nexus=nexus_build(), text="Theirs")
    bad = api("dev").patch(base(nx) + f"/items/{item.pk}/", {"product_goal": other.pk}, format="json")
    assert bad.status_code == 400
    assert error_fields(bad) == ["product_goal"]
    wrong_type = api("dev").patch(base(nx) + f"/items/{item.pk}/", {"product_goal": "1"}, format="json")
    assert error_fields(wrong_type) == ["product_goal"]
    cleared = api("dev").patch(base(nx) + f"/items/{item.pk}/", {"product_goal": None}, format="json")
    assert cleared.status_code == 200
    assert api("dev").get(base(nx) + f"/items/{item.pk}/").json()["product_goal"] is None
    created = api("dev").post(base(nx) + "/items/", {"title": "New", "product_goal": goal.pk}, format="json")
    assert created.status_code == 201, created.content
