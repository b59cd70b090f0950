"""Bench rows of the live Nexus board (`make bench`, declared in `EventsConfig.ready`) on the synthetic
Nexus with `IN_PROGRESS` cards in its columns in progress (moved there through `pbi_transition` when it
has fewer): the live part of the board rendered with nothing cached (what the first viewer after a change
pays), the same served from the shared cache (what every other viewer pays), and the "changed since?"
answer (304) that every open board polls every 1.2 to 1.8 s."""

from __future__ import annotations

from django.core.cache import caches
from django.urls import reverse

from backlog.bench import bench_client
from backlog.models import ProductBacklogItem
from backlog.selectors import workflow_columns
from backlog.services import pbi_transition
from events.board import columns_in_progress
from nexus_site.bench import BenchContext, Row, measure

#: Cards in progress the board rows are measured with (issue 16: 600).
IN_PROGRESS = 600


def _fill_in_progress(ctx: BenchContext) -> int:
    """Move PBIs of the columns before the start into the first column in progress until `IN_PROGRESS`
    are in progress; returns how many are."""
    columns = workflow_columns(nexus=ctx.nexus)
    wip = columns_in_progress(columns)
    if not wip:
        return 0
    alive = ProductBacklogItem.objects.alive().filter(backlog__nexus=ctx.nexus)
    have = alive.filter(column__in=wip).count()
    if have < IN_PROGRESS:
        before = [c for c in columns if c.position < wip[0].position]
        for item in alive.filter(column__in=before).order_by("rank")[: IN_PROGRESS - have]:
            pbi_transition(item=item, to_column=wip[0], actor=None)
            have += 1
    return have


def run(ctx: BenchContext) -> list[Row]:
    """Three rows: the board rendered cold, served warm, and the version answer."""
    cards = _fill_in_progress(ctx)
    client = bench_client(ctx)
    cache = caches["default"]
    url = reverse("events:board", args=[ctx.nexus.slug]) + "?live=1"

    def cold(_i: int) -> object:
        cache.clear()
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response

    def warm(_i: int) -> object:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response

    version = reverse("events:board-version", args=[ctx.nexus.slug])
    etag = client.get(version)["ETag"]

    def poll(_i: int) -> object:
        response = client.get(version, HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 304, (version, response.status_code)
        return response

    note = f"{cards:,} cards in progress, every one rendered"
    return [
        measure(f"board, rendered (nothing cached, {cards:,} cards in progress)", cold, runs=20, note=note),
        measure("board, from the shared cache (every other viewer)", warm, runs=50),
        measure('board "changed since?" (304)', poll, runs=200, note="polled by every open board"),
    ]
