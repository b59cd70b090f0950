"""`/healthz` and `/readyz`: no log-in, never cached; readiness names the service that does not answer."""

from __future__ import annotations

import re
import socket
from pathlib import Path

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


# --- The container health check (nexus_site/healthcheck.py, the Dockerfile's HEALTHCHECK) -------------

ROOT = Path(__file__).resolve().parent.parent


def test_the_image_checks_liveness_and_compose_s_web_readiness():
    import yaml

    dockerfile = (ROOT / "Dockerfile").read_text()
    check = re.search(r"^HEALTHCHECK .*\\\n\s*CMD (.+)$", dockerfile, re.MULTILINE)
    assert check is not None, dockerfile
    assert check.group(1) == '["python", "-m", "nexus_site.healthcheck", "/healthz"]'
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert services["web"]["healthcheck"]["test"] == [
        "CMD",
        "python",
        "-m",
        "nexus_site.healthcheck",
        "/readyz",
    ]
    assert "celery" in " ".join(services["worker"]["healthcheck"]["test"])  # its own, not the image's
    assert services["beat"]["healthcheck"] == {"disable": True}  # no web process there


@pytest.mark.parametrize(
    ("allowed", "host"),
    [
        (None, "127.0.0.1"),
        ("", "127.0.0.1"),
        ("*", "127.0.0.1"),
        ("nexus.example.org,localhost", "nexus.example.org"),
        (".example.org", "example.org"),
        ("*,localhost", "localhost"),
    ],
)
def test_the_health_check_sends_an_allowed_host(allowed, host):
    from nexus_site.healthcheck import health_host

    assert health_host(allowed) == host


def test_the_health_endpoints_are_not_redirected_to_https(settings):
    """With DEBUG off plain HTTP is redirected to HTTPS, except the health endpoints: the container's
    check asks over plain HTTP inside the container."""
    settings.ALLOWED_HOSTS = ["nexus.example.org"]
    settings.SECURE_SSL_REDIRECT = True
    client = Client(HTTP_HOST="nexus.example.org")  # its middleware is built with these settings
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/api/v1/").status_code == 301


@pytest.mark.django_db(transaction=True)
def test_the_health_check_asks_the_server_with_an_allowed_host(live_server, settings, monkeypatch):
    """As in a container: only the configured host is allowed; the check sends it (exit 0 on a 200)."""
    from nexus_site import healthcheck

    settings.ALLOWED_HOSTS = ["nexus.example.org"]
    monkeypatch.setenv("PORT", live_server.url.rsplit(":", 1)[1])
    monkeypatch.setenv("ALLOWED_HOSTS", "nexus.example.org")
    assert healthcheck.main(["healthcheck", "/healthz"]) == 0
    assert healthcheck.main(["healthcheck"]) == 0  # /healthz by default
    assert healthcheck.main(["healthcheck", "/readyz"]) == 0
    assert healthcheck.main(["healthcheck", "/no-such-page"]) == 1
    monkeypatch.setenv("ALLOWED_HOSTS", "elsewhere.example.org")
    assert healthcheck.main(["healthcheck", "/healthz"]) == 1  # a host Django refuses: 400
