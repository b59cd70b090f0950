"""The Cross-Team Refinement board (Nexus Guide: Cross-Team Refinement decomposes the Product Backlog so
that dependencies become transparent, and forecasts which teams will deliver which PBI): the upper part
of the ordered Product Backlog as rows, the Scrum Teams as columns. Toggle which teams a PBI will need
(its team squares: `backlog.services.involvement_add` / `involvement_remove`), mark it ready (into the
ready column: `pbi_transition`), add a dependency inline (`backlog.services.dependencies`), split it into
children a single team can finish within a Sprint (`pbi_split`). The head counts the ready PBIs that need
one team and those that need several (the Nexus's dependency risk); rows needing several teams are
flagged.

Doors only: reads from `events.selectors_dependencies.refinement_get`. Members other than Stakeholders
change the board (`can_edit_items`; the dependency services check their own rules); everyone reads. A
refused write answers its status (400/403/409) with the board part showing the message (htmx swaps it
in: `static/js/refinement.js`); a plain form post gets a redirect, or the whole page with the message.
"""

from __future__ import annotations

from html import escape
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_POST

from backlog.errors import DomainError, NotAllowed
from backlog.models import (
    DependencyKind,
    DependencyStatus,
    FoundAt,
    Nexus,
    ProductBacklogItem,
    ScrumTeam,
    TeamInvolvement,
)
from backlog.models_dependency import Dependency
from backlog.selectors import can_edit_items, nexus_get_for_user
from backlog.services import involvement_add, involvement_remove, pbi_transition
from backlog.services.dependencies import dependency_create, dependency_set_status
from backlog.services.split import pbi_split
from events.selectors_dependencies import (
    REFINEMENT_MAX,
    REFINEMENT_ROWS,
    Refinement,
    RefinementRow,
    refinement_get,
)


def rows_html(
    board: Refinement,
    *,
    nexus: Nexus,
    can_edit: bool,
    csrf: str,
    limit: int,
    error: str,
    error_item: int | None,
    suggest: tuple[int, str] | None = None,
) -> SafeString:
    """The rows (`<tr>`) of the board, built here rather than by the template engine: 100 rows of nine
        teams are some 1,000 small forms, which the template language renders in hundreds of milliseconds (as
        `views_planning.card_rows_html` does for the planning page). Every value is escaped. Each row has a
    "Suggested dependencies" disclosure whose list htmx loads when it is opened (`refinement_suggestions`:
    no query per row here); `suggest` = (PBI id, its list's HTML) renders that one open, after a confirm or
    a dismiss."""
    base = reverse("events:refinement", args=[nexus.slug])
    hidden = (
        f'<input type="hidden" name="csrfmiddlewaretoken" value="{escape(csrf)}">'
        f'<input type="hidden" name="limit" value="{limit}">'
    )
    kinds = "".join(
        f'<option value="{v}">{escape(str(label).lower())}</option>' for v, label in DependencyKind.choices
    )
    out: list[str] = []
    add = out.append

    def form(action: str, inner: str, cls: str = "") -> str:
        c = f' class="{cls}"' if cls else ""
        return (
            f'<form{c} method="post" action="{action}" hx-post="{action}" hx-target="#refinement" '
            f'hx-swap="outerHTML">{hidden}{inner}</form>'
        )

    for row in board.rows:
        pk, title = row.item.pk, escape(row.item.title)
        cls = ("multi-team" if row.multi_team else "") + (" is-ready" if row.ready else "")
        add(
            f'<tr id="refine-{pk}" class="{cls.strip()}" data-item="{pk}"><td class="pos">{row.position}</td>'
        )
        add(f'<th scope="row" class="title"><span class="ext">#{pk}</span> {title}')
        if row.multi_team:
            n = len(row.team_ids)
            add(
                f'<span class="flag" title="Needs {n} Scrum Teams: consider splitting it so one team can '
                f'finish each part within a Sprint">needs {n} teams</span>'
            )
        if error and error_item == pk:
            add(f'<p class="errornote" role="alert">{escape(error)}</p>')
        add("</th>")
        for team in board.teams:
            name, code = escape(team.name), escape(team.code)
            on = team.pk in row.team_ids
            add('<td class="team-cell">')
            if can_edit:
                tip = (
                    f"{name} will work on it: press to take it off"
                    if on
                    else f"Press if {name} will work on it"
                )
                button = (
                    f'<button type="submit" class="toggle{" on" if on else ""}" '
                    f'aria-pressed="{"true" if on else "false"}" '
                    f'title="{tip}" aria-label="{name} needed for #{pk}">{code if on else "&nbsp;"}</button>'
                )
                add(form(f"{base}{pk}/teams/{team.pk}/", button))
            elif on:
                add(f'<span class="toggle on" title="{name}">{code}</span>')
            add("</td>")
        add('<td class="ready-cell">')
        if row.ready and board.ready_column:
            add('<span class="ready-mark" title="Ready">✓ ready</span>')
        elif row.ready:
            add(
                '<span class="muted" title="No column of the Definition of Workflow is marked ready: '
                'every PBI not started counts as ready">—</span>'
            )
        elif can_edit and board.ready_column:
            add(form(f"{base}{pk}/ready/", '<button type="submit" class="btn small">Mark ready</button>'))
        else:
            add('<span class="muted small">not ready</span>')
        add('</td><td class="deps-cell"><ul class="deps">')
        for dep in row.depends_on:
            arrow = "→" if dep.kind == DependencyKind.DEPENDS_ON else "↔"
            add(
                f'<li class="dep" data-dependency="{dep.pk}">'
                f'<span class="arrow" title="{escape(dep.get_kind_display())}">{arrow}</span> '
                f'<span class="ext">#{dep.depends_on_id}</span> {escape(truncate(dep.depends_on.title))}'
            )
            if can_edit:
                add(" ")
                add(
                    form(
                        f"{base}dependencies/{dep.pk}/status/",
                        '<button name="status" value="resolved" class="linklike small" '
                        'title="Resolved">resolve</button> '
                        '<button name="status" value="removed" class="linklike small" '
                        'title="Removed (re-sliced or a mistake)">remove</button>',
                        "inline",
                    )
                )
            add("</li>")
        for dep in row.dependents:
            depends = dep.kind == DependencyKind.DEPENDS_ON
            add(
                f'<li class="dep dependent"><span class="arrow" '
                f'title="{"Depended on by" if depends else "Integrates with"}">'
                f'{"←" if depends else "↔"}</span> <span class="ext">#{dep.item_id}</span> '
                f"{escape(truncate(dep.item.title))}</li>"
            )
        add("</ul>")
        if can_edit:
            add(
                form(
                    f"{base}{pk}/dependencies/",
                    f'<label class="sr-only" for="dep-kind-{pk}">Kind</label>'
                    f'<select id="dep-kind-{pk}" name="kind">{kinds}</select>'
                    f'<label class="sr-only" for="dep-on-{pk}">PBI (#id)</label>'
                    f'<input id="dep-on-{pk}" name="depends_on" list="refine-items" inputmode="numeric" '
                    f'placeholder="#id" size="7" required> '
                    '<button type="submit" class="btn small">Add</button>',
                    "dep-add",
                )
            )
        if suggest is not None and suggest[0] == pk:
            add(
                f'<details class="suggest" id="suggest-{pk}" open><summary>Suggested dependencies</summary>'
                f'<div class="suggest-body">{suggest[1]}</div></details>'
            )
        else:
            add(
                f'<details class="suggest" id="suggest-{pk}"><summary>Suggested dependencies</summary>'
                f'<div class="suggest-body" hx-get="{base}{pk}/suggestions/" '
                'hx-trigger="toggle once from:closest details" hx-swap="innerHTML">'
                '<span class="muted small">Loading…</span></div></details>'
            )
        add("</td>")
        if can_edit:
            add(
                '<td class="split-cell"><details><summary>Split…</summary>'
                + form(
                    f"{base}{pk}/split/",
                    f'<label for="split-{pk}" class="small">One child per line, each small enough for one '
                    f'team in one Sprint</label><textarea id="split-{pk}" name="titles" rows="3"></textarea>'
                    + carry_fields(row)
                    + '<button type="submit" class="btn small">Split</button>',
                )
                + "</details></td>"
            )
        add("</tr>")
    return SafeString("".join(out))


def carry_fields(row: RefinementRow) -> str:
    """For each open dependency of the row's PBI, a field naming the children that carry it after a split
    (`carry-<id>`: child numbers such as "1, 3"; empty: every child)."""
    out = []
    for dep in [*row.depends_on, *row.dependents]:
        other = dep.depends_on if dep.item_id == row.item.pk else dep.item
        out.append(
            f'<label class="small carry" for="carry-{dep.pk}-{row.item.pk}">Children that carry the '
            f"dependency on #{other.pk} {escape(truncate(other.title, 30))} (e.g. 1, 3; empty: all)</label>"
            f'<input id="carry-{dep.pk}-{row.item.pk}" name="carry-{dep.pk}" inputmode="numeric" size="8">'
        )
    return "".join(out)


def carry_choice(request: HttpRequest, count: int) -> dict[int, list[int]]:
    """The children chosen per dependency in the split form (`carry-<id>` = "1, 3", 1-based), as
    `pbi_split(dependencies=...)` takes them (0-based); fields left empty are left out (every child).
    Raises `DomainError` naming the field for anything but child numbers from 1 to `count`."""
    chosen: dict[int, list[int]] = {}
    for name in request.POST:
        raw = request.POST.get(name, "")
        if not name.startswith("carry-") or not raw.strip():
            continue
        dep_id = name.removeprefix("carry-")
        parts = [p.strip() for p in raw.replace(";", ",").split(",") if p.strip()]
        if not dep_id.isdigit() or not all(p.isdigit() and 1 <= int(p) <= count for p in parts):
            raise DomainError(f"Name children by their number, 1 to {count}, e.g. 1, 3.", field=name)
        chosen[int(dep_id)] = [int(p) - 1 for p in parts]
    return chosen


def truncate(text: str, length: int = 40) -> str:
    """`text` cut to `length` characters with an ellipsis (as the template filter `truncatechars`)."""
    return text if len(text) <= length else text[: length - 1] + "…"


def _limit(request: HttpRequest) -> int:
    raw = request.GET.get("limit", "") or request.POST.get("limit", "")
    return max(1, min(int(raw), REFINEMENT_MAX)) if raw.isdigit() else REFINEMENT_ROWS


def _context(
    request: HttpRequest,
    nexus: Nexus,
    *,
    error: str = "",
    error_item: int | None = None,
    suggest: tuple[int, str] | None = None,
) -> dict[str, Any]:
    board = refinement_get(nexus=nexus, limit=_limit(request))
    can_edit = can_edit_items(user=request.user, nexus=nexus)
    rows = rows_html(
        board,
        nexus=nexus,
        can_edit=can_edit,
        csrf=get_token(request),
        limit=_limit(request),
        error=error,
        error_item=error_item,
        suggest=suggest,
    )
    return {
        "nexus": nexus,
        "board": board,
        "rows_html": rows,
        "can_edit": can_edit,
        "limit": _limit(request),
        "kinds": DependencyKind.choices,
        "error": error,
        "error_item": error_item,
    }


@login_required
@require_GET
def refinement(request: HttpRequest, slug: str) -> HttpResponse:
    """The Cross-Team Refinement board (`?limit=` rows, 1 to `REFINEMENT_MAX`)."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    return render(request, "events/refinement.html", _context(request, nexus))


def board_answer(
    request: HttpRequest,
    nexus: Nexus,
    *,
    error: DomainError | None = None,
    item: int | None = None,
    suggest: tuple[int, str] | None = None,
) -> HttpResponse:
    """The board part (htmx) or, for a plain form post, a redirect (success) or the whole page with the
    message (refused), with the error's status. `suggest`: a row whose suggestions show open."""
    status = error.status_code if error is not None else 200
    context = _context(request, nexus, error=error.message if error else "", error_item=item, suggest=suggest)
    if not request.headers.get("HX-Request"):
        if error is None:
            return redirect("events:refinement", slug=nexus.slug)
        return render(request, "events/refinement.html", context, status=status)
    return render(request, "events/refinement.html#board", context, status=status)


def editor_guard(request: HttpRequest, slug: str) -> Nexus:
    """The Nexus, if the user may change the board (`can_edit_items`); `NotAllowed` (403) otherwise."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    if not can_edit_items(user=request.user, nexus=nexus):
        raise NotAllowed(
            "Stakeholders see the refinement board; the Scrum Teams and the Product Owner refine."
        )
    return nexus


def live_item(nexus: Nexus, item_id: int) -> ProductBacklogItem:
    """The Nexus's PBI `item_id`, not deleted; 404 otherwise."""
    return get_object_or_404(ProductBacklogItem.objects.alive(), backlog__nexus=nexus, pk=item_id)


def _write(request: HttpRequest, slug: str, item_id: int | None, write: Any) -> HttpResponse:
    """Run `write(nexus)` and answer the board; a `DomainError` answers its status with the message."""
    try:
        nexus = editor_guard(request, slug)
    except NotAllowed as exc:
        nexus = nexus_get_for_user(user=request.user, slug=slug)
        return board_answer(request, nexus, error=exc, item=item_id)
    try:
        write(nexus)
    except DomainError as exc:
        return board_answer(request, nexus, error=exc, item=item_id)
    return board_answer(request, nexus)


@login_required
@require_POST
def refinement_team(request: HttpRequest, slug: str, item_id: int, team_id: int) -> HttpResponse:
    """Toggle whether the PBI will need the Scrum Team (its team square): add it, or take it off."""

    def write(nexus: Nexus) -> None:
        item = live_item(nexus, item_id)
        team = get_object_or_404(ScrumTeam, nexus=nexus, pk=team_id)
        square = TeamInvolvement.objects.filter(item=item, team=team).first()
        if square is None:
            involvement_add(item=item, team=team, actor=request.user)
        else:
            involvement_remove(involvement=square, actor=request.user)

    return _write(request, slug, item_id, write)


@login_required
@require_POST
def refinement_ready(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    """Mark the PBI ready: move it into the Definition of Workflow's ready column."""

    def write(nexus: Nexus) -> None:
        item = live_item(nexus, item_id)
        board = refinement_get(nexus=nexus, limit=1)
        if board.ready_column is None:
            raise DomainError("The Definition of Workflow marks no column ready.", field="column")
        pbi_transition(item=item, to_column=board.ready_column, actor=request.user)

    return _write(request, slug, item_id, write)


def _posted_id(request: HttpRequest, name: str, label: str) -> int:
    raw = request.POST.get(name, "").strip().lstrip("#")
    if not raw.isdigit() or len(raw) > 18:
        raise DomainError(f"Choose {label}.", field=name)
    return int(raw)


@login_required
@require_POST
def refinement_dependency(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    """Add a dependency of the PBI (`depends_on`: a PBI id, `kind`), found at Cross-Team Refinement."""

    def write(nexus: Nexus) -> None:
        item = live_item(nexus, item_id)
        other_id = _posted_id(request, "depends_on", "the PBI it depends on")
        other = ProductBacklogItem.objects.filter(backlog__nexus=nexus, pk=other_id).first()
        if other is None:
            raise DomainError(f"No PBI #{other_id} in this Nexus.", field="depends_on")
        kind = request.POST.get("kind", DependencyKind.DEPENDS_ON)
        dependency_create(
            item=item, depends_on=other, kind=kind, actor=request.user, found_at=FoundAt.REFINEMENT
        )

    return _write(request, slug, item_id, write)


@login_required
@require_POST
def refinement_dependency_status(request: HttpRequest, slug: str, dependency_id: int) -> HttpResponse:
    """Resolve or remove a dependency from the board (`status`: resolved or removed)."""

    def write(nexus: Nexus) -> None:
        dependency = get_object_or_404(Dependency, nexus=nexus, pk=dependency_id)
        status = request.POST.get("status", "")
        if status not in (DependencyStatus.RESOLVED, DependencyStatus.REMOVED):
            raise DomainError("Resolve or remove.", field="status")
        dependency_set_status(
            dependency=dependency, status=status, actor=request.user, event=FoundAt.REFINEMENT
        )

    return _write(request, slug, None, write)


@login_required
@require_POST
def refinement_split(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    """Split the PBI into children, one title per line; each open dependency goes to the children named in
    its `carry-<id>` field (1-based numbers), or to every child when it is left empty."""

    def write(nexus: Nexus) -> None:
        item = live_item(nexus, item_id)
        titles = request.POST.get("titles", "").splitlines()
        count = len([t for t in titles if t.strip()])
        pbi_split(
            item=item, titles=titles, actor=request.user, dependencies=carry_choice(request, count) or None
        )

    return _write(request, slug, item_id, write)
