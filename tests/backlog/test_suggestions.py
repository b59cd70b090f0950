"""Suggested dependencies (backlog.suggestions): the pure engine over rows, the selector's constant query
count, and the index cached per Nexus change counter with its Celery rebuild."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backlog import suggestions
from backlog.services import pbi_create, pbi_transition, pbi_update
from backlog.suggestions import (
    SuggestionRow,
    suggestion_index_build,
    suggestion_index_get,
    suggestion_rows,
    suggestions_for,
)
from backlog.suggestions import index as suggestion_cache
from backlog.tasks import suggestions_rebuild
from tests.factories import column, nexus_build, squares_fill, team

ROWS = [
    SuggestionRow(1, "Export the sprint report as PDF", "Users download the Sprint report as a PDF file."),
    SuggestionRow(2, "Export sprint report to PDF", "The Sprint report can be exported to PDF."),
    SuggestionRow(3, "Login page remembers the user name"),
    SuggestionRow(4, "Dark mode for the board", "Colours of the board in dark mode."),
    SuggestionRow(5, "Report totals are wrong in the PDF export"),
    SuggestionRow(6, "Password reset by e-mail", "Reset link on the login page."),
]


def _ids(found: list[suggestions.Suggestion]) -> list[int]:
    return [s.item_id for s in found]


def test_near_duplicate_title_comes_first_with_its_shared_terms() -> None:
    index = suggestion_index_build(ROWS)
    found = suggestions_for(index, 1)
    assert _ids(found)[:2] == [2, 5]
    best = found[0]
    assert set(best.shared_terms) >= {"export", "sprint", "report", "pdf"}
    assert best.why[0].startswith("shared terms: ")
    assert "pdf" in best.why[0]
    assert 0 < best.text <= 1
    assert 0 < best.score <= 1
    assert 3 not in _ids(found)  # nothing in common
    assert 1 not in _ids(found)  # never itself
    assert _ids(suggestions_for(index, 3)) == [6]  # "login page"


def test_dismissed_pairs_never_come_back_either_way_round() -> None:
    index = suggestion_index_build(ROWS)
    assert _ids(suggestions_for(index, 1, dismissed=[(1, 2)])) == [5]
    assert _ids(suggestions_for(index, 1, dismissed=[frozenset({2, 1})])) == [5]
    assert 1 not in _ids(suggestions_for(index, 2, dismissed=[(1, 2)]))
    assert _ids(suggestions_for(index, 1, dismissed=[(2, 1)], exclude=[5])) == []
    assert _ids(suggestions_for(index, 1, dismissed=[(3, 4)])) == [2, 5]  # other pairs do not matter


def test_structure_same_parent_labels_and_teams_together() -> None:
    rows = [
        SuggestionRow(10, "Checkout flow", team_ids=(1,)),
        SuggestionRow(11, "Basket totals", parent_id=10, labels=("payments",), team_ids=(1,)),
        SuggestionRow(12, "Card validation", parent_id=10, team_ids=(2,)),
        SuggestionRow(13, "Refund screen", labels=("payments",), team_ids=(2,)),
        SuggestionRow(14, "Help pages", team_ids=(3,)),
        SuggestionRow(15, "Invoice layout", team_ids=(1, 2)),
        SuggestionRow(16, "Shipping labels", team_ids=(1, 2)),
    ]
    index = suggestion_index_build(rows, team_names={1: "Team A", 2: "Team B", 3: "Team C"})
    found = {s.item_id: s for s in suggestions_for(index, 11)}
    assert set(found) == {12, 13}  # 10 is its parent; 14..16 share nothing but teams
    assert found[12].same_parent
    assert "same parent: Checkout flow" in found[12].why
    assert found[13].shared_labels == ("payments",)
    assert "shared labels: payments" in found[13].why
    # Team A (of 11) and Team B (of 12, 13) are on the same PBIs often: 15 and 16 of A's 4.
    assert found[12].teams_together == ((1, 2, 2),)
    assert "teams often involved together: Team A and Team B (2 PBIs)" in found[12].why
    assert found[12].score > found[13].score  # the same parent counts more than a label
    assert _ids(suggestions_for(index, 10)) == []  # its children are not dependencies
    finished_parent = suggestion_index_build(
        [SuggestionRow(1, "Alpha", parent_id=99), SuggestionRow(2, "Beta", parent_id=99)],
        other_titles={99: "Closed epic"},
    )
    assert suggestions_for(finished_parent, 1)[0].why == ("same parent: Closed epic",)


def test_closed_pbis_unknown_ids_and_empty_text() -> None:
    rows = [
        SuggestionRow(1, "Search results paging"),
        SuggestionRow(2, "Search results paging is slow", is_open=False),
        SuggestionRow(3, "Search results sorting"),
    ]
    index = suggestion_index_build(rows)
    assert _ids(suggestions_for(index, 1)) == [3]
    assert suggestions_for(index, 99) == []
    assert suggestions_for(index, 1, limit=0) == []
    assert suggestions_for(suggestion_index_build([SuggestionRow(1, "a"), SuggestionRow(2, "the")]), 1) == []
    assert len(suggestion_index_build([])) == 0
    with pytest.raises(ValueError, match="at most once"):
        suggestion_index_build([SuggestionRow(1, "x"), SuggestionRow(1, "y")])


def test_limit_keeps_the_best_in_order() -> None:
    rows = [SuggestionRow(i, f"Payment gateway timeout case {'x' * i}") for i in range(1, 40)]
    rows.append(SuggestionRow(100, "Payment gateway timeout"))
    index = suggestion_index_build(rows)
    found = suggestions_for(index, 100, limit=5)
    assert len(found) == 5
    assert [s.score for s in found] == sorted((s.score for s in found), reverse=True)
    everything = suggestions_for(index, 100, limit=100)
    assert found == everything[:5]


@pytest.fixture
def _no_cached_index() -> None:
    cache.clear()
    suggestion_cache._local.clear()


def _build(nexus, n: int) -> list:
    a, b = team(nexus, "Team A"), team(nexus, "Team B")
    parent = pbi_create(nexus=nexus, title="Checkout epic", actor=None)
    items = []
    for i in range(n):
        items.append(
            pbi_create(
                nexus=nexus,
                title=f"Checkout step {i} export",
                description="Pay by card",
                acceptance_criteria="Receipt sent",
                labels=["payments", f"l{i}"],
                teams=[a, b] if i % 2 else [a],
                parent=parent if i % 3 == 0 else None,
                actor=None,
            )
        )
    return items


@pytest.mark.django_db
@pytest.mark.usefixtures("_no_cached_index")
def test_selector_rows_and_constant_query_count() -> None:
    small, large = nexus_build(), nexus_build()
    _build(small, 2)
    items = _build(large, 30)
    done = items[1]
    squares_fill(done)
    pbi_transition(item=done, to_column=column(large, "Done"), actor=None)
    with CaptureQueriesContext(connection) as few:
        suggestion_rows(nexus_id=small.pk)
    with CaptureQueriesContext(connection) as many:
        data = suggestion_rows(nexus_id=large.pk)
    rows, names, others = data.rows, data.team_names, data.other_involvements
    assert len(few.captured_queries) == len(many.captured_queries) == 4
    assert len(rows) == 30  # the parent and 29 open children; the finished one is out
    assert done.pk not in {r.id for r in rows}
    assert len(others) == 1  # the finished PBI still counts for teams together
    first = next(r for r in rows if r.id == items[0].pk)
    assert first.title == "Checkout step 0 export"
    assert (first.description, first.acceptance_criteria) == ("Pay by card", "Receipt sent")
    assert first.labels == ("l0", "payments")
    assert first.parent_id is not None
    assert data.other_titles[first.parent_id] == "Checkout epic"
    assert first.team_ids == (team(large, "Team A").pk,)
    assert set(names.values()) >= {"Team A", "Team B"}


@pytest.mark.django_db
@pytest.mark.usefixtures("_no_cached_index")
def test_index_cached_per_change_counter_and_rebuilt_after_a_change() -> None:
    nexus = nexus_build()
    items = _build(nexus, 4)
    with CaptureQueriesContext(connection) as built:
        index = suggestion_index_get(nexus_id=nexus.pk)
    assert index is not None
    assert len(built.captured_queries) == 5  # the change counter, four for the rows
    with CaptureQueriesContext(connection) as again:
        assert suggestion_index_get(nexus_id=nexus.pk) is index
    assert len(again.captured_queries) == 1  # the change counter only
    # Another process (a cold one) finds it in the Django cache.
    suggestion_cache._local.clear()
    assert suggestion_index_get(nexus_id=nexus.pk).stamp == index.stamp  # type: ignore[union-attr]

    new = pbi_create(nexus=nexus, title="Checkout step export by PayPal", actor=None)
    fresh = suggestion_index_get(nexus_id=nexus.pk)  # stale: the task rebuilds (inline: eager Celery)
    assert fresh is not None
    assert fresh is not index
    assert new.pk in fresh.pos
    assert new.pk not in index.pos
    assert items[0].pk in {s.item_id for s in suggestions_for(fresh, new.pk)}

    pbi_update(item=items[2], title="Totally different words", actor=None)
    assert suggestions_rebuild(nexus.pk) == 6  # the task: the parent and five children
    assert suggestion_index_get(nexus_id=nexus.pk).titles[items[2].pk] == "Totally different words"  # type: ignore[union-attr]
    assert suggestion_index_get(nexus_id=0) is None
    assert suggestions_rebuild(0) == 0


@pytest.mark.django_db
@pytest.mark.usefixtures("_no_cached_index")
def test_an_index_of_another_nexus_with_the_same_id_is_never_used() -> None:
    nexus = nexus_build()
    _build(nexus, 2)
    index = suggestion_index_get(nexus_id=nexus.pk)
    assert index is not None
    assert index.stamp is not None
    forged = suggestion_index_build([SuggestionRow(1, "Other Nexus")])
    forged.stamp = (nexus.pk, "1999-01-01T00:00:00+00:00", index.stamp[2])
    suggestion_cache._local[nexus.pk] = forged
    cache.delete(suggestion_cache.CACHE_KEY.format(nexus_id=nexus.pk))
    got = suggestion_index_get(nexus_id=nexus.pk)
    assert got is not None
    assert got is not forged
    assert got.stamp == index.stamp


@pytest.mark.django_db
@pytest.mark.usefixtures("_no_cached_index")
def test_writes_never_rebuild_the_index_the_next_read_does_once(monkeypatch) -> None:
    """Coalesced: a burst of writes builds nothing; the first read after it builds once (eager Celery)."""
    nexus = nexus_build()
    _build(nexus, 2)
    before = suggestion_index_get(nexus_id=nexus.pk)
    builds: list[tuple] = []
    real = suggestion_cache._build_and_store

    def counted(*args):
        builds.append(args)
        return real(*args)

    monkeypatch.setattr(suggestion_cache, "_build_and_store", counted)
    for i in range(3):
        pbi_create(nexus=nexus, title=f"Checkout step export again {i}", actor=None)
    assert builds == []
    index = suggestion_index_get(nexus_id=nexus.pk)
    assert len(builds) == 1
    with CaptureQueriesContext(connection) as after:
        assert suggestion_index_get(nexus_id=nexus.pk) is index
    assert len(after.captured_queries) == 1  # already fresh
    assert index is not None
    assert before is not None
    assert len(index) == len(before) + 3
