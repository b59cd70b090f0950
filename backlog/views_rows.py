"""HTML of the backlog page's rows, built in Python.

A page shows up to thousands of rows and must answer in well under 200 ms with 2,000 of them: the
template engine costs 0.2 to 0.4 ms per row of this size (measured: about 25 variable lookups and
number localisation per row), string building about 15 µs. The markup is the `rows` partial's of
`templates/backlog/backlog.html` (which adds the "load more" row). Team squares are rendered by the
shared `backlog/_squares.html` template, once per distinct combination of team names and statuses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from html import escape
from typing import Any

from django.template.loader import get_template
from django.utils.safestring import SafeString, mark_safe

from backlog.models import ClassOfService, ScrumTeam, TeamInvolvement
from backlog.selectors import BacklogRow

_COS_LABELS = {value: str(label) for value, label in ClassOfService.choices}


@dataclass
class _Involvements:
    """What `backlog/_squares.html` reads: `item.involvements.all`."""

    items: list[TeamInvolvement]

    def all(self) -> list[TeamInvolvement]:
        return self.items


@dataclass
class _SquaresItem:
    involvements: _Involvements


@lru_cache(maxsize=4096)
def _squares_html(squares: tuple[tuple[str, str], ...]) -> str:
    """Team squares for ((team name, status), ...), by `backlog/_squares.html`; cached, as it depends on
    nothing else (a backlog has a few hundred combinations of teams and statuses)."""
    involvements = [TeamInvolvement(team=ScrumTeam(name=name), status=status) for name, status in squares]
    return get_template("backlog/_squares.html").render({"item": _SquaresItem(_Involvements(involvements))})


def _size(size: Any) -> str:
    if size is None:
        return ""
    return format(Decimal(size).normalize(), "f")


def rows_html(rows: Iterable[BacklogRow], *, can_order: bool, item_url: str) -> SafeString:
    """The `<li class="pbi">` rows. `item_url` is the prefix of an item's URL (the id and "/" follow);
    `can_order` adds the drag handle and the actions menu (Product Owner)."""
    out: list[str] = []
    append = out.append
    for row in rows:
        title = escape(row.title)
        pk = row.pk
        classes = "pbi"
        if row.is_blocked:
            classes += " is-blocked"
        if row.depth:
            classes += f" depth-{row.depth}"
        attrs = f'data-id="{pk}" data-pos="{row.position}" data-depth="{row.depth}"'
        if row.parent_id:
            attrs += f' data-parent="{row.parent_id}"'
        if row.has_children:
            attrs += ' data-children="1"'
        append(f'<li class="{classes}" id="pbi-{pk}" {attrs}>')
        if can_order:
            append(
                f'<button type="button" class="handle" aria-label="Move {title}"'
                ' aria-describedby="move-help">⠿</button>'
            )
        append(f'<span class="c-pos">{row.position}</span><span class="c-title">')
        if row.has_children:
            append(
                f'<button type="button" class="twisty" aria-expanded="true" aria-label="Children of {title}">'
                "</button>"
            )
        if row.parent_title:
            parent = escape(row.parent_title)
            short = escape(row.parent_title if len(row.parent_title) <= 40 else row.parent_title[:39] + "…")
            append(f'<span class="partof" title="Child of {parent}">↳ {short}</span> ')
        append(f'<a class="pbi-link" href="{item_url}{pk}/">{title}</a>')
        if row.external_id:
            append(f' <span class="ext">{escape(row.external_id)}</span>')
        if row.is_blocked:
            reason = f": {escape(row.blocked_reason)}" if row.blocked_reason else ""
            append(f' <span class="blocked" title="Blocked{reason}">Blocked</span>')
        append('</span><span class="c-labels">')
        for name in row.labels:
            append(f'<span class="label">{escape(name)}</span>')
        append(f'</span><span class="c-size">{_size(row.size)}</span><span class="c-cos">')
        if row.class_of_service != ClassOfService.STANDARD:
            cos = row.class_of_service
            append(f'<span class="cos cos-{escape(cos)}">{escape(_COS_LABELS.get(cos, cos))}</span>')
        ready = " is-ready" if row.column_ready else ""
        append(
            f'</span><span class="c-teams">{_squares_html(tuple(row.squares))}</span>'
            f'<span class="c-col{ready}">{escape(row.column_name)}</span>'
        )
        if can_order:
            append(
                f'<button type="button" class="menu-btn" aria-haspopup="menu"'
                f' aria-label="Actions for {title}">⋯</button>'
            )
        append("</li>\n")
    return mark_safe("".join(out))  # every value above is escaped
