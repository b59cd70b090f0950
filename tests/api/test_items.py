"""PBIs through the API: CRUD, Product Backlog order, filters, ETags, move, transition, the item's
log, and list query counts that do not grow with the number of items."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.utils.encoders import JSONEncoder

from backlog.models import (
    ProductBacklogItem,
    Source,
    Transition,
    TransitionKind,
    WipLimitKind,
    WorkflowColumn,
)
from backlog.services import pbi_create, pbi_set_teams, pbi_split, pbi_transition, pbi_update
from tests.api.helpers import base, error_fields, people, token_client
from tests.factories import column, items_in_order, nexus_build


def _items(nx):
    return list(ProductBacklogItem.objects.filter(backlog__nexus=nx).order_by("rank"))


def test_list_is_in_product_backlog_order(nx, api):
    first, *_rest, last = _items(nx)
    api("po").post(f"{base(nx)}/items/{last.pk}/move/", {"before": first.pk}, format="json")
    titles = [i["title"] for i in api("dev").get(f"{base(nx)}/items/").json()["results"]]
    assert titles == items_in_order(nx)
    assert titles[0] == last.title


def test_create_read_update_delete(nx, api):
    team = nx.teams.first()
    response = api("dev").post(
        f"{base(nx)}/items/",
        {
            "title": "Pay by invoice",
            "labels": ["b2b", "checkout"],
            "teams": [team.pk],
            "size": 5,
            "position": "top",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    item = response.json()
    assert response["ETag"] == '"1"'
    assert response["Location"].endswith(f"/items/{item['id']}/")
    assert item["labels"] == ["b2b", "checkout"]
    assert item["teams"] == [{"team": team.pk, "status": "not_started"}]
    assert item["size"] == 5
    assert items_in_order(nx)[0] == "Pay by invoice"
    created = Transition.objects.get(item_id=item["id"], kind="column")
    assert created.source == Source.API
    # The starting state is logged too: the team it is forecast on.
    added = Transition.objects.get(item_id=item["id"], kind="team_added")
    assert (added.team_id, added.source, added.at) == (team.pk, Source.API, created.at)
    assert created.actor is not None
    assert created.actor.username == f"dev-{nx.slug}"

    url = f"{base(nx)}/items/{item['id']}/"
    got = api("stakeholder").get(url)
    assert got.json() == item
    assert got["ETag"] == '"1"'

    patched = api("dev").patch(
        url, {"description": "For business customers", "labels": ["b2b"]}, format="json"
    )
    assert patched.status_code == 200
    assert patched.json()["version"] > 1
    assert patched.json()["labels"] == ["b2b"]
    assert patched["ETag"] == f'"{patched.json()["version"]}"'

    assert api("dev").delete(url).status_code == 204
    assert api("dev").get(url).status_code == 404
    assert ProductBacklogItem.objects.get(pk=item["id"]).deleted_at is not None


def test_create_after_an_item_and_in_a_column(nx, api):
    first, second, *_ = _items(nx)
    review = column(nx, "Review")
    response = api("dev").post(
        f"{base(nx)}/items/", {"title": "Between", "after": first.pk, "column": review.pk}, format="json"
    )
    assert response.status_code == 201
    assert items_in_order(nx)[:3] == [first.title, "Between", second.title]
    assert response.json()["column"] == review.pk


def test_patch_with_no_change_keeps_the_version(nx, api):
    item = _items(nx)[0]
    response = api("dev").patch(f"{base(nx)}/items/{item.pk}/", {"title": item.title}, format="json")
    assert response.status_code == 200
    assert response.json()["version"] == item.version


def test_patch_column_and_teams_in_one_request(nx, api):
    item = _items(nx)[0]
    teams = list(nx.teams.all()[:2])
    response = api("dev").patch(
        f"{base(nx)}/items/{item.pk}/",
        {
            "column": column(nx, "In Progress").pk,
            "teams": [t.pk for t in teams],
            "is_blocked": True,
            "blocked_reason": "Waiting for legal",
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["column"] == column(nx, "In Progress").pk
    assert sorted(t["team"] for t in body["teams"]) == sorted(t.pk for t in teams)
    assert (body["is_blocked"], body["blocked_reason"]) == (True, "Waiting for legal")
    assert Transition.objects.filter(item=item, kind=TransitionKind.COLUMN, to_name="In Progress").exists()


def test_if_none_match_answers_304(nx, api):
    item = _items(nx)[0]
    url = f"{base(nx)}/items/{item.pk}/"
    assert api("dev").get(url, HTTP_IF_NONE_MATCH='"1"').status_code == 304
    assert api("dev").get(url, HTTP_IF_NONE_MATCH='"7"').status_code == 200


def test_if_match_stale_answers_412_and_changes_nothing(nx, api):
    item = _items(nx)[0]
    url = f"{base(nx)}/items/{item.pk}/"
    assert api("dev").patch(url, {"title": "A"}, format="json", HTTP_IF_MATCH='"1"').status_code == 200
    response = api("sm").patch(url, {"title": "B"}, format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 412
    assert error_fields(response) == ["If-Match"]
    assert response.json()["current_version"] == 2
    item.refresh_from_db()
    assert item.title == "A"
    assert api("sm").delete(url, HTTP_IF_MATCH='"1"').status_code == 412
    assert api("sm").delete(url, HTTP_IF_MATCH='W/"2"').status_code == 204


def test_without_if_match_the_last_write_wins(nx, api):
    item = _items(nx)[0]
    url = f"{base(nx)}/items/{item.pk}/"
    api("dev").patch(url, {"title": "A"}, format="json")
    assert api("sm").patch(url, {"title": "B"}, format="json").status_code == 200
    item.refresh_from_db()
    assert item.title == "B"


def test_move_between_two_items_and_stale_view(nx, api):
    a, b, c, d, e = _items(nx)
    url = f"{base(nx)}/items/{e.pk}/move/"
    response = api("po").post(url, {"after": a.pk, "before": b.pk}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["from_position"], response.json()["to_position"], response.json()["stale"]) == (
        5,
        2,
        False,
    )
    assert items_in_order(nx) == [a.title, e.title, b.title, c.title, d.title]
    stale = api("po").post(f"{base(nx)}/items/{d.pk}/move/", {"after": a.pk, "before": c.pk}, format="json")
    assert stale.json()["stale"] is True
    assert items_in_order(nx) == [a.title, e.title, b.title, d.title, c.title]
    assert Transition.objects.filter(kind=TransitionKind.RANK, source=Source.API).count() == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "before"),
        ({"before": "x"}, "before"),
        ({"after": 10**12}, "after"),
        ({"before": None, "after": None}, "before"),
    ],
)
def test_move_bad_input(nx, api, body, field):
    item = _items(nx)[0]
    response = api("po").post(f"{base(nx)}/items/{item.pk}/move/", body, format="json")
    assert response.status_code == 400
    assert field in error_fields(response)


def test_move_next_to_itself_or_a_finished_item_is_refused(nx, api):
    a, b, *_ = _items(nx)
    response = api("po").post(f"{base(nx)}/items/{a.pk}/move/", {"before": a.pk}, format="json")
    assert response.status_code == 400
    assert error_fields(response) == ["before"]
    pbi_transition(item=b, to_column=column(nx, "Done"), actor=None)
    response = api("po").post(f"{base(nx)}/items/{b.pk}/move/", {"before": a.pk}, format="json")
    assert response.status_code == 400
    assert error_fields(response) == ["item"]


def test_transition_and_hard_wip_limit(nx, api):
    a, b, *_ = _items(nx)
    review = column(nx, "Review")
    WorkflowColumn.objects.filter(pk=review.pk).update(wip_limit=1, wip_limit_kind=WipLimitKind.HARD)
    ok = api("dev").post(f"{base(nx)}/items/{a.pk}/transition/", {"column": review.pk}, format="json")
    assert ok.status_code == 200
    assert ok.json()["column"] == review.pk
    full = api("dev").post(f"{base(nx)}/items/{b.pk}/transition/", {"column": review.pk}, format="json")
    assert full.status_code == 409
    assert error_fields(full) == ["column"]
    assert "WIP limit" in full.json()["message"]
    b.refresh_from_db()
    assert b.column_id != review.pk


def test_soft_wip_limit_warns_in_a_header(nx, api):
    a, b, *_ = _items(nx)
    review = column(nx, "Review")
    WorkflowColumn.objects.filter(pk=review.pk).update(wip_limit=1, wip_limit_kind=WipLimitKind.SOFT)
    api("dev").post(f"{base(nx)}/items/{a.pk}/transition/", {"column": review.pk}, format="json")
    response = api("dev").post(f"{base(nx)}/items/{b.pk}/transition/", {"column": review.pk}, format="json")
    assert response.status_code == 200
    assert "WIP limit" in response["X-Nexus-Warning"]


def test_transition_to_an_unknown_or_foreign_column(nx, api):
    from tests.factories import nexus_build

    other = nexus_build()
    item = _items(nx)[0]
    for value in (999999, column(other, "Review").pk):
        response = api("dev").post(
            f"{base(nx)}/items/{item.pk}/transition/", {"column": value}, format="json"
        )
        assert response.status_code == 400
        assert error_fields(response) == ["column"]


def test_transition_with_stale_if_match(nx, api):
    item = _items(nx)[0]
    response = api("dev").post(
        f"{base(nx)}/items/{item.pk}/transition/",
        {"column": column(nx, "Review").pk},
        format="json",
        HTTP_IF_MATCH='"9"',
    )
    assert response.status_code == 412


def test_item_transition_log(nx, api):
    item = _items(nx)[0]
    pbi_transition(item=item, to_column=column(nx, "In Progress"), actor=None)
    rows = api("stakeholder").get(f"{base(nx)}/items/{item.pk}/transitions/").json()["results"]
    assert [(r["kind"], r["from_name"], r["to_name"]) for r in rows] == [
        ("column", "", "Ready"),
        ("column", "Ready", "In Progress"),
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("open=true", 4),
        ("open=false", 1),
        ("label=urgent", 1),
        ("blocked=true", 0),
        ("class_of_service=expedite", 1),
        ("external_id=E-1", 1),
    ],
)
def test_filters(nx, api, query, expected):
    a, b, *_ = _items(nx)
    pbi_transition(item=a, to_column=column(nx, "Done"), actor=None)
    pbi_create(
        nexus=nx, title="Hot", actor=None, labels=["urgent"], class_of_service="expedite", external_id="E-1"
    )
    ProductBacklogItem.objects.filter(pk=b.pk).update(deleted_at="2020-01-01T00:00Z")
    response = api("dev").get(f"{base(nx)}/items/?{query}")
    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == expected


def test_filter_by_column_and_team(nx, api):
    a, b, *_ = _items(nx)
    team = nx.teams.first()
    pbi_set_teams(item=a, teams=[team], actor=None)
    pbi_transition(item=b, to_column=column(nx, "Review"), actor=None)
    by_team = api("dev").get(f"{base(nx)}/items/?team={team.pk}").json()["results"]
    assert [i["id"] for i in by_team] == [a.pk]
    by_column = api("dev").get(f"{base(nx)}/items/?column={column(nx, 'Review').pk}").json()["results"]
    assert [i["id"] for i in by_column] == [b.pk]


def test_pages_in_rank_order_without_gaps(nx, api):
    for i in range(7):
        pbi_create(nexus=nx, title=f"More {i}", actor=None)
    seen, url = [], f"{base(nx)}/items/?page_size=5"
    while url:
        page = api("dev").get(url).json()
        seen += [i["title"] for i in page["results"]]
        url = page["next"]
    assert seen == items_in_order(nx)


@pytest.mark.parametrize(
    "path", ["/items/", "/items/?updated_since=2000-01-01T00:00:00Z", "/involvements/", "/transitions/"]
)
def test_list_queries_do_not_grow_with_items(nx, api, django_assert_max_num_queries, path):
    client = api("dev")
    client.get(base(nx) + path)  # token's last-use write happens once

    def fill(n):
        for i in range(n):
            item = pbi_create(nexus=nx, title=f"Bulk {i}", actor=None, labels=[f"l{i % 3}", "all"])
            pbi_set_teams(item=item, teams=list(nx.teams.all()), actor=None)

    fill(10)
    with django_assert_max_num_queries(6):
        assert client.get(base(nx) + path).status_code == 200
    fill(60)
    with django_assert_max_num_queries(6):
        assert len(client.get(base(nx) + path).json()["results"]) >= 70


def test_get_by_external_id(nx, api):
    pbi_create(nexus=nx, title="Mapped", actor=None, external_id="JIRA 7/8")
    # A "/" cannot be addressed in the path (documented): such items are found with ?external_id=.
    assert api("dev").get(f"{base(nx)}/items/by-external-id/JIRA%207%2F8/").status_code == 404
    found = api("dev").get(f"{base(nx)}/items/?external_id=JIRA%207%2F8").json()["results"]
    assert [i["title"] for i in found] == ["Mapped"]
    pbi_create(nexus=nx, title="Plain", actor=None, external_id="JIRA-9")
    response = api("dev").get(f"{base(nx)}/items/by-external-id/JIRA-9/")
    assert response.status_code == 200
    assert response.json()["title"] == "Plain"
    assert api("dev").get(f"{base(nx)}/items/by-external-id/NOPE/").status_code == 404


def test_item_serializer_fast_path_equals_drf(nx):
    from rest_framework import serializers as drf

    from backlog.api.serializers_items import ItemSerializer, items_data

    item = _items(nx)[0]
    pbi_update(
        item=item, actor=None, size=Decimal("2.50"), labels=["b", "a"], is_blocked=True, blocked_reason="x"
    )
    pbi_set_teams(item=item, teams=list(nx.teams.all()), actor=None)
    rows = list(
        ProductBacklogItem.objects.filter(backlog__nexus=nx).prefetch_related("labels", "involvements")
    )
    generic = [drf.ModelSerializer.to_representation(ItemSerializer(row), row) for row in rows]
    for fast in (items_data(rows), [ItemSerializer(row).data for row in rows]):
        assert json.loads(json.dumps(fast, cls=JSONEncoder)) == json.loads(
            json.dumps(generic, cls=JSONEncoder)
        )


def test_another_nexus_item_is_invisible_as_a_neighbour(nx, api):
    from tests.factories import nexus_build

    other = nexus_build(items=1)
    foreign = ProductBacklogItem.objects.get(backlog__nexus=other)
    item = _items(nx)[0]
    response = api("po").post(f"{base(nx)}/items/{item.pk}/move/", {"before": foreign.pk}, format="json")
    assert response.status_code == 400
    assert "in this Nexus" in response.json()["message"]
    assert "another Nexus" not in response.json()["message"]


# --- one move, one placement vocabulary, for every door ---------------------------------------------


def test_an_api_move_of_a_parent_brings_its_children_along(nx, api):
    """The API calls the same `pbi_move` as the backlog page: a parent's children that follow it move
    with it (the API's move used to leave them behind)."""
    a, b, c, d, e = _items(nx)
    children = pbi_split(item=a, titles=["A1", "A2"], actor=None)
    assert items_in_order(nx)[:4] == [a.title, "A1", "A2", b.title]
    response = api("po").post(f"{base(nx)}/items/{a.pk}/move/", {"after": e.pk}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["from_position"], body["to_position"], body["carried"]) == (1, 5, 2)
    assert (body["before"], body["after"]) == (None, e.pk)
    assert items_in_order(nx) == [b.title, c.title, d.title, e.title, a.title, "A1", "A2"]
    moves = Transition.objects.filter(kind=TransitionKind.RANK, source=Source.API)
    assert set(moves.values_list("item_id", flat=True)) == {a.pk, *(child.pk for child in children)}


#: Each placement of the one vocabulary, as JSON for the API and as form data for the page, and where
#: it puts "Item 2" of five.
PLACEMENTS = [
    ({"before": "Item 1"}, ["Item 2", "Item 1", "Item 3", "Item 4", "Item 5"]),
    ({"after": "Item 4"}, ["Item 1", "Item 3", "Item 4", "Item 2", "Item 5"]),
    ({"after": "Item 3", "before": "Item 4"}, ["Item 1", "Item 3", "Item 2", "Item 4", "Item 5"]),
    ({"position": 4}, ["Item 1", "Item 3", "Item 4", "Item 2", "Item 5"]),
    ({"position": 99}, ["Item 1", "Item 3", "Item 4", "Item 5", "Item 2"]),
    ({"top": True}, ["Item 2", "Item 1", "Item 3", "Item 4", "Item 5"]),
    ({"bottom": True}, ["Item 1", "Item 3", "Item 4", "Item 5", "Item 2"]),
]


def _placement(nx, placement, *, form):
    ids = {i.title: i.pk for i in _items(nx)}
    data = {k: ids[v] if k in ("before", "after") else v for k, v in placement.items()}
    if form:
        data = {k: ("true" if v is True else str(v)) for k, v in data.items()}
    return data


@pytest.mark.parametrize(("placement", "expected"), PLACEMENTS)
def test_the_page_and_the_api_accept_the_same_placements(db, client, placement, expected):
    by_api, by_page = nexus_build(items=5), nexus_build(items=5)
    item = next(i for i in _items(by_api) if i.title == "Item 2")
    response = token_client(people(by_api)["po"]).post(
        f"{base(by_api)}/items/{item.pk}/move/", _placement(by_api, placement, form=False), format="json"
    )
    assert response.status_code == 200, response.content
    assert items_in_order(by_api) == expected
    client.force_login(people(by_page)["po"])
    item = next(i for i in _items(by_page) if i.title == "Item 2")
    url = reverse("backlog:pbi-move", args=[by_page.slug, item.pk])
    response = client.post(url, _placement(by_page, placement, form=True))
    assert response.status_code == 200, response.content
    assert items_in_order(by_page) == expected


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"before": 1, "position": 2}, "position"),
        ({"position": 2, "top": True}, "top"),
        ({"top": True, "bottom": True}, "bottom"),
        ({"top": False}, "before"),
        ({"position": 0}, "position"),
        ({"position": "2"}, "position"),
        ({"top": "yes"}, "top"),
    ],
)
def test_a_move_names_exactly_one_placement(nx, api, body, field):
    a, b, *_ = _items(nx)
    if "before" in body:
        body = {**body, "before": a.pk}
    before = items_in_order(nx)
    response = api("po").post(f"{base(nx)}/items/{b.pk}/move/", body, format="json")
    assert response.status_code == 400, response.content
    assert error_fields(response) == [field]
    assert items_in_order(nx) == before


def test_a_move_with_a_stale_if_match_is_refused(nx, api):
    a, b, *_ = _items(nx)
    url = f"{base(nx)}/items/{b.pk}/move/"
    stale = api("po").post(url, {"top": True}, format="json", HTTP_IF_MATCH=f'"{b.version + 1}"')
    assert stale.status_code == 412, stale.content
    assert items_in_order(nx)[:2] == [a.title, b.title]
    fresh = api("po").post(url, {"top": True}, format="json", HTTP_IF_MATCH=f'"{b.version}"')
    assert fresh.status_code == 200, fresh.content
    assert items_in_order(nx)[:2] == [b.title, a.title]
