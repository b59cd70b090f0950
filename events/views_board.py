"""The Nexus board of the Nexus Daily Scrum (`events.board*`): the page (filters, swimlanes, wall mode,
as-of replay in its query string), its live part (rendered once per change and filter set, from the shared
cache), the "changed since?" answer the page polls, the timer and the walk of the board, and the actions on
a card (move, block or unblock, change a square, add a dependency; raising an integration issue is a link
an upper app registers), all through the same services as every other door."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from backlog.errors import DomainError, NotAllowed
from backlog.models import (
    DependencyKind,
    FoundAt,
    ProductBacklogItem,
    Source,
    TeamInvolvement,
    TeamStatus,
    WorkflowColumn,
)
from backlog.selectors import can_edit_items, nexus_get_for_user, workflow_columns
from backlog.services import involvement_set_status, pbi_transition, pbi_update
from backlog.services.dependencies import dependency_create
from events.board_filters import LANES, BoardFilters, board_filters_parse
from events.board_live import board_html, board_version_etag
from events.board_panels import board_state_get, walk_order, walk_step
from events.services.board import board_can_drive, board_walk_set, daily_scrum_start
from nexus_site.extensions import board_providers


def _error(
    request: HttpRequest, error: DomainError, template: str = "events/board.html#error"
) -> HttpResponse:
    return render(request, template, {"error": error}, status=error.status_code)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def board(request: HttpRequest, slug: str) -> HttpResponse:
    """The Nexus board: one column per Definition of Workflow column (every card of the columns in progress,
    each column scrolling with "N more below"); cards with team squares, Work Item Age against the SLE,
    blocked flag and reason, dependency badges and what upper apps add; side panels; WIP against limits.
    `?team=&label=` filter, `?lanes=` picks the swimlanes, `?wall=1` is wall mode, `?as_of=YYYY-MM-DD`
    the board of a past day (read-only). With `?live=1` (the page's refresh) the live part alone, with
    its ETag (304 when the browser holds it). Bad parameters: a 400 naming the parameter."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    error: DomainError | None = None
    try:
        filters = board_filters_parse(query=request.GET, nexus=nexus)
    except DomainError as exc:
        if request.GET.get("live") == "1":
            return render(request, "events/board.html#error", {"error": exc}, status=400)
        error, filters = exc, BoardFilters()  # the page, unfiltered, saying what was wrong
    html, etag = board_html(nexus=nexus, filters=filters)
    if request.GET.get("live") == "1":
        if request.headers.get("If-None-Match") == etag:
            response: HttpResponse = HttpResponseNotModified()
        else:
            response = HttpResponse(html)
        response["ETag"] = etag
        patch_cache_control(response, private=True, no_cache=True)
        return response
    context = {
        "nexus": nexus,
        "filters": filters,
        "live_html": html,
        "etag": etag,
        "lane_names": LANES,
        "teams": list(nexus.teams.order_by("name")),
        "labels": list(nexus.labels.order_by("name")),
        "can_drive": board_can_drive(user=request.user, nexus=nexus),
        "error": error,
        "live_query": filters.query(live="1"),
        "wall_query": filters.query(wall="1"),
        "unwall_query": filters.query(wall=""),
    }
    return render(request, "events/board.html", context, status=400 if error else 200)


@require_GET
def board_version(request: HttpRequest, slug: str) -> HttpResponse:
    """ "Changed since?": an empty 304 when the `If-None-Match` ETag is the board's current one (nothing
    changed), else 200 with the new `ETag` and a small JSON body `{"etag": ..., "seq": N}` (the change
    counter); the page then fetches the board again. `?since=N` asks by counter instead: an empty 204
    when nothing changed since N. One query (the counter) once the session's access is remembered
    (`board_version_etag`); 404 for a Nexus the user may not see (or when logged out: the page's poll
    backs off rather than following a redirect)."""
    etag = board_version_etag(request=request, slug=slug)
    if etag is None:
        raise Http404
    seq = int(etag.strip('"').split("-")[1])
    since = request.GET.get("since", "")
    response: HttpResponse
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponseNotModified()
    elif since.isdigit() and seq <= int(since):
        response = HttpResponse(status=204)
    else:
        response = JsonResponse({"etag": etag, "seq": seq})
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"
    return response


@login_required
@require_POST
def board_timer(request: HttpRequest, slug: str) -> HttpResponse:
    """Start the 15-minute timebox timer of the Nexus Daily Scrum (records its start). 204; 403 for a
    Stakeholder."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    try:
        daily_scrum_start(nexus=nexus, actor=request.user)
    except DomainError as error:
        return _error(request, error)
    return HttpResponse(status=204, headers={"HX-Trigger": "board-changed"})


@login_required
@require_POST
def board_walk(request: HttpRequest, slug: str) -> HttpResponse:
    """Walk the board: `step` is `next`, `prev` or `stop`; or `item` puts the walk on a PBI. The order is
    `walk_order` (right to left, column by column, oldest first). 204; 400 naming the field; 403 for a
    Stakeholder."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    step = request.POST.get("step", "")
    try:
        if raw := request.POST.get("item", ""):
            if not raw.isdigit():
                raise DomainError("`item` is a PBI id.", field="item")
            target: int | None = int(raw)
        elif step == "stop":
            target = None
        elif step in ("next", "prev"):
            state = board_state_get(nexus=nexus)
            current = state.walk_item_id if state else None
            target = walk_step(
                order=walk_order(nexus=nexus), current=current, step=1 if step == "next" else -1
            )
        else:
            raise DomainError("`step` is next, prev or stop (or give `item`).", field="step")
        board_walk_set(nexus=nexus, item_id=target, actor=request.user)
    except DomainError as error:
        return _error(request, error)
    return HttpResponse(status=204, headers={"HX-Trigger": "board-changed"})


def _card_context(request: HttpRequest, nexus: object, item: ProductBacklogItem) -> dict[str, object]:
    actions = []
    for p in board_providers():
        if p.card_action is not None and p.action:
            url = p.card_action(nexus.slug, item.pk)  # type: ignore[attr-defined]
            if url:
                actions.append((p.action, url))
    return {
        "nexus": nexus,
        "item": item,
        "columns": workflow_columns(nexus=nexus),  # type: ignore[arg-type]
        "involvements": list(item.involvements.select_related("team").order_by("team__name")),
        "statuses": TeamStatus.choices,
        "can_edit": can_edit_items(user=request.user, nexus=nexus),  # type: ignore[arg-type]
        "actions": actions,
    }


@login_required
@require_GET
def board_card(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    """The action panel of a card (the `card_panel` partial): move it, block or unblock it, change a
    square, add a dependency, and what upper apps register (raise an integration issue)."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    item = get_object_or_404(ProductBacklogItem.objects.alive(), pk=item_id, backlog__nexus=nexus)
    return render(request, "events/board.html#card_panel", _card_context(request, nexus, item))


@login_required
@require_POST
def board_card_action(request: HttpRequest, slug: str, item_id: int, action: str) -> HttpResponse:
    """An action on a card from the board, through the same services as every door (`source="board"`):
    `move` (`column`), `block` (`reason`), `unblock`, `square` (`team`, `status`), `dependency`
    (`depends_on`, a PBI id; `kind`). Answers the card's panel again (with `HX-Trigger: board-changed`,
    so the board refreshes at once); a refusal is the panel's error with its status (400 naming the field,
    403, 409)."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    item = get_object_or_404(ProductBacklogItem.objects.alive(), pk=item_id, backlog__nexus=nexus)
    p = request.POST
    done = ""
    try:
        if action in ("move", "block", "unblock") and not can_edit_items(user=request.user, nexus=nexus):
            raise NotAllowed("Stakeholders see the board; members of the Nexus change it.", field="item")
        if action == "move":
            raw = p.get("column", "")
            column = (
                WorkflowColumn.objects.filter(nexus=nexus, pk=int(raw)).first() if raw.isdigit() else None
            )
            if column is None:
                raise DomainError("Choose a column of this Nexus's Definition of Workflow.", field="column")
            pbi_transition(item=item, to_column=column, actor=request.user, source=Source.BOARD)
            done = f"Moved to {column.name}."
        elif action == "block":
            reason = p.get("reason", "").strip()
            if not reason:
                raise DomainError("Say why the PBI is blocked.", field="reason")
            pbi_update(
                item=item,
                actor=request.user,
                source=Source.BOARD,
                is_blocked=True,
                blocked_reason=reason[:300],
            )
            done = "Blocked."
        elif action == "unblock":
            pbi_update(item=item, actor=request.user, source=Source.BOARD, is_blocked=False)
            done = "Unblocked."
        elif action == "square":
            raw = p.get("team", "")
            involvement = (
                TeamInvolvement.objects.filter(item=item, team_id=int(raw)).select_related("team").first()
                if raw.isdigit()
                else None
            )
            if involvement is None:
                raise DomainError("Choose a Scrum Team forecast on this PBI.", field="team")
            involvement_set_status(
                involvement=involvement, status=p.get("status", ""), actor=request.user, source=Source.BOARD
            )
            done = f"{involvement.team.name}'s square changed."
        elif action == "dependency":
            raw = p.get("depends_on", "").strip().lstrip("#")
            other = (
                ProductBacklogItem.objects.alive().filter(pk=int(raw), backlog__nexus=nexus).first()
                if raw.isdigit()
                else None
            )
            if other is None:
                raise DomainError("Give the id of a PBI of this Nexus.", field="depends_on")
            kind = p.get("kind", DependencyKind.DEPENDS_ON)
            if kind not in DependencyKind.values:
                raise DomainError("Choose a kind of dependency.", field="kind")
            dependency_create(
                item=item,
                depends_on=other,
                actor=request.user,
                kind=kind,
                found_at=FoundAt.DAILY_SCRUM,
                source=Source.BOARD,
            )
            done = f"Dependency on #{other.pk} added."
        else:
            raise Http404
    except DomainError as error:
        item.refresh_from_db()
        context = _card_context(request, nexus, item) | {"error": error}
        return render(request, "events/board.html#card_panel", context, status=error.status_code)
    item.refresh_from_db()
    context = _card_context(request, nexus, item) | {"done": done}
    response = render(request, "events/board.html#card_panel", context)
    response["HX-Trigger"] = "board-changed"
    return response
