"""Examples in the OpenAPI document: every request and response body of every operation has one, and
every example has the shape of its schema (the same fields, recursively, and the documented types),
so that the examples cannot drift from what the API answers (schemathesis checks the answers against
the same schemas)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.django_db

METHODS = {"get", "post", "put", "patch", "delete"}
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", op


def _resolve(schema, node):
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    if "allOf" in node and len(node["allOf"]) == 1:
        return _resolve(schema, node["allOf"][0])
    return node


def _check(schema, node, value, where):
    """`value` fits `node`: objects with declared properties have no other keys and all required
    ones; types match; recursion into properties and array items."""
    node = _resolve(schema, node)
    if value is None:
        assert node.get("nullable") or "oneOf" in node or not node, f"{where}: null"
        return
    if "oneOf" in node:
        return  # e.g. an enum or null: the document allows several shapes
    kind = node.get("type")
    if kind:
        assert isinstance(value, JSON_TYPES[kind]), f"{where}: {value!r} is not {kind}"
        if kind in ("integer", "number"):
            assert not isinstance(value, bool), f"{where}: a boolean is not {kind}"
    if "enum" in node:
        assert value in node["enum"], f"{where}: {value!r} not in {node['enum']}"
    if isinstance(value, dict) and "properties" in node:
        props = node["properties"]
        assert set(value) <= set(props), f"{where}: unknown fields {set(value) - set(props)}"
        missing = set(node.get("required", [])) - set(value)
        assert not missing, f"{where}: required fields missing {missing}"
        for key, sub in value.items():
            _check(schema, props[key], sub, f"{where}.{key}")
    if isinstance(value, list) and "items" in node:
        for i, sub in enumerate(value):
            _check(schema, node["items"], sub, f"{where}[{i}]")


def _bodies(op):
    """(where, media object) of every body of the operation: the request and each response."""
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body:
        yield "request", body
    for code, response in op["responses"].items():
        media = response.get("content", {}).get("application/json")
        if media:
            yield code, media


def test_every_body_of_every_operation_has_an_example(schema):
    missing = [
        f"{where} {part}"
        for where, op in _operations(schema)
        for part, media in _bodies(op)
        if not media.get("examples")
    ]
    assert not missing, "bodies without an example:\n" + "\n".join(missing)


def test_every_example_has_the_shape_of_its_schema(schema):
    checked = 0
    for where, op in _operations(schema):
        for part, media in _bodies(op):
            for name, example in media.get("examples", {}).items():
                _check(schema, media["schema"], example["value"], f"{where} {part} {name}")
                checked += 1
    assert checked > 150


def test_a_wrong_example_is_caught(schema):
    """The shape check can fail: an unknown field, a missing required one, a wrong type."""
    item = schema["components"]["schemas"]["Item"]
    good = schema["paths"]["/api/v1/nexuses/{nexus_slug}/items/{id}/"]["get"]["responses"]["200"]
    value: dict[str, Any] = next(iter(good["content"]["application/json"]["examples"].values()))["value"]
    _check(schema, item, value, "item")
    for bad in (
        {**value, "colour": "red"},
        {k: v for k, v in value.items() if k != "title"},
        {**value, "rank": "3"},
    ):
        with pytest.raises(AssertionError):
            _check(schema, item, bad, "item")
