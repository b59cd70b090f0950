"""The shared cache (`nexus_site.cache`, `CACHES` in the settings): chosen from the environment, shared by
separate processes (Redis, and the file cache of the embedded default), throttle counters included, and a
Redis that does not answer is a cache miss, never an error."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import redis as redis_lib
from django.core.cache import cache
from django.test import Client

from backlog.services.sync import token_create
from nexus_site import cache as cache_module
from nexus_site.api.throttling import UserRateThrottle
from tests.factories import UserFactory
from tests.reliability.server import RedisServer, free_port
from tests.test_settings import _manage

SHOW_CACHE = "import json; from django.conf import settings; print(json.dumps(settings.CACHES['default']))"


def _shell(code: str, **env: str) -> str:
    """Run `code` in `manage.py shell` in a process of its own with `env`; its standard output."""
    result = _manage("shell", "--no-imports", "-c", code, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _breaker_closed() -> Iterator[None]:
    """A test that makes Redis fail must not leave this process thinking it is down."""
    yield
    cache_module._breaker.down_until = 0.0
    cache_module._breaker.failing = False


def _backend_env(kind: str, redis_server: RedisServer | None, tmp_path: Any) -> dict[str, str]:
    if kind == "redis":
        assert redis_server is not None
        return {"REDIS_URL": redis_server.url}
    return {"REDIS_URL": "", "CACHE_DIR": str(tmp_path / "cache")}


@pytest.fixture(params=["redis", "files"])
def shared(request, tmp_path, settings) -> Iterator[dict[str, str]]:
    """The environment of another process, and this process's cache configured as that process's."""
    server = RedisServer() if request.param == "redis" else None
    if server is not None:
        server.start()
    try:
        env = _backend_env(request.param, server, tmp_path)
        settings.CACHES = {"default": json.loads(_shell(SHOW_CACHE, **env))}
        yield env
    finally:
        if server is not None:
            server.stop()


# --- Settings ----------------------------------------------------------------------------------------


def test_redis_url_gives_the_resilient_redis_cache():
    conf = json.loads(_shell(SHOW_CACHE, REDIS_URL="redis://127.0.0.1:6379/7"))
    assert conf["BACKEND"] == "nexus_site.cache.ResilientRedisCache"
    assert conf["LOCATION"] == "redis://127.0.0.1:6379/7"
    assert conf["KEY_PREFIX"] == "nexus"
    assert conf["OPTIONS"]["socket_timeout"] <= 1  # a hung Redis costs a request at most about a second


def test_without_redis_the_cache_is_files_every_process_reads(tmp_path):
    conf = json.loads(_shell(SHOW_CACHE, REDIS_URL=""))
    assert conf["BACKEND"] == "django.core.cache.backends.filebased.FileBasedCache"
    assert conf["LOCATION"].endswith("var/cache")
    conf = json.loads(_shell(SHOW_CACHE, REDIS_URL="", CACHE_DIR=str(tmp_path)))
    assert conf["LOCATION"] == str(tmp_path)
    # Each parallel test worker its own folder (as its own database and Redis database).
    conf = json.loads(_shell(SHOW_CACHE, REDIS_URL="", CACHE_DIR=str(tmp_path), PYTEST_XDIST_WORKER="gw1"))
    assert conf["LOCATION"] == str(tmp_path / "gw1")


def test_connections_persist_and_are_checked_before_reuse():
    show = "from django.conf import settings; d = settings.DATABASES['default']; "
    show += "print(d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])"
    url = "postgres://postgres@127.0.0.1:5432/nexus"
    if "CONN_MAX_AGE" not in os.environ:
        assert _shell(show, DATABASE_URL=url).split() == ["60", "True"]
    assert _shell(show, DATABASE_URL=url, CONN_MAX_AGE="0").split() == ["0", "True"]
    assert _shell(show, DATABASE_URL=url + "?conn_max_age=5").split() == ["5", "True"]


# --- Shared between processes ------------------------------------------------------------------------


def test_two_processes_share_the_cache(shared):
    _shell("from django.core.cache import cache; cache.set('from-there', {'n': 1}, 60)", **shared)
    assert cache.get("from-there") == {"n": 1}
    cache.set("from-here", "hello", 60)
    assert _shell("from django.core.cache import cache; print(cache.get('from-here'))", **shared).strip() == (
        "hello"
    )


def test_throttle_counts_are_shared_between_processes(shared, settings):
    """Two requests counted by another web process, the third and fourth here: 3/minute lets one more."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"user": "3/minute"}}
    count_two = (
        "from types import SimpleNamespace as N; "
        "from nexus_site.api.throttling import UserRateThrottle as T; "
        "r = N(user=N(is_authenticated=True, pk=424242), META={}); "
        "print([T().allow_request(r, None) for _ in range(2)])"
    )
    assert _shell(count_two, API_THROTTLE_USER="3/minute", **shared).strip() == "[True, True]"
    request: Any = SimpleNamespace(user=SimpleNamespace(is_authenticated=True, pk=424242), META={})
    view: Any = None
    assert UserRateThrottle().allow_request(request, view) is True
    assert UserRateThrottle().allow_request(request, view) is False


# --- Redis gone: a miss, not an error ----------------------------------------------------------------


def _dead_redis() -> cache_module.ResilientRedisCache:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    return cache_module.ResilientRedisCache(
        url, {"KEY_PREFIX": "nexus", "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}
    )


def test_an_unreachable_redis_is_a_miss_logged_once(caplog):
    dead = _dead_redis()
    with caplog.at_level(logging.WARNING, logger="nexus_site.cache"):
        assert dead.get("k") is None
        assert dead.get("k", "fallback") == "fallback"
        dead.set("k", 1)
        assert dead.add("k", 1) is False
        assert dead.get_many(["a", "b"]) == {}
        assert dead.set_many({"a": 1, "b": 2}) == ["a", "b"]
        assert dead.delete("k") is False
        assert dead.has_key("k") is False
        assert dead.get_or_set("k", 5) == 5
        dead.clear()
        with pytest.raises(ValueError, match="not found"):
            dead.incr("k")
    warnings = [r for r in caplog.records if r.name == "nexus_site.cache"]
    assert len(warnings) == 1
    assert "Cache unavailable" in warnings[0].getMessage()


def test_while_redis_is_down_no_call_waits_and_it_is_used_again_once_back(redis_server, monkeypatch, caplog):
    monkeypatch.setattr(cache_module, "DOWN_SECONDS", 0.3)
    live = cache_module.ResilientRedisCache(redis_server.url, {"KEY_PREFIX": "nexus"})
    live.set("k", "before")
    redis_server.stop()
    with caplog.at_level(logging.WARNING, logger="nexus_site.cache"):
        assert live.get("k") is None  # fails, opens the breaker
        started = time.monotonic()
        for _ in range(100):
            assert live.get("k") is None
        assert time.monotonic() - started < 0.1  # Redis not tried again meanwhile
        redis_server.start()
        time.sleep(0.35)
        live.set("k", "after")
        assert live.get("k") == "after"
    messages = [r.getMessage() for r in caplog.records if r.name == "nexus_site.cache"]
    assert messages[0].startswith("Cache unavailable")
    assert messages[-1] == "Cache available again (Redis answers)"


@pytest.mark.django_db
def test_the_api_answers_while_the_cache_s_redis_is_gone(settings):
    """The throttle reads and writes the cache on every API request: with Redis gone it lets it through."""
    settings.CACHES = {
        "default": {
            "BACKEND": "nexus_site.cache.ResilientRedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "KEY_PREFIX": "nexus",
        }
    }
    _, key = token_create(user=UserFactory.create(username="cacheless"), name="t")
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    for _ in range(3):
        assert client.get("/api/v1/nexuses/").status_code == 200


def test_clear_deletes_only_the_cache_s_keys(redis_server):
    live = cache_module.ResilientRedisCache(redis_server.url, {"KEY_PREFIX": "nexus"})
    raw = redis_lib.Redis.from_url(redis_server.url)
    raw.rpush("celery", "a queued task")  # the broker's list in the same database
    live.set_many({f"k{i}": i for i in range(1200)})
    live.clear()
    assert live.get("k1") is None
    assert raw.keys("nexus:*") == []
    assert raw.lrange("celery", 0, -1) == [b"a queued task"]
    raw.close()
