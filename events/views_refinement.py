"""The Cross-Team Refinement board (Nexus Guide: Cross-Team Refinement decomposes the Product Backlog so
that dependencies become transparent, and forecasts which teams will deliver which PBI): the upper part
of the ordered Product Backlog as rows, the Scrum Teams as columns. Toggle which teams a PBI will need
(its team squares: `backlog.services.involvement_add` / `involvement_remove`), mark it ready (into the
ready column: `pbi_transition`), add a dependency inline (`backlog.services.dependencies`), split it into
children a single team can finish within a Sprint (`pbi_split`). The head counts the ready PBIs that need
one team and those that need several (the Nexus's dependency risk); rows needing several teams are
flagged.

Doors only: reads from `events.selectors_dependencies.refinement_get`. Members other than Stakeholders
change the board (`can_edit_items`; the dependency services check their own rules); everyone reads. A
refused write answers its status (400/403/409) with the board part showing the message (htmx swaps it
in: `static/js/refinement.js`); a plain form post gets a redirect, or the whole page with the message.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from backlog.errors import DomainError, NotAllowed
from backlog.models import (
    DependencyKind,
    DependencyStatus,
    FoundAt,
    Nexus,
    ProductBacklogItem,
    ScrumTeam,
    TeamInvolvement,
)
from backlog.models_dependency import Dependency
from backlog.selectors import can_edit_items, nexus_get_for_user
from backlog.services import involvement_add, involvement_remove, pbi_transition
from backlog.services.dependencies import dependency_create, dependency_set_status
from backlog.services.split import pbi_split
from events.selectors_dependencies import REFINEMENT_MAX, REFINEMENT_ROWS, refinement_get


def _limit(request: HttpRequest) -> int:
    raw = request.GET.get("limit", "") or request.POST.get("limit", "")
    return max(1, min(int(raw), REFINEMENT_MAX)) if raw.isdigit() else REFINEMENT_ROWS


def _context(
    request: HttpRequest, nexus: Nexus, *, error: str = "", error_item: int | None = None
) -> dict[str, Any]:
    board = refinement_get(nexus=nexus, limit=_limit(request))
    return {
        "nexus": nexus,
        "board": board,
        "can_edit": can_edit_items(user=request.user, nexus=nexus),
        "limit": _limit(request),
        "kinds": DependencyKind.choices,
        "error": error,
        "error_item": error_item,
    }


@login_required
@require_GET
def refinement(request: HttpRequest, slug: str) -> HttpResponse:
    """The Cross-Team Refinement board (`?limit=` rows, 1 to `REFINEMENT_MAX`)."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    return render(request, "events/refinement.html", _context(request, nexus))


def _answer(
    request: HttpRequest, nexus: Nexus, *, error: DomainError | None = None, item: int | None = None
) -> HttpResponse:
    """The board part (htmx) or, for a plain form post, a redirect (success) or the whole page with the
    message (refused), with the error's status."""
    status = error.status_code if error is not None else 200
    context = _context(request, nexus, error=error.message if error else "", error_item=item)
    if not request.headers.get("HX-Request"):
        if error is None:
            return redirect("events:refinement", slug=nexus.slug)
        return render(request, "events/refinement.html", context, status=status)
    return render(request, "events/refinement.html#board", context, status=status)


def _guard(request: HttpRequest, slug: str) -> Nexus:
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    if not can_edit_items(user=request.user, nexus=nexus):
        raise NotAllowed(
            "Stakeholders see the refinement board; the Scrum Teams and the Product Owner refine."
        )
    return nexus


def _item(nexus: Nexus, item_id: int) -> ProductBacklogItem:
    return get_object_or_404(ProductBacklogItem.objects.alive(), backlog__nexus=nexus, pk=item_id)


def _write(request: HttpRequest, slug: str, item_id: int | None, write: Any) -> HttpResponse:
    """Run `write(nexus)` and answer the board; a `DomainError` answers its status with the message."""
    try:
        nexus = _guard(request, slug)
    except NotAllowed as exc:
        nexus = nexus_get_for_user(user=request.user, slug=slug)
        return _answer(request, nexus, error=exc, item=item_id)
    try:
        write(nexus)
    except DomainError as exc:
        return _answer(request, nexus, error=exc, item=item_id)
    return _answer(request, nexus)


@login_required
@require_POST
def refinement_team(request: HttpRequest, slug: str, item_id: int, team_id: int) -> HttpResponse:
    """Toggle whether the PBI will need the Scrum Team (its team square): add it, or take it off."""

    def write(nexus: Nexus) -> None:
        item = _item(nexus, item_id)
        team = get_object_or_404(ScrumTeam, nexus=nexus, pk=team_id)
        square = TeamInvolvement.objects.filter(item=item, team=team).first()
        if square is None:
            involvement_add(item=item, team=team, actor=request.user)
        else:
            involvement_remove(involvement=square, actor=request.user)

    return _write(request, slug, item_id, write)


@login_required
@require_POST
def refinement_ready(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    """Mark the PBI ready: move it into the Definition of Workflow's ready column."""

    def write(nexus: Nexus) -> None:
        item = _item(nexus, item_id)
        board = refinement_get(nexus=nexus, limit=1)
        if board.ready_column is None:
            raise DomainError("The Definition of Workflow marks no column ready.", field="column")
        pbi_transition(item=item, to_column=board.ready_column, actor=request.user)

    return _write(request, slug, item_id, write)


def _posted_id(request: HttpRequest, name: str, label: str) -> int:
    raw = request.POST.get(name, "").strip().lstrip("#")
    if not raw.isdigit() or len(raw) > 18:
        raise DomainError(f"Choose {label}.", field=name)
    return int(raw)


@login_required
@require_POST
def refinement_dependency(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    """Add a dependency of the PBI (`depends_on`: a PBI id, `kind`), found at Cross-Team Refinement."""

    def write(nexus: Nexus) -> None:
        item = _item(nexus, item_id)
        other_id = _posted_id(request, "depends_on", "the PBI it depends on")
        other = ProductBacklogItem.objects.filter(backlog__nexus=nexus, pk=other_id).first()
        if other is None:
            raise DomainError(f"No PBI #{other_id} in this Nexus.", field="depends_on")
        kind = request.POST.get("kind", DependencyKind.DEPENDS_ON)
        dependency_create(
            item=item, depends_on=other, kind=kind, actor=request.user, found_at=FoundAt.REFINEMENT
        )

    return _write(request, slug, item_id, write)


@login_required
@require_POST
def refinement_dependency_status(request: HttpRequest, slug: str, dependency_id: int) -> HttpResponse:
    """Resolve or remove a dependency from the board (`status`: resolved or removed)."""

    def write(nexus: Nexus) -> None:
        dependency = get_object_or_404(Dependency, nexus=nexus, pk=dependency_id)
        status = request.POST.get("status", "")
        if status not in (DependencyStatus.RESOLVED, DependencyStatus.REMOVED):
            raise DomainError("Resolve or remove.", field="status")
        dependency_set_status(
            dependency=dependency, status=status, actor=request.user, event=FoundAt.REFINEMENT
        )

    return _write(request, slug, None, write)


@login_required
@require_POST
def refinement_split(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    """Split the PBI into children, one title per line (each open dependency goes to every child)."""

    def write(nexus: Nexus) -> None:
        item = _item(nexus, item_id)
        titles = request.POST.get("titles", "").splitlines()
        pbi_split(item=item, titles=titles, actor=request.user)

    return _write(request, slug, item_id, write)
