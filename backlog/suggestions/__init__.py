"""Suggested dependencies (issue 12): for a PBI, the other open PBIs most likely to touch the same area,
each with why, for a person to confirm (it becomes a dependency) or dismiss (never suggested again).

Method (a content-based recommender over the Nexus's Product Backlog; scikit-learn, no model download,
pure Python and numpy over rows, so SQLite and PostgreSQL alike):

* **Text**: TF-IDF (scikit-learn ``TfidfVectorizer``: English stop words removed, sublinear term
  frequency, L2-normalised rows) of the title (counted twice: the title names the area), description
  and acceptance criteria; the similarity of two PBIs is the cosine of their vectors, in [0, 1]
  (Manning, Raghavan, Schütze, "Introduction to Information Retrieval", ch. 6). The neighbours of one
  PBI are found by brute force through the transposed matrix (an inverted index: only the PBIs that
  share a term with it are touched), what ``sklearn.neighbors.NearestNeighbors(metric="cosine",
  algorithm="brute")`` does, without its per-call overhead.
* **Same parent**: both were split from the same PBI.
* **Shared labels**, weighted by how specific each label is: ``log(n / df) / log(n)`` for a label on
  ``df`` of the ``n`` PBIs (1 for a label on one other PBI, 0 for a label on every PBI), summed, at most 1.
* **Teams often involved together**: for a team of this PBI and another team of the candidate, the
  share of the smaller team's PBIs (all live PBIs, finished ones included) that involve both; the
  largest over the pairs, in [0, 1]. Dependencies are between teams, so a team shared by both PBIs
  does not count.

``score = 0.6 text + 0.2 same parent + 0.1 labels + 0.1 teams`` (weights chosen so that text leads and
the structure breaks ties; a heuristic, documented as such). A candidate needs some evidence of its own
(a shared term, the same parent or a shared label) and ``score >= min_score``; the PBI itself, its
parent and children, closed PBIs and the dismissed pairs are never suggested.

Split by sub-domain: ``engine`` (the pure method over rows), ``index`` (the rows of a Nexus, the index
cached per Nexus and stamped with its change counter, rebuilt lazily: the first read after a change
queues one rebuild, ``backlog.tasks.suggestions_rebuild``, inline when Celery is eager as under ``make
run``), ``selectors`` (one PBI's suggestions for people and the API, the dismissed pairs and existing
dependencies left out). Confirming and dismissing are writes: ``backlog.services.suggestions``.
"""

from backlog.suggestions.engine import (
    DEFAULT_LIMIT,
    DEFAULT_MIN_SCORE,
    Suggestion,
    SuggestionIndex,
    SuggestionRow,
    suggestion_index_build,
    suggestions_for,
)
from backlog.suggestions.index import (
    CACHE_KEY,
    NexusRows,
    suggestion_index_get,
    suggestion_index_rebuild,
    suggestion_rows,
)

__all__ = [
    "CACHE_KEY",
    "DEFAULT_LIMIT",
    "DEFAULT_MIN_SCORE",
    "NexusRows",
    "Suggestion",
    "SuggestionIndex",
    "SuggestionRow",
    "suggestion_index_build",
    "suggestion_index_get",
    "suggestion_index_rebuild",
    "suggestion_rows",
    "suggestions_for",
]
