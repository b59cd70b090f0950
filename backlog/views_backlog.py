"""The Product Backlog page: the ordered list (loaded a window at a time), moves by drag and drop or
keyboard, inline create, the side panel (edit with optimistic concurrency, history, split), filters,
and the Product Goal. Thin: forms parse, selectors read, services write.

HTMX answers: a fragment of `backlog/backlog.html` (django-template-partials) or of the panel
templates. Errors a person can fix come back as 400 (bad move), 403 (not the Product Owner), 409
(edited meanwhile) or 422 (invalid form) with the message in the fragment; `static/js/backlog.js`
swaps them into the page.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from backlog import selectors
from backlog.errors import DomainError, VersionConflict
from backlog.forms import BacklogFilterForm, GoalForm, MoveForm, PBICreateForm, PBIEditForm, SplitForm
from backlog.http import nexus_etag
from backlog.models import ColumnCategory, GoalStatus, Nexus, ProductBacklogItem
from backlog.services import (
    ItemChanges,
    goal_close,
    goal_create,
    goal_update,
    pbi_create,
    pbi_move,
    pbi_split,
    pbi_transition,
    pbi_update,
)
from backlog.views_rows import rows_html


class HtmxHttpRequest(HttpRequest):
    """A request as `django_htmx.middleware.HtmxMiddleware` leaves it."""

    htmx: HtmxDetails


#: Rows in the page's first window and in each "load more".
PAGE_SIZE = 250

NOT_PRODUCT_OWNER = "Only the Product Owner orders the Product Backlog; this page is read-only for you."
CANNOT_CREATE = "Stakeholders see the Product Backlog; the Nexus's other members add items to it."


def _int(raw: str | None, default: int, *, low: int = 0, high: int = selectors.BACKLOG_WINDOW_MAX) -> int:
    try:
        value = int(raw) if raw else default
    except ValueError:
        value = default
    return max(low, min(value, high))


def _filter_params(filters: selectors.BacklogFilters) -> dict[str, str]:
    params = {
        "q": filters.q,
        "label": str(filters.label or ""),
        "team": str(filters.team or ""),
        "column": str(filters.column or ""),
        "cos": filters.cos,
        "blocked": {True: "yes", False: "no", None: ""}[filters.blocked],
    }
    return {k: v for k, v in params.items() if v}


def _filters(data: Any) -> tuple[BacklogFilterForm, selectors.BacklogFilters]:
    form = BacklogFilterForm(data or None)
    return form, form.filters()


def _message(status: int, message: str) -> HttpResponse:
    """A fragment with a message for a person (shown in the page's alert area by backlog.js)."""
    return HttpResponse(format_html('<p class="errornote" role="alert">{}</p>', message), status=status)


def _list_context(
    request: HttpRequest, nexus: Nexus, window: selectors.BacklogWindow, *, can_order: bool | None = None
) -> dict[str, Any]:
    params = _filter_params(window.filters)
    if can_order is None:
        can_order = selectors.can_order_backlog(user=request.user, nexus=nexus)
    item_url = reverse("backlog:backlog-list", args=[nexus.slug]) + "items/"
    return {
        "nexus": nexus,
        "window": window,
        "can_order": can_order,
        "filter_qs": urlencode(params),
        "item_url": item_url,
        "rows_html": rows_html(window.rows, can_order=can_order, item_url=item_url),
        "rows_url": reverse("backlog:backlog-rows", args=[nexus.slug]),
        "page_size": PAGE_SIZE,
    }


def _with_token(response: HttpResponse, token: str) -> HttpResponse:
    response["X-Backlog-Token"] = token
    return response


def _changed(response: HttpResponse, **detail: Any) -> HttpResponse:
    """Tell the page (HX-Trigger) that the backlog changed, so it re-renders its list and widgets."""
    response["HX-Trigger"] = json.dumps({"backlog-changed": detail})
    return response


@login_required
@require_GET
@vary_on_headers("HX-Request", "HX-Target")
@nexus_etag()
def backlog_page(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The Product Backlog page: Product Goal, ready buffer, filters, and the first `PAGE_SIZE` open
    items in order (`?limit=` shows more at once). An HTMX request targeting the list (the filter
    form) gets the list fragment only."""
    nexus = selectors.nexus_get_for_user(user=request.user, slug=slug)
    form, filters = _filters(request.GET)
    limit = _int(request.GET.get("limit"), PAGE_SIZE, low=1)
    window = selectors.backlog_window(nexus=nexus, filters=filters, offset=0, limit=limit)
    rights = selectors.backlog_rights(user=request.user, nexus=nexus)
    context = _list_context(request, nexus, window, can_order=rights.can_order)
    if request.htmx and request.htmx.target == "backlog-list":
        return _with_token(render(request, "backlog/backlog.html#list", context), window.token)
    goal, past_goals = selectors.goals_get(nexus=nexus)
    choices = selectors.backlog_filter_choices(nexus=nexus)
    context.update(
        filter_form=form,
        choices=choices,
        has_ready=any(c.is_ready for c in choices["columns"]),
        goal=goal,
        past_goals=past_goals,
        goal_form=GoalForm(),
        create_form=PBICreateForm(),
        can_create=rights.can_create,
    )
    return render(request, "backlog/backlog.html", context)


@login_required
@require_GET
def backlog_rows(request: HttpRequest, slug: str) -> HttpResponse:
    """More rows (`offset`, `limit`, filters) for the page's "load more"; with `wrap=1` the whole list
    from the top (the page re-renders what it shows after a change). Header `X-Backlog-Token`."""
    nexus = selectors.nexus_get_for_user(user=request.user, slug=slug)
    _form, filters = _filters(request.GET)
    wrap = request.GET.get("wrap") == "1"
    offset = 0 if wrap else _int(request.GET.get("offset"), 0)
    limit = _int(request.GET.get("limit"), PAGE_SIZE, low=1)
    window = selectors.backlog_window(nexus=nexus, filters=filters, offset=offset, limit=limit)
    template = "backlog/backlog.html#list" if wrap else "backlog/backlog.html#rows"
    return _with_token(render(request, template, _list_context(request, nexus, window)), window.token)


@login_required
@require_POST
def pbi_move_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Move an item with its children (`pbi_move`; Product Owner and superusers only; 403 for anyone
    else). POST one placement, as the API's move takes it: `before`/`after` (neighbour ids),
    `position`, `top` or `bottom`; plus the page's `token`, `loaded` and filters.

    When the page was showing the truth (token still current) the answer is the moved row alone
    (`X-Backlog-Mode: row`, with `X-Backlog-From`/`-To` positions and the resolved `-Before`/`-After`
    neighbours); otherwise the re-rendered list (`X-Backlog-Mode: list`). A bad move is a 400 with the
    message; nothing is changed."""
    nexus = selectors.nexus_get_for_user(user=request.user, slug=slug)
    if not selectors.can_order_backlog(user=request.user, nexus=nexus):
        return _message(403, NOT_PRODUCT_OWNER)
    item = ProductBacklogItem.objects.alive().filter(pk=pk, backlog__nexus=nexus).first()
    if item is None:
        return _message(400, f"There is no item {pk} in this Product Backlog.")
    form = MoveForm(request.POST)
    if not form.is_valid():
        return _message(400, form.first_error())
    data = form.cleaned_data
    try:
        moved = pbi_move(item=item, actor=request.user, seen_token=data["token"] or None, **form.placement())
    except DomainError as exc:
        return _message(exc.status_code, exc.message)
    _form, filters = _filters(request.POST)
    if moved.in_sync and not moved.carried and not data["refresh"]:
        row = selectors.backlog_row(nexus=nexus, pk=item.pk, position=moved.to_position)
        window = selectors.BacklogWindow([row], 0, 1, 1, 0, moved.token, filters)
        context = _list_context(request, nexus, window, can_order=True)
        response = render(request, "backlog/backlog.html#rows", context)
        response["X-Backlog-Mode"] = "row"
        response["X-Backlog-From"] = str(moved.from_position)
        response["X-Backlog-To"] = str(moved.to_position)
        response["X-Backlog-Before"] = str(moved.before_id or "")
        response["X-Backlog-After"] = str(moved.after_id or "")
        return _with_token(response, moved.token)
    limit = _int(str(data["loaded"] or ""), PAGE_SIZE, low=PAGE_SIZE)
    window = selectors.backlog_window(nexus=nexus, filters=filters, offset=0, limit=limit)
    response = render(
        request, "backlog/backlog.html#list", _list_context(request, nexus, window, can_order=True)
    )
    response["X-Backlog-Mode"] = "list"
    response["X-Backlog-To"] = str(moved.to_position)
    return _with_token(response, window.token)


@login_required
@require_POST
def pbi_create_inline(request: HttpRequest, slug: str) -> HttpResponse:
    """Create an item at the top, the bottom, or directly under another item (who may:
    `selectors.can_create_items`, every member but Stakeholders; 403 for anyone else). Answers the
    create form again (empty on success, with the messages when invalid: 422)."""
    nexus = selectors.nexus_get_for_user(user=request.user, slug=slug)
    if not selectors.can_create_items(user=request.user, nexus=nexus):
        return _message(403, CANNOT_CREATE)
    form = PBICreateForm(request.POST)
    item = None
    if form.is_valid():
        data = form.cleaned_data
        after = None
        if data["where"] == "under":
            after = ProductBacklogItem.objects.open().filter(pk=data["under"], backlog__nexus=nexus).first()
            if after is None:
                form.add_error("under", "That item is not an open item of this Product Backlog.")
        if form.is_valid():
            try:
                item = pbi_create(
                    nexus=nexus,
                    title=data["title"],
                    actor=request.user,
                    position="bottom" if data["where"] == "under" else data["where"],
                    after=after,
                )
            except DomainError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    where = form.data.get("where", "top")
    context = {"nexus": nexus, "form": form, "where": where, "under": form.data.get("under", "")}
    if item is None:
        return render(request, "backlog/_create_form.html", context, status=422)
    context["form"] = PBICreateForm(initial={"where": where})
    context["created"] = item
    return _changed(render(request, "backlog/_create_form.html", context), focus=item.pk)


@login_required
@require_POST
def pbi_mark_ready(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Mark an item refined: move it into the Definition of Workflow's ready column (the first one
    marked `is_ready`). For members who may edit items; 400 when there is no ready column or the
    item is ready or started already. Answers 204 and tells the page to re-render its list."""
    nexus = selectors.nexus_get_for_user(user=request.user, slug=slug)
    if not selectors.can_edit_items(user=request.user, nexus=nexus):
        return _message(403, "Stakeholders see Product Backlog Items; members of the Nexus edit them.")
    item = selectors.pbi_get_for_user(user=request.user, nexus=nexus, pk=pk)
    ready = selectors.ready_column(nexus=nexus)
    if ready is None:
        return _message(400, "No column of the Definition of Workflow is marked ready.")
    if item.column_id == ready.pk:
        return _message(400, f"“{item.title}” is ready already.")
    if item.column.category != ColumnCategory.NOT_STARTED or item.column.position > ready.position:
        return _message(400, f"“{item.title}” is past refinement already (in the column {item.column.name}).")
    try:
        pbi_transition(item=item, to_column=ready, actor=request.user)
    except DomainError as exc:
        return _message(exc.status_code, exc.message)
    return _changed(HttpResponse(status=204), item=pk)


def _panel(
    request: HtmxHttpRequest,
    nexus: Nexus,
    item: ProductBacklogItem,
    form: PBIEditForm | None = None,
    *,
    status: int = 200,
    **extra: Any,
) -> HttpResponse:
    can_edit = selectors.can_edit_items(user=request.user, nexus=nexus)
    if form is None:
        form = PBIEditForm(initial=PBIEditForm.initial_for(item), nexus=nexus)
    context = {
        "nexus": nexus,
        "item": item,
        "form": form,
        "can_edit": can_edit,
        "can_order": selectors.can_order_backlog(user=request.user, nexus=nexus),
        "history": selectors.rank_history(item=item),
        "children": list(item.children.alive().select_related("column").order_by("rank")),
        **extra,
    }
    template = "backlog/_panel.html" if request.htmx else "backlog/pbi_page.html"
    return render(request, template, context, status=status)


def _conflict_rows(form: PBIEditForm, current: ProductBacklogItem) -> list[dict[str, Any]]:
    """Field by field: what the person typed and what is saved now, where they differ."""
    saved = PBIEditForm.initial_for(current)
    rows = []
    for name in PBIEditForm.COMPARED:
        mine = ", ".join(form.label_names()) if name == "labels" else form.cleaned_data.get(name)
        theirs = saved.get(name)
        if (mine or "") != (theirs or ""):
            rows.append(
                {
                    "label": form.fields[name].label or name.replace("_", " ").capitalize(),
                    "mine": mine,
                    "theirs": theirs,
                }
            )
    return rows


@login_required
@require_http_methods(["GET", "POST"])
def pbi_detail(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    """The side panel of an item: its fields (an edit form for members who may edit items), its
    children, and "who moved this?" (the moves in the transition log). POST saves the form with
    optimistic concurrency: if someone saved the item since the form was opened, nothing is written
    and the panel shows both versions (409)."""
    nexus = selectors.nexus_get_for_user(user=request.user, slug=slug)
    item = selectors.pbi_get_for_user(user=request.user, nexus=nexus, pk=pk)
    if request.method == "GET":
        return _panel(request, nexus, item)
    if not selectors.can_edit_items(user=request.user, nexus=nexus):
        return _message(403, "Stakeholders see Product Backlog Items; members of the Nexus edit them.")
    form = PBIEditForm(request.POST, nexus=nexus)
    if not form.is_valid():
        return _panel(request, nexus, item, form, status=422)
    try:
        warnings = pbi_update(
            item=item,
            actor=request.user,
            expected_version=form.cleaned_data["version"],
            changes=ItemChanges(
                fields=form.item_fields(),
                labels=form.label_names(),
                teams=form.selected_teams(),
                column=form.selected_column(),
            ),
        ).warnings
    except VersionConflict:
        current = selectors.pbi_get_for_user(user=request.user, nexus=nexus, pk=pk)
        rows = _conflict_rows(form, current)
        data = request.POST.copy()
        data["version"] = str(current.version)  # saving again now overwrites, knowingly
        retry = PBIEditForm(data, nexus=nexus)
        retry.is_valid()
        return _panel(request, nexus, current, retry, status=409, conflict=rows, theirs=current)
    except DomainError as exc:
        form.add_domain_error(exc)
        return _panel(request, nexus, item, form, status=422)
    fresh = selectors.pbi_get_for_user(user=request.user, nexus=nexus, pk=pk)
    return _changed(_panel(request, nexus, fresh, saved_note=True, warnings=warnings), item=pk)


@login_required
@require_http_methods(["GET", "POST"])
def pbi_split_view(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    """Split an item into children placed directly under it (Product Owner only)."""
    nexus = selectors.nexus_get_for_user(user=request.user, slug=slug)
    item = selectors.pbi_get_for_user(user=request.user, nexus=nexus, pk=pk)
    if not selectors.can_order_backlog(user=request.user, nexus=nexus):
        return _message(403, NOT_PRODUCT_OWNER)
    form = SplitForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                children = pbi_split(item=item, titles=form.title_list(), actor=request.user)
            except DomainError as exc:
                form.add_error("titles" if exc.field == "titles" else None, exc.message)
            else:
                return _changed(_panel(request, nexus, item, split_into=len(children)), item=pk)
        status = 422
    template = "backlog/_split.html" if request.htmx else "backlog/pbi_page.html"
    context = {"nexus": nexus, "item": item, "split_form": form, "splitting": True}
    return render(request, template, context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def goal_panel(request: HttpRequest, slug: str) -> HttpResponse:
    """The Product Goal panel. GET `?edit=1` gives the edit form. POST `action`: `create` (a new goal,
    none being active), `update` (the active goal's text), `achieved` or `abandoned` (close it).
    Product Owner only; invalid input answers 422 with the message next to the field."""
    nexus = selectors.nexus_get_for_user(user=request.user, slug=slug)
    can_order = selectors.can_order_backlog(user=request.user, nexus=nexus)
    goal = selectors.active_goal(nexus=nexus)
    form = GoalForm(initial={"text": goal.text if goal else ""})
    editing = request.GET.get("edit") == "1" and can_order
    error, status = "", 200
    if request.method == "POST":
        if not can_order:
            return _message(403, "Only the Product Owner sets the Product Goal.")
        action = request.POST.get("action", "")
        try:
            if action in (GoalStatus.ACHIEVED, GoalStatus.ABANDONED):
                if goal is None:
                    raise DomainError("There is no active Product Goal to close.")
                goal_close(goal=goal, status=action)
                goal, form = None, GoalForm()
            elif action in ("create", "update"):
                form = GoalForm(request.POST)
                if form.is_valid():
                    text = form.cleaned_data["text"]
                    if action == "update" and goal is not None:
                        goal = goal_update(goal=goal, text=text)
                    else:
                        goal = goal_create(nexus=nexus, text=text)
                    form, editing = GoalForm(initial={"text": goal.text}), False
                else:
                    editing, status = True, 422
            else:
                raise DomainError("Unknown action: create, update, achieved or abandoned.")
        except DomainError as exc:
            error, status = exc.message, 422
            editing = action in ("create", "update")
    past = selectors.goals_get(nexus=nexus)[1]
    context = {
        "nexus": nexus,
        "goal": goal,
        "past_goals": past,
        "goal_form": form,
        "editing": editing,
        "goal_error": error,
        "can_order": can_order,
    }
    return render(request, "backlog/backlog.html#goal", context, status=status)
