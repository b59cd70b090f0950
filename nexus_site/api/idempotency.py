"""`Idempotency-Key` on POST: a retried request returns the first response and creates nothing twice.

How: a POST that carries the header runs in one transaction that first inserts an
`IdempotencyRecord(user, key, fingerprint)` and, when the response is a success, stores it there. So:
- a retry after success finds the record and gets the stored status, body, `ETag` and `Location`
  back, with `Idempotent-Replayed: true`; nothing runs again;
- a concurrent retry blocks on the record's unique index until the first request commits, then
  replays it (on SQLite, write transactions are serialised anyway);
- a failed request (4xx) stores nothing and rolls back, so the client may retry with the same key;
- the same key with another method, path or body answers 422, naming `Idempotency-Key`.
Keys are scoped per user and remembered for `API_IDEMPOTENCY_TTL` seconds (24 h by default).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from datetime import timedelta
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from backlog.models_api import IdempotencyRecord
from nexus_site.api.errors import FieldError
from nexus_site.db import retry_transient

HEADER = "Idempotency-Key"
KEPT_HEADERS = ("ETag", "Location")


class Replay(Exception):
    """Raised in `initial()` to answer with a stored response (caught in `handle_exception`)."""

    def __init__(self, record: IdempotencyRecord) -> None:
        super().__init__(record.key)
        self.record = record

    def response(self) -> Response:
        body = json.loads(self.record.response_body) if self.record.response_body else None
        response = Response(body, status=self.record.status_code)
        for name, value in self.record.response_headers.items():
            response[name] = value
        response["Idempotent-Replayed"] = "true"
        return response


def _key(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not (1 <= len(key) <= 255) or not key.isascii() or not key.isprintable():
        raise FieldError(HEADER, "An idempotency key is 1 to 255 printable ASCII characters, e.g. a UUID.")
    return key


def _fingerprint(request: Request) -> str:
    digest = hashlib.sha256()
    digest.update(f"{request.method}\n{request.get_full_path()}\n".encode())
    digest.update(request.body)
    return digest.hexdigest()


class IdempotencyMixin:
    """Mix into an API view (before DRF's view class) to honour `Idempotency-Key` on POST."""

    _idempotency_record: IdempotencyRecord | None = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method != "POST" or HEADER not in request.headers:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        # Read (and cache) the body now: DRF's parsing would consume the stream. Too big: DRF meets
        # the error again while parsing and answers 413.
        with contextlib.suppress(RequestDataTooBig):
            request.body  # noqa: B018
        # The whole request is one transaction here, so a deadlock or serialization failure in it is
        # retried here, as a whole (the services inside cannot retry within it: `nexus_site.db`).
        return retry_transient(self._dispatch_atomic)(request, *args, **kwargs)

    def _dispatch_atomic(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        self._idempotency_record = None
        with transaction.atomic():
            response = super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
            record = self._idempotency_record
            if record is not None and 200 <= response.status_code < 300:
                headers = {h: response[h] for h in KEPT_HEADERS if response.has_header(h)}
                record.status_code = response.status_code
                record.response_body = json.dumps(getattr(response, "data", None), cls=JSONEncoder)
                record.response_headers = headers
                record.save(update_fields=["status_code", "response_body", "response_headers"])
            elif response.status_code >= 400:
                transaction.set_rollback(True)
        return response

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        if request.method != "POST":
            return
        key = _key(request)
        if key is None:
            return
        fingerprint = _fingerprint(request)
        user = cast(User, request.user)
        cutoff = timezone.now() - timedelta(seconds=settings.API_IDEMPOTENCY_TTL)
        IdempotencyRecord.objects.filter(user=user, key=key, created_at__lt=cutoff).delete()
        try:
            with transaction.atomic():
                self._idempotency_record = IdempotencyRecord.objects.create(
                    user=user, key=key, fingerprint=fingerprint, created_at=timezone.now()
                )
            return
        except IntegrityError:
            pass  # used before (or by a concurrent request that has now committed): replay it
        record = IdempotencyRecord.objects.get(user=user, key=key)
        if record.status_code is None:
            raise FieldError(HEADER, "A request with this Idempotency-Key is in progress.", status_code=409)
        if record.fingerprint != fingerprint:
            raise FieldError(
                HEADER,
                "This Idempotency-Key was used for another request (method, path or body differ); "
                "use a new key for a new request.",
                status_code=422,
            )
        raise Replay(record)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, Replay):
            return exc.response()
        return super().handle_exception(exc)  # type: ignore[misc]
