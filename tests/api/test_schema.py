"""The OpenAPI document: valid, every operation documented (summary, parameters, error responses),
and the browsable docs served from vendored assets (no CDN: they work offline)."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_every_operation_is_documented(schema):
    operations = [
        (path, method, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]
    assert len(operations) >= 40
    assert len({op["operationId"] for _p, _m, op in operations}) == len(operations)
    for path, method, op in operations:
        where = f"{method.upper()} {path}"
        assert op.get("summary"), where
        assert {"400", "401"} <= set(op["responses"]), where
        if "{" in path:
            assert "404" in op["responses"], where
        if method != "get":
            assert "403" in op["responses"], where
        if method == "post":
            assert any(p["name"] == "Idempotency-Key" for p in op.get("parameters", [])), where
        for code, response in op["responses"].items():
            if code.startswith("4") and path.startswith("/api/v1/nexuses/{nexus_slug}"):
                assert response["content"]["application/json"]["schema"]["$ref"].endswith("/Error"), where
    assert schema["components"]["securitySchemes"]["tokenAuth"]["name"] == "Authorization"
    assert "If-Match" in schema["info"]["description"]


def test_conditional_headers_are_documented(schema):
    item = schema["paths"]["/api/v1/nexuses/{nexus_slug}/items/{id}/"]
    assert any(p["name"] == "If-Match" for p in item["patch"]["parameters"])
    assert "412" in item["patch"]["responses"]
    assert "ETag" in item["get"]["responses"]["200"]["headers"]
    updated_since = [
        p
        for p in schema["paths"]["/api/v1/nexuses/{nexus_slug}/teams/"]["get"]["parameters"]
        if p["name"] == "updated_since"
    ]
    assert updated_since


def test_request_bodies_refuse_unknown_fields(schema):
    assert schema["components"]["schemas"]["ItemCreateRequest"]["additionalProperties"] is False


def test_docs_are_served_from_vendored_assets(client):
    page = client.get("/api/docs/").content.decode()
    assert "swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
