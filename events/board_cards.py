"""The HTML of a Nexus board card, built in Python: a board of 600 cards in progress rendered through
the template loop spent most of its time resolving template variables (about 120 µs a card); this is
the same markup (`templates/events/board.html` shows each card with `{{ card.html }}`), a few times
cheaper. Every value is escaped; nothing depends on the viewer (the board is cached for all)."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from backlog.templatetags.squares import _row
from events.board import Card


def _ids(ids: list[int]) -> str:
    return ", ".join(f"#{i}" for i in ids)


def card_html(card: Card) -> SafeString:
    """One card: `<li class="card ..." data-item id tabindex>` with the PBI's id and title, the blocked
    reason, team squares, Work Item Age against the SLE, dependency badges and upper apps' badges."""
    item = card.item
    classes = "card" + (" is-blocked" if item.is_blocked else "") + (" walk" if card.walk else "")
    ext = f'<span class="ext-id"> {escape(item.external_id)}</span>' if item.external_id else ""
    out = [
        f'<li class="{classes}" data-item="{item.pk}" id="card-{item.pk}" tabindex="0">',
        f'<p class="card-title"><span class="ext">#{item.pk}{ext}</span> {escape(item.title)}</p>',
    ]
    if item.is_blocked:
        reason = escape(item.blocked_reason)
        out.append(f'<p class="blocked-reason"><span class="blocked">Blocked</span> {reason}</p>')
    out.append('<div class="card-foot">')
    out.append(_row(tuple((sq.code, sq.name, sq.status, str(sq.label)) for sq in card.squares)))
    if card.age:
        sle = f"; SLE: {escape(card.sle.text)}" if card.sle is not None and card.sle.days else ""
        band = card.band or "none"
        title = f"Work Item Age: {card.age} calendar days{sle}"
        out.append(f'<span class="age age-{band}" title="{title}">{card.age}d</span>')
    late = " late" if card.deps_late else ""
    late_text = " (late)" if card.deps_late else ""
    if card.depends_on:
        out.append(
            f'<span class="badge dep{late}" title="Depends on {_ids(card.depends_on)}{late_text}">'
            f"⇠ {len(card.depends_on)}</span>"
        )
    if card.blocks:
        title = f"Blocks {_ids(card.blocks)}{late_text}"
        out.append(f'<span class="badge dep{late}" title="{title}">⇢ {len(card.blocks)}</span>')
    for label, n in card.extra:
        out.append(f'<span class="badge extra" title="{n} {escape(label)}">⚠ {n}</span>')
    out.append("</div></li>")
    return mark_safe("".join(out))  # every value above is escaped
