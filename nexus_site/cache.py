"""The shared cache: Redis that degrades instead of failing a request.

`CACHES["default"]` (`nexus_site.settings`) is this backend when `REDIS_URL` is set, so every web
process (gunicorn workers, several machines) and every Celery worker reads and writes the same entries:
the API's throttle counters (`nexus_site.api.throttling`), the Product Backlog's suggestion index
(`backlog.suggestions`) and whatever a page caches. Without `REDIS_URL` it is Django's file cache in
`CACHE_DIR`, which the processes of one machine share too.

A cache is an optimisation, never a reason to answer 500: when Redis does not answer (refused, a
timeout, a dropped connection, an out-of-memory error), every call behaves as a miss (`get` returns the
default, `add` and `touch` return False, `set` and `delete` do nothing, `has_key` is False) and one
warning is logged. For `DOWN_SECONDS` after a failure the process does not try Redis at all (a request
must not wait for a timeout per call), then tries again; the first call that works logs that Redis is
back. What that means for its readers: throttle counters start again from zero while Redis is away (the
API is not throttled then), a suggestion index is rebuilt by its reader. `clear()` deletes only this
cache's keys (those under `KEY_PREFIX`): the Celery broker may share the Redis database.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

__all__ = ["DOWN_SECONDS", "ResilientRedisCache"]

log = logging.getLogger(__name__)

#: Seconds during which a process leaves Redis alone after a failed call (then tries again).
DOWN_SECONDS = 5.0

_T = TypeVar("_T")


class _Breaker:
    """Per process: whether Redis failed recently (shared by the threads of a gunicorn worker)."""

    def __init__(self) -> None:
        self.down_until = 0.0
        self.failing = False
        self.lock = threading.Lock()

    def is_open(self) -> bool:
        return time.monotonic() < self.down_until

    def failed(self, what: str, exc: Exception) -> None:
        with self.lock:
            self.down_until = time.monotonic() + DOWN_SECONDS
            first = not self.failing
            self.failing = True
        if first:
            log.warning(
                "Cache unavailable (Redis: %s during %s): answering as a miss, retrying every %g s",
                type(exc).__name__,
                what,
                DOWN_SECONDS,
            )

    def worked(self) -> None:
        if self.failing:
            with self.lock:
                was, self.failing = self.failing, False
            if was:
                log.warning("Cache available again (Redis answers)")


_breaker = _Breaker()


def _degrading(default: Any) -> Callable[[Callable[..., _T]], Callable[..., _T]]:
    """Wrap a cache method: a Redis error (or Redis known to be down) gives `default` instead."""

    def wrap(method: Callable[..., _T]) -> Callable[..., _T]:
        @functools.wraps(method)
        def call(self: ResilientRedisCache, *args: Any, **kwargs: Any) -> _T:
            if _breaker.is_open():
                return default(args, kwargs) if callable(default) else default
            try:
                result = method(self, *args, **kwargs)
            except RedisError as exc:
                _breaker.failed(method.__name__, exc)
                return default(args, kwargs) if callable(default) else default
            _breaker.worked()
            return result

        return call

    return wrap


def _get_default(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """`get(key, default=None, version=None)`'s default."""
    if len(args) > 1:
        return args[1]
    return kwargs.get("default")


def _set_many_default(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str]:
    """`set_many` returns the keys it failed to set: all of them."""
    data = args[0] if args else kwargs.get("data", {})
    return list(data)


class ResilientRedisCache(RedisCache):
    """Django's Redis cache (`django.core.cache.backends.redis.RedisCache`) that never raises a Redis
    error: see the module docstring. `incr`/`decr` still raise `ValueError` for a missing key (Django's
    contract); while Redis is away they raise it too (the key cannot be found)."""

    get = _degrading(_get_default)(RedisCache.get)
    set = _degrading(None)(RedisCache.set)
    add = _degrading(False)(RedisCache.add)
    touch = _degrading(False)(RedisCache.touch)
    delete = _degrading(False)(RedisCache.delete)
    has_key = _degrading(False)(RedisCache.has_key)
    get_many = _degrading(lambda a, k: {})(RedisCache.get_many)
    set_many = _degrading(_set_many_default)(RedisCache.set_many)
    delete_many = _degrading(None)(RedisCache.delete_many)

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        """Add `delta` to a stored integer; `ValueError` when the key is missing (or Redis is away)."""
        if _breaker.is_open():
            raise ValueError(f"Key '{key}' not found (the cache is unavailable)")
        try:
            value = super().incr(key, delta, version)
        except RedisError as exc:
            _breaker.failed("incr", exc)
            raise ValueError(f"Key '{key}' not found (the cache is unavailable)") from exc
        _breaker.worked()
        return value

    @_degrading(None)
    def clear(self) -> None:
        """Delete this cache's keys (`KEY_PREFIX:*`), not the whole Redis database (the broker's)."""
        if not self.key_prefix:
            super().clear()
            return
        client = self._cache.get_client(None, write=True)  # type: ignore[attr-defined]
        pattern = self.key_prefix.replace("\\", "\\\\")
        for ch in "*?[]":
            pattern = pattern.replace(ch, "\\" + ch)
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{pattern}:*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                client.delete(*batch)
                batch = []
        if batch:
            client.delete(*batch)
