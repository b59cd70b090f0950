"""One error format for the whole API, for every 4xx:

    {"status": 400, "code": "invalid", "message": "title: This field is required.",
     "errors": [{"field": "title", "code": "required", "message": "This field is required."}]}

`field` names the input at fault: a body field (nested as `items[3].title`), a query parameter
(`updated_since`, `cursor`), a header (`If-Match`, `Idempotency-Key`) or `body` for the body as a
whole. Domain errors from the services (`backlog.errors.DomainError`) keep their status code
(400/403/409/412) and field; a version conflict adds `current_version`; a refused bulk upsert lists
each refused entry with its `index` and `external_id`. Too many requests (`nexus_site.api.throttling`)
answer 429, code `throttled`, with `Retry-After` (whole seconds) and a `retry_after` field (the same).
"""

from __future__ import annotations

import math
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, TooManyFieldsSent
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from backlog.errors import DomainError, VersionConflict
from backlog.services.bulk import BulkUpsertFailed

CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "throttled",
}


def error_body(
    status_code: int, message: str, errors: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    """The error body: `status`, `code`, `message` (for a person) and `errors` (one per field)."""
    return {
        "status": status_code,
        "code": CODES.get(status_code, "error"),
        "message": message,
        "errors": errors if errors is not None else [],
        **extra,
    }


def flatten(detail: Any, path: str = "") -> list[dict[str, Any]]:
    """DRF's nested validation detail as a flat list of `{field, code, message}`: list entries are
    named `field[i]`, nested fields `parent.child`; errors about the body as a whole name `body`."""
    if isinstance(detail, dict):
        out: list[dict[str, Any]] = []
        for key, value in detail.items():
            if key in ("non_field_errors", "detail"):
                child = path
            elif isinstance(key, int):  # ListField/DictField children
                child = f"{path}[{key}]"
            else:
                child = f"{path}.{key}" if path else str(key)
            out.extend(flatten(value, child))
        return out
    if isinstance(detail, list) and any(isinstance(v, dict | list) for v in detail):
        out = []
        for i, value in enumerate(detail):
            if value:  # DRF puts {} for the entries of a list that were fine
                out.extend(flatten(value, f"{path}[{i}]"))
        return out
    values = detail if isinstance(detail, list) else [detail]
    return [
        {"field": path or "body", "code": getattr(v, "code", None) or "invalid", "message": str(v)}
        for v in values
    ]


def _summary(errors: list[dict[str, Any]], fallback: str) -> str:
    if not errors:
        return fallback
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    field = first.get("field")
    return f"{field}: {first['message']}{more}" if field else first["message"] + more


def domain_error_response(exc: DomainError) -> Response:
    """A `DomainError` as an API response with its status code, message and field."""
    if isinstance(exc, BulkUpsertFailed):
        errors = [
            {
                "index": e.index,
                "external_id": e.external_id,
                "field": e.field or "body",
                "code": "invalid",
                "message": e.message,
            }
            for e in exc.errors
        ]
        return Response(error_body(400, exc.message, errors), status=400)
    extra: dict[str, Any] = {}
    if isinstance(exc, VersionConflict):
        extra["current_version"] = exc.current_version
    code = CODES.get(exc.status_code, "invalid")
    errors = [{"field": exc.field or "body", "code": code, "message": exc.message}]
    return Response(error_body(exc.status_code, exc.message, errors, **extra), status=exc.status_code)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's `EXCEPTION_HANDLER`: every error the API can raise becomes a JSON error body. Returns
    None (a 500, logged) only for a real bug."""
    if isinstance(exc, DomainError):
        set_rollback()
        return domain_error_response(exc)
    if isinstance(exc, RequestDataTooBig | TooManyFieldsSent):
        body = error_body(
            413,
            "The request body is too large.",
            [{"field": "body", "code": "too_large", "message": str(exc)}],
        )
        return Response(body, status=413)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None
    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if isinstance(exc, exceptions.Throttled):
        # Whole seconds, rounded up (at least 1): a client that waits that long is let through.
        wait = getattr(exc, "wait", None) or 1
        headers["Retry-After"] = str(max(1, math.ceil(wait)))
    status_code = exc.status_code
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten(exc.detail)
        message = _summary(errors, "The request is invalid.")
    elif isinstance(exc, exceptions.ParseError):
        message = str(exc.detail)
        errors = [{"field": "body", "code": "parse_error", "message": message}]
    else:
        message = str(exc.detail) if not isinstance(exc.detail, dict | list) else "Error."
        field = getattr(exc, "field", None)
        errors = (
            [{"field": field, "code": CODES.get(status_code, "error"), "message": message}] if field else []
        )
        if isinstance(exc.detail, dict | list):
            errors = flatten(exc.detail)
            message = _summary(errors, message)
    extra = {"retry_after": int(headers["Retry-After"])} if "Retry-After" in headers else {}
    set_rollback()
    return Response(error_body(status_code, message, errors, **extra), status=status_code, headers=headers)


class FieldError(exceptions.APIException):
    """An API error about one named input (a query parameter or a header), with any status code."""

    def __init__(self, field: str, message: str, *, status_code: int = status.HTTP_400_BAD_REQUEST) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.field = field


@csrf_exempt  # a 404 whatever the method: no CSRF failure page in HTML for an unknown API URL
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any other URL under `/api/`: a 404 in the API's error format (not Django's HTML page)."""
    return JsonResponse(error_body(404, "No such endpoint; see /api/docs/."), status=404)
