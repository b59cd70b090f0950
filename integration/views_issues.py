"""The pages of integration issues: a Nexus's integration issues page (raise, escalate, resolve, the ages
at each level, filters, the WIP limit on open issues) and the Executive Action Team page (`/eat/`: for
the user, the impediments escalated to level 3 in every Nexus they belong to as an Executive Action Team
member, longest waiting first, with the decisions recorded).

Doors only: writes go to `integration.services_issues`, reads to `integration.selectors_issues`. Each
form posts with htmx and the view answers the page's `body` partial (the whole page without htmx); a
refused write (`DomainError`) answers its status (400/403/409) with the message shown above the list,
nothing saved.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from backlog.errors import DomainError
from backlog.models import Nexus, ScrumTeam, WipLimitKind
from backlog.selectors import nexus_get_for_user
from integration import services_issues as svc
from integration.eat_rows import eat_rows, eat_rows_html
from integration.models_issues import IntegrationIssue, IssueEvent, IssueLevel, IssueStatus
from integration.selectors_issues import eat_issues, eat_nexuses, issue_wip, level_ages, nexus_issues

#: Issues listed at most on the Nexus page (newest raised beyond it are reached with the filters).
PAGE_MAX = 300


def _int(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() else None


def _filters(request: HttpRequest) -> dict[str, Any]:
    status = request.GET.get("status", IssueStatus.OPEN)
    return {
        "status": status if status in (*IssueStatus.values, "all") else IssueStatus.OPEN,
        "level": _int(request.GET.get("level")),
        "team": _int(request.GET.get("team")),
    }


def _rows(issues: list[IntegrationIssue]) -> list[tuple[IntegrationIssue, list[Any]]]:
    return [(issue, level_ages(issue)) for issue in issues]


def _issues_context(request: HttpRequest, nexus: Nexus, **extra: Any) -> dict[str, Any]:
    f = _filters(request) if request.method == "GET" else _filters_from_post(request)
    rows = nexus_issues(
        nexus=nexus, status=None if f["status"] == "all" else f["status"], level=f["level"], team=f["team"]
    )[:PAGE_MAX]
    count, limit = issue_wip(nexus.pk)
    user = request.user
    return {
        "nexus": nexus,
        "rows": _rows(list(rows)),
        "f": f,
        "teams": list(ScrumTeam.objects.filter(nexus=nexus).order_by("name")),
        "open_count": count,
        "limit": limit,
        "can_raise": svc.can_raise_issues(user=user, nexus=nexus),
        "can_escalate": svc.can_escalate_issues(user=user, nexus=nexus),
        "can_decide": svc.can_decide_issues(user=user, nexus=nexus),
        "events": IssueEvent.choices,
        "levels": IssueLevel.choices,
        "statuses": IssueStatus.choices,
        "kinds": WipLimitKind.choices,
        "top": IssueLevel.EAT,
        **extra,
    }


def _filters_from_post(request: HttpRequest) -> dict[str, Any]:
    """The list's filters as the form that posted carried them (hidden `f_*` fields)."""
    status = request.POST.get("f_status", IssueStatus.OPEN)
    return {
        "status": status if status in (*IssueStatus.values, "all") else IssueStatus.OPEN,
        "level": _int(request.POST.get("f_level")),
        "team": _int(request.POST.get("f_team")),
    }


def _answer(request: HttpRequest, nexus: Nexus, *, code: int = 200, **extra: Any) -> HttpResponse:
    context = _issues_context(request, nexus, **extra)
    template = (
        "integration/issues.html#body" if getattr(request, "htmx", False) else "integration/issues.html"
    )
    return render(request, template, context, status=code)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def issues_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The Nexus's integration issues: open ones by default, highest level first, oldest first, with
    their age at each level; filters by status, level and Scrum Team; the forms to raise, escalate,
    resolve (and at level 3, for Executive Action Team members, decide)."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    return _answer(request, nexus)


def _write(request: HttpRequest, nexus: Nexus, run: Any, done: str, **on_error: Any) -> HttpResponse:
    try:
        result = run()
    except DomainError as exc:
        return _answer(
            request, nexus, code=exc.status_code, error=str(exc), error_field=exc.field, **on_error
        )
    warnings = getattr(result, "warnings", None) or []
    return _answer(request, nexus, notice=done, warnings=warnings)


def _issue(nexus: Nexus, issue_id: int) -> IntegrationIssue:
    return get_object_or_404(IntegrationIssue.objects.select_related("nexus"), nexus=nexus, pk=issue_id)


@login_required
@require_POST
def issue_raise_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Raise an issue from the page's form (title, description, event, level, the user's team, the
    teams and PBIs it concerns: PBI ids separated by commas or spaces)."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    if not svc.can_raise_issues(user=request.user, nexus=nexus):
        return _answer(
            request, nexus, code=403, error="Stakeholders see the integration issues; they don't raise them."
        )
    p = request.POST
    raw_items = p.get("items", "").replace(",", " ").split()
    if any(not r.isdigit() for r in raw_items):
        return _answer(
            request,
            nexus,
            code=400,
            error="PBIs are ids (numbers) separated by commas.",
            error_field="items",
            raise_open=True,
        )
    team = _int(p.get("team"))
    level = _int(p.get("level")) or 1
    owner = (
        User.objects.filter(username=p.get("owner", "").strip()).first()
        if p.get("owner", "").strip()
        else None
    )
    if p.get("owner", "").strip() and owner is None:
        return _answer(
            request,
            nexus,
            code=400,
            error=f"No user {p['owner'].strip()!r}.",
            error_field="owner",
            raise_open=True,
        )
    return _write(
        request,
        nexus,
        lambda: svc.issue_raise(
            nexus=nexus,
            actor=request.user,
            title=p.get("title", ""),
            description=p.get("description", ""),
            event=p.get("event", IssueEvent.OTHER),
            team=team,
            teams=[int(t) for t in p.getlist("teams") if t.isdigit()],
            items=[int(i) for i in raw_items],
            owner=owner,
            level=level,
        ),
        "Issue raised.",
        raise_open=True,
    )


@login_required
@require_POST
def issue_escalate_view(request: HttpRequest, slug: str, issue_id: int) -> HttpResponse:
    """Escalate an issue one level up (Product Owner, Scrum Masters, Nexus Integration Team)."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    issue = _issue(nexus, issue_id)
    if not svc.can_escalate_issues(user=request.user, nexus=nexus):
        return _answer(
            request,
            nexus,
            code=403,
            error="Only the Product Owner, Scrum Masters and the Nexus Integration Team escalate.",
        )
    return _write(
        request,
        nexus,
        lambda: svc.issue_escalate(issue=issue, actor=request.user, note=request.POST.get("note", "")),
        f"“{issue.title}” escalated.",
    )


@login_required
@require_POST
def issue_resolve_view(request: HttpRequest, slug: str, issue_id: int) -> HttpResponse:
    """Resolve an issue or close it as won't fix, with a resolution note."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    issue = _issue(nexus, issue_id)
    if not svc.can_raise_issues(user=request.user, nexus=nexus):
        return _answer(
            request, nexus, code=403, error="Stakeholders see the integration issues; they don't close them."
        )
    status = request.POST.get("status", IssueStatus.RESOLVED)
    return _write(
        request,
        nexus,
        lambda: svc.issue_resolve(
            issue=issue, actor=request.user, resolution=request.POST.get("resolution", ""), status=status
        ),
        f"“{issue.title}” closed.",
    )


@login_required
@require_POST
def issue_wip_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Set or remove the Nexus's WIP limit on open integration issues."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    raw = request.POST.get("limit", "").strip()
    if raw and not raw.isdigit():
        return _answer(
            request,
            nexus,
            code=400,
            error="A WIP limit is a whole number (or empty: none).",
            error_field="limit",
        )
    return _write(
        request,
        nexus,
        lambda: svc.issue_wip_limit_set(
            nexus=nexus,
            actor=request.user,
            limit=int(raw) if raw else None,
            kind=request.POST.get("kind", WipLimitKind.SOFT),
        ),
        "WIP limit saved.",
    )


# --- The Executive Action Team page ------------------------------------------------------------------


def _eat_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    issues = eat_rows(eat_issues(user=request.user))
    return {
        "count": len(issues),
        "rows_html": eat_rows_html(
            issues,
            csrf_token=get_token(request),
            error=extra.get("error", ""),
            error_issue=extra.get("error_issue"),
        ),
        "nexuses": list(eat_nexuses(user=request.user)),
        **extra,
    }


def _eat_answer(request: HttpRequest, *, code: int = 200, **extra: Any) -> HttpResponse:
    template = "integration/eat.html#body" if getattr(request, "htmx", False) else "integration/eat.html"
    return render(request, template, _eat_context(request, **extra), status=code)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def eat_page(request: HttpRequest) -> HttpResponse:
    """The Executive Action Team page: the open impediments escalated to level 3 in every Nexus the user
    belongs to as an Executive Action Team member (superusers: every Nexus), longest at level 3 first, with
    each one's latest decision and the forms to record a decision or close it. A fixed number of queries
    whatever the number of issues and Nexuses."""
    return _eat_answer(request)


@login_required
@require_http_methods(["POST"])
def eat_decide_view(request: HttpRequest, issue_id: int) -> HttpResponse:
    """Record a decision (or with `close`, resolve the impediment with it as the resolution)."""
    issue = (
        IntegrationIssue.objects.select_related("nexus")
        .filter(pk=issue_id, nexus__in=eat_nexuses(user=request.user))
        .first()
    )
    if issue is None:
        raise Http404("No such impediment among your Nexuses.")
    text = request.POST.get("decision", "")
    try:
        if request.POST.get("close"):
            svc.issue_resolve(issue=issue, actor=request.user, resolution=text)
            done = f"“{issue.title}” resolved."
        else:
            svc.issue_decide(issue=issue, actor=request.user, decision=text)
            done = f"Decision recorded on “{issue.title}”."
    except DomainError as exc:
        return _eat_answer(request, code=exc.status_code, error=str(exc), error_issue=issue.pk)
    return _eat_answer(request, notice=done)
