"""API throttling (DRF's throttles): requests per client in a sliding window, answered 429 with
`Retry-After` (seconds) in the API's error format (`nexus_site.api.errors`).

The rates are `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]` (`user`: per account, whatever the token or
session; `anon`: per client address, for the few operations open without credentials), from
`API_THROTTLE_USER` / `API_THROTTLE_ANON`; None means no limit. Read on every request (DRF's own
classes read them once, at import), so a test or a deployment's settings change takes effect.
Counters live in Django's default cache: per process (local memory) unless a shared cache is set,
so with N web processes a client can make up to N times the rate.
"""

from __future__ import annotations

from typing import Any

from rest_framework import throttling
from rest_framework.settings import api_settings


class _CurrentRates:
    scope: str | None

    def get_rate(self) -> str | None:
        """The scope's rate ("<n>/<second|minute|hour|day>") from the current settings, or None."""
        rates: dict[str, Any] = api_settings.DEFAULT_THROTTLE_RATES
        return rates.get(self.scope or "")


class UserRateThrottle(_CurrentRates, throttling.UserRateThrottle):
    """Per authenticated user (anonymous requests: per address), scope `user`."""


class AnonRateThrottle(_CurrentRates, throttling.AnonRateThrottle):
    """Per client address for requests without credentials, scope `anon`."""
