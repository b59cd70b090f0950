"""The OpenAPI document (drf-spectacular): the API's description, the error responses every operation
can give (added here once, so no endpoint forgets them), the shared header parameters, and the hooks
that keep the document to `/api/v1/` and make request bodies strict (`additionalProperties: false`)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import get_override, is_list_serializer, is_serializer
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers

DESCRIPTION = """
The REST API of Nexus Flow: a Nexus, its Scrum Teams and members, its single Product Backlog (Product
Goals, Product Backlog Items, team involvement), its Definition of Workflow and the transition log.
Built for clients that keep a copy in sync and write back safely.

**Authentication.** A personal API token, `Authorization: Token <token>` (create one on the
*API tokens* page, shown once, or with `python manage.py api_token create USERNAME`), or the browser
session (writes then need the CSRF token). Permissions are those of the pages: every member reads,
members other than Stakeholders change items, the Product Owner orders the Product Backlog, sets the
Product Goal and manages webhooks; administrators change the Nexus's structure (the Nexus, its Scrum
Teams, memberships and Definition of Workflow). Another Nexus's data answers 404, as if it did not exist.

**Errors.** Every 4xx has one JSON shape: `{"status", "code", "message", "errors": [{"field",
"code", "message"}]}`; `field` names the body field (`items[3].title`), query parameter, header or
`body`. Unknown body fields and unknown query parameters are refused (400, code `unknown_field` /
`unknown_parameter`), never ignored: a misspelt filter does not silently list everything. 409 is a
conflict (a hard WIP limit, a deleted item, deleting a Scrum Team or column that the history of PBIs
refers to), 412 a failed `If-Match`.

**Sync.** Lists are pages in a stable keyset order with an opaque `next` link (`?cursor=`,
`?page_size=` up to 1000). `?updated_since=<ISO-8601>` on every list returns rows changed at or
after that time, ordered by (updated time, id): page through `next` until it is null and you miss
nothing, even while others write (a row changed meanwhile moves to the end and comes again).
Next time, ask from the largest `updated_at` you received minus a minute (a write is stamped when
its transaction starts and visible when it commits), de-duplicating on `id` and `version`.
Every resource a list returns carries `updated_at` (UTC, ISO-8601); team involvement follows its
item's `updated_at` (so a removed team shows as a change of the item), the transition log its
`recorded_at` (when it was recorded here: later than `at`, the time of the change, for imported history).
**Deletions** leave tombstones, listed per resource with `GET .../{resource}/deleted/?since=<ISO-8601>`
(alias `updated_since`), `{"id", "deleted_at"}` in the order (deleted_at, id): `items/deleted/`
(deleted PBIs, with `external_id` and `version`), `teams/`, `memberships/`, `goals/`, `columns/`,
`labels/`, `webhooks/` and `flow-settings/deleted/`. Every path that deletes leaves one (the API, the
admin, cascades: a deleted Scrum Team takes its memberships and flow settings along), so a client that
syncs each list and its `deleted/` list misses nothing; ask from the largest `deleted_at` you received
minus a minute, as for changes. Without `updated_since`, the PBI list is in
Product Backlog order (by `rank`) and the Definition of Workflow left to right (by `position`).

**Writes you can retry.** `PUT .../items/by-external-id/{external_id}/` creates or updates the item
with your id (re-sending the same data changes nothing). `POST .../items/bulk/` upserts up to 1,000
items, all or nothing, with every refused entry listed. Any POST takes `Idempotency-Key: <unique
string>`: a retry with the same key returns the first response (`Idempotent-Replayed: true`) and
creates nothing twice.

**Concurrency.** An item's `ETag` is its `version`. Send `If-Match: "<version>"` with PATCH, PUT,
DELETE or a transition: if the item changed meanwhile the answer is 412 with `current_version` and
nothing changes. **Without `If-Match` the write is applied to the current version** (last write
wins).

**Webhooks.** A Nexus's Product Owner registers URLs; each PBI change (`item.created`,
`item.updated`, `item.moved`, `item.transitioned`, `item.deleted`) is POSTed as JSON with
`X-Nexus-Event`, `X-Nexus-Delivery` and `X-Nexus-Signature: t=<unix>,v1=<hex>`, where `v1` is the
HMAC-SHA256 of `<t>.<body>` (the timestamp, a dot, the raw body) with the webhook's secret. The
body carries the delivery `id` (the same on a retry: de-duplicate on it) and the item with its
`version` (deliveries can arrive out of order: keep the highest version). Failed deliveries are
retried with exponential back-off (about 10 s, 40 s, 3 min, 11 min, 43 min) and logged.

**Limits.** Requests are counted per user (per address without credentials) over a sliding window;
past the limit (by default 6,000 a minute per user, 120 a minute per address; the server's
`API_THROTTLE_USER` / `API_THROTTLE_ANON`) any operation answers 429, code `throttled`, with
`Retry-After: <seconds>` (and `retry_after` in the body): wait that long, then retry.

**Request ids.** Every response carries `X-Request-ID` (yours if you sent a sane one: 8 to 64 letters,
digits, `.`, `_`, `:`, `-`; else a new one): quote it when reporting a problem, it is in the server's logs.
"""


class ErrorItemSerializer(serializers.Serializer):
    field = serializers.CharField(
        help_text="The input at fault: body field, query parameter, header, or `body`"
    )
    code = serializers.CharField()
    message = serializers.CharField()
    index = serializers.IntegerField(required=False, help_text="Bulk upsert: 0-based index of the entry")
    external_id = serializers.CharField(required=False, help_text="Bulk upsert: the entry's external id")


class ErrorSerializer(serializers.Serializer):
    """The body of every 4xx answer."""

    status = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField(help_text="For a person")
    errors = ErrorItemSerializer(many=True)  # type: ignore[assignment]  # a declared field, not .errors
    current_version = serializers.IntegerField(
        required=False, help_text="409/412 on a version conflict: the item's version now"
    )
    retry_after = serializers.IntegerField(
        required=False, help_text="429: seconds to wait before trying again (as the `Retry-After` header)"
    )


def error(description: str, *examples: OpenApiExample) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description, examples=list(examples))


VALIDATION_EXAMPLE = OpenApiExample(
    "invalid",
    value={
        "status": 400,
        "code": "invalid",
        "message": "title: Must be a string.",
        "errors": [{"field": "title", "code": "invalid", "message": "Must be a string."}],
    },
    response_only=True,
    status_codes=["400"],
)
PRECONDITION_EXAMPLE = OpenApiExample(
    "stale",
    value={
        "status": 412,
        "code": "precondition_failed",
        "message": "The item is at version 5, not 4: someone changed it after you read it. ...",
        "errors": [{"field": "If-Match", "code": "precondition_failed", "message": "..."}],
        "current_version": 5,
    },
    response_only=True,
    status_codes=["412"],
)


def _error_example(status: int, code: str, message: str, field: str | None = None) -> OpenApiExample:
    errors = [{"field": field, "code": code, "message": message}] if field else []
    return OpenApiExample(
        code,
        value={"status": status, "code": code, "message": message, "errors": errors},
        response_only=True,
        status_codes=[str(status)],
    )


#: The example of each error the API documents on every operation it applies to (`AutoSchema`).
ERROR_EXAMPLES = {
    "401": _error_example(401, "not_authenticated", "Authentication credentials were not provided."),
    "403": _error_example(403, "permission_denied", "You do not have permission to perform this action."),
    "404": _error_example(404, "not_found", "Not found."),
    "409": _error_example(
        409,
        "conflict",
        "A request with this Idempotency-Key is in progress.",
        "Idempotency-Key",
    ),
    "413": _error_example(413, "too_large", "The request body is too large.", "body"),
    "415": _error_example(415, "unsupported_media_type", 'Unsupported media type "text/plain" in request.'),
    "422": _error_example(
        422,
        "unprocessable",
        "This Idempotency-Key was used for another request (method, path or body differ); use a new key "
        "for a new request.",
        "Idempotency-Key",
    ),
}

IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    description='The `ETag` you read, e.g. `"4"`: the write is refused with 412 if the item has another '
    "version now. Without it (or with `*`) the write applies to the current version (last write wins).",
    # What `nexus_site.api.etag.if_match_version` takes: one strong or weak ETag of this API, or `*`.
    pattern=r'^\s*(\*|(W/)?("[0-9]{1,10}"|[0-9]{1,10}))\s*$',
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    str,
    OpenApiParameter.HEADER,
    description="The `ETag` of your copy: 304 Not Modified when the item still has that version.",
)
ETAG_HEADER = OpenApiParameter(
    "ETag",
    str,
    OpenApiParameter.HEADER,
    response=[200, 201],
    description='The item\'s version as a strong ETag, e.g. `"4"`; send it back in `If-Match`.',
)


def conflict(description: str, message: str, field: str) -> OpenApiResponse:
    """A documented 409 (the request conflicts with the data as it is, `backlog.errors.Conflict`):
    `description` for the response, one example whose `message` and `field` say why."""
    return error(
        description,
        OpenApiExample(
            field,
            value={
                "status": 409,
                "code": "conflict",
                "message": message,
                "errors": [{"field": field, "code": "conflict", "message": message}],
            },
            response_only=True,
            status_codes=["409"],
        ),
    )


def precondition(what: str) -> OpenApiResponse:
    """The 412 response of a write with `If-Match` on a versioned row (`what`: "the item", ...)."""
    return error(
        f"`If-Match` names another version than {what}'s (see `current_version`).", PRECONDITION_EXAMPLE
    )


def retrieve_with_etag(what: str, serializer: Any) -> Any:
    """The `extend_schema` of a versioned row's GET: its `ETag`, and 304 for `If-None-Match` with it."""
    return extend_schema(
        summary=f"Get {what} (with its ETag)",
        parameters=[IF_NONE_MATCH, ETAG_HEADER],
        responses={200: serializer, 304: OpenApiResponse(description="Your copy is current.")},
    )


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="A unique string (e.g. a UUID), 1 to 255 printable ASCII characters. A retry with the same "
    "key returns the first response and creates nothing twice (remembered 24 h, per user).",
    pattern=r"^[ -~]{1,255}$",
)
NEXUS_SLUG = OpenApiParameter("nexus_slug", str, OpenApiParameter.PATH, description="The Nexus's slug")
ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The row's id")


class AutoSchema(SpectacularAutoSchema):
    """Adds to every operation the error responses it can give (documented once, here), and the
    `Idempotency-Key` header to every POST."""

    def _get_examples(
        self,
        serializer: Any,
        direction: Any,
        media_type: Any,
        status_code: Any = None,
        extras: Any = None,
    ) -> Any:
        """The operation's examples for this body; when it has none for this direction, its
        serializer's (`backlog.api.examples`). drf-spectacular reads a serializer's examples only when
        the operation has no examples at all, so a POST with a request example showed no response."""
        found = super()._get_examples(serializer, direction, media_type, status_code, extras)
        if found or not is_serializer(serializer):
            return found
        target = serializer.child if is_list_serializer(serializer) else serializer
        own = list(get_override(target, "examples", []))
        if not own:
            return found
        return super()._get_examples(serializer, direction, media_type, status_code, [*(extras or []), *own])

    def _map_serializer(self, serializer: Any, direction: str, bypass_extensions: bool = False) -> Any:
        """A request serializer with `schema_any_of` (a list of JSON Schema objects) is documented with
        them as `anyOf`: constraints between fields that the server enforces (e.g. a move names exactly
        one placement) and that per-field schemas cannot state."""
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        variants = getattr(serializer, "schema_any_of", None)
        if variants and direction == "request":
            # Under a vendor key until `postprocess_schema`: drf-spectacular's enum hook would turn the
            # variants' one-value enums into components of their own.
            schema = {**schema, "x-any-of": variants}
        return schema

    def _get_request_for_media_type(self, serializer: Any, direction: str = "request") -> Any:
        """A PATCH whose serializer says `required_on_patch` (its body is the whole change, e.g. a
        team square's `status`) is documented with its required fields, as the server enforces them;
        drf-spectacular makes every field of a PATCH body optional."""
        if self.method == "PATCH" and getattr(serializer, "required_on_patch", False):
            self.method = "PUT"
            try:
                return super()._get_request_for_media_type(serializer, direction)
            finally:
                self.method = "PATCH"
        return super()._get_request_for_media_type(serializer, direction)

    def get_override_parameters(self) -> list[Any]:
        params = list(super().get_override_parameters())
        if self.method == "POST":
            params.append(IDEMPOTENCY_KEY)
        if "{nexus_slug}" in self.path:
            params.append(NEXUS_SLUG)
        if "{id}" in self.path:
            params.append(ID)
        return params

    def get_tags(self) -> list[str]:
        """One tag per resource, from the path: `items`, `teams`, `flow`... (`nexuses` for the Nexus)."""
        parts = [p for p in self.path.split("/") if p]  # api, v1, nexuses, {nexus_slug}, items, ...
        if len(parts) > 4 and parts[:3] == ["api", "v1", "nexuses"] and not parts[4].startswith("{"):
            return [parts[4]]
        return ["nexuses"]

    def _error_codes(self) -> dict[str, str]:
        codes = {
            "400": "Malformed request: a query parameter, header or body field is invalid (see `field`).",
            "401": "No valid credentials: send `Authorization: Token <token>` or log in.",
        }
        if "{" in self.path:
            codes["404"] = "No such Nexus or row, or it belongs to a Nexus you are not a member of."
        if self.method != "GET" or "{nexus_slug}" in self.path:
            codes["403"] = "Your role in this Nexus does not allow this (the reason is in `message`)."
        if self.method in ("POST", "PUT", "PATCH"):
            codes["413"] = "The body is larger than the server accepts."
            codes["415"] = "The body is not `application/json`."
        if self.method == "POST":
            codes["409"] = "Conflict (e.g. a request with this Idempotency-Key is in progress)."
            codes["422"] = "This Idempotency-Key was used for a different request."
        return codes

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)  # type: ignore[arg-type]
        for code, description in self._error_codes().items():
            if code not in responses:
                example = VALIDATION_EXAMPLE if code == "400" else ERROR_EXAMPLES[code]
                if code == "403":
                    example = self._refusal_example() or example
                responses[code] = self._get_response_for_code(error(description, example), code)
        return dict(sorted(responses.items()))

    def _refusal_example(self) -> OpenApiExample | None:
        """The 403 of this operation's permission rule (`nexus_site.api.permissions`), with its message."""
        from nexus_site.api.permissions import EDIT_ITEMS, VIEW, rule_message

        rules: dict[str, str] = getattr(self.view, "rules", {})
        action = getattr(self.view, "action", None) or self.method.lower()
        rule = rules.get(action, VIEW if self.method == "GET" else EDIT_ITEMS)
        message = rule_message(rule)
        return _error_example(403, "permission_denied", message) if message else None


def preprocess_endpoints(endpoints: list[tuple[str, str, str, Any]], **kwargs: Any) -> list[Any]:
    """Only the versioned API is documented (not the schema and docs views themselves). Attaches the
    examples of the bodies to their serializers first (`backlog.api.examples.install`, idempotent): done
    here, when a schema is generated, rather than at start-up, so that a process that serves no schema
    (a worker, a management command) does not import drf-spectacular and DRF's serializers for them."""
    from backlog.api import examples

    examples.install()
    return [e for e in endpoints if e[0].startswith("/api/v1/")]


THROTTLED_RESPONSE = {
    "description": "Too many requests from you (`nexus_site.api.throttling`): wait `Retry-After` seconds.",
    "headers": {
        "Retry-After": {"schema": {"type": "integer", "minimum": 1}, "description": "Seconds to wait."},
        "X-Request-ID": {"schema": {"type": "string"}, "description": "The request's id, as in the logs."},
    },
    "content": {
        "application/json": {
            "schema": {"$ref": "#/components/schemas/Error"},
            "examples": {
                "throttled": {
                    "value": {
                        "status": 429,
                        "code": "throttled",
                        "message": "Request was throttled. Expected available in 12 seconds.",
                        "errors": [],
                        "retry_after": 12,
                    }
                }
            },
        }
    },
}


def postprocess_schema(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    """The description; request bodies refuse unknown fields (`additionalProperties: false`), as the
    API does; constraints between fields become `anyOf` (`AutoSchema._map_serializer`); every operation
    can answer 429 (the `Throttled` response component)."""
    result["info"]["description"] = DESCRIPTION.strip()
    result.setdefault("components", {}).setdefault("responses", {})["Throttled"] = THROTTLED_RESPONSE
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if isinstance(operation, dict) and "responses" in operation and method != "parameters":
                operation["responses"]["429"] = {"$ref": "#/components/responses/Throttled"}
    for name, schema in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and schema.get("type") == "object":
            schema["additionalProperties"] = False
        if "x-any-of" in schema:
            schema["anyOf"] = schema.pop("x-any-of")
    return result
