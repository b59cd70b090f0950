"""Database faults, told apart and handled in one place.

- A **transient conflict** (PostgreSQL `40P01` deadlock detected, `40001` serialization failure; SQLite
  "database is locked" after its busy timeout) aborts one transaction of two that met: running the same
  transaction again succeeds. `retry_transient` does that around a write service's entry point (outside
  its `transaction.atomic`), so a person never sees it; after `ATTEMPTS` it lets the error go, and the
  middleware answers 503 with `Retry-After` (never a 500).
- **The database unavailable** (connection refused, cut, the server restarting: any other
  `OperationalError` or `InterfaceError`): nothing can be done in the request. `DatabaseUnavailableMiddleware`
  answers 503, a plain page or the API's error shape (`nexus_site.api.errors.error_body`), with
  `Retry-After`; the transaction was rolled back, so nothing is half-written. The next request opens a
  new connection (`CONN_HEALTH_CHECKS` in settings drops a dead persistent one), so the app recovers by
  itself as soon as the database answers again.
"""

from __future__ import annotations

import functools
import logging
import random
import sys
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.template.loader import render_to_string

log = logging.getLogger(__name__)

#: Attempts of a transaction that met a transient conflict (the first one included).
ATTEMPTS = 5
#: Seconds of the first wait between attempts (then doubled, with jitter), at most `MAX_WAIT`.
FIRST_WAIT = 0.02
MAX_WAIT = 0.5
#: SQLSTATEs of a transient conflict (PostgreSQL): serialization failure, deadlock detected.
TRANSIENT_SQLSTATES = {"40001", "40P01"}
#: Seconds a client is told to wait (`Retry-After`) when the database is unavailable or busy.
RETRY_AFTER = 2

P = ParamSpec("P")
R = TypeVar("R")


def _sqlstate(exc: BaseException) -> str | None:
    for e in (exc, exc.__cause__, exc.__context__):
        state = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
        if state:
            return str(state)
    return None


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` is a conflict that running the transaction again resolves: a deadlock or
    serialization failure (PostgreSQL), or SQLite's "database is locked"."""
    if not isinstance(exc, OperationalError):
        return False
    if _sqlstate(exc) in TRANSIENT_SQLSTATES:
        return True
    return "database is locked" in str(exc) or "database table is locked" in str(exc)


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached or the connection was lost (any
    `OperationalError`/`InterfaceError` that is not a transient conflict)."""
    return isinstance(exc, OperationalError | InterfaceError) and not is_transient(exc)


def retry_transient(func: Callable[P, R]) -> Callable[P, R]:
    """Run `func` (a write service whose body is one `transaction.atomic`) again when it fails with a
    transient conflict (`is_transient`), up to `ATTEMPTS` times with a short jittered back-off; the
    last failure is raised. Inside an outer transaction nothing can be retried here (the outer one is
    aborted too): the error goes up at once, to be retried where that transaction starts (e.g. the
    API's `Idempotency-Key` handling) or answered 503 by the middleware."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        wait = FIRST_WAIT
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return func(*args, **kwargs)
            except OperationalError as exc:
                if attempt == ATTEMPTS or connection.in_atomic_block or not is_transient(exc):
                    raise
                log.warning("%s: %s; attempt %d of %d", func.__qualname__, exc, attempt + 1, ATTEMPTS)
                time.sleep(random.uniform(wait / 2, wait))
                wait = min(wait * 2, MAX_WAIT)
        raise AssertionError("unreachable")

    return wrapper


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def unavailable_response(request: HttpRequest, exc: BaseException) -> HttpResponse:
    """The 503 for a database fault: the API's error shape under `/api/` (or for a JSON client), else
    a plain page (no traceback). `Retry-After` in seconds."""
    busy = is_transient(exc)
    saved = "" if request.method in ("GET", "HEAD", "OPTIONS") else " nothing was saved;"
    message = (
        f"The database is busy with other changes;{saved} please try again."
        if busy
        else f"The database is unavailable for a moment;{saved} please try again shortly."
    )
    response: HttpResponse
    if _is_api(request):
        from nexus_site.api.errors import error_body

        body = error_body(503, message)
        body["code"] = "database_busy" if busy else "database_unavailable"
        response = JsonResponse(body, status=503)
    else:
        html = render_to_string("503.html", {"message": message})
        response = HttpResponse(html, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """Answer 503 (see `unavailable_response`) instead of a 500 when a view, or a middleware after this
    one, fails because the database is unavailable or busy. First in `MIDDLEWARE`: the session and
    authentication middlewares read the database too. The exception is logged (one line, no
    traceback)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, OperationalError | InterfaceError):
            log.error("Database fault answering %s %s: %s", request.method, request.path, exception)
            return unavailable_response(request, exception)
        return None


def server_error(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """`handler500`: a database fault met outside a view (a middleware reading the session, saving
    it) is a 503 too; anything else is the plain 500 page."""
    exc = sys.exc_info()[1]
    if exc is not None and isinstance(exc, OperationalError | InterfaceError):
        log.error("Database fault answering %s %s: %s", request.method, request.path, exc)
        return unavailable_response(request, exc)
    from django.views.defaults import server_error as default

    return default(request)
