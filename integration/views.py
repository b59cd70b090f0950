"""Pages of the Definition of Done and the Integrated Increments (namespace `integration`):

- the Definition of Done page: the Nexus's criteria (the Nexus Integration Team edits them), each Scrum
  Team's stricter additions (its Developers edit them), the version history;
- a Sprint's Integrated Increments (linked from the Nexus Sprint Backlog through a page panel), and the
  Integrated Increment page: its PBIs with their squares, the criteria with confirm buttons, Done and
  release, and the Sprint's PBIs ready to be integrated;
- the panels: the Nexus home's health figure, the Nexus Sprint Backlog's increments.

Doors only: writes go to `integration.services_dod` and `integration.services_increments`. A write is
a plain form post: success redirects to the page (with a message), a refusal (`DomainError`) answers
its status (400/403/409) with the whole page showing the message next to the form. GET pages answer
their `body` partial to htmx.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from backlog.errors import DomainError
from backlog.models import Nexus, ProductBacklogItem, ScrumTeam
from backlog.selectors import nexus_get_for_user
from events.models import Sprint
from integration import selectors, services_dod, services_increments
from integration.models import DoneCriterion, IntegratedIncrement
from nexus_site.db import retry_transient


def _int(raw: str | None, name: str, label: str) -> int:
    raw = (raw or "").strip()
    if not raw.isdigit() or len(raw) > 12:
        raise DomainError(f"Choose {label}.", field=name)
    return int(raw)


def _template(request: HttpRequest, name: str) -> str:
    return f"{name}#body" if request.headers.get("HX-Request") else name


# --- The Definition of Done ----------------------------------------------------------------------------


def _dod_context(request: HttpRequest, nexus: Nexus, **extra: Any) -> dict[str, Any]:
    page = selectors.dod_page_get(nexus=nexus)
    may_nexus = services_dod.dod_refusal(actor=request.user, nexus=nexus, team=None) is None
    editable = {
        t.pk
        for t, _ in page.teams
        if services_dod.dod_refusal(actor=request.user, nexus=nexus, team=t) is None
    }
    return {"nexus": nexus, "page": page, "may_nexus": may_nexus, "editable": editable, **extra}


@login_required
@require_GET
@vary_on_headers("HX-Request")
def dod_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The Nexus's Definition of Done, each team's additions and the version history."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    return render(request, _template(request, "integration/dod.html"), _dod_context(request, nexus))


@login_required
@require_POST
def dod_add(request: HttpRequest, slug: str) -> HttpResponse:
    """Add a criterion (`text`; `team` empty: the Nexus's own)."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    raw_team = request.POST.get("team", "")
    try:
        team = None
        if raw_team:
            team = ScrumTeam.objects.filter(nexus=nexus, pk=_int(raw_team, "team", "a Scrum Team")).first()
            if team is None:
                raise DomainError("That Scrum Team is not in this Nexus.", field="team")
        services_dod.criterion_add(
            nexus=nexus, text=request.POST.get("text", ""), team=team, actor=request.user
        )
    except DomainError as exc:
        context = _dod_context(
            request, nexus, error=exc.message, error_team=raw_team, text=request.POST.get("text", "")
        )
        return render(request, "integration/dod.html", context, status=exc.status_code)
    messages.success(request, "Criterion added: a new version of the Definition of Done.")
    return redirect("integration:dod", slug=nexus.slug)


@login_required
@require_POST
def dod_remove(request: HttpRequest, slug: str, criterion_id: int) -> HttpResponse:
    """Remove a criterion (its owner only: a team never removes the Nexus's)."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    criterion = get_object_or_404(DoneCriterion, nexus=nexus, pk=criterion_id)
    try:
        services_dod.criterion_remove(criterion=criterion, actor=request.user)
    except DomainError as exc:
        context = _dod_context(request, nexus, error=exc.message, error_team=str(criterion.team_id or ""))
        return render(request, "integration/dod.html", context, status=exc.status_code)
    messages.success(request, "Criterion removed: a new version of the Definition of Done.")
    return redirect("integration:dod", slug=nexus.slug)


# --- A Sprint's Integrated Increments -------------------------------------------------------------------


def _sprint_context(request: HttpRequest, nexus: Nexus, sprint: Sprint, **extra: Any) -> dict[str, Any]:
    return {
        "nexus": nexus,
        "si": selectors.sprint_increments_get(nexus=nexus, sprint=sprint),
        "can_manage": services_increments.can_manage_increments(user=request.user, nexus=nexus),
        **extra,
    }


@login_required
@require_GET
@vary_on_headers("HX-Request")
def sprint_increments(request: HttpRequest, slug: str, sprint_id: int) -> HttpResponse:
    """A Sprint's Integrated Increments, with the button that starts a new one."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    sprint = get_object_or_404(Sprint, nexus=nexus, pk=sprint_id)
    return render(
        request,
        _template(request, "integration/sprint_increments.html"),
        _sprint_context(request, nexus, sprint),
    )


@login_required
@require_POST
def increment_new(request: HttpRequest, slug: str, sprint_id: int) -> HttpResponse:
    """Start an Integrated Increment of the Sprint, then open its page."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    sprint = get_object_or_404(Sprint, nexus=nexus, pk=sprint_id)
    try:
        increment = services_increments.increment_create(
            sprint=sprint, actor=request.user, name=request.POST.get("name", "")
        )
    except DomainError as exc:
        context = _sprint_context(request, nexus, sprint, error=exc.message)
        return render(request, "integration/sprint_increments.html", context, status=exc.status_code)
    return redirect("integration:increment", slug=nexus.slug, number=increment.number)


# --- The Integrated Increment page ----------------------------------------------------------------------


def _increment(nexus: Nexus, number: int) -> IntegratedIncrement:
    return get_object_or_404(
        IntegratedIncrement.objects.select_related("sprint", "dod_version", "done_by"),
        nexus=nexus,
        number=number,
    )


def _increment_context(
    request: HttpRequest, nexus: Nexus, increment: IntegratedIncrement, **extra: Any
) -> dict[str, Any]:
    page = selectors.increment_page_get(increment=increment, user=request.user)
    return {
        "nexus": nexus,
        "inc": increment,
        "page": page,
        "can_manage": services_increments.can_manage_increments(user=request.user, nexus=nexus),
        **extra,
    }


@login_required
@require_GET
@vary_on_headers("HX-Request")
def increment_page(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """An Integrated Increment: its PBIs with squares, its criteria (confirm), Done and release."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    increment = _increment(nexus, number)
    context = _increment_context(request, nexus, increment)
    return render(request, _template(request, "integration/increment.html"), context)


def _increment_write(
    request: HttpRequest, slug: str, number: int, write: Any, done_message: str
) -> HttpResponse:
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    increment = _increment(nexus, number)
    try:
        write(nexus, increment)
    except DomainError as exc:
        increment = _increment(nexus, number)
        context = _increment_context(request, nexus, increment, error=exc.message, error_field=exc.field)
        return render(request, "integration/increment.html", context, status=exc.status_code)
    messages.success(request, done_message)
    return redirect("integration:increment", slug=nexus.slug, number=number)


@login_required
@require_POST
def increment_integrate(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Integrate the posted PBIs (`item`, repeated) of the Sprint; all or nothing."""

    def write(nexus: Nexus, increment: IntegratedIncrement) -> None:
        ids = [_int(raw, "item", "a Product Backlog Item") for raw in request.POST.getlist("item")]
        if not ids:
            raise DomainError("Choose the PBIs to integrate.", field="item")
        items = {i.pk: i for i in ProductBacklogItem.objects.filter(backlog__nexus=nexus, pk__in=ids)}

        @retry_transient  # all of them again on a deadlock: inside this transaction the service cannot retry
        @transaction.atomic
        def integrate_all() -> None:
            for pk in ids:
                if pk not in items:
                    raise DomainError("That PBI is not in this Nexus.", field="item")
                services_increments.increment_integrate(
                    increment=increment, item=items[pk], actor=request.user
                )

        integrate_all()

    n = len(request.POST.getlist("item"))
    return _increment_write(request, slug, number, write, f"{n} PBI{'s' if n != 1 else ''} integrated.")


@login_required
@require_POST
def increment_confirm(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Confirm one criterion (`criterion`, optional `evidence_url`)."""

    def write(nexus: Nexus, increment: IntegratedIncrement) -> None:
        services_increments.increment_confirm(
            increment=increment,
            criterion=_int(request.POST.get("criterion"), "criterion", "a criterion"),
            evidence_url=request.POST.get("evidence_url", ""),
            actor=request.user,
        )

    return _increment_write(request, slug, number, write, "Criterion confirmed.")


@login_required
@require_POST
def increment_done(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Mark the increment Done (every criterion confirmed): its PBIs become Done."""

    def write(nexus: Nexus, increment: IntegratedIncrement) -> None:
        services_increments.increment_done(increment=increment, actor=request.user)

    return _increment_write(
        request, slug, number, write, "The Integrated Increment is Done: its PBIs are in the finished column."
    )


@login_required
@require_POST
def increment_release(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Mark a Done increment released on `released_on` (YYYY-MM-DD; empty: today)."""

    def write(nexus: Nexus, increment: IntegratedIncrement) -> None:
        raw = request.POST.get("released_on", "").strip()
        try:
            day = date.fromisoformat(raw) if raw else None
        except ValueError as exc:
            raise DomainError("Give the release day as YYYY-MM-DD.", field="released_on") from exc
        services_increments.increment_release(increment=increment, actor=request.user, released_on=day)

    return _increment_write(request, slug, number, write, "Released to stakeholders.")


# --- Panels ---------------------------------------------------------------------------------------------


@login_required
@require_GET
def health_panel(request: HttpRequest, slug: str) -> HttpResponse:
    """The Nexus home's panel: in how many Sprints a Done Integrated Increment was produced, the streak."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    return render(
        request, "integration/_health.html", {"nexus": nexus, "h": selectors.health_get(nexus=nexus)}
    )


@login_required
@require_GET
def sprint_increments_panel(request: HttpRequest, slug: str) -> HttpResponse:
    """The Nexus Sprint Backlog's panel: the active (else last closed) Sprint's Integrated Increments."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    sprint = selectors.panel_sprint(nexus=nexus)
    si = selectors.sprint_increments_get(nexus=nexus, sprint=sprint) if sprint is not None else None
    return render(request, "integration/_sprint_panel.html", {"nexus": nexus, "si": si})


@login_required
@require_GET
def retro_issues_panel(request: HttpRequest, slug: str) -> HttpResponse:
    """The Nexus Sprint Retrospective's panel (`?sprint=<id>`, a started Sprint; else the Sprint
    `/retrospective/` opens): the integration issues raised, resolved, escalated and escaped in it."""
    import zoneinfo
    from datetime import datetime, time, timedelta

    from django.utils import timezone

    from events.selectors_retro import retro_sprint_default, retro_sprint_get
    from integration.selectors_issues import sprint_issues_get

    nexus = nexus_get_for_user(user=request.user, slug=slug)
    raw = request.GET.get("sprint", "")
    if raw.isdigit() and len(raw) < 18:
        sprint: Sprint | None = retro_sprint_get(nexus=nexus, sprint_id=int(raw))
    else:
        sprint = retro_sprint_default(nexus=nexus)
    figures = None
    if sprint is not None:
        tz = zoneinfo.ZoneInfo(nexus.time_zone)
        since = datetime.combine(sprint.start_date, time.min, tzinfo=tz)
        until = min(
            datetime.combine(sprint.end_date + timedelta(days=1), time.min, tzinfo=tz), timezone.now()
        )
        figures = sprint_issues_get(nexus=nexus, since=since, until=until)
    return render(
        request, "integration/_retro_panel.html", {"nexus": nexus, "sprint": sprint, "figures": figures}
    )


@login_required
@require_GET
def review_panel(request: HttpRequest, slug: str) -> HttpResponse:
    """The Nexus Sprint Review's panel (slot `review`): the Sprint `?sprint=<id>`'s Integrated
    Increments and their Definition of Done state. An unknown or missing Sprint: 404."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    raw = request.GET.get("sprint", "")
    sprint = get_object_or_404(Sprint, nexus=nexus, pk=int(raw)) if raw.isdigit() and len(raw) < 12 else None
    if sprint is None:
        return render(request, "integration/_review_panel.html", {"nexus": nexus, "sprint": None}, status=404)
    rows = selectors.review_increments_get(sprint=sprint)
    return render(request, "integration/_review_panel.html", {"nexus": nexus, "sprint": sprint, "rows": rows})
