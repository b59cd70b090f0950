"""HTML views of the flow app: the Nexus board."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from backlog.selectors import nexus_get_for_user
from flow.selectors import board_get


@login_required
@require_GET
def board(request: HttpRequest, slug: str) -> HttpResponse:
    """The Nexus board: one column per Definition of Workflow column; cards with team squares and
    Work Item Age."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    return render(request, "flow/board.html", {"nexus": nexus, "board": board_get(nexus=nexus)})
