"""Under gunicorn (`make run`, a deployment) with JSON logs on (`LOG_JSON`, the default with DEBUG off),
every line the server writes is a JSON object, gunicorn's own (start, workers booting, the access log)
included, and the lines of a request carry its request id (`nexus_site/gunicorn_conf.py`,
`nexus_site.logs`)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.reliability.server import Server, app_env

REQUEST_ID = "gunicorn-json-0001"


def _get(url: str) -> int:
    request = urllib.request.Request(url, headers={"X-Request-ID": REQUEST_ID})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as err:
        err.read()
        return int(err.code)


def test_every_line_under_gunicorn_is_json_and_a_requests_lines_carry_its_id(tmp_path):
    env = {**app_env(f"sqlite:///{tmp_path / 'db.sqlite3'}"), "LOG_JSON": "1", "ACCESS_LOG": "1"}
    with Server(env, tmp_path / "server.log") as base:
        assert _get(f"{base}/healthz") == 200
        assert _get(f"{base}/no-such-page/") == 404
    lines = [line for line in (tmp_path / "server.log").read_text().splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"a line that is not JSON under gunicorn: {line!r}")
    loggers = {r["logger"] for r in records}
    assert "gunicorn.error" in loggers  # "Starting gunicorn", "Booting worker"
    mine = [r for r in records if "no-such-page" in r["message"]]
    assert {r["logger"] for r in mine} >= {"gunicorn.access", "django.request"}, mine
    assert all(r["request_id"] == REQUEST_ID for r in mine), mine
    access = [r for r in records if r["logger"] == "gunicorn.access" and "/healthz" in r["message"]]
    assert access
    assert any(r["request_id"] == REQUEST_ID for r in access)


@pytest.mark.parametrize(
    ("env", "json_lines"),
    [
        ({}, False),
        ({"DEBUG": "0"}, True),
        ({"DEBUG": "1", "LOG_JSON": "1"}, True),
        ({"DEBUG": "0", "LOG_JSON": "0"}, False),
    ],
)
def test_gunicorn_follows_the_apps_log_format(monkeypatch, env, json_lines):
    import runpy

    from tests.reliability.server import ROOT

    for name in ("DEBUG", "LOG_JSON"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    conf = runpy.run_path(str(ROOT / "nexus_site" / "gunicorn_conf.py"))
    assert ("logconfig_dict" in conf) is json_lines
