"""One PBI's suggested dependencies, as the pages and the API show them: the engine's suggestions from the
Nexus's cached index (``backlog.suggestions.index``), leaving out the pairs a person dismissed
(``SuggestionDismissal``), the PBIs it already has a live (open or resolved) dependency with, and PBIs
finished or deleted since the index was built."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from backlog.models import Dependency, DependencyStatus, ProductBacklogItem, SuggestionDismissal
from backlog.suggestions.engine import DEFAULT_LIMIT, Suggestion, suggestions_for
from backlog.suggestions.index import suggestion_index_get

__all__ = ["SuggestedDependency", "suggested_dependencies_get"]

#: Most suggestions one read returns (`limit`).
SUGGESTIONS_MAX = 50


@dataclass(frozen=True, slots=True)
class SuggestedDependency:
    """A PBI suggested as a dependency of the PBI asked about: ``item_id`` and ``title`` (current) of the
    suggested PBI, and the engine's ``suggestion`` (score in [0, 1], text similarity, ``why`` sentences
    and the evidence as data; ``backlog.suggestions.engine.Suggestion``). ``team_names``: team id ->
    name, for the evidence's ``teams_together``."""

    item_id: int
    title: str
    suggestion: Suggestion
    team_names: dict[int, str]


def suggested_dependencies_get(
    *, nexus_id: int, item_id: int, limit: int = DEFAULT_LIMIT
) -> list[SuggestedDependency]:
    """The suggested dependencies of PBI ``item_id`` of the Nexus, best first (score, then id), at most
    ``limit`` (1 to ``SUGGESTIONS_MAX``). [] for a PBI not in the index (finished, deleted, or created
    since: the next read after the rebuild has it). Four queries when the index is fresh (its change
    counter, the dismissed pairs, the live dependencies, the suggested PBIs still open), whatever the
    size of the Nexus. Raises ``ValueError`` for a ``limit`` out of range."""
    if not 1 <= limit <= SUGGESTIONS_MAX:
        raise ValueError(f"limit must be 1 to {SUGGESTIONS_MAX}")
    index = suggestion_index_get(nexus_id=nexus_id)
    if index is None or item_id not in index.pos:
        return []
    dismissed = SuggestionDismissal.objects.filter(Q(item_low_id=item_id) | Q(item_high_id=item_id))
    pairs = list(dismissed.values_list("item_low_id", "item_high_id"))
    linked = set()
    for a, b in (
        Dependency.objects.filter(Q(item_id=item_id) | Q(depends_on_id=item_id))
        .exclude(status=DependencyStatus.REMOVED)
        .values_list("item_id", "depends_on_id")
    ):
        linked.add(b if a == item_id else a)
    # A few more than asked for: some may have been finished or deleted since the index was built.
    found = suggestions_for(index, item_id, dismissed=pairs, exclude=linked, limit=limit + 5)
    titles = dict(
        ProductBacklogItem.objects.open()
        .filter(pk__in=[s.item_id for s in found], backlog__nexus_id=nexus_id)
        .values_list("pk", "title")
    )
    return [
        SuggestedDependency(s.item_id, titles[s.item_id], s, index.team_names)
        for s in found
        if s.item_id in titles
    ][:limit]
