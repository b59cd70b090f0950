"""Bench rows of the events app (`make bench`, declared in `EventsConfig.ready`): the Nexus board of the
Nexus Daily Scrum with 10,000 open PBIs, its "show more" deep into the longest column, and closing a Sprint
of 300 PBIs (`events.bench_sprints`)."""

from __future__ import annotations

from django.core.cache import caches
from django.db.models import Count
from django.test import Client
from django.urls import reverse

from backlog.bench import bench_client
from backlog.models import ProductBacklogItem
from nexus_site.bench import BenchContext, Row, measure


def _board_row(ctx: BenchContext, client: Client) -> Row:
    """The whole board page, its live part rendered each time (the shared cache cleared: the cost of the
    first viewer after a change; `events.bench_board` has the cached and the version rows)."""
    url = reverse("events:board", args=[ctx.nexus.slug])

    def get(_i: int) -> object:
        caches["default"].clear()
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response

    return measure("board page (10,000 open PBIs; nothing cached)", get, runs=20)


def _board_more_row(ctx: BenchContext, client: Client) -> Row:
    """The board's "show more" deep into its longest open column (a keyset on rank: no OFFSET)."""
    longest = (
        ProductBacklogItem.objects.open()
        .filter(backlog__nexus=ctx.nexus)
        .values_list("column_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    assert longest is not None
    column_id, count = longest
    ranks = (
        ProductBacklogItem.objects.alive()
        .filter(column_id=column_id)
        .order_by("rank")
        .values_list("rank", flat=True)
    )
    start = min(5000, count // 2)
    url = reverse("events:board-cards", args=[ctx.nexus.slug, column_id]) + f"?after={ranks[start - 1]}"

    def get(_i: int) -> object:
        response = client.get(url, HTTP_HX_REQUEST="true")
        assert response.status_code == 200, (url, response.status_code)
        return response

    row = measure(f"board show more: cards {start + 1:,} to {start + 50:,} of a column", get, runs=20)
    row.note = f"the longest open column: {count:,} items"
    return row


def run(ctx: BenchContext) -> list[Row]:
    from events.bench_sprints import sprint_close_row

    client = bench_client(ctx)
    return [_board_row(ctx, client), _board_more_row(ctx, client), sprint_close_row(ctx.nexus)]
