"""The request id: taken from a sane incoming `X-Request-ID` (a proxy's or a client's) or made here,
returned in the `X-Request-ID` response header by every page and API response, and put on every log
line written while the request is served (`nexus_site.logs.RequestIdFilter`)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from nexus_site.logs import request_id_var

HEADER = "X-Request-ID"
#: An incoming id is kept when it is 8 to 64 characters of letters, digits, `-`, `_`, `.`, `:`;
#: anything else (empty, too long, spaces, control characters) is replaced by a new UUID4 (hex).
SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def request_id_of(request: HttpRequest) -> str:
    """The incoming `X-Request-ID` if sane (see `SANE_ID`), else a new 32-hex-digit UUID4."""
    incoming = request.headers.get(HEADER, "")
    return incoming if SANE_ID.match(incoming) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Sets `request.request_id` and the logging context for the request, and the response header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_of(request)
        request.request_id = request_id  # type: ignore[attr-defined]
        # Not reset on the way out: Django logs a 4xx/5xx response (`django.request`) after the
        # middleware has returned; `request_finished` (below) clears it once the response is sent.
        request_id_var.set(request_id)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


@receiver(request_finished)
def _request_id_clear(**kwargs: object) -> None:
    """After a response, log lines of this thread are no longer the request's."""
    request_id_var.set("-")
