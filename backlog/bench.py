"""Bench rows of the backlog app: the pages of the foundation (more rows come with the backlog issue)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client

from backlog.models import Role
from backlog.services import membership_add
from nexus_site.bench import BenchContext, Row, measure


def bench_client(ctx: BenchContext) -> Client:
    """A logged-in client for the synthetic Nexus's Product Owner (created once)."""
    client = ctx.extra.get("po_client")
    if client is None:
        user, _ = User.objects.get_or_create(username="bench-po")
        membership_add(nexus=ctx.nexus, user=user, role=Role.PRODUCT_OWNER)
        client = Client()
        client.force_login(user)
        ctx.extra["po_client"] = client
    return client


def run(ctx: BenchContext) -> list[Row]:
    client = bench_client(ctx)
    slug = ctx.nexus.slug
    rows = []
    for name, url in [
        ("Nexus home page", f"/n/{slug}/"),
        ("board page (10,000 open PBIs)", f"/n/{slug}/board/"),
    ]:

        def get(_i: int, url: str = url) -> object:
            return client.get(url)

        rows.append(measure(name, get, runs=20))
    return rows
