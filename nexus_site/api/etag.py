"""ETags from `version`, and the conditional headers that use them.

`GET` of an item answers `ETag: "<version>"`; `If-None-Match` with that ETag answers 304. A write
(`PATCH`, `PUT`, `DELETE`, `POST .../transition`) with `If-Match: "<version>"` answers 412 when the item
has another version now (someone changed it since the client read it) and changes nothing. Without
`If-Match` the write is applied to whatever version is current ("last write wins"): send `If-Match`
whenever you edit from a copy you read earlier.
"""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from nexus_site.api.errors import FieldError

MAX_VERSION = 2**31 - 1


def etag(version: int) -> str:
    """The strong ETag of a version: `"3"`."""
    return f'"{version}"'


def _parse(tag: str) -> int | None:
    tag = tag.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    if len(tag) >= 2 and tag[0] == tag[-1] == '"':
        tag = tag[1:-1]
    if tag.isascii() and tag.isdigit() and len(tag) <= 10 and int(tag) <= MAX_VERSION:
        return int(tag)
    return None


def if_match_version(request: Request) -> int | None:
    """The version `If-Match` names, or None when the header is absent or `*` (any version).
    Raises a 400 naming `If-Match` when it is not one ETag of this API."""
    raw = request.headers.get("If-Match")
    if raw is None or raw.strip() == "*":
        return None
    version = _parse(raw)
    if version is None:
        raise FieldError("If-Match", 'Send one ETag from a previous response, e.g. If-Match: "3".')
    return version


def none_match(request: Request, version: int) -> bool:
    """Whether `If-None-Match` names this version (or `*`): the client's copy is current (304)."""
    raw = request.headers.get("If-None-Match")
    if raw is None:
        return False
    tags = [t.strip() for t in raw.split(",")]
    return "*" in tags or any(_parse(t) == version for t in tags)


def not_modified(request: Request, version: int) -> Response | None:
    """For the `GET` of a versioned row: a 304 (no body) with the row's `ETag` when `If-None-Match`
    names `version` (the client's copy is current, `none_match`), else None: answer the row."""
    if none_match(request, version):
        return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag(version)})
    return None


def versioned_response(request: Request, row: Any, data: Any, *, detail: str, code: int = 200) -> Response:
    """The representation `data` of `row` (a model with an integer `version` and a `nexus`) with its
    `ETag`; with status 201 (created) also the `Location` of its detail URL, the route `detail`
    (e.g. `"api:sprint-detail"`) reversed with the Nexus's slug and the row's primary key."""
    response = Response(data, status=code)
    response["ETag"] = etag(row.version)
    if code == status.HTTP_201_CREATED:
        from django.urls import reverse

        response["Location"] = request.build_absolute_uri(reverse(detail, args=[row.nexus.slug, row.pk]))
    return response
