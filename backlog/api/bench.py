"""Bench rows of the REST API (`make bench`), on the synthetic Nexus (10,000 open PBIs): a page of 100
PBIs, a full `updated_since` sync page by page, bulk upserts of 1,000 PBIs, and moves. Server time:
each request goes through the whole Django stack (middleware, token authentication, the view) in
process, as a client's request would, without the network.

Targets (API issue): p95 per page under 100 ms with a constant number of queries; a bulk upsert of
1,000 PBIs under 3 s; a move under 30 ms p95. Tasks (webhooks, flow recomputes) are queued as with a
broker, not run inline: their cost is a worker's, not the request's.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from backlog.bench import vacuum_analyze
from backlog.models import ProductBacklogItem, Role
from backlog.services import membership_add
from backlog.services.sync import token_create
from nexus_site.bench import BenchContext, Row, measure

PAGE = 100


@contextmanager
def _tasks_queued() -> Iterator[None]:
    """Queue Celery tasks (the broker of the settings; in memory without REDIS_URL) instead of
    running them inline, as in production; restored afterwards."""
    from nexus_site.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        yield
    finally:
        app.conf.task_always_eager = eager


def _client(ctx: BenchContext) -> Client:
    """A client that sends an API token (`Authorization: Token ...`)."""
    client = ctx.extra.get("api_client")
    if client is None:
        # A member of the Nexus Integration Team who is also an administrator (the Nexus has its
        # Product Owner already): reads as a member, and may order the Product Backlog.
        user, _ = User.objects.get_or_create(username="bench-api", defaults={"is_superuser": True})
        membership_add(nexus=ctx.nexus, user=user, role=Role.NIT_MEMBER)
        _token, key = token_create(user=user, name="bench")
        client = Client(HTTP_AUTHORIZATION=f"Token {key}")
        ctx.extra["api_client"] = client
    return client


def _get(client: Client, url: str) -> Any:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    return response.json()


def _list_rows(ctx: BenchContext, client: Client, base: str) -> list[Row]:
    rows = [
        measure(
            "API: PBI list, first page of 100 (Product Backlog order)",
            lambda _i: _get(client, f"{base}/items/?page_size={PAGE}"),
            runs=30,
        )
    ]
    deep: str | None = f"{base}/items/?page_size=1000"
    for _ in range(5):
        assert deep is not None
        deep = _get(client, deep)["next"]
    assert deep is not None
    deep = deep.replace("page_size=1000", f"page_size={PAGE}")
    after_5000 = deep

    def deep_page(_i: int) -> object:
        return _get(client, after_5000)

    rows.append(measure("API: PBI list, a page of 100 after 5,000 (cursor)", deep_page, runs=30))
    # A full sync: every page of `updated_since`, one request per page (each timed; queries per page).
    url: str | None = f"{base}/items/?updated_since=2000-01-01T00:00:00Z&page_size={PAGE}"
    pages: list[str] = []
    while url:
        pages.append(url)
        url = _get(client, url)["next"]
    started = time.perf_counter()
    seen = 0

    def page(i: int) -> object:
        nonlocal seen
        body = _get(client, pages[i])
        seen += len(body["results"])
        return body

    row = measure(f"API: full updated_since sync, per page of {PAGE}", page, runs=len(pages), warmup=0)
    total = (time.perf_counter() - started) * 1000
    row.note = f"{seen:,} live PBIs in {len(pages)} pages, {total / 1000:.1f} s in all"
    rows.append(row)
    return rows


def _bulk_rows(ctx: BenchContext, client: Client, base: str) -> list[Row]:
    rows = []
    batches = iter(range(1000))

    def items(batch: int, edited: bool = False) -> list[dict[str, Any]]:
        suffix = " (edited)" if edited else ""
        return [
            {
                "external_id": f"BENCH-{batch}-{i}",
                "title": f"Bench item {batch}-{i}{suffix}",
                "labels": ["bench", f"b{i % 7}"],
                "size": i % 13,
            }
            for i in range(1000)
        ]

    created: list[int] = []

    def create(_i: int) -> object:
        batch = next(batches)
        response = client.post(
            f"{base}/items/bulk/", {"items": items(batch)}, content_type="application/json"
        )
        assert response.status_code == 200, response.content[:300]
        assert response.json()["created"] == 1000
        created.append(batch)
        return response

    rows.append(measure("API: bulk upsert, 1,000 new PBIs", create, runs=3, warmup=0, note="one request"))

    def update(i: int) -> object:
        batch = created[i % len(created)]
        body = {"items": items(batch, edited=True)}
        response = client.post(f"{base}/items/bulk/", body, content_type="application/json")
        assert response.status_code == 200, response.content[:300]
        assert response.json()["updated"] == 1000
        return response

    rows.append(
        measure("API: bulk upsert, 1,000 existing PBIs changed", update, runs=3, warmup=0, note="one request")
    )
    return rows


def _move_rows(ctx: BenchContext, client: Client, base: str) -> list[Row]:
    rng = random.Random(11)
    ids = list(
        ProductBacklogItem.objects.open()
        .filter(backlog__nexus=ctx.nexus)
        .order_by("rank")
        .values_list("pk", flat=True)
    )

    def move(_i: int) -> object:
        item, before = rng.sample(ids, 2)
        response = client.post(
            f"{base}/items/{item}/move/", {"before": before}, content_type="application/json"
        )
        assert response.status_code == 200, response.content[:300]
        return response

    row = measure("API: move a PBI (POST items/{id}/move/)", move, runs=200, warmup=5)
    row.note = f"random moves among {len(ids):,} open PBIs"
    return [row]


def run(ctx: BenchContext) -> list[Row]:
    vacuum_analyze()  # as autovacuum leaves a database after the generator's bulk load
    client = _client(ctx)
    base = f"/api/v1/nexuses/{ctx.nexus.slug}"
    with _tasks_queued():
        rows = _list_rows(ctx, client, base)
        rows += _move_rows(ctx, client, base)
        rows += _bulk_rows(ctx, client, base)
    return rows
