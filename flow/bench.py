"""Bench rows of the flow app (`make bench`): full recomputes and the flow page served from stored results.

Targets (flow issue): full recompute of the JDT Nexus under 10 s on PostgreSQL, of the synthetic Nexus
(10,000 open PBIs, 200,000 transitions) under 60 s; the flow page from stored results with p95 under
200 ms and a constant number of queries.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from flow.models import FlowDay, FlowSnapshot
from flow.services import flow_recompute
from nexus_site.bench import BenchContext, Row, measure


def _admin_client(ctx: BenchContext) -> Client:
    client = ctx.extra.get("flow_admin_client")
    if client is None:
        user, _ = User.objects.get_or_create(username="bench-flow-admin", defaults={"is_superuser": True})
        client = Client()
        client.force_login(user)
        ctx.extra["flow_admin_client"] = client
    return client


def _recompute_row(name: str, nexus: Any) -> Row:
    timings: dict[str, Any] = {}

    def run(_i: int) -> object:
        timings.update(flow_recompute(nexus_id=nexus.pk)["timings"])
        return None

    row = measure(name, run, runs=3, warmup=1)
    days = FlowDay.objects.filter(snapshot__nexus=nexus).count()
    scopes = FlowSnapshot.objects.filter(nexus=nexus).count()
    row.note = (
        f"{scopes} scopes (Nexus + teams), {days:,} daily rows; last run: load {timings.get('load')} s, "
        f"compute {timings.get('compute')} s, store {timings.get('store')} s"
    )
    return row


def _page_row(name: str, client: Client, url: str, runs: int = 30) -> Row:
    sizes: list[int] = []

    def get(_i: int) -> object:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        sizes.append(len(response.content))
        return response

    row = measure(name, get, runs=runs)
    row.note = f"{url} ({max(sizes) // 1024} KB)"
    return row


def run(ctx: BenchContext) -> list[Row]:
    rows: list[Row] = []
    client = _admin_client(ctx)
    if ctx.jdt_nexus is not None:
        rows.append(
            _recompute_row("flow: full recompute, JDT Nexus (10,814 items, as of today)", ctx.jdt_nexus)
        )
    rows.append(_recompute_row("flow: full recompute, synthetic Nexus (200,000 transitions)", ctx.nexus))
    slug = ctx.nexus.slug
    team = FlowSnapshot.objects.filter(nexus=ctx.nexus, team__isnull=False).select_related("team").first()
    rows.append(_page_row("flow page from stored results, synthetic Nexus", client, f"/n/{slug}/flow/"))
    if team is not None and team.team is not None:
        rows.append(
            _page_row(
                "flow page from stored results, one team", client, f"/n/{slug}/flow/?team={team.team.slug}"
            )
        )
    rows.append(
        _page_row("flow API from stored results, synthetic Nexus", client, f"/api/v1/nexuses/{slug}/flow/")
    )
    if ctx.jdt_nexus is not None:
        jdt = ctx.jdt_nexus.slug
        rows.append(
            _page_row("flow page from stored results, JDT (20 years of days)", client, f"/n/{jdt}/flow/")
        )
        rows.append(
            _page_row(
                "flow page computed on request, JDT replay as of 2008-06-30",
                client,
                f"/n/{jdt}/flow/?as_of=2008-06-30",
                runs=5,
            )
        )
    return rows
