"""Hardening (issue 15): log-in throttling (django-axes), API throttling (429 + `Retry-After` in the error
format), the Content Security Policy and cookie flags, request ids and structured logs without secrets."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client

from backlog.services.sync import token_create
from nexus_site.logs import JsonFormatter, redact
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[1]


# --- Log-in throttling --------------------------------------------------------------------------


def _log_in(client: Client, username: str, password: str):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_five_wrong_passwords_lock_the_log_in_with_a_clear_page_even_for_the_right_password(settings):
    assert settings.AUTHENTICATION_BACKENDS[0] == "nexus_site.security.AxesBackend"
    UserFactory.create(username="ann", password="right-password-1")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = _log_in(client, "ann", "wrong")
        assert response.status_code == 200
        assert b"didn&#x27;t match" in response.content or b"didn't match" in response.content
    locked = _log_in(client, "ann", "wrong")
    assert locked.status_code == 429
    assert "registration/locked_out.html" in [t.name for t in locked.templates]
    text = locked.content.decode()
    assert "Log-in locked for a while" in text
    assert "Too many failed log-ins for <strong>ann</strong>" in text
    assert "locked for 15 minutes" in text

    refused = _log_in(client, "ann", "right-password-1")
    assert refused.status_code == 429
    assert "_auth_user_id" not in client.session
    # Another user from the same address is not locked.
    UserFactory.create(username="bob", password="right-password-2")
    assert _log_in(Client(), "bob", "right-password-2").status_code == 302


def test_a_successful_log_in_resets_the_count(settings):
    UserFactory.create(username="cat", password="right-password-3")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _log_in(Client(), "cat", "wrong")
    assert _log_in(Client(), "cat", "right-password-3").status_code == 302
    assert _log_in(Client(), "cat", "wrong").status_code == 200  # counting starts again


def test_the_test_clients_login_and_api_tokens_are_not_throttled_by_axes():
    """`Client.login()` authenticates without a request (axes' backend steps aside); tokens never
    go through `authenticate()`."""
    user = UserFactory.create(username="dan", password="right-password-4")
    assert Client().login(username="dan", password="right-password-4")
    _, key = token_create(user=user, name="t")
    for _ in range(6):
        _log_in(Client(), "dan", "wrong")
    response = Client().get("/api/v1/nexuses/", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200


# --- API throttling ---------------------------------------------------------------------------


@pytest.fixture
def low_rates(settings) -> Iterator[None]:
    cache.clear()
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "3/minute", "anon": "2/minute"},
    }
    yield
    cache.clear()


def test_api_throttle_answers_429_in_the_error_format_with_retry_after(low_rates):
    user = UserFactory.create(username="eve")
    _, key = token_create(user=user, name="t")
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    for _ in range(3):
        assert client.get("/api/v1/nexuses/").status_code == 200
    response = client.get("/api/v1/nexuses/")
    assert response.status_code == 429
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    body = response.json()
    assert body["status"] == 429
    assert body["code"] == "throttled"
    assert body["retry_after"] == retry_after
    assert body["errors"] == []
    assert "throttled" in body["message"]
    # Per user: another user is not held up.
    other = UserFactory.create(username="fay")
    _, other_key = token_create(user=other, name="t")
    assert Client(HTTP_AUTHORIZATION=f"Token {other_key}").get("/api/v1/nexuses/").status_code == 200


def test_default_rates_are_generous_and_documented_in_the_openapi(settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert rates == {"user": "6000/minute", "anon": "120/minute"}
    UserFactory.create(username="gus", password="right-password-5")
    client = Client()
    client.login(username="gus", password="right-password-5")
    schema = client.get("/api/schema/?format=json").json()
    throttled = schema["components"]["responses"]["Throttled"]
    assert "Retry-After" in throttled["headers"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation["responses"]["429"] == {"$ref": "#/components/responses/Throttled"}, (
                method,
                path,
            )


# --- Content Security Policy and cookies --------------------------------------------------------


def test_pages_send_a_strict_content_security_policy(settings):
    response = Client().get("/accounts/login/")
    policy = dict(
        ([*part.strip().split(" ", 1), ""])[:2] for part in response["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["style-src-attr"] == "'unsafe-inline'"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert "http" not in response["Content-Security-Policy"]  # no third-party origin
    assert settings.SESSION_COOKIE_HTTPONLY
    assert settings.CSRF_COOKIE_HTTPONLY
    assert settings.SESSION_COOKIE_SAMESITE == settings.CSRF_COOKIE_SAMESITE == "Lax"


_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
_HANDLER = re.compile(r"\s(on[a-z]+|hx-on[:\w-]*)\s*=", re.I)


def test_templates_have_no_inline_script_nor_event_handler_attribute():
    """The policy runs no inline code: scripts are files under static/, JSON data blocks are data."""
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        offenders += [f"{path.name}: {m.group(0)}" for m in _INLINE_SCRIPT.finditer(text)]
        offenders += [f"{path.name}: {m.group(0)}" for m in _HANDLER.finditer(text)]
    for path in (ROOT / "static" / "js").rglob("*.js"):
        offenders += [f"{path.name}: {m.group(0)}" for m in re.finditer(r"\son[a-z]+=\"", path.read_text())]
    assert offenders == []


# --- Request ids and logs -----------------------------------------------------------------------


def test_every_response_carries_a_request_id_and_a_sane_incoming_one_is_kept():
    page = Client().get("/accounts/login/")
    assert re.fullmatch(r"[0-9a-f]{32}", page["X-Request-ID"])
    api = Client().get("/api/v1/nexuses/", HTTP_X_REQUEST_ID="lb-1234abcd")
    assert api.status_code == 401
    assert api["X-Request-ID"] == "lb-1234abcd"
    for insane in ("short", "x" * 65, "has space here", "bad\u00e9chars"):
        got = Client().get("/healthz", HTTP_X_REQUEST_ID=insane)["X-Request-ID"]
        assert got != insane
        assert re.fullmatch(r"[0-9a-f]{32}", got)


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """What the console handler writes, as JSON lines (the production format)."""
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "name", "") == "console")
    stream = io.StringIO()
    old_stream = handler.setStream(stream)  # type: ignore[attr-defined]
    old_formatter = handler.formatter
    handler.setFormatter(JsonFormatter())
    yield stream
    handler.setStream(old_stream)  # type: ignore[attr-defined]
    handler.setFormatter(old_formatter)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_log_lines_are_json_with_the_request_id_and_never_a_token_or_password(json_log, settings):
    user = UserFactory.create(username="hal", password="hal-secret-password-9")
    _, key = token_create(user=user, name="t")
    # A 404 under the API (logged by django.request), with the token.
    missing = Client().get(
        "/api/v1/nexuses/no-such/items/",
        HTTP_AUTHORIZATION=f"Token {key}",
        HTTP_X_REQUEST_ID="req-404-abcdef",
    )
    assert missing.status_code == 404
    # A wrong password and a right one through the log-in form (axes logs the attempts).
    _log_in(Client(), "hal", "hal-wrong-password-8")
    _log_in(Client(), "hal", "hal-secret-password-9")
    # Code that logs a header or a body carelessly.
    logging.getLogger("nexus_site.test").warning(
        "careless: Authorization: Token %s password=%s", key, "hal-secret-password-9"
    )
    logging.getLogger("nexus_site.test").info("extra", extra={"authorization": f"Token {key}"})

    text = json_log.getvalue()
    lines = _lines(json_log)
    assert lines, "nothing was logged"
    for line in lines:
        assert {"time", "level", "logger", "message", "request_id"} <= line.keys(), line
    assert any(line["request_id"] == "req-404-abcdef" for line in lines), lines
    assert key not in text
    assert "hal-secret-password-9" not in text
    assert "hal-wrong-password-8" not in text
    assert "[redacted]" in text


def test_redact_masks_credential_values_and_keeps_the_rest():
    assert redact("Authorization: Token abc123 done") == "Authorization: Token [redacted] done"
    assert redact('{"password": "p@ss", "title": "x"}') == '{"password": "[redacted]", "title": "x"}'
    assert redact("GET /api/v1/nexuses/demo/items/ 200") == "GET /api/v1/nexuses/demo/items/ 200"
