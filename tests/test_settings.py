"""Production settings: `check --deploy` passes; no SECRET_KEY with DEBUG off refuses to start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SECRET_KEY", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE", "PYTEST_XDIST_WORKER")
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_production_settings():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY="x" * 20 + "-production-secret-key-with-enough-entropy-0123456789",
        ALLOWED_HOSTS="nexus.example.org",
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_missing_secret_key_refuses_to_start_and_says_why():
    result = _manage("check", DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_collectstatic_works_with_production_settings(tmp_path):
    """The manifest storage of production refuses references to missing files (e.g. source maps)."""
    result = _manage(
        "collectstatic",
        "--noinput",
        "-v",
        "0",
        DEBUG="0",
        SECRET_KEY="x" * 60,
        STATIC_ROOT=str(tmp_path / "static"),
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert (tmp_path / "static" / "staticfiles.json").exists()


def test_each_parallel_test_worker_takes_its_own_redis_database():
    """pytest-xdist's worker gw1 with REDIS_URL .../3 uses .../5 (gw0: .../4); outside the test workers
    REDIS_URL is taken as it is."""
    show = [
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.REDIS_URL, settings.CELERY_BROKER_URL)",
    ]
    url = "redis://127.0.0.1:6379/3"
    moved = _manage(*show, REDIS_URL=url, PYTEST_XDIST_WORKER="gw1")
    assert moved.stdout.split() == ["redis://127.0.0.1:6379/5"] * 2, moved.stderr
    assert _manage(*show, REDIS_URL=url).stdout.split() == [url] * 2


def test_django_starts_without_celery_and_a_task_sent_later_goes_through_the_project_app():
    """A management command (a recompute run as a process) does not pay for importing Celery; a task
    module imported later brings the project's app, so `.delay()` never reaches Celery's default app
    (a broker on amqp://localhost)."""
    code = (
        "import sys, django; django.setup(); "
        "print('celery' in sys.modules); "
        "import flow.services, backlog.services.webhooks; print('celery' in sys.modules); "
        "from backlog.tasks import deliver_webhook; from flow.tasks import recompute_nexus; "
        "from celery import current_app; "
        "print(current_app.main, deliver_webhook.app.main, recompute_nexus.app.main, "
        "'flow.recompute_all' in current_app.conf.beat_schedule['flow-recompute-all-nightly']['task'])"
    )
    env = {
        k: v for k, v in os.environ.items() if k not in ("DJANGO_ALLOW_ASYNC_UNSAFE", "PYTEST_XDIST_WORKER")
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "nexus_site", "nexus_site", "nexus_site", "True"]


def test_the_start_objects_are_frozen_once_every_app_is_ready():
    """Every process that starts Django (a command, a worker, the recompute as a process) moves the
    start's objects out of the cyclic collector's sight, after the last app's `ready()`: each later full
    collection, and the one at exit, skips them (`nexus_site.apps.SiteConfig`)."""
    code = (
        "import gc, django; from django.apps import apps; "
        "print(gc.get_freeze_count()); django.setup(); "
        "print(gc.get_freeze_count(), [c.name for c in apps.get_app_configs()][-2:])"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_XDIST_WORKER"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    before, after = done.stdout.splitlines()
    assert int(before) == 0
    count, names = after.split(" ", 1)
    assert int(count) > 20_000  # Django's and the project's modules, classes and metadata
    assert names.strip() == "['integration', 'nexus_site']"
