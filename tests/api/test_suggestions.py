"""`/api/v1/nexuses/{slug}/items/{id}/suggested-dependencies/`: the list with why, confirm (a dependency found
at the event given), dismiss (never suggested again), refusals naming the field, Idempotency-Key, and a
query count that does not grow with the Nexus."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backlog.models import Dependency, SuggestionDismissal
from backlog.services import pbi_create
from backlog.suggestions import index as suggestion_cache
from tests.api.helpers import base, error_fields, token_client
from tests.factories import nexus_build

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_index():
    cache.clear()
    suggestion_cache._local.clear()


def _area(nx, n: int = 3):
    return [
        pbi_create(nexus=nx, title=f"Invoice export to PDF part {i}", description="PDF invoice", actor=None)
        for i in range(n)
    ]


def _url(nx, item, rest: str = "") -> str:
    return f"{base(nx)}/items/{item.pk}/suggested-dependencies/{rest}"


def test_list_with_why_confirm_and_dismiss(nx, api):
    a, b, c = _area(nx)
    listed = api("stakeholder").get(_url(nx, a))
    assert listed.status_code == 200, listed.content
    body = listed.json()
    assert {s["item"] for s in body} == {b.pk, c.pk}
    first = body[0]
    assert first["why"][0].startswith("shared terms:")
    assert "invoice" in first["shared_terms"]
    assert 0 < first["score"] <= 1
    assert first["title"].startswith("Invoice export")

    confirmed = api("dev").post(_url(nx, a, f"{b.pk}/confirm/"), {"found_at": "planning"}, format="json")
    assert confirmed.status_code == 201, confirmed.content
    dep = confirmed.json()
    assert (dep["item"], dep["depends_on"], dep["found_at"], dep["kind"]) == (
        a.pk,
        b.pk,
        "planning",
        "depends_on",
    )
    assert confirmed["Location"].endswith(f"/dependencies/{dep['id']}/")
    assert confirmed["ETag"] == '"1"'

    dismissed = api("dev").post(_url(nx, a, f"{c.pk}/dismiss/"), format="json")
    assert dismissed.status_code == 200, dismissed.content
    assert dismissed.json()["other"] == c.pk
    assert api("dev").post(_url(nx, c, f"{a.pk}/dismiss/"), format="json").status_code == 200  # idempotent
    assert SuggestionDismissal.objects.count() == 1
    # Neither the confirmed PBI nor the dismissed one is suggested again, from either side.
    assert api("po").get(_url(nx, a)).json() == []
    assert a.pk not in {s["item"] for s in api("po").get(_url(nx, c)).json()}
    assert a.pk not in {s["item"] for s in api("po").get(_url(nx, b)).json()}


def test_confirm_as_dependent_and_integrates_with(nx, api):
    a, b, c = _area(nx)
    dependent = api("po").post(_url(nx, a, f"{b.pk}/confirm/"), {"confirm_as": "dependent"}, format="json")
    assert (dependent.json()["item"], dependent.json()["depends_on"]) == (b.pk, a.pk)
    assert dependent.json()["found_at"] == "refinement"  # the default event
    both = api("po").post(_url(nx, c, f"{a.pk}/confirm/"), {"confirm_as": "integrates_with"}, format="json")
    assert both.json()["kind"] == "integrates_with"


@pytest.mark.parametrize(
    ("case", "status", "field"),
    [
        ("bad confirm_as", 400, "confirm_as"),
        ("bad found_at", 400, "found_at"),
        ("itself", 400, "other"),
        ("cycle", 409, "depends_on"),
        ("bad limit", 400, "limit"),
        ("unknown parameter", 400, "colour"),
    ],
)
def test_refusals_name_the_field(nx, api, case, status, field):
    a, b, _c = _area(nx)
    client = api("dev")
    if case == "bad confirm_as":
        response = client.post(_url(nx, a, f"{b.pk}/confirm/"), {"confirm_as": "maybe"}, format="json")
    elif case == "bad found_at":
        response = client.post(_url(nx, a, f"{b.pk}/confirm/"), {"found_at": "lunch"}, format="json")
    elif case == "itself":
        response = client.post(_url(nx, a, f"{a.pk}/dismiss/"), format="json")
    elif case == "cycle":
        assert client.post(_url(nx, a, f"{b.pk}/confirm/"), format="json").status_code == 201
        response = client.post(_url(nx, b, f"{a.pk}/confirm/"), format="json")
    elif case == "bad limit":
        response = client.get(_url(nx, a), {"limit": "0"})
    else:
        response = client.get(_url(nx, a), {"colour": "red"})
    assert response.status_code == status, response.content
    assert field in error_fields(response)


def test_another_nexus_pbi_is_a_404(nx, api):
    other = nexus_build()
    theirs = pbi_create(nexus=other, title="Invoice export to PDF elsewhere", actor=None)
    (a, *_rest) = _area(nx)
    assert api("dev").get(_url(nx, theirs)).status_code == 404
    assert api("dev").post(_url(nx, a, f"{theirs.pk}/confirm/"), format="json").status_code == 404
    assert not Dependency.objects.exists()


def test_idempotency_key_replays_the_confirmation(nx, api):
    a, b, _c = _area(nx)
    client = api("dev")
    first = client.post(_url(nx, a, f"{b.pk}/confirm/"), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(_url(nx, a, f"{b.pk}/confirm/"), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert Dependency.objects.count() == 1


def test_list_queries_do_not_grow_with_the_nexus(nx, api):
    small = _area(nx, 3)
    client = api("po")
    client.get(_url(nx, small[0]))  # builds the index
    with CaptureQueriesContext(connection) as few:
        assert client.get(_url(nx, small[0])).status_code == 200
    big = nexus_build()
    items = _area(big, 40)
    big_client = token_client(User.objects.get(username=f"po-{big.slug}"))
    big_client.get(_url(big, items[0]))
    with CaptureQueriesContext(connection) as many:
        response = big_client.get(_url(big, items[0]))
    assert len(response.json()) == 10
    assert len(many.captured_queries) <= len(few.captured_queries)
