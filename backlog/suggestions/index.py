"""The suggestion index of each Nexus: its rows read from the database, built by the engine
(``backlog.suggestions.engine``), cached per Nexus and stamped with its change counter.

Freshness, coalesced: no write rebuilds anything. The index carries the change counter
(``NexusChangeCounter.seq``) it was built from; a reader (``suggestion_index_get``) that finds the
counter moved on queues one rebuild per counter value (``backlog.tasks.suggestions_rebuild``, run
inline when Celery is eager, as under ``make run``) and is served the newest index at hand meanwhile.
A burst of writes therefore costs one build, at the next read, never one per write.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from backlog.models import Nexus, ProductBacklogItem, ScrumTeam, TeamInvolvement
from backlog.suggestions.engine import SuggestionIndex, SuggestionRow, suggestion_index_build

__all__ = [
    "CACHE_KEY",
    "NexusRows",
    "suggestion_index_get",
    "suggestion_index_rebuild",
    "suggestion_rows",
]

CACHE_KEY = "backlog:suggestions:v1:{nexus_id}"
CACHE_TIMEOUT = 7 * 24 * 3600  # seconds; a newer change counter replaces it earlier


# --- Rows from the database, and the cached index per Nexus ------------------------------------------


def _stamp(nexus_id: int) -> tuple[int, str, int] | None:
    """(Nexus id, creation time, change counter), or None for a missing Nexus. One query. The creation
    time tells a Nexus from an earlier one that had the same id (SQLite reuses ids)."""
    row = Nexus.objects.filter(pk=nexus_id).values_list("created_at", "change_counter__seq").first()
    if row is None:
        return None
    return (nexus_id, row[0].isoformat(), int(row[1] or 0))


@dataclass(frozen=True, slots=True)
class NexusRows:
    """What ``suggestion_rows`` loads: ``rows`` (the open live PBIs, in Product Backlog order),
    ``team_names`` (team id -> name), ``other_involvements`` (the team ids of each other live PBI: the
    finished ones), ``other_titles`` (titles of the parents that are not among ``rows``)."""

    rows: list[SuggestionRow]
    team_names: dict[int, str]
    other_involvements: list[tuple[int, ...]]
    other_titles: dict[int, str]

    def build(self) -> SuggestionIndex:
        """``suggestion_index_build`` over these rows."""
        return suggestion_index_build(
            self.rows,
            team_names=self.team_names,
            other_involvements=self.other_involvements,
            other_titles=self.other_titles,
        )


def suggestion_rows(*, nexus_id: int) -> NexusRows:
    """The rows of a Nexus for its index (``NexusRows``). Four queries, whatever the number of PBIs."""
    live = ProductBacklogItem.objects.alive().filter(backlog__nexus_id=nexus_id)
    open_ids = live.open().values("pk")
    items = list(
        live.open()
        .order_by("rank")
        .values_list("id", "title", "description", "acceptance_criteria", "parent_id", "parent__title")
    )
    labels: dict[int, list[str]] = {}
    through = ProductBacklogItem.labels.through
    for item_id, name in through.objects.filter(productbacklogitem_id__in=open_ids).values_list(
        "productbacklogitem_id", "label__name"
    ):
        labels.setdefault(item_id, []).append(name)
    teams: dict[int, list[int]] = {}
    for item_id, team_id in (
        TeamInvolvement.objects.filter(item__in=live).order_by().values_list("item_id", "team_id")
    ):
        teams.setdefault(item_id, []).append(team_id)
    names = dict(ScrumTeam.objects.filter(nexus_id=nexus_id).order_by().values_list("id", "name"))
    rows = [
        SuggestionRow(
            id=pk,
            title=title,
            description=description,
            acceptance_criteria=criteria,
            labels=tuple(sorted(labels.get(pk, ()))),
            parent_id=parent_id,
            team_ids=tuple(sorted(teams.pop(pk, ()))),
        )
        for pk, title, description, criteria, parent_id, _ in items
    ]
    parents = {parent_id: title for *_, parent_id, title in items if parent_id is not None}
    return NexusRows(rows, names, [tuple(ts) for ts in teams.values()], parents)


# The newest index this process has seen, per Nexus: a hit costs no unpickling.
_local: dict[int, SuggestionIndex] = {}
_local_lock = threading.Lock()
_LOCAL_MAX = 32


def _remember(index: SuggestionIndex) -> None:
    assert index.stamp is not None
    with _local_lock:
        _local.pop(index.stamp[0], None)
        _local[index.stamp[0]] = index
        while len(_local) > _LOCAL_MAX:
            _local.pop(next(iter(_local)))


def suggestion_index_rebuild(*, nexus_id: int, force: bool = False) -> SuggestionIndex | None:
    """Build the Nexus's index from the database and store it (this process and the Django cache),
    stamped with the change counter read before the rows (so it is never newer than its stamp says).
    Skipped (the stored one returned) when an index for the current counter is already stored, unless
    ``force``. None for a missing Nexus. Five queries when it builds, one when it skips."""
    stamp = _stamp(nexus_id)
    if stamp is None:
        return None
    if not force:
        have = _stored(nexus_id)
        if have is not None and have.stamp == stamp:
            return have
    return _build_and_store(nexus_id, stamp)


def _build_and_store(nexus_id: int, stamp: tuple[int, str, int]) -> SuggestionIndex:
    index = suggestion_rows(nexus_id=nexus_id).build()
    index.stamp = stamp
    cache.set(CACHE_KEY.format(nexus_id=nexus_id), index, CACHE_TIMEOUT)
    _remember(index)
    return index


def _stored(nexus_id: int) -> SuggestionIndex | None:
    """The newest index stored for the Nexus: this process's, else the Django cache's."""
    mine = _local.get(nexus_id)
    shared = cache.get(CACHE_KEY.format(nexus_id=nexus_id))
    candidates = [i for i in (mine, shared) if isinstance(i, SuggestionIndex) and i.stamp is not None]
    if not candidates:
        return None
    best = max(candidates, key=lambda i: (i.stamp[1], i.stamp[2]))  # type: ignore[index]
    if best is not mine:
        _remember(best)
    return best


def _workers_share_the_cache() -> bool:
    """Whether a Celery worker's rebuild reaches this process: Celery eager (same process), or a
    cache shared between processes (not the default per-process memory cache)."""
    from nexus_site.celery import app

    backend = str(settings.CACHES.get("default", {}).get("BACKEND", "")).lower()
    return bool(app.conf.task_always_eager) or not any(k in backend for k in ("locmem", "dummy"))


def suggestion_index_get(*, nexus_id: int, stale_ok: bool = True) -> SuggestionIndex | None:
    """The Nexus's index for its current state. One query (the change counter) when this process has
    it. When the Nexus changed since: with ``stale_ok`` and an older index of the same Nexus at hand,
    returns that and queues ``backlog.tasks.suggestions_rebuild`` once per change counter (Celery
    eager, as under ``make run``, runs it inline: the fresh index is returned); otherwise builds it
    now. None for a missing Nexus."""
    stamp = _stamp(nexus_id)
    if stamp is None:
        return None
    mine = _local.get(nexus_id)
    if mine is not None and mine.stamp == stamp:
        return mine
    have = _stored(nexus_id)
    if have is not None and have.stamp == stamp:
        return have
    same_nexus = have is not None and have.stamp is not None and have.stamp[1] == stamp[1]
    if stale_ok and same_nexus and _workers_share_the_cache():
        from backlog.tasks import suggestions_rebuild

        if cache.add(f"{CACHE_KEY.format(nexus_id=nexus_id)}:queued:{stamp[2]}", 1, 600):
            suggestions_rebuild.delay(nexus_id)
        fresh = _local.get(nexus_id)
        return fresh if fresh is not None and fresh.stamp == stamp else have
    return _build_and_store(nexus_id, stamp)
