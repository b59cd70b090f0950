"""The rows of the Executive Action Team page (`<li class="issue">` each), built here rather than by the
template engine: the page lists every open level-3 impediment of the member's Nexuses (500 in the bench),
which the template language renders in hundreds of milliseconds (as `events.views_planning` and
`backlog.views_rows` do for their long lists). Every value is escaped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from integration.models_issues import IntegrationIssue, IssueEvent
from integration.selectors_issues import issue_team_names, level_ages


def _day(at: datetime | None) -> str:
    if at is None:
        return ""
    local = timezone.localtime(at)
    return f"{local.day} {local:%b %Y}"


@dataclass(frozen=True)
class EatRow:
    """An issue as the page shows it (`eat_rows`): plain values, no model instance to build."""

    pk: int
    title: str
    description: str
    event: str
    level: int
    decision: str
    raised_at: datetime
    level_2_at: datetime | None
    level_3_at: datetime | None
    closed_at: datetime | None
    nexus_name: str
    raised_by: str | None
    raised_by_team: str | None
    owner: str | None


def eat_rows(issues: QuerySet[IntegrationIssue]) -> list[EatRow]:
    """The values of `issues` (`selectors_issues.eat_issues`) the page shows, in one query, as `EatRow`s:
    building 500 model instances with their Nexus and people costs more than the page's budget."""
    fields = (
        "pk", "title", "description", "event", "level", "decision", "raised_at", "level_2_at",
        "level_3_at", "closed_at", "nexus__name", "raised_by__username", "raised_by_team__name",
        "owner__username",
    )  # fmt: skip
    return [EatRow(*values) for values in issues.values_list(*fields)]


def eat_rows_html(
    issues: list[EatRow], *, csrf_token: str, error: str = "", error_issue: int | None = None
) -> SafeString:
    """The page's rows, in the order given (see the module). `csrf_token` goes into each form (plain
    posts without JavaScript); `error` is shown on the row of `error_issue`. One query (the teams); the
    issues come with their people and Nexus (`selectors_issues.eat_issues`)."""
    team_names = issue_team_names([i.pk for i in issues])
    events = dict(IssueEvent.choices)
    now = timezone.now()
    csrf = f'<input type="hidden" name="csrfmiddlewaretoken" value="{escape(csrf_token)}">'
    decide_base = reverse("integration:eat-decide", args=[0]).rsplit("0/decide/", 1)[0]
    out: list[str] = []
    append = out.append
    for issue in issues:
        pk = issue.pk
        append(f'<li class="issue lvl-3" id="eat-issue-{pk}"><h3><span class="eat-nexus">')
        append(f"{escape(issue.nexus_name)}</span> · {escape(issue.title)}</h3>")
        if issue.description:
            append(f'<p class="desc small">{escape(issue.description)}</p>')
        append('<div class="issue-meta"><span class="ages" aria-label="Age at each level">')
        ages = level_ages(issue, now)
        for i, a in enumerate(ages):
            cls = "age-step now" if a.current else "age-step"
            append(f'<span class="{cls}" title="{escape(a.label)}">L{a.level} {a.text}</span>')
            if i + 1 < len(ages):
                append('<span aria-hidden="true">→</span>')
        append("</span><span>")
        who = f"raised by {escape(issue.raised_by)}" if issue.raised_by else "raised"
        team = f" ({escape(issue.raised_by_team)})" if issue.raised_by_team else ""
        append(f"{who}{team} at {escape(events.get(issue.event, issue.event))}</span>")
        append(f"<span>escalated to the EAT {_day(issue.level_3_at)}</span>")
        teams = team_names.get(pk, [])
        if teams:
            append(f"<span>teams: {escape(', '.join(teams))}</span>")
        owner = escape(issue.owner) if issue.owner else "nobody"
        append(f"<span>owner: {owner}</span></div>")
        if issue.decision:
            append(f'<p class="decision small"><strong>Decision:</strong> {escape(issue.decision)}</p>')
        else:
            append('<p class="small muted">No decision recorded yet.</p>')
        if error and error_issue == pk:
            append(f'<p class="msg msg-error small">{escape(error)}</p>')
        url = f"{decide_base}{pk}/decide/"
        append(
            f'<div class="issue-actions"><form hx-post="{url}" hx-target="#eat-body" hx-swap="outerHTML" '
            f'method="post" action="{url}">{csrf}'
            f'<label class="sr-only" for="dec-{pk}">Decision</label>'
            f'<input type="text" id="dec-{pk}" name="decision" placeholder="The decision" required '
            'class="decision-input">'
            '<button class="btn primary" type="submit">Record decision</button> '
            '<button class="btn" type="submit" name="close" value="1">Record and resolve</button>'
            "</form></div></li>"
        )
    return mark_safe("".join(out))  # every value above is escaped
