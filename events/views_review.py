"""The Nexus Sprint Review page (Nexus Guide: the Nexus Sprint Review replaces the individual Scrum Team
Sprint Reviews; the Nexus presents the Integrated Increment to stakeholders, who give feedback that may
change the Product Backlog): `/n/<slug>/sprints/<id>/review/`, and `/n/<slug>/review/` for the latest
closed Sprint, or the active one at its end (`review_sprint_latest`).

It shows the Sprint's Integrated Increments and their Definition of Done (a panel `integration`
registers for the slot `review`: this app never names it), the Nexus Sprint Goal and each Scrum Team's
Sprint Goal with the PBIs done and not done, progress toward the active Product Goal and the Monte Carlo
"when" of its remaining PBIs (`events.review_forecast`), and the stakeholder notes, each of which can be
made into a new PBI or linked to an existing one (changing it) in one step.

Doors only: writes go to `events.services.review`, reads to `events.selectors_review`. The notes part
(`#review-notes`, the partial `notes`) is what every note form answers (htmx swaps it in, form errors
included, with the refusal's status: 400/403/409/412/422); without htmx a write redirects back to the
page, a refused one renders the page with the error.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from backlog.errors import DomainError
from backlog.http import nexus_etag
from backlog.models import Nexus, ProductBacklogItem
from backlog.selectors import nexus_change_seq, nexus_get_for_user
from events.forms_review import NoteForm, NoteLinkForm, NotePbiForm
from events.models import ReviewNote, Sprint, SprintState
from events.review_forecast import goal_forecast_get
from events.selectors_review import review_get, review_sprint_latest
from events.services.review import review_note_add, review_note_link, review_note_to_pbi
from flow.selectors import flow_state_stamp

TEMPLATE = "events/review.html"


def _sprint(nexus: Nexus, sprint_id: int) -> Sprint:
    sprint = Sprint.objects.filter(nexus=nexus, pk=sprint_id).first()
    if sprint is None:
        raise Http404("No such Sprint in this Nexus.")
    return sprint


def _note(sprint: Sprint, note_id: int) -> ReviewNote:
    note = ReviewNote.objects.select_related("nexus", "sprint").filter(sprint=sprint, pk=note_id).first()
    if note is None:
        raise Http404("No such note in this Sprint's review.")
    return note


def _render(
    request: HttpRequest, nexus: Nexus, sprint: Sprint, *, status: int = 200, **extra: Any
) -> HttpResponse:
    """The page, or with htmx its `notes` part, with the forms in `extra` (`note_form`, `acting`,
    `action`, `action_form`, `flash`)."""
    page = review_get(nexus=nexus, sprint=sprint, user=request.user)
    context: dict[str, Any] = {
        "nexus": nexus,
        "sprint": sprint,
        "page": page,
        "note_form": NoteForm(),
        "acting": None,
        "action": "",
        "action_form": None,
        **extra,
    }
    template = TEMPLATE
    if request.headers.get("HX-Request"):
        template += "#notes"
    else:
        context["forecast"] = goal_forecast_get(
            nexus=nexus, goal=page.progress.goal, seq=nexus_change_seq(nexus_id=nexus.pk)
        )
    return render(request, template, context, status=status)


def _back(nexus: Nexus, sprint: Sprint) -> HttpResponse:
    return redirect(reverse("events:review", args=[nexus.slug, sprint.pk]) + "#review-notes")


@login_required
@require_GET
def review_latest(request: HttpRequest, slug: str) -> HttpResponse:
    """To the review of the latest closed Sprint, or of the active one at its end
    (`events.selectors_review.review_sprint_latest`); a page saying so when no Sprint has started."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    sprint = review_sprint_latest(nexus=nexus)
    if sprint is None:
        return render(request, TEMPLATE, {"nexus": nexus, "sprint": None})
    return redirect("events:review", nexus.slug, sprint.pk)


@login_required
@require_GET
@vary_on_headers("HX-Request")
@nexus_etag(extra=lambda request, nexus_id: flow_state_stamp(nexus_id=nexus_id))
def review(request: HttpRequest, slug: str, sprint_id: int) -> HttpResponse:
    """The review page of a Sprint (with htmx, the `notes` part). A planned Sprint has no review yet
    (404: its review comes at its end). Its ETag follows the Nexus's change counter and its flow
    figures (the forecast reads them), so an unchanged page answers 304."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    sprint = _sprint(nexus, sprint_id)
    if sprint.state == SprintState.PLANNED:
        raise Http404("This Sprint has not started: its Nexus Sprint Review comes at its end.")
    return _render(request, nexus, sprint)


@login_required
@require_POST
def review_note_add_view(request: HttpRequest, slug: str, sprint_id: int) -> HttpResponse:
    """Record a note (`text`, `stakeholder`); errors next to the field (422, or the service's status)."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    sprint = _sprint(nexus, sprint_id)
    form = NoteForm(request.POST)
    status = 422
    if form.is_valid():
        try:
            review_note_add(
                sprint=sprint,
                text=form.cleaned_data["text"],
                stakeholder=form.cleaned_data["stakeholder"],
                actor=request.user,
            )
        except DomainError as exc:
            form.add_domain_error(exc)
            status = exc.status_code
        else:
            if not request.headers.get("HX-Request"):
                return _back(nexus, sprint)
            return _render(request, nexus, sprint, flash="Feedback recorded.")
    return _render(request, nexus, sprint, status=status, note_form=form)


@login_required
@require_http_methods(["GET", "POST"])
def review_note_pbi_view(request: HttpRequest, slug: str, sprint_id: int, note_id: int) -> HttpResponse:
    """GET: the "make a PBI" form of a note (title and description prefilled from it). POST: create the
    PBI (`review_note_to_pbi`: who may create PBIs is `backlog.selectors.can_create_items`)."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    sprint = _sprint(nexus, sprint_id)
    note = _note(sprint, note_id)
    if request.method == "GET":
        first = note.text.strip().splitlines()[0][:300] if note.text.strip() else ""
        form = NotePbiForm(initial={"title": first, "description": note.text, "version": note.version})
        return _render(request, nexus, sprint, acting=note.pk, action="pbi", action_form=form)
    form = NotePbiForm(request.POST)
    status = 422
    if form.is_valid():
        try:
            done = review_note_to_pbi(
                note=note,
                actor=request.user,
                title=form.cleaned_data["title"],
                description=form.cleaned_data["description"],
                expected_version=form.cleaned_data["version"],
            )
        except DomainError as exc:
            form.add_domain_error(exc)
            status = exc.status_code
        else:
            if not request.headers.get("HX-Request"):
                return _back(nexus, sprint)
            return _render(request, nexus, sprint, flash=f"PBI {done.item_id} created from the feedback.")
    return _render(request, nexus, sprint, status=status, acting=note.pk, action="pbi", action_form=form)


def _link_initial(nexus: Nexus, note: ReviewNote, raw: str) -> dict[str, Any]:
    """The link form's starting values: the chosen PBI's (`?item=<id>`) title, description and version."""
    initial: dict[str, Any] = {"version": note.version}
    if raw.isdigit() and len(raw) < 12:
        item = (
            ProductBacklogItem.objects.alive()
            .filter(backlog__nexus=nexus, pk=int(raw))
            .values("pk", "title", "description", "version")
            .first()
        )
        if item is not None:
            initial.update(
                item=item["pk"],
                title=item["title"],
                description=item["description"],
                item_version=item["version"],
            )
        else:
            initial["item"] = raw
    return initial


@login_required
@require_http_methods(["GET", "POST"])
def review_note_link_view(request: HttpRequest, slug: str, sprint_id: int, note_id: int) -> HttpResponse:
    """GET: the "link to a PBI" form of a note (`?item=<id>` fills in that PBI's title and description).
    POST: link it and save the PBI's title/description (`review_note_link`, through `pbi_update`)."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    sprint = _sprint(nexus, sprint_id)
    note = _note(sprint, note_id)
    if request.method == "GET":
        form = NoteLinkForm(initial=_link_initial(nexus, note, request.GET.get("item", "")))
        return _render(request, nexus, sprint, acting=note.pk, action="link", action_form=form)
    form = NoteLinkForm(request.POST)
    status = 422
    if form.is_valid():
        data = form.cleaned_data
        item = ProductBacklogItem.objects.alive().filter(backlog__nexus=nexus, pk=data["item"]).first()
        if item is None:
            form.add_error("item", f"No Product Backlog Item {data['item']} in this Nexus.")
        else:
            changes: dict[str, Any] = {}
            if data["title"].strip():
                changes["title"] = data["title"]
            if "description" in request.POST:
                changes["description"] = data["description"]
            try:
                review_note_link(
                    note=note,
                    item=item,
                    actor=request.user,
                    expected_version=data["version"],
                    item_version=data.get("item_version"),
                    **changes,
                )
            except DomainError as exc:
                form.add_domain_error(exc)
                status = exc.status_code
            else:
                if not request.headers.get("HX-Request"):
                    return _back(nexus, sprint)
                return _render(
                    request, nexus, sprint, flash=f"Linked to PBI {item.pk}; its changes are saved."
                )
    return _render(request, nexus, sprint, status=status, acting=note.pk, action="link", action_form=form)
