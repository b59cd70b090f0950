"""The pages of the Nexus events: the Nexus board (the Nexus Daily Scrum) and the ready buffer (for
Nexus Sprint Planning, a panel of the Product Backlog page registered in `EventsConfig.ready`)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from backlog.http import nexus_etag
from backlog.models import ColumnCategory, WorkflowColumn
from backlog.selectors import nexus_get_for_user
from events.selectors import HEALTHY, board_cards_get, ready_buffer_get
from flow.selectors import flow_state_stamp


class HtmxHttpRequest(HttpRequest):
    """A request as `django_htmx.middleware.HtmxMiddleware` leaves it."""

    htmx: HtmxDetails


@login_required
@require_GET
@vary_on_headers("HX-Request")
@nexus_etag(extra=lambda request, nexus_id: flow_state_stamp(nexus_id=nexus_id))
def board_cards(request: HtmxHttpRequest, slug: str, column_id: int) -> HttpResponse:
    """The "Show more" of an unfinished column of the board: its next cards after the rank `?after=`
    (Product Backlog order) and the control for the page after, rendered as the board's `cards` partial
    in place of the control that asked. Outside htmx, the board itself."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    column = get_object_or_404(
        WorkflowColumn.objects.exclude(category=ColumnCategory.DONE), nexus=nexus, pk=column_id
    )
    if not request.htmx:
        return redirect("events:board", slug=nexus.slug)
    try:
        after = int(request.GET["after"])
    except (KeyError, ValueError):
        return HttpResponseBadRequest("?after= must be the rank of the last card shown.")
    bc = board_cards_get(nexus=nexus, column=column, after=after)
    return render(request, "events/board.html#cards", {"nexus": nexus, "bc": bc})


@login_required
@require_GET
@nexus_etag(extra=lambda request, nexus_id: flow_state_stamp(nexus_id=nexus_id))
def ready_buffer(request: HttpRequest, slug: str) -> HttpResponse:
    """The ready buffer fragment (loaded into the Product Backlog page, refreshed when it changes)."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    context = {"nexus": nexus, "buffer": ready_buffer_get(nexus=nexus), "healthy": HEALTHY}
    return render(request, "events/_ready_buffer.html", context)
