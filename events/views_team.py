"""The team board (per Scrum Team and Sprint): the team's Sprint Backlog as a Kanban board of its own
Definition of Workflow. The team's Developers (and the Product Owner, the Nexus Integration Team) move
its work by drag and drop, by keyboard or by buttons (`backlog.services.squares.team_item_move`, source
`board`: the square follows the column's state, the PBI's Nexus column follows the squares), and add and
tick off tasks (`backlog.services.tasks`). Every write answers the board's `board` partial (htmx) or
redirects back (without JavaScript); a refused write answers its status (400/403/409) with the message.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from backlog.errors import DomainError
from backlog.http import nexus_etag
from backlog.models import Membership, Nexus, ProductBacklogItem, ScrumTeam, Source, Task, TeamColumn
from backlog.selectors import nexus_change_seq, nexus_get_for_user
from backlog.services.squares import team_item_move
from backlog.services.tasks import task_create, task_update
from events.models import Sprint
from events.selectors import sprint_current_or_next
from events.team_board import team_board_get
from events.views_sprint_backlog import POLL_MS


def _team(nexus: Nexus, team_slug: str) -> ScrumTeam:
    return get_object_or_404(ScrumTeam, nexus=nexus, slug=team_slug)


def _render_board(
    request: HttpRequest, nexus: Nexus, sprint: Sprint, team: ScrumTeam, status: int = 200
) -> HttpResponse:
    seq = nexus_change_seq(nexus_id=nexus.pk)  # read first: a change during the read shows next poll
    board = team_board_get(team=team, sprint=sprint, user=request.user)
    board.adding = _int(request.GET.get("add_task"))
    # Each task's toggle URL, reversed once for the board (a page of 300 cards reversed it per task).
    marker = 987654321
    toggle = reverse("events:team-board-task-toggle", args=[nexus.slug, sprint.pk, team.slug, marker])
    for column in board.columns:
        for card in column.cards:
            for task in card.tasks:
                task.toggle_url = toggle.replace(str(marker), str(task.pk))  # type: ignore[attr-defined]
    context = {
        "nexus": nexus,
        "board": board,
        "seq": seq,
        "poll_ms": POLL_MS,
        # The CSRF field of the board's many small forms, rendered once (as `{% csrf_token %}` would).
        "csrf_input": format_html(
            '<input type="hidden" name="csrfmiddlewaretoken" value="{}">', get_token(request)
        ),
        "teams": list(ScrumTeam.objects.filter(nexus=nexus).order_by("name")),
    }
    template = "events/team_board.html#board" if getattr(request, "htmx", False) else "events/team_board.html"
    return render(request, template, context, status=status)


def _refused(
    request: HttpRequest, exc: DomainError, slug: str, sprint_id: int, team_slug: str
) -> HttpResponse:
    if getattr(request, "htmx", False):
        return HttpResponse(
            format_html('<p class="errornote" role="alert">{}</p>', exc.message), status=exc.status_code
        )
    messages.error(request, exc.message)
    return redirect("events:team-board", slug=slug, sprint_id=sprint_id, team_slug=team_slug)


@login_required
@require_GET
def team_board_mine(request: HttpRequest, slug: str) -> HttpResponse:
    """The top navigation's "Teams": the board of the user's own Scrum Team (as a Developer or
    Scrum Master), else of the Nexus's first team by name; a redirect to `team_board_current`."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    own = (
        Membership.objects.filter(nexus=nexus, user_id=request.user.pk or 0, team__isnull=False)
        .order_by("team__name")
        .values_list("team__slug", flat=True)
        .first()
    )
    first = (
        own or ScrumTeam.objects.filter(nexus=nexus).order_by("name").values_list("slug", flat=True).first()
    )
    if first is None:
        raise Http404("The Nexus has no Scrum Team yet.")
    return redirect("events:team-board-current", slug=nexus.slug, team_slug=first)


@login_required
@require_GET
def team_board_current(request: HttpRequest, slug: str, team_slug: str) -> HttpResponse:
    """The team's board in the Nexus's active Sprint (else the next planned one): a redirect; without
    a Sprint, a page that says so."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    team = _team(nexus, team_slug)
    sprint = sprint_current_or_next(nexus=nexus)
    if sprint is None:
        teams = list(ScrumTeam.objects.filter(nexus=nexus).order_by("name"))
        return render(
            request, "events/team_board.html", {"nexus": nexus, "team": team, "teams": teams, "board": None}
        )
    return redirect("events:team-board", slug=nexus.slug, sprint_id=sprint.pk, team_slug=team.slug)


@login_required
@require_GET
@vary_on_headers("HX-Request")
@nexus_etag()
def team_board(request: HttpRequest, slug: str, sprint_id: int, team_slug: str) -> HttpResponse:
    """The team board of one Scrum Team in one Sprint (see the module)."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    sprint = get_object_or_404(Sprint, nexus=nexus, pk=sprint_id)
    return _render_board(request, nexus, sprint, _team(nexus, team_slug))


def _int(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() and len(raw) < 19 else None


@login_required
@require_POST
def team_board_move(request: HttpRequest, slug: str, sprint_id: int, team_slug: str) -> HttpResponse:
    """Move the team's work on `item` to `column` (POST fields: ids; `version`, optional: the PBI's
    version the page showed, refused with 412 when it changed meanwhile)."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    sprint = get_object_or_404(Sprint, nexus=nexus, pk=sprint_id)
    team = _team(nexus, team_slug)
    item = ProductBacklogItem.objects.filter(
        backlog__nexus=nexus, pk=_int(request.POST.get("item")) or 0
    ).first()
    column = TeamColumn.objects.filter(team=team, pk=_int(request.POST.get("column")) or 0).first()
    try:
        if item is None:
            raise DomainError("No such item in this Nexus.", field="item")
        if column is None:
            raise DomainError(f"No such column on {team.name}'s board.", field="column")
        team_item_move(
            item=item,
            team=team,
            to_column=column,
            actor=request.user,
            source=Source.BOARD,
            expected_version=_int(request.POST.get("version")),
        )
    except DomainError as exc:
        return _refused(request, exc, slug, sprint_id, team_slug)
    if not getattr(request, "htmx", False):
        return redirect("events:team-board", slug=slug, sprint_id=sprint_id, team_slug=team_slug)
    return _render_board(request, nexus, sprint, team)


@login_required
@require_POST
def team_board_task_add(request: HttpRequest, slug: str, sprint_id: int, team_slug: str) -> HttpResponse:
    """Add a task (POST `item`, `title`, `assignee`: a user id or empty) to the team's work on a PBI."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    sprint = get_object_or_404(Sprint, nexus=nexus, pk=sprint_id)
    team = _team(nexus, team_slug)
    item = ProductBacklogItem.objects.filter(
        backlog__nexus=nexus, pk=_int(request.POST.get("item")) or 0
    ).first()
    assignee_id = _int(request.POST.get("assignee"))
    assignee = User.objects.filter(pk=assignee_id).first() if assignee_id else None
    try:
        if item is None:
            raise DomainError("No such item in this Nexus.", field="item")
        if assignee_id and assignee is None:
            raise DomainError("No such person.", field="assignee")
        task_create(
            item=item, team=team, title=request.POST.get("title", ""), actor=request.user, assignee=assignee
        )
    except DomainError as exc:
        return _refused(request, exc, slug, sprint_id, team_slug)
    if not getattr(request, "htmx", False):
        return redirect("events:team-board", slug=slug, sprint_id=sprint_id, team_slug=team_slug)
    return _render_board(request, nexus, sprint, team)


@login_required
@require_POST
def team_board_task_toggle(
    request: HttpRequest, slug: str, sprint_id: int, team_slug: str, task_id: int
) -> HttpResponse:
    """Mark a task of the team done, or not done again (POST `done`: "1" or "0")."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    sprint = get_object_or_404(Sprint, nexus=nexus, pk=sprint_id)
    team = _team(nexus, team_slug)
    task = get_object_or_404(Task, team=team, pk=task_id)
    try:
        task_update(task=task, actor=request.user, done=request.POST.get("done") == "1")
    except DomainError as exc:
        return _refused(request, exc, slug, sprint_id, team_slug)
    if not getattr(request, "htmx", False):
        return redirect("events:team-board", slug=slug, sprint_id=sprint_id, team_slug=team_slug)
    return _render_board(request, nexus, sprint, team)
