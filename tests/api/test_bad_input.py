"""Malformed requests: every one answers 4xx with a JSON body naming the field and the reason; none
answers 500."""

from __future__ import annotations

import base64
import json

import pytest
from drf_spectacular.generators import SchemaGenerator

from backlog.models import ProductBacklogItem
from tests.api.helpers import base, error_fields


def _first(nx):
    return ProductBacklogItem.objects.filter(backlog__nexus=nx).order_by("rank").first()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": 5}, "title"),
        ({"title": True}, "title"),
        ({"title": None}, "title"),
        ({"title": "x" * 301}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "nul\u0000byte"}, "title"),
        ({"title": "ok", "labels": "a,b"}, "labels"),
        ({"title": "ok", "labels": [1]}, "labels[0]"),
        ({"title": "ok", "size": "big"}, "size"),
        ({"title": "ok", "size": -1}, "size"),
        ({"title": "ok", "size": 1.234}, "size"),
        ({"title": "ok", "is_blocked": "yes"}, "is_blocked"),
        ({"title": "ok", "class_of_service": "urgent"}, "class_of_service"),
        ({"title": "ok", "column": "3"}, "column"),
        ({"title": "ok", "column": 10**30}, "column"),
        ({"title": "ok", "column": 999999}, "column"),
        ({"title": "ok", "teams": [True]}, "teams[0]"),
        ({"title": "ok", "teams": [999999]}, "teams[0]"),
        ({"title": "ok", "parent": 1.5}, "parent"),
        ({"title": "ok", "position": "middle"}, "position"),
        ({"title": "ok", "bogus": 1}, "bogus"),
        ({"title": "ok", "id": 7}, "id"),
        ({"title": "ok", "version": 7}, "version"),
        ([{"title": "ok"}], "body"),
        ("title", "body"),
        (None, "body"),
    ],
)
def test_wrong_item_input_names_the_field(nx, api, body, field):
    response = api("dev").post(f"{base(nx)}/items/", json.dumps(body), content_type="application/json")
    assert response.status_code == 400, response.content
    assert field in error_fields(response)
    assert response.json()["message"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [('{"title": "bad \\ud800 text"}', "title"), ('{"title": "ok", "size": 1e400}', "size")],
)
def test_json_that_python_parses_but_the_schema_refuses(nx, api, raw, field):
    response = api("dev").post(f"{base(nx)}/items/", raw, content_type="application/json")
    assert response.status_code == 400
    assert error_fields(response) == [field]


@pytest.mark.parametrize("raw", ['{"title": ', "not json", '{"title": NaN}', "\xff\xfe"])
def test_malformed_json(nx, api, raw):
    response = api("dev").post(f"{base(nx)}/items/", raw, content_type="application/json")
    assert response.status_code == 400
    assert error_fields(response) == ["body"]


@pytest.mark.parametrize("path", ["/items/", "/items/bulk/", "/goals/"])
def test_json_nested_too_deeply_is_a_400_not_a_500(nx, api, path):
    """Python's decoder recurses per level: 100,000 levels raised RecursionError (a 500)."""
    for raw in ("[" * 100_000 + "]" * 100_000, '{"title": ' + "[" * 100_000):
        response = api("admin").post(base(nx) + path, raw, content_type="application/json")
        assert response.status_code == 400, response.content[:200]
        assert error_fields(response) == ["body"]
        assert "nested too deeply" in response.json()["message"]


def test_cursors_too_long_or_nested_too_deeply(nx, api):
    deep = base64.urlsafe_b64encode(b"[" * 30_000).decode()
    short_but_deep = base64.urlsafe_b64encode(b"[" * 360).decode()  # under the length limit
    for cursor in (deep, short_but_deep, "A" * 501):
        response = api("dev").get(f"{base(nx)}/items/?cursor={cursor}")
        assert response.status_code == 400, response.content[:200]
        assert error_fields(response) == ["cursor"]


def test_other_content_types_are_refused(nx, api):
    response = api("dev").post(
        f"{base(nx)}/items/", "title=x", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_oversize_body(nx, api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = {"title": "big", "description": "x" * 20_000}
    for headers in ({}, {"HTTP_IDEMPOTENCY_KEY": "big"}):
        response = api("dev").post(f"{base(nx)}/items/", body, format="json", **headers)
        assert response.status_code == 413, response.content
        assert error_fields(response) == ["body"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("cursor=zzz", "cursor"),
        ("cursor=WyJpZCIsWzFdXQ", "cursor"),  # a cursor of another order
        ("cursor=WyJyYW5rIixbIngiXV0", "cursor"),  # right order, wrong type
        ("cursor=WyJyYW5rIixbMTAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwXV0", "cursor"),  # out of range
        ("cursor=%00", "cursor"),
        ("page_size=0", "page_size"),
        ("page_size=1001", "page_size"),
        ("page_size=abc", "page_size"),
        ("page_size=%C2%B2", "page_size"),
        ("updated_since=yesterday", "updated_since"),
        ("updated_since=2025-13-01", "updated_since"),
        ("updated_since=0001-01-01T00:00:00%2B05:00", "updated_since"),
        ("updated_since=%00", "updated_since"),
        ("order=title", "order"),
        ("column=99999", "column"),
        ("column=abc", "column"),
        ("column=99999999999999999999999", "column"),
        ("team=1.5", "team"),
        ("open=maybe", "open"),
        ("class_of_service=urgent", "class_of_service"),
        ("label=%00", "label"),
        ("label=", "label"),
        ("column=", "column"),
    ],
)
def test_bad_query_parameters(nx, api, query, field):
    response = api("dev").get(f"{base(nx)}/items/?{query}")
    assert response.status_code == 400, response.content
    assert error_fields(response) == [field]


def test_a_plus_turned_into_a_space_is_read_as_a_plus(nx, api):
    response = api("dev").get(f"{base(nx)}/items/?updated_since=2000-01-01T00:00:00+00:00")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/items/999999999999999999/",
        "/items/9999999999999999999999/",
        "/items/abc/",
        "/nope/",
        "/items/1/nope/",
    ],
)
def test_unknown_rows_and_urls_answer_json_404(nx, api, path):
    response = api("dev").get(base(nx) + path)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_unknown_nexus_answers_404(api):
    assert api("dev").get("/api/v1/nexuses/no-such-nexus/items/").status_code == 404


def test_method_not_allowed_and_not_acceptable(nx, api):
    item = _first(nx)
    response = api("dev").put(f"{base(nx)}/items/{item.pk}/", {"title": "x"}, format="json")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    response = api("dev").get(f"{base(nx)}/items/", HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert response.json()["status"] == 406


@pytest.mark.parametrize("value", ['"abc"', "1,2", '"1", "2"', '"99999999999"', "W/"])
def test_bad_if_match(nx, api, value):
    item = _first(nx)
    response = api("dev").patch(
        f"{base(nx)}/items/{item.pk}/", {"title": "x"}, format="json", HTTP_IF_MATCH=value
    )
    assert response.status_code == 400
    assert error_fields(response) == ["If-Match"]


@pytest.mark.parametrize("header", ["Token", "Token a b", "Token nxf_nope", "Token n\u00e4"])
def test_bad_tokens_answer_401(nx, client, header):
    response = client.get(f"{base(nx)}/items/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/goals/", {"text": ""}, "text"),
        ("/goals/", {"text": 5}, "text"),
        ("/teams/", {"name": "x", "wip_limit": 0}, "wip_limit"),
        ("/memberships/", {"username": "nobody-at-all", "role": "stakeholder"}, "username"),
        ("/memberships/", {"username": "x", "role": "boss"}, "role"),
        ("/involvements/", {"item": 1, "team": "a"}, "team"),
        ("/webhooks/", {"url": "ftp://example.org", "events": ["item.created"]}, "url"),
        ("/webhooks/", {"url": "https://example.org/h", "events": ["sprint.ended"]}, "events[0]"),
        ("/webhooks/", {"url": "https://example.org/h", "events": []}, "events"),
    ],
)
def test_bad_input_on_other_resources(nx, api, path, body, field):
    response = api("admin").post(base(nx) + path, body, format="json")
    assert response.status_code == 400, response.content
    assert field in error_fields(response)


def test_nul_in_an_external_id_path(nx, api):
    url = f"{base(nx)}/items/by-external-id/%00/"
    for response in (api("dev").get(url), api("dev").put(url, {"title": "x"}, format="json")):
        assert response.status_code == 400
        assert error_fields(response) == ["external_id"]


def test_options_on_every_path_answers_without_looking_at_rows(nx, api):
    """`OPTIONS` describes the view (name, media types, `Allow`), for every path of the document; it
    was a 500 on `by-external-id` (DRF's metadata asked that route for a row by `id`)."""
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    assert len(paths) >= 30
    for template in paths:
        url = template.format(nexus_slug=nx.slug, id=1, external_id="JIRA-1", delivery_id=1, item_id=1)
        response = api("po").options(url)
        assert response.status_code == 200, (url, response.status_code)
        assert "actions" not in response.json()
        assert response["Allow"]
