"""The live Nexus board: the cheap "changed since?" answer and the board rendered once per change.

Every write to a Nexus's data advances its change counter (`backlog.services.common.nexus_changed`,
in commit order). An open board polls `board_version_etag` (one query: the counter; whether the
session may see the Nexus is remembered for a minute) with the ETag it holds; while they match the
answer is an empty 304. When they differ it fetches the board again with its filters, and
`board_html` serves the board rendered once per (counter, day, filters) from the shared cache
(`django.core.cache.caches["default"]`: every viewer and every worker process share one rendering; a key
never needs invalidating, since a change gives a new counter). The ETag also carries the hour (UTC), so
ages in days move on without a write; a full flow recompute that changes a stored start day shows at the
next change or hour."""

from __future__ import annotations

import hashlib
import time
from datetime import date

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone

from backlog.models import Nexus
from backlog.selectors import nexus_change_seq, nexus_change_seq_for_user
from events.board import board_get
from events.board_asof import board_asof_get
from events.board_filters import LANES, BoardFilters
from events.board_lanes import board_lanes
from events.board_panels import board_panels_get, board_state_get
from events.services.board import TIMEBOX_MINUTES
from flow.history import nexus_today

#: How long the version answer trusts that a session may see a Nexus, in seconds.
ACCESS_SECONDS = 60
#: How long a viewer waits for another's rendering of the same board, and how long the lock lives (s).
RENDER_WAIT = 1.5
RENDER_LOCK_SECONDS = 5
#: How long a rendering stays in the cache, in seconds (a newer counter makes it unused sooner).
CACHE_SECONDS = 15 * 60


def board_etag(seq: int) -> str:
    """The ETag of the board at the change counter `seq`: the counter and the hour (UTC)."""
    return f'"board-{seq}-{timezone.now():%Y%m%d%H}"'


def board_version_etag(*, request: HttpRequest, slug: str) -> str | None:
    """The current ETag of the board of the Nexus `slug` for the request's user, None when they may not
    see it (a 404). Who may see which Nexus is remembered in the shared cache for `ACCESS_SECONDS` per
    session cookie: a poll then costs one cache read and one query (the counter), without loading the
    session and the user (two queries, most of a poll's time). What a stale entry can give away after a
    logout or a removed membership is that counter, for at most `ACCESS_SECONDS`; the board itself is
    always checked in full."""
    cookie = request.COOKIES.get(settings.SESSION_COOKIE_NAME, "")
    key = ""
    if cookie:
        digest = hashlib.sha256(f"{cookie}\x1f{slug}".encode()).hexdigest()[:32]
        key = f"events:board-access:{digest}"
        nexus_id = caches["default"].get(key)
        if nexus_id is not None:
            return board_etag(nexus_change_seq(nexus_id=nexus_id))
    found = nexus_change_seq_for_user(user=request.user, slug=slug)
    if found is None:
        return None
    if key:
        caches["default"].set(key, found[0], ACCESS_SECONDS)
    return board_etag(found[1])


def _cache_key(nexus: Nexus, seq: int, today: date, filters: BoardFilters) -> str:
    return f"events:board:{nexus.pk}:{seq}:{today.isoformat()}:{filters.key()}"


def board_render(*, nexus: Nexus, filters: BoardFilters, today: date | None = None) -> str:
    """The live part of the board page (`events/board.html#live`) for `filters`, rendered now (no cache).
    A fixed number of queries."""
    today = today or nexus_today(nexus)
    state = board_state_get(nexus=nexus)
    if filters.as_of is not None:
        board = board_asof_get(nexus=nexus, day=filters.as_of, filters=filters)
    else:
        board = board_get(nexus=nexus, today=today, filters=filters, badges=True)
    walk_id = state.walk_item_id if state and filters.as_of is None else None
    for card in board.cards():
        card.walk = card.item.pk == walk_id
    panels = board_panels_get(nexus=nexus, board=board, state=state, today=today)
    context = {
        "nexus": nexus,
        "board": board,
        "filters": filters,
        "lanes": board_lanes(board, filters.lanes),
        "lane_names": LANES,
        "panels": panels,
        "state": state,
        "walk_id": walk_id,
        "timebox_minutes": TIMEBOX_MINUTES,
        "live": filters.as_of is None,
    }
    return render_to_string("events/board.html#live", context)


def board_html(*, nexus: Nexus, filters: BoardFilters) -> tuple[str, str]:
    """(The live part of the board for `filters`, its ETag): from the shared cache when this counter,
    day and filter set were rendered already, else rendered and stored. The counter is read first, so a
    write landing during the rendering gives a newer counter, which the next poll sees."""
    seq = nexus_change_seq(nexus_id=nexus.pk)
    today = nexus_today(nexus)
    key = _cache_key(nexus, seq, today, filters)
    cache = caches["default"]
    html = cache.get(key)
    if html is None:
        # One rendering per key: every open board asks within two seconds of a change; the first takes
        # the lock and renders, the others (other threads, workers) wait for its result, up to
        # `RENDER_WAIT` seconds, then render themselves (a crashed renderer never blocks the board).
        lock = f"{key}:lock"
        # (A cache that is down answers `add` False and `get` None: render at once, never wait.)
        if not cache.add(lock, 1, RENDER_LOCK_SECONDS) and cache.get(lock) is not None:
            deadline = time.monotonic() + RENDER_WAIT
            while html is None and time.monotonic() < deadline:
                time.sleep(0.02)
                html = cache.get(key)
        if html is None:
            html = board_render(nexus=nexus, filters=filters, today=today)
            cache.set(key, html, CACHE_SECONDS)
    return html, board_etag(seq)
