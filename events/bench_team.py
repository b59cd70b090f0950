"""Bench row of the team board (`events.views_team`): one Scrum Team's board in a Sprint of 300 PBIs of
the synthetic Nexus (the active Sprint if the Nexus has one, else one made here), with tasks."""

from __future__ import annotations

from typing import Any

from django.db.models import Count
from django.urls import reverse

from backlog.bench import bench_client
from backlog.errors import DomainError
from backlog.models import ColumnCategory, ProductBacklogItem, ScrumTeam, TeamInvolvement
from backlog.services.tasks import task_create
from events.bench_pages import _bulk_scope, _close_open, _free_items
from events.selectors import sprint_active
from events.services import sprint_create, sprint_plan, sprint_start
from nexus_site.bench import BenchContext, Row, measure

SPRINT_ITEMS = 300


def _sprint_with_team_work(ctx: BenchContext, team: ScrumTeam) -> tuple[int, int]:
    """The active Sprint (made and started when there is none) with up to `SPRINT_ITEMS` PBIs that
    `team` works on, each with a task; returns (Sprint id, the team's PBIs in it)."""
    nexus = ctx.nexus
    sprint = sprint_active(nexus=nexus)
    if sprint is None:
        sprint = sprint_create(nexus=nexus, actor=None, goal="Bench: every team's board")
        sprint = sprint_start(sprint=sprint, actor=None)
    have = TeamInvolvement.objects.filter(team=team, item__sprint_rows__sprint=sprint).count()
    candidates = (
        ProductBacklogItem.objects.open()
        .filter(backlog__nexus=nexus, column__is_ready=True)
        .exclude(sprint_rows__sprint__state__in=["planned", "active"])
        .order_by("rank")[: max(0, SPRINT_ITEMS - have) * 2]
    )
    for item in candidates:
        if have >= SPRINT_ITEMS:
            break
        try:
            sprint_plan(sprint=sprint, item=item, teams=[team], actor=None)
        except DomainError:
            continue
        task_create(item=item, team=team, title="Bench task", actor=None)
        have += 1
    return sprint.pk, have


def _board_row(client: Any, url: str, name: str) -> Row:
    def get(_i: int) -> object:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response

    return measure(name, get, runs=20)


def _shared_sprint_row(ctx: BenchContext, client: Any) -> Row | None:
    """The issue's case: an active Sprint of 300 in-progress PBIs shared by the teams (as the
    generator forecast them), and the board of the team with the most of them."""
    nexus = ctx.nexus
    _close_open(nexus)
    ids = list(
        _free_items(nexus)
        .filter(column__category=ColumnCategory.IN_PROGRESS)
        .order_by("rank")
        .values_list("pk", flat=True)[:SPRINT_ITEMS]
    )
    sprint = sprint_create(nexus=nexus, actor=None, goal="Bench: a Sprint shared by the teams")
    _bulk_scope(sprint, ids)
    sprint_start(sprint=sprint, actor=None)
    busiest = (
        TeamInvolvement.objects.filter(item_id__in=ids)
        .values("team_id")
        .annotate(n=Count("id"))
        .order_by("-n", "team_id")
        .first()
    )
    if busiest is None:  # no in-progress PBI with a team: nothing to show
        _close_open(nexus)
        return None
    team = ScrumTeam.objects.get(pk=busiest["team_id"])
    row = _board_row(
        client,
        reverse("events:team-board", args=[nexus.slug, sprint.pk, team.slug]),
        f"team board page, a Sprint of {len(ids)} PBIs shared by the teams ({busiest['n']} the team's)",
    )
    row.note = (
        f"target p95 < 100 ms; the busiest team ({team.name}), Product Owner's view (every control drawn)"
    )
    _close_open(nexus)
    return row


def run(ctx: BenchContext) -> list[Row]:
    client = bench_client(ctx)
    team = ScrumTeam.objects.filter(nexus=ctx.nexus).order_by("name").first()
    assert team is not None
    shared = _shared_sprint_row(ctx, client)
    rows = [shared] if shared is not None else []
    sprint_id, cards = _sprint_with_team_work(ctx, team)
    row = _board_row(
        client,
        reverse("events:team-board", args=[ctx.nexus.slug, sprint_id, team.slug]),
        f"team board page, worst case: {cards} PBIs of one team in the Sprint, with tasks",
    )
    row.note = f"{team.name}'s board, Product Owner's view (every control drawn)"
    rows.append(row)
    return rows
