"""HTML views of the flow app: the Nexus board, the flow page (charts, tables, CSV) and flow settings."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods

from backlog.errors import DomainError
from backlog.http import nexus_etag
from backlog.models import Label, ScrumTeam
from backlog.selectors import nexus_get_for_user
from flow import charts
from flow.forms import QUERY_FIELDS, FlowQueryForm, FlowSettingsForm
from flow.models import FlowSettings, FlowState
from flow.selectors import flow_data_get, flow_page_get, flow_state_stamp, sles_get
from flow.services import can_edit_flow_settings, flow_settings_set


def _query_string(form: FlowQueryForm) -> str:
    """The valid, non-empty query parameters (to carry into CSV links)."""
    raw = form.data
    return urlencode([(k, raw[k]) for k in QUERY_FIELDS if raw.get(k)])


@login_required
@require_GET
@nexus_etag(extra=lambda request, nexus_id: flow_state_stamp(nexus_id=nexus_id))
def flow_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The flow page of a Nexus: CFD, Cycle Time scatterplot, Aging WIP, Throughput and WIP run charts,
    Monte Carlo histograms, with the figures in tables. Filters: team, label, class of service, days,
    as-of date (replay). The default view (and a team's) is read from stored results."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    teams = list(ScrumTeam.objects.filter(nexus=nexus))
    form = FlowQueryForm(request.GET, nexus=nexus, teams=teams)
    context: dict[str, Any] = {
        "nexus": nexus,
        "form": form,
        "teams": teams,
        "labels": list(Label.objects.filter(nexus=nexus).values_list("name", flat=True)),
        "wall": request.GET.get("wall") == "1",
        "can_edit": can_edit_flow_settings(user=request.user, nexus=nexus),
        "state": FlowState.objects.filter(nexus=nexus).first(),
    }
    if not form.is_valid():
        return render(request, "flow/flow.html", context, status=400)
    try:
        page = flow_page_get(nexus=nexus, query=form.query())
    except DomainError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return render(request, "flow/flow.html", context, status=400)
    context.update(
        levels=_level_links(request, page.data) if page.data.team is not None else [],
        page=page,
        data=page.data,
        tables=charts.page_tables(page.data),
        payload=charts.chart_payload(page.data, page.sle),
        query_string=_query_string(form),
        csv_tables=charts.CSV_TABLES,
    )
    return render(request, "flow/flow.html", context)


def _level_links(request: HttpRequest, data: Any) -> list[dict[str, Any]]:
    """The two levels of a Scrum Team's figures, as links keeping the other query parameters: its own
    flow (`level=team`) and the Nexus columns of its items (`level=nexus`), the one shown marked
    `current`; the team level is `disabled` without team-level history (the page falls back)."""
    params: dict[str, str] = {k: str(v) for k, v in request.GET.items() if k != "level" and v}
    out = []
    for level, text in (("team", "Team's own flow"), ("nexus", "Nexus columns of its items")):
        out.append(
            {
                "level": level,
                "text": text,
                "href": "?" + urlencode({**params, "level": level}),
                "current": data.basis == level,
                "disabled": level == "team" and not data.team_history,
            }
        )
    return out


@login_required
@require_GET
def flow_csv(request: HttpRequest, slug: str, table: str) -> HttpResponse:
    """A table of the flow page as CSV (`daily`, `weekly`, `cycle-times`, `ages`, `forecasts`), with
    the same query parameters as the page."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    if table not in charts.CSV_TABLES:
        raise Http404("No such table.")
    form = FlowQueryForm(request.GET, nexus=nexus)
    if not form.is_valid():
        body = "\n".join(f"{e['field']}: {e['reason']}" for e in form.error_list())
        return HttpResponse(body, status=400, content_type="text/plain; charset=utf-8")
    try:
        data = flow_data_get(nexus=nexus, query=form.query())
    except DomainError as exc:
        return HttpResponse(
            f"{exc.field}: {exc.message}", status=400, content_type="text/plain; charset=utf-8"
        )
    scope = f"-{data.team.slug}" if data.team else ""
    response = HttpResponse(charts.csv_text(data, table), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{nexus.slug}{scope}-{table}-as-of-{data.as_of.isoformat()}.csv"'
    )
    return response


@login_required
@require_http_methods(["GET", "POST"])
def flow_settings(request: HttpRequest, slug: str) -> HttpResponse:
    """Service Level Expectation and WIP-limit kind of the Nexus and of each Scrum Team. Everyone in the
    Nexus sees them; the Product Owner, the Nexus Integration Team and admins change them."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    can_edit = can_edit_flow_settings(user=request.user, nexus=nexus)
    if request.method == "POST" and not can_edit:
        return HttpResponse(
            "Only the Product Owner and the Nexus Integration Team set Service Level Expectations.",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    teams = list(ScrumTeam.objects.filter(nexus=nexus).order_by("name"))
    sles, rows = sles_get(nexus=nexus)
    posted_scope = request.POST.get("scope") if request.method == "POST" else None
    status = 200
    scopes = []
    for team in [None, *teams]:
        key = team.slug if team else "nexus"
        row: FlowSettings | None = rows.get(team.pk if team else None)
        initial = {
            "sle_percent": row.sle_percent if row else 85,
            "sle_days": row.sle_days if row else None,
            "wip_limit_kind": row.wip_limit_kind if row else "soft",
        }
        form = FlowSettingsForm(request.POST if posted_scope == key else None, initial=initial, prefix=key)
        if posted_scope == key:
            if form.is_valid():
                try:
                    flow_settings_set(
                        nexus=nexus,
                        team=team,
                        actor=request.user,
                        sle_percent=form.cleaned_data["sle_percent"],
                        sle_days=form.cleaned_data["sle_days"],
                        wip_limit_kind=form.cleaned_data["wip_limit_kind"],
                    )
                except DomainError as exc:
                    form.add_error(exc.field if exc.field in form.fields else None, exc.message)
                else:
                    messages.success(request, f"Flow settings of {team.name if team else nexus.name} saved.")
                    return redirect("flow:settings", slug=nexus.slug)
            status = 400
        scopes.append(
            {
                "key": key,
                "team": team,
                "name": team.name if team else f"{nexus.name} (whole Nexus)",
                "form": form,
                "sle": sles.get(team.pk if team else None),
                "wip_limit": team.wip_limit if team else nexus.wip_limit,
            }
        )
    context = {"nexus": nexus, "scopes": scopes, "can_edit": can_edit}
    return render(request, "flow/settings.html", context, status=status)
