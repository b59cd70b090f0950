"""Bench row of the Nexus Sprint Retrospective page (`make bench`, `--only retrospective`; declared in
`EventsConfig.ready`): the page of the synthetic Nexus's latest closed Sprint (9 Scrum Teams, 10,000 open
PBIs, so the Sprint's flow figures read 10,000 `ItemFlow` rows), with 90 retrospective items, 30 improvement
actions agreed there and 30 open ones carried from earlier Sprints (bulk-inserted, untimed; the flow
figures are recomputed first, untimed, when the Nexus has none yet). Target: p95
under 150 ms, and a number of SQL queries that does not depend on the data (asserted in
`tests/events/test_retro_page.py`)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backlog.bench import bench_client
from backlog.models import Nexus
from events.models import ImprovementAction, RetroItem, RetroPart, Sprint, SprintState
from flow.models import ItemFlow
from flow.services import flow_recompute
from nexus_site.bench import BenchContext, Row, measure

ITEMS, ACTIONS = 90, 30


def retro_fixture(nexus: Nexus, owner: User) -> Sprint | None:
    """The latest started Sprint of `nexus` with `ITEMS` items (a third cross-team issues) and `ACTIONS`
    actions, plus `ACTIONS` open ones of the Sprint before (when there is one), bulk-inserted once.
    None when no Sprint has started."""
    sprints = list(
        Sprint.objects.filter(nexus=nexus, state__in=(SprintState.ACTIVE, SprintState.CLOSED)).order_by(
            "-number"
        )[:2]
    )
    if not sprints:
        return None
    sprint = sprints[0]
    if RetroItem.objects.filter(sprint=sprint).exists():
        return sprint
    now = timezone.now()
    teams = list(nexus.teams.order_by("name"))
    issues = RetroItem.objects.bulk_create(
        RetroItem(
            nexus=nexus,
            sprint=sprint,
            part=RetroPart.CROSS_TEAM,
            text=f"Cross-team issue {i}",
            created_at=now,
        )
        for i in range(ITEMS // 3)
    )
    RetroItem.objects.bulk_create(
        RetroItem(
            nexus=nexus,
            sprint=sprint,
            part=RetroPart.TEAM,
            team=teams[i % len(teams)],
            text=f"Team item {i}",
            cross_team_issue=issues[i % len(issues)] if i % 2 else None,
            created_at=now,
        )
        for i in range(ITEMS - len(issues))
    )
    earlier = sprints[1] if len(sprints) > 1 else sprint
    ImprovementAction.objects.bulk_create(
        ImprovementAction(
            nexus=nexus,
            sprint=where,
            title=f"Improvement {n} {i}",
            owner=owner,
            agreed_at=now - timedelta(days=14 * n + i),
        )
        for n, where in enumerate((sprint, earlier))
        for i in range(ACTIONS)
    )
    return sprint


def run(ctx: BenchContext) -> list[Row]:
    client: Client = bench_client(ctx)
    if not ItemFlow.objects.filter(nexus=ctx.nexus).exists():
        flow_recompute(nexus_id=ctx.nexus.pk)  # untimed: the per-item dates the Sprint's figures read
    sprint = retro_fixture(ctx.nexus, ctx.extra["po_user"])
    if sprint is None:
        return [Row("Nexus Sprint Retrospective page", 0, 0.0, 0.0, None, "no started Sprint: skipped")]
    url = reverse("events:retrospective", args=[ctx.nexus.slug, sprint.pk])

    def get(_i: int) -> object:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response

    row = measure(f"Nexus Sprint Retrospective page ({ITEMS} items, {2 * ACTIONS} actions)", get, runs=20)
    row.note = f"{url}; Sprint flow figures over the synthetic Nexus; target p95 < 150 ms"
    return [row]
