"""The Nexus Sprint Retrospective page (Nexus Guide), per started Sprint: open improvement actions of
earlier retrospectives first, then the three parts (cross-team issues; each Scrum Team's items, linked to
them; Nexus improvement actions that become a PBI or a tracked action), beside them the Sprint's flow
figures, the integration issues of the Sprint (a panel `integration` registers for the slot
`retrospective`) and the Definition of Workflow, which Nexus Integration Team members change here through
`backlog.services.workflow` (the services the admin uses).

Doors only: writes go to `events.services.retro` and `backlog.services.workflow`, reads to
`events.selectors_retro`. Each form posts with htmx and the view answers that part's partial (the whole
page without htmx); a refused write (`DomainError`) answers its status (400/403/409) with the message in
the part, above the form, and the form keeps what was typed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from backlog.errors import DomainError, NotAllowed
from backlog.models import ColumnCategory, Nexus, ScrumTeam, WipLimitKind, WorkflowColumn
from backlog.selectors import backlog_rights, can_change_workflow, nexus_get_for_user
from backlog.services.common import UNSET
from backlog.services.workflow import column_create, column_delete, column_update
from events.models import ActionKind, ActionStatus, ImprovementAction, RetroItem, Sprint
from events.selectors_retro import retro_page_get, retro_sprint_default, retro_sprint_get
from events.services import retro as svc

TEMPLATE = "events/retrospective.html"
#: The page's parts, each an htmx partial of the template (`#<part>`).
PARTS = ("carried", "part1", "part2", "part3", "workflow")
#: The event a write to a part sends (`HX-Trigger`) so that the parts showing what it changed reload
#: themselves: a cross-team issue is offered in parts 2 and 3; part 1 counts the team items linked to it.
REFRESHES = {"part1": "retro-issues-changed", "part2": "retro-links-changed"}


def _context(request: HttpRequest, nexus: Nexus, sprint: Sprint, **extra: Any) -> dict[str, Any]:
    user = request.user
    can_record = svc.can_record_retro(user=user, nexus=nexus)
    page = retro_page_get(
        nexus=nexus,
        sprint=sprint,
        can_record=can_record,
        team_ids=svc.team_ids_for_retro(user=user, nexus=nexus),
        can_create_pbis=can_record and backlog_rights(user=user, nexus=nexus).can_create,
        can_change_workflow=can_change_workflow(user=user, nexus=nexus),
    )
    return {
        "nexus": nexus,
        "sprint": sprint,
        "page": page,
        "statuses": ActionStatus.choices,
        "kinds": ActionKind.choices,
        "categories": ColumnCategory.choices,
        "limit_kinds": WipLimitKind.choices,
        "form": extra.pop("form", {}),
        **extra,
    }


def _answer(
    request: HttpRequest, nexus: Nexus, sprint: Sprint, *, part: str, code: int = 200, **extra: Any
) -> HttpResponse:
    context = _context(request, nexus, sprint, part=part, **extra)
    template = f"{TEMPLATE}#{part}" if getattr(request, "htmx", False) else TEMPLATE
    return render(request, template, context, status=code)


def _write(
    request: HttpRequest, nexus: Nexus, sprint: Sprint, part: str, run: Callable[[], Any], done: str
) -> HttpResponse:
    """Run a write; answer the part with `done`, or with the refusal (its status) and the form as typed."""
    try:
        run()
    except DomainError as exc:
        return _answer(
            request,
            nexus,
            sprint,
            part=part,
            code=exc.status_code,
            error=str(exc),
            error_field=exc.field,
            error_part=part,
            form=request.POST.dict(),
        )
    response = _answer(request, nexus, sprint, part=part, notice=done, notice_part=part)
    if part in REFRESHES:
        response["HX-Trigger"] = REFRESHES[part]
    return response


def _int(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 18 else None


def _load(request: HttpRequest, slug: str, sprint_id: int) -> tuple[Nexus, Sprint]:
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    return nexus, retro_sprint_get(nexus=nexus, sprint_id=sprint_id)


# --- pages ---------------------------------------------------------------------------------------------


@login_required
@require_GET
def retrospective_latest(request: HttpRequest, slug: str) -> HttpResponse:
    """`/n/<slug>/retrospective/`: the retrospective of the Sprint `retro_sprint_default` picks (the active
    Sprint near its end, else the last closed one); a short page when no Sprint has started."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    sprint = retro_sprint_default(nexus=nexus)
    if sprint is None:
        return render(request, TEMPLATE, {"nexus": nexus, "sprint": None, "page": None})
    return redirect("events:retrospective", slug=nexus.slug, sprint_id=sprint.pk)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def retrospective(request: HttpRequest, slug: str, sprint_id: int) -> HttpResponse:
    """The retrospective of Sprint `sprint_id` (a started one; 404 otherwise). `?part=` (htmx) answers one
    part's partial."""
    nexus, sprint = _load(request, slug, sprint_id)
    part = request.GET.get("part", "")
    if getattr(request, "htmx", False) and part in PARTS:
        return _answer(request, nexus, sprint, part=part)
    return render(request, TEMPLATE, _context(request, nexus, sprint))


# --- parts 1 and 2 ---------------------------------------------------------------------------------------


@login_required
@require_POST
def retro_issue_add(request: HttpRequest, slug: str, sprint_id: int) -> HttpResponse:
    """Part 1: record a cross-team issue (`text`)."""
    nexus, sprint = _load(request, slug, sprint_id)
    return _write(
        request,
        nexus,
        sprint,
        "part1",
        lambda: svc.retro_item_add(sprint=sprint, actor=request.user, text=request.POST.get("text", "")),
        "Cross-team issue recorded.",
    )


@login_required
@require_POST
def retro_team_item_add(request: HttpRequest, slug: str, sprint_id: int) -> HttpResponse:
    """Part 2: record a Scrum Team's item (`team`, `text`, optional `cross_team_issue`)."""
    nexus, sprint = _load(request, slug, sprint_id)

    def run() -> RetroItem:
        team_id = _int(request.POST.get("team"))
        team = ScrumTeam.objects.filter(nexus=nexus, pk=team_id).first() if team_id else None
        if team is None:
            raise DomainError("Choose the Scrum Team whose item this is.", field="team")
        return svc.retro_item_add(
            sprint=sprint,
            actor=request.user,
            text=request.POST.get("text", ""),
            team=team,
            cross_team_issue=_int(request.POST.get("cross_team_issue")),
        )

    return _write(request, nexus, sprint, "part2", run, "Team item recorded.")


@login_required
@require_POST
def retro_item_delete(request: HttpRequest, slug: str, sprint_id: int, item_id: int) -> HttpResponse:
    """Delete an item recorded by mistake (parts 1 and 2); answers the part it was in."""
    nexus, sprint = _load(request, slug, sprint_id)
    item = get_object_or_404(RetroItem.objects.select_related("nexus", "team"), sprint=sprint, pk=item_id)
    part = "part2" if item.team_id else "part1"
    return _write(
        request,
        nexus,
        sprint,
        part,
        lambda: svc.retro_item_delete(item=item, actor=request.user),
        "Deleted.",
    )


# --- part 3 and the carried actions ------------------------------------------------------------------------


@login_required
@require_POST
def retro_action_agree(request: HttpRequest, slug: str, sprint_id: int) -> HttpResponse:
    """Part 3: agree an improvement action (`title`, `owner` username, `kind` pbi or action, optional
    `cross_team_issue`)."""
    nexus, sprint = _load(request, slug, sprint_id)

    def run() -> ImprovementAction:
        name = request.POST.get("owner", "").strip()
        owner = User.objects.filter(username=name).first() if name else None
        if name and owner is None:
            raise DomainError(f"No user {name!r}.", field="owner")
        return svc.action_agree(
            sprint=sprint,
            actor=request.user,
            title=request.POST.get("title", ""),
            owner=owner,
            kind=request.POST.get("kind", ActionKind.ACTION),
            cross_team_issue=_int(request.POST.get("cross_team_issue")),
        )

    return _write(request, nexus, sprint, "part3", run, "Improvement action agreed.")


@login_required
@require_POST
def retro_action_status(request: HttpRequest, slug: str, sprint_id: int, action_id: int) -> HttpResponse:
    """Mark a tracked action done, dropped or open again (`status`, optional `note`) at this Sprint's
    retrospective; answers the part it is shown in (carried from an earlier Sprint, or part 3)."""
    nexus, sprint = _load(request, slug, sprint_id)
    action = get_object_or_404(ImprovementAction.objects.select_related("sprint"), nexus=nexus, pk=action_id)
    part = "part3" if action.sprint_id == sprint.pk else "carried"
    status = request.POST.get("status", "")
    label = dict(ActionStatus.choices).get(status, status).lower()
    return _write(
        request,
        nexus,
        sprint,
        part,
        lambda: svc.action_set_status(
            action=action, actor=request.user, status=status, sprint=sprint, note=request.POST.get("note", "")
        ),
        f"“{action.title}” is {label}.",
    )


# --- the Definition of Workflow ---------------------------------------------------------------------------


def _workflow_check(request: HttpRequest, nexus: Nexus) -> None:
    if not can_change_workflow(user=request.user, nexus=nexus):
        raise NotAllowed(
            "Only the Nexus Integration Team (and administrators) change the Definition of Workflow.",
            field="column",
        )


def _limit(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    if not raw.lstrip("-").isdigit() or len(raw) > 9:
        raise DomainError(
            "A WIP limit is a whole number (at least 1); leave it empty for none.", field="wip_limit"
        )
    return int(raw)


@login_required
@require_POST
def retro_column_update(request: HttpRequest, slug: str, sprint_id: int, column_id: int) -> HttpResponse:
    """Change a column of the Definition of Workflow (`name`, `wip_limit`, `wip_limit_kind`) through
    `backlog.services.workflow.column_update` (Nexus Integration Team, administrators)."""
    nexus, sprint = _load(request, slug, sprint_id)
    column = get_object_or_404(WorkflowColumn, nexus=nexus, pk=column_id)

    def run() -> Any:
        _workflow_check(request, nexus)
        post = request.POST
        return column_update(
            column=column,
            name=post.get("name", UNSET),
            wip_limit=_limit(post.get("wip_limit")) if "wip_limit" in post else UNSET,
            wip_limit_kind=post.get("wip_limit_kind", UNSET),
        )

    saved = (request.POST.get("name") or column.name).strip()
    return _write(request, nexus, sprint, "workflow", run, f"Column “{saved}” saved.")


@login_required
@require_POST
def retro_column_add(request: HttpRequest, slug: str, sprint_id: int) -> HttpResponse:
    """Add a column (`name`, `category`, `wip_limit`) through `backlog.services.workflow.column_create`."""
    nexus, sprint = _load(request, slug, sprint_id)

    def run() -> Any:
        _workflow_check(request, nexus)
        post = request.POST
        return column_create(
            nexus=nexus,
            name=post.get("name", ""),
            category=post.get("category", ""),
            wip_limit=_limit(post.get("wip_limit")),
            wip_limit_kind=post.get("wip_limit_kind", WipLimitKind.SOFT),
        )

    return _write(request, nexus, sprint, "workflow", run, "Column added.")


@login_required
@require_POST
def retro_column_delete(request: HttpRequest, slug: str, sprint_id: int, column_id: int) -> HttpResponse:
    """Delete a column through `backlog.services.workflow.column_delete` (409 with the reason when the
    history refers to it)."""
    nexus, sprint = _load(request, slug, sprint_id)
    column = get_object_or_404(WorkflowColumn, nexus=nexus, pk=column_id)

    def run() -> None:
        _workflow_check(request, nexus)
        column_delete(column=column)

    return _write(request, nexus, sprint, "workflow", run, f"Column “{column.name}” deleted.")
