"""`{% squares_row squares %}`: a card's team squares (Yeret, "Scaling Scrum with Nexus and Kanban"),
drawn as `templates/backlog/_squares.html` draws them (the four-way drawing hidden from screen readers,
the same in words for them), from anything with `code`, `name`, `status` and `label` attributes (the
boards' `Square`s). Built in Python and memoised per distinct row of squares: a board of 300 cards
repeats few distinct rows, and the template loop cost a fifth of the team board's rendering."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@lru_cache(maxsize=4096)
def _row(squares: tuple[tuple[str, str, str, str], ...]) -> SafeString:
    parts = []
    for code, name, status, label in squares:
        text = f"{escape(name)}: {escape(label.lower())}"
        parts.append(
            f'<span class="sq sq-{escape(status)}" title="{text}" aria-hidden="true">{escape(code)}</span>'
            f'<span class="sq-name">{text}</span>'
        )
    return mark_safe('<span class="squares">' + "".join(parts) + "</span>")


@register.simple_tag
def squares_row(squares: Iterable[Any]) -> SafeString:
    """The `<span class="squares">…</span>` of `squares` (see the module)."""
    return _row(tuple((sq.code, sq.name, sq.status, str(sq.label)) for sq in squares))
