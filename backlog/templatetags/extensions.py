"""Template tags that draw what apps declare through `nexus_site.extensions`, so `backlog`'s templates
and `base.html` name no upper app's URL or template:

- `{% nexus_nav nexus %}`: the top navigation of a Nexus's pages (`Extension(nav=...)`), the current
  page marked with `aria-current="page"`.
- `{% panels "backlog-top" nexus %}`: the panels declared for that slot of a page
  (`Extension(panels=...)`), each a `<section>` that htmx loads on load and on its `refresh_on` events.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from nexus_site import extensions

register = template.Library()


@register.simple_tag(takes_context=True)
def nexus_nav(context: dict[str, Any], nexus: Any) -> SafeString:
    """`<a>` links to the Nexus's pages in `order`; the one whose URL is the request's path is current."""
    request = context.get("request")
    path = getattr(request, "path", "")
    links = []
    for entry in extensions.nav_entries():
        url = reverse(entry.url_name, args=[nexus.slug])
        current = SafeString(' aria-current="page"') if url == path else SafeString("")
        links.append((url, current, entry.label))
    return format_html_join("\n", '<a href="{}"{}>{}</a>', links)


@register.simple_tag
def panels(slot: str, nexus: Any, **params: Any) -> SafeString:
    """The panels of `slot` for this Nexus, each loaded by htmx from its app's URL; `params` (e.g.
    `sprint=sprint.pk` on the Nexus Sprint Review page) are added to that URL's query string."""
    out = []
    query = ("?" + urlencode(params)) if params else ""
    for panel in extensions.panels(slot):
        trigger = "load" + (f", {panel.refresh_on}" if panel.refresh_on else "")
        out.append(
            format_html(
                '<section class="panel {name}-panel" aria-label="{label}" id="{name}" hx-get="{url}" '
                'hx-trigger="{trigger}" hx-swap="innerHTML"><h2 class="panel-title">{label}</h2>'
                '<p class="muted small">Loading…</p></section>',
                name=panel.name,
                label=panel.label,
                url=reverse(panel.url_name, args=[nexus.slug]) + query,
                trigger=trigger,
            )
        )
    return SafeString("".join(out))
