"""HTML views of the Nexus list and home. The Product Backlog page is in `backlog.views_backlog`."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from backlog import selectors
from backlog.http import nexus_etag


@login_required
@require_GET
def root(request: HttpRequest) -> HttpResponse:
    """`/`: straight to the user's Nexus when there is one, else the list of Nexuses."""
    nexuses = list(selectors.nexus_list_for_user(user=request.user)[:50])
    if len(nexuses) == 1:
        return redirect("backlog:nexus-home", slug=nexuses[0].slug)
    return render(request, "backlog/nexus_list.html", {"nexuses": nexuses})


@login_required
@require_GET
def nexus_changes(request: HttpRequest, slug: str) -> HttpResponse:
    """`/n/<slug>/changes/?since=N`, for live pages that poll: 204 (no body) when the Nexus's change
    counter is still N (or below), else 200 `{"seq": <the counter now>}`: re-render, and poll with the
    new seq. A `since` that is not a whole number from 0: 400. One query beyond the session's."""
    found = selectors.nexus_change_seq_for_user(user=request.user, slug=slug)
    if found is None:
        raise Http404("No such Nexus.")
    raw = request.GET.get("since", "0")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19):
        return HttpResponseBadRequest("?since= must be the seq the page was rendered with (a whole number).")
    seq = found[1]
    response = JsonResponse({"seq": seq}) if seq > int(raw) else HttpResponse(status=204)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
@nexus_etag()
def nexus_home(request: HttpRequest, slug: str) -> HttpResponse:
    """The Nexus home: Product Goal, Scrum Teams, Nexus Integration Team, Definition of Workflow."""
    nexus = selectors.nexus_get_for_user(user=request.user, slug=slug)
    home = selectors.nexus_home_get(nexus=nexus)
    return render(request, "backlog/nexus_home.html", {"nexus": nexus, "home": home})
