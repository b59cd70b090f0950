"""The database cut off while people work: requests answer 503 (a plain page, or the API's error shape)
with no traceback and nothing half-written, and the app recovers by itself within 5 s of the database
being back, without a restart.

The outage is real but private to the test database: new connections to it are refused
(`ALTER DATABASE ... ALLOW_CONNECTIONS false`) and its open ones cut (`pg_terminate_backend`), through a
separate administrative connection; the machine's PostgreSQL keeps running for everyone else. The app
is served by pytest-django's live server (a real threaded server, one thread and connection per request),
and by gunicorn as `make run` serves it, whose threads keep their connections (`CONN_MAX_AGE`): there a
dead connection is found and replaced before a request uses it (`CONN_HEALTH_CHECKS`).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.test import Client

from backlog.models import ProductBacklogItem
from backlog.services.sync import token_create
from tests.factories import nexus_build

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL outage"),
]


def _admin() -> psycopg.Connection[Any]:
    s = connection.settings_dict
    return psycopg.connect(
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        user=s["USER"],
        password=s["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )


class Outage:
    def __init__(self) -> None:
        self.name = connection.settings_dict["NAME"]
        self.admin = _admin()

    def start(self) -> None:
        self.admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
        self.admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [self.name],
        )

    def end(self) -> None:
        self.admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')


@pytest.fixture
def outage() -> Iterator[Outage]:
    o = Outage()
    try:
        yield o
    finally:
        o.end()
        o.admin.close()
        connection.close()  # the test's own connection was cut too


def fetch(
    url: str, *, data: dict[str, Any] | None = None, token: str = "", cookie: str = ""
) -> tuple[int, str, Any]:
    headers = {"Accept": "application/json"} if "/api/" in url else {"Accept": "text/html"}
    if cookie:
        headers["Cookie"] = cookie
    if token:
        headers["Authorization"] = f"Token {token}"
    body = None
    if data is not None:
        body = json.dumps(data).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(
        url, data=body, headers=headers, method="POST" if data is not None else "GET"
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read().decode()


def test_outage_answers_503_and_the_app_recovers_within_5_seconds(live_server, outage):
    nexus = nexus_build(slug="outage")
    po = nexus.memberships.get(role="product_owner").user
    _, key = token_create(user=po, name="outage")
    api = f"{live_server.url}/api/v1/nexuses/outage/items/"
    page = f"{live_server.url}/n/outage/"
    browser = Client()
    browser.force_login(po)
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    assert fetch(page, cookie=cookie)[0] == 200
    before = ProductBacklogItem.objects.count()
    status, _, _ = fetch(api, token=key)
    assert status == 200

    outage.start()
    status, ctype, body = fetch(api, data={"title": "written during the outage"}, token=key)
    assert status == 503, body
    assert ctype.startswith("application/json")
    error = json.loads(body)
    assert error["status"] == 503
    assert error["code"] == "database_unavailable"
    assert "nothing was saved" in error["message"]
    status, ctype, body = fetch(api, token=key)
    assert status == 503
    status, ctype, body = fetch(page, cookie=cookie)
    assert status == 503, body
    assert ctype.startswith("text/html")
    assert "unavailable for a moment" in body
    assert "Traceback" not in body
    assert "OperationalError" not in body

    outage.end()
    back = time.monotonic()
    while True:
        status, _, body = fetch(api, token=key)
        if status == 200 or time.monotonic() - back > 5:
            break
        time.sleep(0.1)
    assert status == 200, f"not recovered 5 s after the database came back: {status} {body[:200]}"
    status, _, body = fetch(api, data={"title": "written after the outage"}, token=key)
    assert status == 201, body
    connection.close()
    titles = list(ProductBacklogItem.objects.values_list("title", flat=True))
    assert len(titles) == before + 1
    assert "written during the outage" not in titles
    assert "written after the outage" in titles
    from tests.reliability.test_check_nexus import run

    code, out = run("--nexus", "outage")
    assert code == 0, out


def test_gunicorn_with_persistent_connections_recovers_on_every_thread(outage, tmp_path):
    """The same outage under gunicorn (`make run`'s server: 2 processes x 8 threads, persistent
    connections, `CONN_MAX_AGE` 60 s): once the database is back, no thread serves a request on its
    dead connection (`CONN_HEALTH_CHECKS` checks it first and reconnects), so no request fails."""
    from concurrent.futures import ThreadPoolExecutor

    from nexus_site.bench import postgres_url
    from tests.reliability.server import Server, app_env

    nexus = nexus_build(slug="outage-gunicorn")
    po = nexus.memberships.get(role="product_owner").user
    _, key = token_create(user=po, name="outage")
    connection.close()
    with Server(app_env(postgres_url()), tmp_path / "server.log") as base:
        api = f"{base}/api/v1/nexuses/outage-gunicorn/items/"

        def burst() -> list[int]:
            """20 requests at once, three times: every thread of both processes serves some."""
            with ThreadPoolExecutor(20) as pool:
                return [s for _ in range(3) for s in pool.map(lambda _: fetch(api, token=key)[0], range(20))]

        assert burst() == [200] * 60  # each thread has its persistent connection now
        outage.start()
        assert fetch(api, token=key)[0] == 503
        outage.end()
        back = time.monotonic()
        statuses = burst()
        took = time.monotonic() - back
    assert statuses == [200] * 60, statuses
    assert took < 5
