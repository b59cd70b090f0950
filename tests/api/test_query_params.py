"""Query parameters: each operation takes exactly those its OpenAPI document lists, and refuses any
other with a 400 naming it (a typo in a filter must not silently list everything)."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from backlog.models import ProductBacklogItem
from tests.api.helpers import base, error_fields


def _operations() -> list[tuple[str, str, set[str], set[str]]]:
    """(method, path, documented query parameters, accepted query parameters) of every operation."""
    generator = SchemaGenerator()
    schema = generator.get_schema(request=None, public=True)
    generator._initialise_endpoints()
    out = []
    for path, _regex, method, view in generator._get_paths_and_endpoints():
        operation = schema["paths"].get(path, {}).get(method.lower())
        if operation is None:  # not in the document (outside /api/v1/)
            continue
        documented = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        view.request = Request(APIRequestFactory().generic(method, path))
        out.append((method, path, documented, view.query_params_allowed()))
    return out


def test_every_operation_accepts_exactly_its_documented_query_parameters():
    operations = _operations()
    assert len(operations) >= 49
    mismatches = [
        f"{method} {path}: documented only {sorted(doc - ok)}, accepted only {sorted(ok - doc)}"
        for method, path, doc, ok in operations
        if doc != ok
    ]
    assert not mismatches, "\n".join(mismatches)
    # The check is not vacuous: lists take filters and pages, single rows take nothing.
    by_op = {(m, p): ok for m, p, _doc, ok in operations}
    assert {"cursor", "page_size", "updated_since", "column", "order"} <= by_op[
        ("GET", "/api/v1/nexuses/{nexus_slug}/items/")
    ]
    assert by_op[("GET", "/api/v1/nexuses/{nexus_slug}/items/{id}/")] == set()


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/items/", "colum=3"),
        ("/items/", "updatedSince=2025-01-01"),
        ("/items/{id}/", "column=3"),
        ("/items/{id}/transitions/", "order=rank"),
        ("/items/deleted/", "label=x"),
        ("/teams/", "name=Team%20A"),
        ("/flow/", "as_off=2025-01-01"),
        ("/", "format=json"),
    ],
)
def test_an_unknown_query_parameter_is_a_400_naming_it(nx, api, path, query):
    item = ProductBacklogItem.objects.filter(backlog__nexus=nx).earliest("rank")
    response = api("dev").get(base(nx) + path.format(id=item.pk) + "?" + query)
    assert response.status_code == 400, response.content
    name = query.split("=")[0]
    assert error_fields(response) == [name]
    assert response.json()["errors"][0]["code"] == "unknown_parameter"
    assert "this operation takes" in response.json()["message"]


def test_every_unknown_parameter_is_named_and_nothing_is_written(nx, api):
    item = ProductBacklogItem.objects.filter(backlog__nexus=nx).earliest("rank")
    response = api("dev").patch(f"{base(nx)}/items/{item.pk}/?a=1&b=2", {"title": "Renamed"}, format="json")
    assert response.status_code == 400
    assert sorted(error_fields(response)) == ["a", "b"]
    item.refresh_from_db()
    assert item.title != "Renamed"


def test_authentication_and_visibility_come_before_the_parameter_check(nx, api, client):
    assert client.get(base(nx) + "/items/?colum=3").status_code == 401
    assert api("outsider").get(base(nx) + "/items/?colum=3").status_code == 404


def test_documented_parameters_are_still_taken(nx, api):
    for query in ("order=updated&page_size=2", "updated_since=2000-01-01T00:00:00Z&column=1&open=true"):
        response = api("dev").get(f"{base(nx)}/items/?{query}")
        assert response.status_code in (200, 400), response.content
        assert "unknown_parameter" not in response.content.decode()
