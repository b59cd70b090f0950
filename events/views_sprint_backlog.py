"""The Nexus Sprint Backlog page (Nexus Guide: the composite of the Nexus Sprint Goal and the Product
Backlog Items of the Sprint from every Scrum Team's Sprint Backlog): the Nexus Sprint Goal, the team
Sprint Goals, every PBI of the active Sprint with its team squares, grouped (not started in any team,
started in some teams, ready to integrate, Done), Work Item Age against the SLE.

It updates itself while open: `static/js/sprint_backlog.js` polls the Nexus's change counter
(`backlog:nexus-changes`, every second) and, on a change, asks this view for its `body` part with the
filters the page shows (htmx), swapped in place: the scroll position and the filters stay.
"""

from __future__ import annotations

from html import escape
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import get_template
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from backlog.http import nexus_etag
from backlog.selectors import nexus_change_seq, nexus_get_for_user
from events.selectors_sprints import (
    BacklogCard,
    SquareRow,
    can_plan_sprints,
    sprint_active_get,
    sprint_backlog_get,
)
from flow.selectors import flow_state_stamp

#: How often the page asks the change counter, in milliseconds (a change shows within two seconds).
POLL_MS = 1000


class _Involvements:
    """`item.involvements.all()` for `backlog/_squares.html`, from squares already loaded."""

    def __init__(self, squares: list[SquareRow]) -> None:
        self._squares = squares

    def all(self) -> list[SquareRow]:
        return self._squares


class _Squares:
    """Stand-in for an item in `backlog/_squares.html` (it reads `item.involvements.all`)."""

    def __init__(self, squares: list[SquareRow]) -> None:
        self.involvements = _Involvements(squares)


_WRAP_OPEN, _WRAP_CLOSE = '<span class="squares">', "</span>"


def _inner(html: str) -> str | None:
    """The squares inside `backlog/_squares.html`'s one wrapper, or None when it is drawn otherwise."""
    html = html.strip()
    if html.startswith(_WRAP_OPEN) and html.endswith(_WRAP_CLOSE):
        return html[len(_WRAP_OPEN) : -len(_WRAP_CLOSE)]
    return None


def group_cards_html(cards: list[BacklogCard]) -> SafeString:
    """The cards (`<li class="card">`) of one group of the Nexus Sprint Backlog, built here rather than by
    the template engine (a Sprint of 300 PBIs would take it a few hundred milliseconds; as
    `backlog.views_rows`). The team squares come from `backlog/_squares.html`, the one drawing of them,
    rendered once per (team, status) and reused. Every value is escaped."""
    squares_tpl = get_template("backlog/_squares.html")
    one: dict[tuple[int, str], str | None] = {}  # the inner markup of one square, by the template
    drawn: dict[tuple[tuple[int, str], ...], str] = {}
    out: list[str] = []
    append = out.append
    for card in cards:
        item = card.item
        key = tuple((sq.team_id, sq.status) for sq in card.squares)
        squares = drawn.get(key)
        if squares is None:
            inner: list[str | None] = []
            for sq in card.squares:
                if (sq.team_id, sq.status) not in one:
                    one[(sq.team_id, sq.status)] = _inner(squares_tpl.render({"item": _Squares([sq])}))
                inner.append(one[(sq.team_id, sq.status)])
            if all(p is not None for p in inner):
                squares = f"{_WRAP_OPEN}{''.join(p or '' for p in inner)}{_WRAP_CLOSE}"
            else:  # the template draws squares otherwise than in one wrapper: draw the set whole
                squares = squares_tpl.render({"item": _Squares(card.squares)})
            drawn[key] = squares
        blocked = " is-blocked" if item.is_blocked else ""
        append(
            f'<li class="card{blocked}" data-item="{item.pk}"><p class="card-title">'
            f'<span class="ext">{escape(item.external_id)}</span> {escape(item.title)}</p>'
            f'<div class="card-foot">{squares}'
        )
        if card.age:
            sle = f"; SLE: {escape(card.sle.text)}" if card.sle is not None and card.sle.days else ""
            append(
                f'<span class="age age-{card.band or "none"}" title="Work Item Age: {card.age} calendar days'
                f'{sle}">{card.age}d</span>'
            )
        if card.depends_on:
            append(_dep_badge("⇠", "Depends on", "waiting on", card.depends_on, late=card.deps_late))
        if card.blocks:
            append(_dep_badge("⇢", "Blocks", "blocking", card.blocks, late=card.deps_late))
        append(f'</div><p class="card-col small muted">{escape(item.column.name)}')
        if item.is_blocked:
            reason = f": {escape(item.blocked_reason)}" if item.blocked_reason else ""
            append(f' · <span class="blocked" title="Blocked{reason}">Blocked</span>')
        append("</p></li>")
    return SafeString("".join(out))


def _dep_badge(arrow: str, title: str, spoken: str, names: list[str], *, late: bool) -> str:
    """A card's dependency badge: `arrow` and the count, `title` and the external ids on hover, `spoken`
    and the ids for screen readers; red (`late`) when one of them is late."""
    joined = escape(", ".join(names))
    late_text = " (late)" if late else ""
    return (
        f'<span class="badge dep{" late" if late else ""}" title="{title} {joined}{late_text}">'
        f'<span aria-hidden="true">{arrow}</span> {len(names)}'
        f'<span class="sq-name"> {spoken} {joined}{late_text}</span></span>'
    )


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
        sb = sprint_backlog_get(nexus=nexus, sprint=sprint, team=team, q=q)
        context["sb"] = sb
        context["groups"] = [
            (key, heading, help_text, len(cards), group_cards_html(cards))
            for key, heading, help_text, cards in sb.groups
        ]
    template = "events/sprint_backlog.html"
    if request.headers.get("HX-Request"):
        template += "#body"
    return render(request, template, context)
