"""Ordering with sparse ranks: one row per move, renumbering when a gap is used up."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Max

from backlog.errors import DomainError
from backlog.models import RANK_GAP, ProductBacklogItem, Transition, TransitionKind
from backlog.services import backlog_renumber, pbi_move, pbi_transition
from tests.factories import column, items_in_order, nexus_build

pytestmark = pytest.mark.django_db


def _items(nexus):
    return {i.title: i for i in ProductBacklogItem.objects.filter(backlog__nexus=nexus)}


def test_move_between_two_rows_and_log():
    nexus = nexus_build(items=4)
    it = _items(nexus)
    result = pbi_move(item=it["Item 4"], after_id=it["Item 1"].pk, before_id=it["Item 2"].pk, actor=None)
    assert items_in_order(nexus) == ["Item 1", "Item 4", "Item 2", "Item 3"]
    assert (result.from_position, result.to_position, result.stale) == (4, 2, False)
    row = Transition.objects.get(kind=TransitionKind.RANK)
    assert (row.from_position, row.to_position) == (4, 2)


def test_move_to_top_and_bottom():
    nexus = nexus_build(items=3)
    it = _items(nexus)
    pbi_move(item=it["Item 3"], before_id=it["Item 1"].pk, actor=None)
    pbi_move(item=it["Item 1"], after_id=it["Item 2"].pk, actor=None)
    assert items_in_order(nexus) == ["Item 3", "Item 2", "Item 1"]


def test_stale_neighbours_place_relative_to_before():
    nexus = nexus_build(items=4)
    it = _items(nexus)
    result = pbi_move(item=it["Item 1"], after_id=it["Item 2"].pk, before_id=it["Item 4"].pk, actor=None)
    assert result.stale
    assert items_in_order(nexus) == ["Item 2", "Item 3", "Item 1", "Item 4"]


def test_gap_exhaustion_renumbers_and_keeps_order():
    nexus = nexus_build(items=3)
    it = _items(nexus)
    # Keep moving items into the gap below Item 1 until the integers run out.
    renumbered = False
    for _ in range(25):
        first = ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank")[0]
        last = ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("-rank")[0]
        res = pbi_move(item=last, after_id=first.pk, actor=None)
        renumbered = renumbered or res.renumbered
    assert renumbered
    ranks = list(
        ProductBacklogItem.objects.filter(backlog__nexus=nexus)
        .order_by("rank")
        .values_list("rank", flat=True)
    )
    assert len(set(ranks)) == 3
    assert it  # ordering stayed a permutation of the three items
    assert sorted(items_in_order(nexus)) == ["Item 1", "Item 2", "Item 3"]


def test_renumber_is_one_statement_and_keeps_order():
    nexus = nexus_build(items=5)
    before = items_in_order(nexus)
    assert backlog_renumber(backlog_id=nexus.backlog.pk) == 5
    assert items_in_order(nexus) == before
    ranks = list(
        ProductBacklogItem.objects.filter(backlog__nexus=nexus)
        .order_by("rank")
        .values_list("rank", flat=True)
    )
    assert ranks == [RANK_GAP * i for i in range(1, 6)]


def test_bad_moves_change_nothing():
    nexus, other = nexus_build(items=3), nexus_build(items=1)
    it = _items(nexus)
    foreign = ProductBacklogItem.objects.get(backlog__nexus=other)
    before = items_in_order(nexus)
    with pytest.raises(DomainError, match="another Nexus"):
        pbi_move(item=it["Item 1"], before_id=foreign.pk, actor=None)
    with pytest.raises(DomainError, match="itself"):
        pbi_move(item=it["Item 1"], before_id=it["Item 1"].pk, actor=None)
    with pytest.raises(DomainError, match="does not exist"):
        pbi_move(item=it["Item 1"], before_id=999999, actor=None)
    with pytest.raises(DomainError, match="before"):
        pbi_move(item=it["Item 1"], actor=None)
    pbi_transition(item=it["Item 3"], to_column=column(nexus, "Done"), actor=None)
    with pytest.raises(DomainError, match="finished"):
        pbi_move(item=it["Item 3"], before_id=it["Item 1"].pk, actor=None)
    assert items_in_order(nexus) == before
    assert not Transition.objects.filter(kind=TransitionKind.RANK).exists()


def test_renumbering_marks_the_items_whose_rank_changed_for_sync():
    """`rank` is part of the API's item: an item that a renumbering gives a new rank gets a new
    `updated_at` and `version` (a client syncing with `?updated_since=` sees it); the others not."""
    nexus = nexus_build(items=4)
    items = list(ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank"))
    ProductBacklogItem.objects.filter(pk=items[3].pk).update(rank=RANK_GAP * 7)  # the only one off the grid
    before = {
        i.pk: (i.updated_at, i.version) for i in ProductBacklogItem.objects.filter(backlog__nexus=nexus)
    }
    backlog_renumber(backlog_id=nexus.backlog.pk)
    after = {i.pk: (i.updated_at, i.version) for i in ProductBacklogItem.objects.filter(backlog__nexus=nexus)}
    assert [after[i.pk] == before[i.pk] for i in items] == [True, True, True, False]
    assert after[items[3].pk][0] > before[items[3].pk][0]
    assert after[items[3].pk][1] == before[items[3].pk][1] + 1
    assert ProductBacklogItem.objects.get(pk=items[3].pk).rank == RANK_GAP * 4


@pytest.mark.skipif(connection.vendor != "postgresql", reason="local renumbering needs PostgreSQL")
def test_local_renumbering_marks_the_items_whose_rank_changed_for_sync():
    from backlog.services.ordering import backlog_rebalance

    nexus = nexus_build(items=5)
    items = list(ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank"))
    for i, item in enumerate(items, start=1):  # packed tight, as a bulk import could leave them
        ProductBacklogItem.objects.filter(pk=item.pk).update(rank=-i)
    for i, item in enumerate(items, start=1):
        ProductBacklogItem.objects.filter(pk=item.pk).update(rank=i)
    since = ProductBacklogItem.objects.filter(backlog__nexus=nexus).aggregate(m=Max("updated_at"))["m"]
    assert backlog_rebalance(backlog_id=nexus.backlog.pk, rank=3) == 5
    changed = ProductBacklogItem.objects.filter(backlog__nexus=nexus, updated_at__gt=since)
    assert changed.count() == 5
    assert all(i.version == 2 for i in changed)
