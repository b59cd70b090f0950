"""The Celery application. Broker: `REDIS_URL`; when unset, tasks run eagerly in-process (see settings)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nexus_site.settings")

app = Celery("nexus_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


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
