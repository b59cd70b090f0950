"""Bench rows of the backlog app: the Nexus home page of the foundation, and the Product
Backlog page (issue 3): the page with 2,000 PBIs visible, moves at 10,000 open PBIs (the service and
the endpoint), rows written per move, SQL queries per page and per move."""

from __future__ import annotations

import random
from typing import Any

from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from backlog.models import ProductBacklogItem, Role
from backlog.selectors import backlog_token
from backlog.services import backlog_renumber, membership_add
from backlog.services.ordering import REBALANCE_WINDOW, pbi_move
from nexus_site.bench import BenchContext, Row, measure, once

#: Moves timed per row.
MOVES = 200


def bench_client(ctx: BenchContext) -> Client:
    """A logged-in client for the synthetic Nexus's Product Owner (created once)."""
    client = ctx.extra.get("po_client")
    if client is None:
        user, _ = User.objects.get_or_create(username="bench-po")
        membership_add(nexus=ctx.nexus, user=user, role=Role.PRODUCT_OWNER)
        client = Client()
        client.force_login(user)
        ctx.extra["po_client"] = client
        ctx.extra["po_user"] = user
    return client


def _open_ids(ctx: BenchContext) -> list[int]:
    return list(
        ProductBacklogItem.objects.open()
        .filter(backlog__nexus=ctx.nexus)
        .order_by("rank")
        .values_list("pk", flat=True)
    )


def _page_rows(ctx: BenchContext, client: Client) -> list[Row]:
    slug = ctx.nexus.slug
    team = ctx.nexus.teams.order_by("name").first()
    rows = []
    for name, url in [
        ("Nexus home page", f"/n/{slug}/"),
        ("backlog page, 2,000 PBIs visible (of 10,000 open)", f"/n/{slug}/backlog/?limit=2000"),
        ("backlog page, first 250 PBIs (the default)", f"/n/{slug}/backlog/"),
        ("backlog page, filtered by team and text, 250 PBIs", f"/n/{slug}/backlog/?team={team.pk}&q=item"),
        ("backlog load more: PBIs 5,001 to 5,250", f"/n/{slug}/backlog/rows/?offset=5000&limit=250"),
    ]:

        def get(_i: int, url: str = url) -> object:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            return response

        rows.append(measure(name, get, runs=20))
    return rows


def _move_rows(ctx: BenchContext, client: Client) -> list[Row]:
    rng = random.Random(7)
    user = ctx.extra["po_user"]
    ids = _open_ids(ctx)
    slug = ctx.nexus.slug
    writes: list[int] = []
    renumbers = 0

    def service_move(i: int) -> object:
        nonlocal renumbers
        item, before = rng.sample(ids, 2)
        with CaptureQueriesContext(connection) as cq:
            moved = pbi_move(
                item=ProductBacklogItem.objects.get(pk=item), before_id=before, actor=user, seen_token=None
            )
        if i >= 0:
            renumbers += moved.renumbered
            writes.append(sum(1 for q in cq.captured_queries if q["sql"].startswith(("UPDATE", "INSERT"))))
        return moved

    service = measure("move, service `pbi_move` (10,000 open PBIs)", service_move, runs=MOVES)
    service.note = (
        f"writes per move: {min(writes)} to {max(writes)} statements (1 PBI row + 1 log row); "
        f"{renumbers} renumbering(s) in {MOVES} random moves"
    )

    def http_move(_i: int, *, stale: bool) -> object:
        item, before = rng.sample(ids[:250], 2)
        token = "stale" if stale else backlog_token(backlog_id=ctx.nexus.backlog.pk)
        data: dict[str, Any] = {"before": before, "token": token, "loaded": 250}
        response = client.post(f"/n/{slug}/backlog/items/{item}/move/", data)
        assert response.status_code == 200, response.content
        assert response["X-Backlog-Mode"] == ("list" if stale else "row")
        return response

    in_sync = measure(
        "move, POST by the page (page current: the moved row back)",
        lambda i: http_move(i, stale=False),
        runs=MOVES,
    )
    stale = measure(
        "move, POST by a stale page (250 rows re-rendered)", lambda i: http_move(i, stale=True), runs=50
    )
    gap = _same_gap_rows(ctx, user)
    renumber, _ = once(
        "renumber the whole backlog (one UPDATE; the fallback, and SQLite's way)",
        lambda: backlog_renumber(backlog_id=ctx.nexus.backlog.pk),
    )
    renumber.note = f"{ProductBacklogItem.objects.filter(backlog__nexus=ctx.nexus).count():,} rows"
    return [service, in_sync, stale, gap, renumber]


def _same_gap_rows(ctx: BenchContext, user: User) -> Row:
    """Moves that always go into the same gap: the worst case, renumbering about every 20 moves."""
    ids = _open_ids(ctx)
    first, second = ids[0], ids[1]
    pool = ids[1000:1100]
    state = {"renumbered": 0, "i": 0}

    def move(_i: int) -> object:
        state["i"] += 1
        item = ProductBacklogItem.objects.get(pk=pool[state["i"] % len(pool)])
        moved = pbi_move(item=item, after_id=first, before_id=second, actor=user)
        state["renumbered"] += moved.renumbered
        return moved

    row = measure("move into the same gap every time (worst case)", move, runs=100)
    row.note = (
        f"{state['renumbered']} local renumbering(s) (about {2 * REBALANCE_WINDOW} rows each, one UPDATE)"
        f" in {100 + 2} moves"
    )
    return row


def vacuum_analyze() -> None:
    """Statistics for the planner and the visibility map after the bulk load, as autovacuum keeps
    them in a live database (without statistics PostgreSQL sorts the whole backlog instead of walking
    the rank index; without the visibility map no index-only scan counts positions)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


def run(ctx: BenchContext) -> list[Row]:
    vacuum_analyze()
    client = bench_client(ctx)
    return [*_page_rows(ctx, client), *_move_rows(ctx, client)]
