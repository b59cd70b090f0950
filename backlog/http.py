"""HTTP helpers for the pages of a Nexus: the ETag built from the Nexus's change counter.

`nexus_etag()` decorates a page `view(request, slug, ...)` so that a browser that revalidates
(`If-None-Match`) gets a `304 Not Modified` while nothing it shows can have changed. The ETag is
`W/"<slug>-<seq>-<digest>"`: `seq` is the change counter (`backlog.selectors.nexus_change_seq`: every
write to the Nexus's data advances it, roles and memberships included), and the digest covers what else
a page depends on:

- the user, their session and CSRF cookie (a page shows what the user's role allows, and carries a CSRF
  token that a new login replaces);
- the query string and the htmx headers (`HX-Request`, `HX-Target`: a fragment or the whole page);
- the current hour, UTC: pages show relative times ("set 3 hours ago") and ages in days, which change
  without a write; they are at most an hour stale in a 304;
- `extra(request, nexus_id)`, for a page that shows more than the Nexus's data, e.g. the flow page's
  stored figures, which a recompute changes without advancing the counter.

No ETag (the page is rendered as usual) when the user may not see the Nexus (the view answers 404;
the ETag would tell whether the Nexus exists) or has messages waiting (`django.contrib.messages`: a
304 would keep them from being shown). Responses carry `Cache-Control: private, no-cache`: a browser
may keep the page but asks every time. One query (`nexus_change_seq_for_user`) before the view.
Other apps' pages use the same decorator.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.messages import get_messages
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.views.decorators.http import condition

from backlog import selectors

View = Callable[..., HttpResponse]
#: `extra(request, nexus_id)`: a string for what else the page depends on (e.g. a computed-at stamp).
Extra = Callable[[HttpRequest, int], str]


def nexus_page_etag(request: HttpRequest, slug: str, extra: Extra | None = None) -> str | None:
    """The ETag of the page of the Nexus `slug` for this request (see the module), or None when the
    page must be rendered anyway."""
    found = selectors.nexus_change_seq_for_user(user=request.user, slug=slug)
    if found is None or len(get_messages(request)):
        return None
    nexus_id, seq = found
    parts = [
        str(request.user.pk),
        (getattr(request, "session", None) and request.session.session_key) or "",
        request.META.get("CSRF_COOKIE", ""),
        request.META.get("QUERY_STRING", ""),
        request.headers.get("HX-Request", ""),
        request.headers.get("HX-Target", ""),
        timezone.now().strftime("%Y-%m-%dT%H"),
        extra(request, nexus_id) if extra else "",
    ]
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]
    return f'W/"{slug}-{seq}-{digest}"'


def nexus_etag(extra: Extra | None = None) -> Callable[[View], View]:
    """Decorator of a GET page `view(request, slug, ...)` of a Nexus: the ETag of `nexus_page_etag`,
    with `If-None-Match` answered 304 (Django's `condition`). Put it under `login_required` and
    `require_GET`."""

    def decorator(view: View) -> View:
        def etag_func(request: HttpRequest, slug: str, *args: Any, **kwargs: Any) -> str | None:
            return nexus_page_etag(request, slug, extra)

        conditional = condition(etag_func=etag_func)(view)

        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            response = conditional(request, *args, **kwargs)
            if response.has_header("ETag"):
                patch_cache_control(response, private=True, no_cache=True)
            return response

        return wrapper

    return decorator
