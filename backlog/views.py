"""HTML views of the Nexus list and home. The Product Backlog page is in `backlog.views_backlog`."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
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
@nexus_etag()
def nexus_home(request: HttpRequest, slug: str) -> HttpResponse:
    """The Nexus home: Product Goal, Scrum Teams, Nexus Integration Team, Definition of Workflow."""
    nexus = selectors.nexus_get_for_user(user=request.user, slug=slug)
    home = selectors.nexus_home_get(nexus=nexus)
    return render(request, "backlog/nexus_home.html", {"nexus": nexus, "home": home})
