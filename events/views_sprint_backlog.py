"""The Nexus Sprint Backlog page (Nexus Guide: the composite of the Nexus Sprint Goal and the Product
Backlog Items of the Sprint from every Scrum Team's Sprint Backlog): the Nexus Sprint Goal, the team
Sprint Goals, every PBI of the active Sprint with its team squares, grouped (not started in any team,
started in some teams, ready to integrate, Done), Work Item Age against the SLE.

It updates itself while open: `static/js/sprint_backlog.js` polls the Nexus's change counter
(`backlog:nexus-changes`, every second) and, on a change, asks this view for its `body` part with the
filters the page shows (htmx), swapped in place: the scroll position and the filters stay.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from backlog.http import nexus_etag
from backlog.selectors import nexus_change_seq, nexus_get_for_user
from events.selectors_sprints import can_plan_sprints, sprint_active_get, sprint_backlog_get
from flow.selectors import flow_state_stamp

#: How often the page asks the change counter, in milliseconds (a change shows within two seconds).
POLL_MS = 1000


@login_required
@require_GET
@vary_on_headers("HX-Request")
@nexus_etag(extra=lambda request, nexus_id: flow_state_stamp(nexus_id=nexus_id))
def sprint_backlog(request: HttpRequest, slug: str) -> HttpResponse:
    """The Nexus Sprint Backlog of the active Sprint; `?team=<id>` keeps one team's PBIs, `?q=` those
    whose title or id contains the text. With htmx, the `body` part alone. No active Sprint: a page
    that says so and links to Nexus Sprint Planning."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    # Read before the page's data: a change committed while rendering shows at the next poll.
    seq = nexus_change_seq(nexus_id=nexus.pk)
    sprint = sprint_active_get(nexus=nexus)
    raw_team = request.GET.get("team", "")
    team = int(raw_team) if raw_team.isdigit() and len(raw_team) < 12 else None
    q = request.GET.get("q", "").strip()[:200]
    context: dict[str, Any] = {
        "nexus": nexus,
        "sprint": sprint,
        "seq": seq,
        "poll_ms": POLL_MS,
        "team": team,
        "q": q,
        "can_plan": can_plan_sprints(user=request.user, nexus=nexus),
    }
    if sprint is not None:
        context["sb"] = sprint_backlog_get(nexus=nexus, sprint=sprint, team=team, q=q)
    template = "events/sprint_backlog.html"
    if request.headers.get("HX-Request"):
        template += "#body"
    return render(request, template, context)
