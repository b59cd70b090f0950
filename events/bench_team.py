"""Bench row of the team board (`events.views_team`): one Scrum Team's board in a Sprint of 300 PBIs of
the synthetic Nexus (the active Sprint if the Nexus has one, else one made here), with tasks."""

from __future__ import annotations

from django.urls import reverse

from backlog.bench import bench_client
from backlog.errors import DomainError
from backlog.models import ProductBacklogItem, ScrumTeam, TeamInvolvement
from backlog.services.tasks import task_create
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


def run(ctx: BenchContext) -> list[Row]:
    client = bench_client(ctx)
    team = ScrumTeam.objects.filter(nexus=ctx.nexus).order_by("name").first()
    assert team is not None
    sprint_id, cards = _sprint_with_team_work(ctx, team)
    url = reverse("events:team-board", args=[ctx.nexus.slug, sprint_id, team.slug])

    def get(_i: int) -> object:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response

    row = measure(f"team board page ({cards} PBIs of the team in the Sprint, with tasks)", get, runs=20)
    row.note = f"{team.name}'s board, Product Owner's view (every control drawn)"
    return [row]
