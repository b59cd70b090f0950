"""Suggested dependencies on the Cross-Team Refinement board: a PBI's row opens its list (the other open
PBIs most likely to touch the same area, each with why: `backlog.suggestions.selectors`), and a person
confirms one (it becomes a dependency found at Cross-Team Refinement: `suggestion_confirm`) or dismisses
it (never suggested again: `suggestion_dismiss`). Doors only.

- GET `refinement/<item>/suggestions/`: the list (htmx: the `suggestions` partial, loaded when the row's
  disclosure opens; a plain GET: a small page with the list and the forms);
- POST `.../suggestions/<other>/confirm/` (`confirm_as`: depends_on, dependent or integrates_with) and
  `.../dismiss/`: answer the board (as every write of the board) with that row's list open and a line
  saying what was done; a refusal (400/403/409) answers its status with the message in the row.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from backlog.errors import DomainError, NotAllowed
from backlog.models import FoundAt, Nexus, ProductBacklogItem
from backlog.selectors import can_edit_items, nexus_get_for_user
from backlog.services.suggestions import suggestion_confirm, suggestion_dismiss
from backlog.suggestions.selectors import suggested_dependencies_get
from events.views_refinement import board_answer, editor_guard, live_item

#: How a person records a confirmed suggestion, in the words of the board (`CONFIRM_AS`).
CONFIRM_CHOICES = (
    ("depends_on", "this depends on it"),
    ("dependent", "it depends on this"),
    ("integrates_with", "integrate together"),
)


def _list_context(
    request: HttpRequest, nexus: Nexus, item: ProductBacklogItem, done: str = ""
) -> dict[str, Any]:
    return {
        "nexus": nexus,
        "item": item,
        "suggestions": suggested_dependencies_get(nexus_id=nexus.pk, item_id=item.pk),
        "can_edit": can_edit_items(user=request.user, nexus=nexus),
        "choices": CONFIRM_CHOICES,
        "base": reverse("events:refinement", args=[nexus.slug]),
        "limit": request.POST.get("limit") or request.GET.get("limit") or "",
        "done": done,
    }


def _open_list(request: HttpRequest, nexus: Nexus, item: ProductBacklogItem, done: str) -> tuple[int, str]:
    context = _list_context(request, nexus, item, done)
    get_token(request)
    html = render_to_string("events/refinement_suggestions.html#suggestions", context, request=request)
    return item.pk, html


@login_required
@require_GET
def refinement_suggestions(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    """The suggested dependencies of one PBI (every member reads; the forms for those who refine)."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    item = live_item(nexus, item_id)
    template = "events/refinement_suggestions.html"
    if request.headers.get("HX-Request"):
        template += "#suggestions"
    return render(request, template, _list_context(request, nexus, item))


def _judge(request: HttpRequest, slug: str, item_id: int, other_id: int, confirm: bool) -> HttpResponse:
    try:
        nexus = editor_guard(request, slug)
    except NotAllowed as exc:
        return board_answer(
            request, nexus_get_for_user(user=request.user, slug=slug), error=exc, item=item_id
        )
    item = live_item(nexus, item_id)
    other = get_object_or_404(ProductBacklogItem, backlog__nexus=nexus, pk=other_id)
    try:
        if confirm:
            dep = suggestion_confirm(
                item=item,
                other=other,
                confirm_as=request.POST.get("confirm_as", "depends_on"),
                found_at=FoundAt.REFINEMENT,
                actor=request.user,
            )
            arrow = "↔" if dep.kind == "integrates_with" else "→"
            done = f"Dependency added: #{dep.item_id} {arrow} #{dep.depends_on_id}."
        else:
            suggestion_dismiss(item=item, other=other, actor=request.user)
            done = f"Dismissed: #{other.pk} will not be suggested for #{item.pk} again."
    except DomainError as exc:
        return board_answer(
            request, nexus, error=exc, item=item_id, suggest=_open_list(request, nexus, item, "")
        )
    return board_answer(request, nexus, suggest=_open_list(request, nexus, item, done))


@login_required
@require_POST
def refinement_suggestion_confirm(
    request: HttpRequest, slug: str, item_id: int, other_id: int
) -> HttpResponse:
    """Confirm a suggestion: the dependency (`confirm_as`), found at Cross-Team Refinement."""
    return _judge(request, slug, item_id, other_id, confirm=True)


@login_required
@require_POST
def refinement_suggestion_dismiss(
    request: HttpRequest, slug: str, item_id: int, other_id: int
) -> HttpResponse:
    """Dismiss a suggestion: the pair is never suggested again."""
    return _judge(request, slug, item_id, other_id, confirm=False)
