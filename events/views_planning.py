"""The Nexus Sprint Planning page (Nexus Guide): the top of the ordered Product Backlog (ready items
first), each Scrum Team's Throughput per Sprint, the team lanes of the Sprint being planned, the Nexus
Sprint Goal and the team Sprint Goals, and the Start button.

Doors only: writes go to `events.services` (`sprint_create`, `sprint_plan`, `sprint_unplan`,
`sprint_update`, `sprint_start`); reads to
`events.selectors_sprints.planning_get`. Who (`planning_rights_of`, the services' rule): the Product
Owner and Nexus Integration Team members plan the whole Sprint; each Scrum Team's representatives
(Developers, Scrum Masters) plan into their own team's lane, take its cards out and write its Sprint
Goal (their lane is a drop target, the others read-only; another team's lane is a 403 in the page);
Stakeholders read (403). A refused write (`DomainError`) answers
its status (400/403/409) with the page part that shows the message in the page; htmx swaps it in
(`static/js/planning.js`), a plain form post gets the whole page with the message.
"""

from __future__ import annotations

from html import escape
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from backlog.errors import DomainError, NotAllowed
from backlog.http import nexus_etag
from backlog.models import Nexus, ProductBacklogItem, ScrumTeam
from backlog.selectors import nexus_get_for_user
from events import services
from events.models import Sprint
from events.selectors_sprints import (
    CANDIDATES_DEFAULT,
    CANDIDATES_MAX,
    PlanCard,
    can_plan_sprints,
    planning_get,
    planning_rights_of,
)

#: The mark of a lane card's remove button (a multiplication sign).
REMOVE_MARK = "\u00d7"
#: Longest goal accepted from the form (characters); the API's limit is the service's.
GOAL_MAX = 2000


def _limit(request: HttpRequest) -> int:
    raw = request.GET.get("limit", "")
    return max(1, min(int(raw), CANDIDATES_MAX)) if raw.isdigit() else CANDIDATES_DEFAULT


def _chosen_team(request: HttpRequest) -> int | None:
    raw = request.POST.get("team", "") or request.GET.get("team", "")
    return int(raw) if raw.isdigit() else None


def card_rows_html(
    cards: list[PlanCard],
    *,
    can_plan: bool,
    lane: ScrumTeam | None = None,
    ready_column: bool = True,
    unplan_url: str = "",
) -> SafeString:
    """The cards (`<li class="plan-card">`) of the candidates list (`lane` None: a Plan button each, for
    the team the keyboard form `#plan-kbd` has chosen) or of a team lane (a remove button each, submitting
    the same form to `unplan_url` through `formaction`, so the chosen team travels with it with or without
    htmx), built here rather than by the template engine: the page shows up to 500
    candidates (`CANDIDATES_MAX`), which the template language renders in hundreds of milliseconds (as
    `backlog.views_rows` does for the Product Backlog page). Every value is escaped. A ready PBI's
    column gets the ready tick only when the Definition of Workflow has a ready column (`ready_column`):
    without one, no PBI is told ready or not."""
    out: list[str] = []
    append = out.append
    for card in cards:
        ext, title = escape(card.external_id), escape(card.title)
        cls = (
            "plan-card"
            + (" not-ready" if not card.ready else "")
            + (" is-blocked" if card.is_blocked else "")
        )
        append(f'<li class="{cls}" data-item="{card.pk}"><p class="card-title">')
        if can_plan and lane is None:
            append('<span class="grip" aria-hidden="true">⠿</span>')
        append(f'<span class="ext">{ext}</span> {title}</p><div class="card-foot"><span class="squares">')
        for _team_id, code, name, status, label in card.squares:
            text = f"{escape(name)}: {escape(label)}"
            append(
                f'<span class="sq sq-{escape(status)}" title="{text}" aria-label="{text}">'
                f"{escape(code)}</span>"
                f'<span class="sq-name">{text}</span>'
            )
        ready = " is-ready" if card.ready and ready_column else ""
        append("</span>")
        if lane is None:
            append(f'<span class="col-name small{ready}">{escape(card.column_name)}</span>')
        if not card.ready:
            append('<span class="tag tag-warn">not ready</span>')
        if can_plan and lane is not None:
            who = escape(lane.name)
            append(
                f'<button type="submit" class="icon-btn" form="plan-kbd" '
                f'formaction="{escape(unplan_url)}" name="take" value="{card.pk}-{lane.pk}" '
                f'aria-label="Take {ext} out of {who}\'s lane" '
                f'title="Take out of this lane">{REMOVE_MARK}</button>'
            )
        elif can_plan:
            append(
                f'<button type="submit" class="btn small-btn plan-btn" form="plan-kbd" name="item" '
                f'value="{card.pk}" aria-label="Plan {ext} {title} for the team chosen above">Plan</button>'
            )
        append("</div></li>")
    return SafeString("".join(out))


def _context(
    request: HttpRequest,
    nexus: Nexus,
    *,
    error: str = "",
    error_part: str = "",
    notice: str = "",
    **extra: Any,
) -> dict[str, Any]:
    plan = planning_get(nexus=nexus, limit=_limit(request))
    rights = planning_rights_of(user=request.user, nexus=nexus)
    unplan_url = reverse("events:planning-remove", args=[nexus.slug, plan.sprint.pk]) if plan.sprint else ""
    for lane in plan.lanes:
        lane.plannable = rights.plans(lane.team.pk)
        lane.cards_html = card_rows_html(
            lane.cards, can_plan=lane.plannable, lane=lane.team, unplan_url=unplan_url
        )
    plan_teams = [t for t in plan.teams if rights.plans(t.pk)]
    return {
        "nexus": nexus,
        "plan": plan,
        # The whole Sprint: the Nexus Sprint Goal, every lane, create and start (PO, NIT).
        "can_plan": rights.whole,
        # Some lane: the representative of a team plans its lane and writes its Sprint Goal.
        "can_plan_lanes": rights.any_lane,
        # The teams the keyboard form offers (a representative: their own).
        "plan_teams": plan_teams,
        "my_teams": ", ".join(t.name for t in plan_teams) if not rights.whole else "",
        "candidate_rows": card_rows_html(
            plan.candidates, can_plan=rights.any_lane, ready_column=plan.has_ready_column
        ),
        "error": error,
        "error_part": error_part,
        "notice": notice,
        "goal_max": GOAL_MAX,
        "limit": _limit(request),
        # The team the keyboard form had chosen, kept after a plan or a take-out (posted with htmx;
        # `?team=` after the redirect of a plain form post).
        "plan_team": _chosen_team(request),
        **extra,
    }


@login_required
@require_GET
@vary_on_headers("HX-Request")
@nexus_etag()
def planning(request: HttpRequest, slug: str) -> HttpResponse:
    """The Nexus Sprint Planning page (`?limit=` candidates shown, 1 to `CANDIDATES_MAX`)."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    return render(request, "events/planning.html", _context(request, nexus))


def _answer(
    request: HttpRequest, nexus: Nexus, part: str, *, error: DomainError | None = None, notice: str = ""
) -> HttpResponse:
    """The page part `part` (htmx) or, for a plain form post, a redirect to the page (success) or the
    whole page with the message (refused), with the error's status."""
    status = error.status_code if error is not None else 200
    message = error.message if error is not None else ""
    if not request.headers.get("HX-Request"):
        if error is None:
            url = reverse("events:planning", args=[nexus.slug])
            team = _chosen_team(request)
            return redirect(f"{url}?team={team}" if team is not None else url)
        context = _context(request, nexus, error=message, error_part=part, notice=notice)
        return render(request, "events/planning.html", context, status=status)
    context = _context(request, nexus, error=message, error_part=part, notice=notice)
    retarget = part != "planning" and context["plan"].sprint is None
    if retarget:  # the Sprint is no longer planned (started or closed meanwhile): the whole part
        context["error_part"] = part = "planning"
    response = render(request, f"events/planning.html#{part}", context, status=status)
    if retarget:
        response["HX-Retarget"] = "#planning"
        response["HX-Reswap"] = "outerHTML"
    return response


def _guard(request: HttpRequest, slug: str) -> Nexus:
    """The Nexus, for those who plan the whole Sprint (create, start): else `NotAllowed` (403)."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    if not can_plan_sprints(user=request.user, nexus=nexus):
        raise NotAllowed(
            "Only the Product Owner and Nexus Integration Team members create and start Sprints."
        )
    return nexus


def _lanes_guard(request: HttpRequest, nexus: Nexus) -> None:
    """`NotAllowed` (403) for someone who plans no team lane (Stakeholders); which lanes a team's
    representative plans, the services decide (403 naming `team`)."""
    if not planning_rights_of(user=request.user, nexus=nexus).any_lane:
        raise NotAllowed(
            "Stakeholders read the Sprint; the Product Owner, the Nexus Integration Team and the Scrum "
            "Teams' representatives plan it."
        )


def _sprint(nexus: Nexus, sprint_id: int) -> Sprint:
    return get_object_or_404(Sprint, nexus=nexus, pk=sprint_id)


def _posted_int(raw: str, name: str, label: str) -> int:
    if not raw.isdigit() or len(raw) > 18:
        raise DomainError(f"Choose {label}.", field=name)
    return int(raw)


def _item(nexus: Nexus, raw: str) -> ProductBacklogItem:
    pk = _posted_int(raw, "item", "a Product Backlog Item")
    item = ProductBacklogItem.objects.alive().filter(backlog__nexus=nexus, pk=pk).first()
    if item is None:
        raise DomainError(
            "That Product Backlog Item is not in this Nexus (deleted meanwhile?).", field="item"
        )
    return item


def _team(nexus: Nexus, raw: str) -> ScrumTeam:
    pk = _posted_int(raw, "team", "a Scrum Team")
    team = ScrumTeam.objects.filter(nexus=nexus, pk=pk).first()
    if team is None:
        raise DomainError("That Scrum Team is not in this Nexus.", field="team")
    return team


@login_required
@require_POST
def sprint_new(request: HttpRequest, slug: str) -> HttpResponse:
    """Create the next Sprint on the Nexus's cadence (`sprint_create`), to plan it."""
    try:
        nexus = _guard(request, slug)
        services.sprint_create(nexus=nexus, actor=request.user)
    except DomainError as exc:
        nexus = nexus_get_for_user(user=request.user, slug=slug)
        return _answer(request, nexus, "planning", error=exc)
    return _answer(request, nexus, "planning")


@login_required
@require_POST
def plan_add(request: HttpRequest, slug: str, sprint_id: int) -> HttpResponse:
    """Plan the PBI `item` into the Sprint for the Scrum Team `team` (its square; a PBI already in the
    Sprint gets one more team). Answers the planning board part."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    try:
        _lanes_guard(request, nexus)
        sprint = _sprint(nexus, sprint_id)
        item = _item(nexus, request.POST.get("item", ""))
        team = _team(nexus, request.POST.get("team", ""))
        services.sprint_plan(sprint=sprint, item=item, teams=[team], actor=request.user)
    except DomainError as exc:
        return _answer(request, nexus, "board", error=exc)
    return _answer(request, nexus, "board")


@login_required
@require_POST
def plan_remove(request: HttpRequest, slug: str, sprint_id: int) -> HttpResponse:
    """Take the PBI `item` out of the team lane `team` (`sprint_unplan` with `team`: its square goes;
    the PBI leaves the Sprint when it was the last team), or out of the Sprint when no `team` is
    posted."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    raw_item, raw_team = request.POST.get("item", ""), request.POST.get("team", "")
    take = request.POST.get("take", "")
    if take:  # the remove button of a lane card: "<item id>-<team id>"
        raw_item, _sep, raw_team = take.partition("-")
    try:
        _lanes_guard(request, nexus)
        sprint = _sprint(nexus, sprint_id)
        item = _item(nexus, raw_item)
        team = _team(nexus, raw_team) if raw_team else None
        services.sprint_unplan(sprint=sprint, item=item, team=team, actor=request.user)
    except DomainError as exc:
        return _answer(request, nexus, "board", error=exc)
    return _answer(request, nexus, "board")


@login_required
@require_POST
def goals_save(request: HttpRequest, slug: str, sprint_id: int) -> HttpResponse:
    """Save the Nexus Sprint Goal (`goal`) and the team Sprint Goals (`team-<id>`), with the version the
    form was rendered with (`version`: a change meanwhile is a 409 shown in the page). What is not
    posted stays as it is: a representative's form has only their own team's goal (the service refuses
    any other change, 403 naming the field)."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    try:
        _lanes_guard(request, nexus)
        sprint = _sprint(nexus, sprint_id)
        changes: dict[str, Any] = {}
        if "goal" in request.POST:
            goal = request.POST.get("goal", "").strip()
            if len(goal) > GOAL_MAX:
                raise DomainError(
                    f"The Nexus Sprint Goal is {len(goal)} characters long; at most {GOAL_MAX}.", field="goal"
                )
            changes["goal"] = goal
        team_goals = dict(sprint.team_goals.values_list("team_id", "goal"))  # unposted ones kept
        posted = False
        for team in ScrumTeam.objects.filter(nexus=nexus):
            text = request.POST.get(f"team-{team.pk}")
            if text is None:
                continue
            posted = True
            text = text.strip()
            if len(text) > GOAL_MAX:
                raise DomainError(
                    f"The Sprint Goal of {team.name} is too long (at most {GOAL_MAX}).", field="team_goals"
                )
            team_goals[team.pk] = text
        if posted:
            changes["team_goals"] = [{"team": pk, "goal": text} for pk, text in team_goals.items()]
        raw_version = request.POST.get("version", "")
        services.sprint_update(
            sprint=sprint,
            actor=request.user,
            expected_version=int(raw_version) if raw_version.isdigit() else None,
            **changes,
        )
    except DomainError as exc:
        return _answer(request, nexus, "goals", error=exc)
    return _answer(request, nexus, "goals", notice="Goals saved.")


@login_required
@require_POST
def sprint_start_view(request: HttpRequest, slug: str, sprint_id: int) -> HttpResponse:
    """Start the Sprint (`sprint_start`: freezes the plan) and go to the Nexus Sprint Backlog."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    try:
        _guard(request, slug)
        services.sprint_start(sprint=_sprint(nexus, sprint_id), actor=request.user)
    except DomainError as exc:
        return _answer(request, nexus, "planning", error=exc)
    target = reverse("events:sprint-backlog", args=[nexus.slug])
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return redirect(target)
