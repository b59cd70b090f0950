"""After the response, in the process: the coalesced recompute on the embedded default.

With no broker (`REDIS_URL` unset, Celery eager), a task `delay`ed from a request would run inside it.
The coalesced recompute that refreshes a Nexus's headline figures after a change
(`flow.services.recompute_request`) runs instead in one daemon thread of the process, `DELAY` seconds
after the request that asked for it (a burst of changes, such as dragging cards at the Nexus Daily
Scrum, makes one recompute). On by default when Celery is eager (setting `FLOW_RECOMPUTE_IN_THREAD`),
never inside a test unless a test sets it, and never from inside a transaction (the thread could not
see what it has not committed).

Several processes (`make run` serves with gunicorn workers) each have their own thread. The request is
claimed in the database (`FlowState.enqueued_at`, one `UPDATE ... WHERE enqueued_at IS NULL`), so one
process schedules it; the recompute and the incremental updates of every process take the Nexus's flow
lock (`flow.locks`: a file lock across processes on SQLite), so two never write the figures at once and
the one that stores last read the newest log. A claim older than `CLAIM_LOST_AFTER` is taken over by the
next change (its process stopped before running it).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection, connections

log = logging.getLogger(__name__)

#: Seconds a requested recompute waits for the requests of the same burst.
DELAY = 1.0
#: A claimed recompute not started after this long was lost with its process (see the module docstring).
CLAIM_LOST_AFTER = timedelta(minutes=5)

_pending: set[int] = set()
_running = 0
_cond = threading.Condition()
_thread: threading.Thread | None = None


def in_thread() -> bool:
    """Whether a requested recompute runs in this process's thread (see the module docstring)."""
    from nexus_site.celery import app

    wanted = getattr(settings, "FLOW_RECOMPUTE_IN_THREAD", None)
    if wanted is None:  # the default: eager Celery, outside tests
        wanted = settings.CELERY_TASK_ALWAYS_EAGER and "PYTEST_CURRENT_TEST" not in os.environ
    return bool(wanted) and bool(app.conf.task_always_eager) and not connection.in_atomic_block


def schedule(nexus_id: int) -> None:
    """Ask the thread to recompute the Nexus (after `DELAY` s, once for a burst); starts the thread."""
    global _thread
    with _cond:
        _pending.add(nexus_id)
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="flow-recompute", daemon=True)
            _thread.start()
        _cond.notify()


def _run() -> None:
    global _running
    from flow.services import flow_recompute_logged

    while True:
        with _cond:
            while not _pending:
                _cond.wait()
        time.sleep(DELAY)
        with _cond:
            ids = sorted(_pending)
            _pending.clear()
            _running += 1
        try:
            for nexus_id in ids:
                flow_recompute_logged(nexus_id, job=True)
        finally:
            connections.close_all()
            with _cond:
                _running -= 1


def wait_idle(timeout: float = 30) -> bool:
    """Wait until no recompute is pending or running in the thread (for tests and the bench); True
    when idle."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with _cond:
            if not _pending and not _running:
                return True
        time.sleep(0.02)
    return False
