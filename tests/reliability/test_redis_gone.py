"""Redis (broker) gone while people work: pages and the API keep answering (no 5xx; the flow page says
the figures are stale and since when), every write is kept, and the flow recompute and the webhook
deliveries wait in the database, then run by themselves within 30 s of Redis being back (the beat's
sweeps every `SWEEP_SECONDS`), each delivery once per delivery id.

Everything runs in processes of its own against the test database: a private `redis-server` the test
stops and starts again on the same port, the app (gunicorn, as `make run`) and a Celery worker with its beat.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from backlog.models_api import DeliveryStatus, WebhookDelivery
from backlog.services.sync import token_create
from backlog.services.webhooks import webhook_create
from flow.models import FlowState
from tests.factories import nexus_build
from tests.reliability.server import RedisServer, Server, Worker, app_env, free_port
from tests.reliability.test_check_nexus import run as run_check
from tests.reliability.test_database_outage import fetch

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the worker shares the test database"),
]


class Receiver:
    """A webhook receiver on 127.0.0.1: counts the delivery ids it was sent."""

    def __init__(self) -> None:
        self.ids: Counter[str] = Counter()
        received = self.ids

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received[self.headers.get("X-Nexus-Delivery", "")] += 1
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _test_database_url() -> str:
    from nexus_site.bench import postgres_url

    return postgres_url()


def check_nexus(slug: str) -> tuple[int, str]:
    """`manage.py check_nexus --nexus <slug>` after a fault: (exit code, output)."""
    return run_check("--nexus", slug)


def _until(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return bool(condition())


def test_redis_gone_then_back_loses_nothing_and_catches_up_within_30_s(redis, tmp_path):
    nexus = nexus_build(slug="redis-gone")
    po = nexus.memberships.get(role="product_owner").user
    _, key = token_create(user=po, name="redis")
    receiver = Receiver()
    webhook_create(
        nexus=nexus, url=f"http://127.0.0.1:{receiver.port}/hook", events=["item.created"], actor=po
    )
    browser = Client()
    browser.force_login(po)
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    env = app_env(_test_database_url(), redis.url)
    api = "/api/v1/nexuses/redis-gone/items/"
    try:
        with Server(env, tmp_path / "server.log") as base, Worker(env, tmp_path):
            status, _, body = fetch(f"{base}{api}", data={"title": "before"}, token=key)
            assert status == 201, body
            assert _until(lambda: sum(receiver.ids.values()) == 1, 30), "the worker never delivered"

            redis.stop()
            down = time.monotonic()
            for i in range(3):
                status, _, body = fetch(f"{base}{api}", data={"title": f"while Redis is gone {i}"}, token=key)
                assert status == 201, body
            assert fetch(f"{base}{api}", token=key)[0] == 200
            status, _, page = fetch(f"{base}/n/redis-gone/flow/", cookie=cookie)
            assert status == 200, page[:500]
            assert "Stored figures are stale since" in page
            assert fetch(f"{base}/n/redis-gone/", cookie=cookie)[0] == 200
            assert time.monotonic() - down < 30  # nothing hung waiting for the broker
            state = FlowState.objects.get(nexus=nexus)
            assert state.pending_since is not None
            assert state.enqueued_at is None  # left for the sweep
            waiting = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count()
            assert waiting == 3

            redis.start()
            back = time.monotonic()

            def caught_up() -> bool:
                connection.close()
                flow = FlowState.objects.get(nexus=nexus)
                sent = WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count()
                return flow.pending_since is None and flow.computed_at is not None and sent == 4

            assert _until(caught_up, 30), (tmp_path / "worker.log").read_text()[-3000:]
            took = time.monotonic() - back
            print(f"caught up {took:.1f} s after Redis came back")
            ids = {str(pk) for pk in WebhookDelivery.objects.values_list("pk", flat=True)}
            assert set(receiver.ids) == ids  # every delivery arrived, with its stable id
    finally:
        receiver.close()
        connection.close()
    titles = set(nexus.backlog.items.values_list("title", flat=True))
    assert {"before", "while Redis is gone 0", "while Redis is gone 1", "while Redis is gone 2"} <= titles
    code, out = check_nexus("redis-gone")
    assert code == 0, out
