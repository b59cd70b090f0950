"""Keyset ("cursor") pagination in a stable order, for lists and for sync.

A list is ordered by the view's keys (`view.ordering_keys()`), the last of which is unique (`id`,
or `rank` within a Product Backlog): `(updated_at, id)` for sync, `(rank,)` for the Product Backlog.
The `next` link carries an opaque cursor with the last row's key; the next page starts strictly after
it, with an index range scan, so a page costs the same at row 100 as at row 100,000. Rows written
while a client pages move to the end of an `(updated_at, id)` order (their `updated_at` grows), so
the client sees them on a later page and misses nothing.

A malformed cursor or page size answers 400 naming `cursor` / `page_size`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from nexus_site.api.errors import FieldError

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_INT = 2**63 - 1
#: The longest cursor this API hands out is well under this (a tag and at most two keys, in base64).
MAX_CURSOR_LENGTH = 500


def _encode(tag: str, values: Sequence[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    raw = json.dumps([tag, plain], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, tag: str, kinds: Sequence[str]) -> list[Any]:
    bad = FieldError(
        "cursor", "This cursor is not valid here: use the `next` link of a previous page unchanged."
    )
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        got_tag, values = json.loads(raw)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError) as exc:
        raise bad from exc
    if got_tag != tag or not isinstance(values, list) or len(values) != len(kinds):
        raise bad
    out: list[Any] = []
    for kind, value in zip(kinds, values, strict=True):
        if kind == "int":
            if not isinstance(value, int) or isinstance(value, bool) or abs(value) > MAX_INT:
                raise bad
            out.append(value)
        else:
            parsed = parse_datetime(value) if isinstance(value, str) else None
            if parsed is None or parsed.tzinfo is None:
                raise bad
            out.append(parsed)
    return out


def after(qs: QuerySet[Any], fields: Sequence[str], values: Sequence[Any]) -> QuerySet[Any]:
    """Rows strictly after `values` in the order of `fields` (`-name` descending; the last field
    unique). Written as `first >= v AND NOT (first = v AND ... <= last)` so that the index range scan
    starts at v."""

    def cmp(name: str, op: str) -> str:
        if name.startswith("-"):
            op = {"gt": "lt", "gte": "lte", "lte": "gte"}[op]
        return f"{name.lstrip('-')}__{op}"

    if len(fields) == 1:
        return qs.filter(**{cmp(fields[0], "gt"): values[0]})
    head, *rest = fields
    tie = Q(**{head.lstrip("-"): values[0]})
    for name, value in zip(rest[:-1], values[1:-1], strict=True):
        tie &= Q(**{name.lstrip("-"): value})
    tie &= Q(**{cmp(rest[-1], "lte"): values[-1]})
    return qs.filter(**{cmp(head, "gte"): values[0]}).exclude(tie)


class KeysetPagination(BasePagination):
    """`?cursor=` (from `next`) and `?page_size=` (1 to 1000, default 100). The response is
    `{"next": url or null, "results": [...]}`; `next` is null on the last page."""

    cursor_query_param = "cursor"
    page_size_query_param = "page_size"

    def __init__(self) -> None:
        self.next_cursor: str | None = None
        self.request: Request | None = None

    def page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return DEFAULT_PAGE_SIZE
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE_SIZE:
            raise FieldError("page_size", f"A page size is a whole number from 1 to {MAX_PAGE_SIZE}.")
        return int(raw)

    def paginate_queryset(self, queryset: QuerySet[Any], request: Request, view: Any = None) -> list[Any]:
        self.request = request
        keys: list[tuple[str, str]] = view.ordering_keys()
        fields = [name for name, _kind in keys]
        tag = ",".join(fields)
        size = self.page_size(request)
        qs = queryset.order_by(*fields)
        cursor = request.query_params.get(self.cursor_query_param)
        if cursor is not None:
            qs = after(qs, fields, _decode(cursor, tag, [kind for _name, kind in keys]))
        rows = list(qs[: size + 1])
        if len(rows) > size:
            rows = rows[:size]
            last = rows[-1]
            self.next_cursor = _encode(tag, [getattr(last, name.lstrip("-")) for name in fields])
        return rows

    def get_next_link(self) -> str | None:
        if self.next_cursor is None or self.request is None:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.cursor_query_param, self.next_cursor)

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"next": self.get_next_link(), "results": data})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["next", "results"],
            "properties": {
                "next": {
                    "type": "string",
                    "format": "uri",
                    "nullable": True,
                    "description": "The next page (same filters, a `cursor` added); null on the last page.",
                    "example": "https://nexus.example.org/api/v1/nexuses/jdt/items/?cursor=WyJyYW5rIixbMzIyMTIyNTQ3Ml1d",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.cursor_query_param,
                "in": "query",
                "required": False,
                "description": "Opaque position from a previous page's `next` link; do not build it.",
                "schema": {"type": "string", "maxLength": MAX_CURSOR_LENGTH},
            },
            {
                "name": self.page_size_query_param,
                "in": "query",
                "required": False,
                "description": f"Rows per page, 1 to {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            },
        ]
