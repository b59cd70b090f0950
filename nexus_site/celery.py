"""The Celery application. Broker: `REDIS_URL`; when unset, tasks run eagerly in-process (see settings)."""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nexus_site.settings")


def beat_schedule(sweep_seconds: float) -> dict[str, dict[str, object]]:
    """Celery beat's schedule. Flow figures: every night at 01:30 UTC all Nexuses are recomputed
    (idempotent); every `sweep_seconds` (settings.SWEEP_SECONDS) those whose calendar day has turned in
    their own time zone, or whose recompute was left pending while the broker was down (cheap when none
    is). Webhooks: every `sweep_seconds`, re-queue deliveries never queued (the broker was down) or whose
    retry is overdue (lost with a worker): so, within 30 s of Redis being back, both run by themselves.
    Idempotency keys past their lifetime are pruned hourly. Here, not in the settings, so that Django's
    start (every management command, a recompute run as a process) does not import Celery."""
    return {
        "flow-recompute-all-nightly": {"task": "flow.recompute_all", "schedule": crontab(hour=1, minute=30)},
        "flow-recompute-due": {"task": "flow.recompute_due", "schedule": sweep_seconds},
        "webhooks-retry-due": {"task": "backlog.webhooks_retry_due", "schedule": sweep_seconds},
        "idempotency-prune": {"task": "backlog.idempotency_prune", "schedule": crontab(minute=35)},
    }


app = Celery("nexus_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.conf.beat_schedule = beat_schedule(settings.SWEEP_SECONDS)


def worker_command(
    *, pool: str = "solo", log_level: str = "WARNING", options: tuple[str, ...] = ()
) -> list[str]:
    """The command line of a Celery worker process of this app, for the tests and the bench that start
    one of their own: this interpreter, `pool` ("solo", or "prefork" with one process), `log_level`,
    `options` (e.g. `-B` for beat, `-n name@%h`), no gossip, mingle or heartbeat (one worker alone, on
    a private broker database: nothing to talk to). Run it with the project folder as working directory."""
    import sys

    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "nexus_site",
        "worker",
        *options,
        f"--pool={pool}",
        *(["--concurrency=1"] if pool == "prefork" else []),
        "-l",
        log_level,
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
