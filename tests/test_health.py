"""`/healthz` and `/readyz`: no log-in, never cached; readiness names the service that does not answer."""

from __future__ import annotations

import socket

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_healthz_answers_without_a_log_in_and_touches_no_service(django_assert_num_queries):
    with django_assert_num_queries(0):
        response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_checks_the_database_and_redis(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL (make test)")
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


def test_readyz_is_503_naming_redis_when_it_does_not_answer(settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{_free_port()}/0"  # nothing listens there
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("unreachable: ")


def test_readyz_without_redis_configured_is_ready(settings):
    settings.REDIS_URL = None  # the embedded default: eager tasks, no broker
    assert Client().get("/readyz").json()["checks"]["redis"] == "not configured"


def test_health_endpoints_refuse_writes():
    assert Client().post("/healthz").status_code == 405
