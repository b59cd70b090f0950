"""A worker killed (SIGKILL) in the middle of a webhook delivery, or of a flow recompute: the task was
not acknowledged (`CELERY_TASK_ACKS_LATE`), so Redis gives it to another worker once the visibility
timeout has passed (`CELERY_VISIBILITY_TIMEOUT`, 5 s here; workers look every
`CELERY_RESTORE_INTERVAL` s). The delivery is made again with the same delivery id (at-least-once) and
recorded as succeeded exactly once in the database; the recompute stores its figures once.

What runs the task again is the broker, and only because of the late acknowledgement: the second
worker receives the same Celery task id the killed one had received, and nothing else could have
queued it (no beat, so neither the webhook sweep nor the flow sweep runs in these tests). The workers
use the prefork pool, as `docker-compose.yml`'s does, and the whole worker (its pool process too) is
killed: under the solo pool an early acknowledgement is only sent once the task has returned (the
event loop's `call_soon`), so these tests passed with `acks_late` off.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from backlog.models_api import DeliveryStatus, WebhookDelivery
from backlog.services import pbi_create
from backlog.services.webhooks import webhook_create
from tests.factories import nexus_build
from tests.reliability.server import Worker, app_env, free_port, manage
from tests.reliability.test_redis_gone import (  # noqa: F401 - redis: a fixture
    _test_database_url,
    _until,
    check_nexus,
    redis,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the worker shares the test database"),
]


CREATE = """
from backlog.models import Nexus
from backlog.services import pbi_create
pbi_create(nexus=Nexus.objects.get(slug="killed"), title="delivered once", actor=None)
"""


def _received(log: Path, task: str) -> list[str]:
    """The ids of the `task` messages a worker received, in order, read from its log."""
    return re.findall(rf"Task {re.escape(task)}\[([0-9a-f-]+)\] received", log.read_text())


def _redelivered(folder: Path, task: str) -> None:
    """The second worker received the very message (Celery task id) the killed one had received."""
    killed, second = _received(folder / "first.log", task), _received(folder / "second.log", task)
    assert killed, (folder / "first.log").read_text()[-3000:]
    assert second == killed[-1:], (killed, second)


class SlowReceiver:
    """Holds the first request open (the worker is mid-delivery) until released; answers the others."""

    def __init__(self) -> None:
        import http.server

        self.ids: Counter[str] = Counter()
        self.first = threading.Event()
        self.release = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.ids[self.headers.get("X-Nexus-Delivery", "")] += 1
                if not outer.first.is_set():
                    outer.first.set()
                    outer.release.wait(60)
                try:
                    self.send_response(200)
                    self.end_headers()
                except OSError:
                    pass  # the killed worker's connection is gone

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def test_a_delivery_killed_mid_way_runs_again_and_succeeds_once(redis, tmp_path):  # noqa: F811
    nexus = nexus_build(slug="killed")
    receiver = SlowReceiver()
    webhook_create(
        nexus=nexus, url=f"http://127.0.0.1:{receiver.port}/hook", events=["item.created"], actor=None
    )
    env = {
        **app_env(_test_database_url(), redis.url),
        "CELERY_VISIBILITY_TIMEOUT": "5",
        "CELERY_RESTORE_INTERVAL": "1",
    }
    try:
        with Worker(env, tmp_path, beat=False, name="first", pool="prefork") as first:
            # A write in a process of the app (its broker is the private Redis) queues the delivery.
            made = manage(env, "shell", "-v", "0", "-c", CREATE)
            assert made.returncode == 0, made.stderr
            assert receiver.first.wait(60), (tmp_path / "first.log").read_text()[-3000:]
            first.kill()  # in the middle of the delivery: the task was never acknowledged
        delivery = WebhookDelivery.objects.get()
        assert delivery.status == DeliveryStatus.PENDING
        killed = time.monotonic()
        with Worker(env, tmp_path, beat=False, name="second", pool="prefork"):

            def done() -> bool:
                connection.close()
                return WebhookDelivery.objects.get().status == DeliveryStatus.SUCCEEDED

            assert _until(done, 60), (tmp_path / "second.log").read_text()[-3000:]
            print(f"delivered again {time.monotonic() - killed:.1f} s after the kill")
    finally:
        receiver.close()
        connection.close()
    _redelivered(tmp_path, "backlog.deliver_webhook")
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempts == 2  # the killed attempt and the one that succeeded
    assert receiver.ids == Counter({str(delivery.pk): 2})  # at-least-once, one stable delivery id
    code, out = check_nexus("killed")
    assert code == 0, out


REQUEST_RECOMPUTE = """
from backlog.models import Nexus
from flow.services import recompute_request
assert recompute_request(nexus_id=Nexus.objects.get(slug="killed-flow").pk)
"""


def test_a_recompute_killed_mid_way_runs_again_and_stores_once(redis, tmp_path):  # noqa: F811
    from flow.locks import RECOMPUTE_LOCK_CLASS
    from flow.models import FlowSnapshot, FlowState, ItemFlow
    from tests.reliability.test_deadlock_retry import _raw

    nexus = nexus_build(slug="killed-flow", teams=2)
    for i in range(5):
        pbi_create(nexus=nexus, title=f"Item {i}", actor=None)
    FlowSnapshot.objects.filter(nexus=nexus).delete()
    ItemFlow.objects.filter(nexus=nexus).delete()
    FlowState.objects.filter(nexus=nexus).update(computed_at=None, computed_on=None, pending_since=None)
    env = {
        **app_env(_test_database_url(), redis.url),
        "CELERY_VISIBILITY_TIMEOUT": "5",
        "CELERY_RESTORE_INTERVAL": "1",
    }
    holder = _raw()
    holder.autocommit = True
    holder.execute("SELECT pg_advisory_lock(%s, %s)", [RECOMPUTE_LOCK_CLASS, nexus.pk])  # the job will wait
    try:
        with Worker(env, tmp_path, beat=False, name="first", pool="prefork") as first:
            made = manage(env, "shell", "-v", "0", "-c", REQUEST_RECOMPUTE)
            assert made.returncode == 0, made.stderr

            def waiting() -> bool:
                row = holder.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory' AND pid <> %s",
                    [holder.info.backend_pid],
                ).fetchone()
                return bool(row and row[0])

            assert _until(waiting, 60), (tmp_path / "first.log").read_text()[-3000:]
            first.kill()  # in the middle of the recompute (waiting for the flow lock): never acknowledged
        holder.execute("SELECT pg_advisory_unlock(%s, %s)", [RECOMPUTE_LOCK_CLASS, nexus.pk])
        killed = time.monotonic()
        with Worker(env, tmp_path, beat=False, name="second", pool="prefork"):

            def stored() -> bool:
                connection.close()
                state = FlowState.objects.get(nexus=nexus)
                return state.computed_at is not None and state.pending_since is None

            assert _until(stored, 60), (tmp_path / "second.log").read_text()[-3000:]
            print(f"recomputed again {time.monotonic() - killed:.1f} s after the kill")
    finally:
        holder.close()
        connection.close()
    _redelivered(tmp_path, "flow.recompute_nexus")
    assert FlowSnapshot.objects.filter(nexus=nexus).count() == 3  # the Nexus and its 2 teams, once each
    assert ItemFlow.objects.filter(nexus=nexus).count() == 5
    code, out = check_nexus("killed-flow")
    assert code == 0, out
