"""Log-in throttling glue for django-axes (settings: `AXES_*`, `AUTHENTICATION_BACKENDS`)."""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpRequest


class AxesBackend(AxesStandaloneBackend):
    """Axes' backend, except that a call without a request (the test client's `login()`, a script) is
    left to the next backend instead of raising: every log-in over HTTP has a request and is throttled."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address for throttling: `REMOTE_ADDR`, or behind a proxy (`BEHIND_PROXY`, the
    proxy adds itself last to `X-Forwarded-For`) the last `X-Forwarded-For` entry."""
    if settings.SECURE_PROXY_SSL_HEADER:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        last = forwarded.split(",")[-1].strip()
        if last:
            return last
    return request.META.get("REMOTE_ADDR")
