"""`make run`'s server: gunicorn with gthread workers, sized from the environment, without the control
socket a second server on the machine would share; the Makefile serves with it, not `runserver`."""

from __future__ import annotations

import os
import runpy
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "nexus_site" / "gunicorn_conf.py"


def _conf(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    for name in ("WEB_CONCURRENCY", "WEB_THREADS", "PORT", "ACCESS_LOG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONF))


def test_gthread_workers_one_per_core_by_default(monkeypatch):
    conf = _conf(monkeypatch)
    assert conf["worker_class"] == "gthread"
    assert conf["workers"] == max(2, os.cpu_count() or 2)
    assert conf["threads"] == 8
    assert conf["bind"] == "127.0.0.1:8000"
    assert conf["keepalive"] >= 2  # a board polling every 2 s keeps its connection
    assert conf["control_socket_disable"] is True
    assert conf["accesslog"] is None


def test_processes_threads_port_and_access_log_from_the_environment(monkeypatch):
    conf = _conf(monkeypatch, WEB_CONCURRENCY="5", WEB_THREADS="3", PORT="8123", ACCESS_LOG="1")
    got = (conf["workers"], conf["threads"], conf["bind"], conf["accesslog"])
    assert got == (5, 3, "127.0.0.1:8123", "-")


def test_make_run_serves_with_gunicorn():
    makefile = (ROOT / "Makefile").read_text()
    run = makefile.split("\nrun: install\n", 1)[1].split("\n\n", 1)[0]
    assert "gunicorn -c nexus_site/gunicorn_conf.py" in run
    assert "runserver" not in run
