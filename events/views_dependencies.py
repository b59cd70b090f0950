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
from html import escape

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET

from backlog.models import DependencyKind, ScrumTeam
from backlog.selectors import nexus_get_for_user
from events.models import Sprint
from events.selectors_dependencies import (
    BOARD_SPRINTS,
    BOARD_SPRINTS_MAX,
    DependencyBoard,
    JudgedDependency,
    dependency_board_get,
)


def _cut(text: str, length: int = 60) -> str:
    return escape(text if len(text) <= length else text[: length - 1] + "…")


def board_rows_html(board: DependencyBoard, late_items: set[int]) -> SafeString:
    """The board's body rows (`<tr>`: a team, then its cards per Sprint), built here rather than by the
    template engine (hundreds of cards). Every value is escaped."""
    out: list[str] = []
    add = out.append
    for team, cells in board.rows():
        add(f'<tr><th scope="row">{escape(team.name)}</th>')
        for cards, others in cells:
            add("<td>")
            for card in cards:
                pk = card.item.pk
                late = " has-late" if pk in late_items else ""
                add(
                    f'<a href="#dep-list-h" class="dep-card{late}" id="{card.dom_id}" data-item="{pk}">'
                    f'<span class="ext">#{pk}</span> {_cut(card.item.title)}</a>'
                )
            if others:
                add(
                    f'<span class="others muted small">+ {others} other PBI{"s" if others != 1 else ""} '
                    "without a dependency</span>"
                )
            add("</td>")
        add("</tr>")
    return SafeString("".join(out))


def _sprint(sprint: Sprint | None) -> str:
    return f"Sprint {sprint.number}" if sprint is not None else "no Sprint"


def list_html(judged: list[JudgedDependency], forecast_url: str = "") -> SafeString:
    """The text list equivalent of the lines (`<li>` each): who waits on whom, their Sprints, the
    waiting time against the SLE, why a late one is late, and (with `forecast_url`) a link to the
    dependent PBI's forecast with its dependencies."""
    out: list[str] = []
    for j in judged:
        verb = "depends on" if j.dependency.kind == DependencyKind.DEPENDS_ON else "integrates with"
        if j.age is None:
            wait = "not started"
        else:
            wait = f"waiting {j.age} day{'s' if j.age != 1 else ''}" + (
                f" (SLE {j.sle_days} days)" if j.sle_days else ""
            )
        why = "".join(f"; {escape(r)}" for r in j.reasons)
        out.append(
            f'<li class="{"late" if j.late else ""}" data-dependency="{j.dependency.pk}">'
            f"{'<strong>Late:</strong> ' if j.late else ''}"
            f'<span class="ext">#{j.item.pk}</span> {_cut(j.item.title)} {verb} '
            f'<span class="ext">#{j.depends_on.pk}</span> {_cut(j.depends_on.title)} '
            f'<span class="why">— {_sprint(j.item_sprint)} ← {_sprint(j.depends_on_sprint)}; '
            f"{wait}{why}</span>"
            + (
                f' <a class="small" href="{forecast_url}?item={j.item.pk}">forecast</a>'
                if forecast_url
                else ""
            )
            + "</li>"
        )
    return SafeString("".join(out))


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
            "rows_html": board_rows_html(board, late_items),
            "list_html": list_html(board.judged, reverse("events:dependency-forecast", args=[nexus.slug])),
        },
    )
