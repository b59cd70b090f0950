"""The Dependency board: Scrum Teams as rows, Sprints as columns (the current one and the next few), each
PBI where it is planned (a card in each row of a team forecast on it), SVG lines from a dependent PBI to
the PBI it depends on, red when the dependency is late (`events.selectors_dependencies`: the PBI waited
on is planned in a later Sprint, or the dependent's Work Item Age is beyond the SLE). `?team=<slug>`
keeps one team's row; `?sprints=` how many Sprints (1 to 8, default 4); `?all=1` a card for every
planned PBI (by default only the PBIs with an open dependency have one, the others are counted). The
lines are drawn by `static/js/dependency_board.js` from the cards' places; their text list equivalent
is under the board (with why each late one is late). Keyboard: every card is a link; focusing or
clicking one highlights its whole chain. Read-only: every member reads."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from backlog.models import ScrumTeam
from backlog.selectors import nexus_get_for_user
from events.selectors_dependencies import BOARD_SPRINTS, BOARD_SPRINTS_MAX, dependency_board_get


@login_required
@require_GET
def dependency_board(request: HttpRequest, slug: str) -> HttpResponse:
    """The Dependency board (`?team=<slug>`: that team's row only)."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    teams = list(ScrumTeam.objects.filter(nexus=nexus).order_by("name"))
    team = next((t for t in teams if t.slug == request.GET.get("team")), None)
    raw = request.GET.get("sprints", "")
    count = max(1, min(int(raw), BOARD_SPRINTS_MAX)) if raw.isdigit() and len(raw) < 3 else BOARD_SPRINTS
    every_item = request.GET.get("all") == "1"
    board = dependency_board_get(nexus=nexus, team=team, sprints=count, every_item=every_item)
    lines = [
        {
            "from": line.from_id,
            "to": line.to_id,
            "late": line.judged.late,
            "kind": line.judged.dependency.kind,
            "id": line.judged.dependency.pk,
        }
        for line in board.lines
    ]
    late_items = {line.judged.item.pk for line in board.lines if line.judged.late}
    return render(
        request,
        "events/dependencies.html",
        {
            "nexus": nexus,
            "board": board,
            "teams": teams,
            "team": team,
            "lines_json": json.dumps(lines),
            "late_items": late_items,
        },
    )
