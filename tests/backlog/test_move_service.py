"""Moves as every door makes them (`pbi_move`, `pbi_split`, `backlog_window`): every case of
a move, positions among open items, children moving with their parent, the page's token."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backlog.errors import DomainError
from backlog.models import RANK_GAP, ProductBacklogItem, Transition, TransitionKind
from backlog.selectors import BacklogFilters, backlog_token, backlog_window
from backlog.services import pbi_create, pbi_delete, pbi_move, pbi_split, pbi_transition, pbi_update
from backlog.services.ordering import family_block
from tests.factories import UserFactory, column, items_in_order, nexus_build

pytestmark = pytest.mark.django_db


def _items(nexus):
    return {i.title: i for i in ProductBacklogItem.objects.filter(backlog__nexus=nexus)}


def _open_order(nexus):
    return list(
        ProductBacklogItem.objects.open().filter(backlog__nexus=nexus).values_list("title", flat=True)
    )


def _ranks(nexus):
    return list(ProductBacklogItem.objects.filter(backlog__nexus=nexus).values_list("rank", flat=True))


# --- the one-row move, every case -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("moved", "before", "after", "expected"),
    [
        ("Item 5", "Item 1", None, ["Item 5", "Item 1", "Item 2", "Item 3", "Item 4"]),  # to the top
        ("Item 1", None, "Item 5", ["Item 2", "Item 3", "Item 4", "Item 5", "Item 1"]),  # to the bottom
        ("Item 5", "Item 3", "Item 2", ["Item 1", "Item 2", "Item 5", "Item 3", "Item 4"]),  # up, between
        ("Item 1", "Item 4", "Item 3", ["Item 2", "Item 3", "Item 1", "Item 4", "Item 5"]),  # down, between
        ("Item 2", "Item 3", None, ["Item 1", "Item 2", "Item 3", "Item 4", "Item 5"]),  # already there
        ("Item 2", None, "Item 1", ["Item 1", "Item 2", "Item 3", "Item 4", "Item 5"]),  # already there
        ("Item 4", "Item 5", None, ["Item 1", "Item 2", "Item 3", "Item 4", "Item 5"]),  # already there
    ],
)
def test_every_kind_of_move_places_the_item(moved, before, after, expected):
    nexus = nexus_build(items=5)
    it = _items(nexus)
    pbi_move(
        item=it[moved],
        before_id=it[before].pk if before else None,
        after_id=it[after].pk if after else None,
        actor=None,
    )
    assert items_in_order(nexus) == expected
    moves = Transition.objects.filter(kind=TransitionKind.RANK).count()
    assert moves == (0 if expected == [f"Item {i}" for i in range(1, 6)] else 1)


def test_a_move_writes_one_item_row_and_one_log_row():
    nexus = nexus_build(items=6)
    it = _items(nexus)
    with CaptureQueriesContext(connection) as ctx:
        pbi_move(item=it["Item 6"], after_id=it["Item 2"].pk, before_id=it["Item 3"].pk, actor=None)
    writes = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith(("UPDATE", "INSERT"))]
    counter = [w for w in writes if "nexuschangecounter" in w]
    assert len(counter) == 1  # and the Nexus's change counter, one UPSERT (`nexus_changed`)
    writes = [w for w in writes if w not in counter]
    assert len([w for w in writes if w.startswith("UPDATE")]) == 1
    assert len([w for w in writes if w.startswith("INSERT")]) == 1
    ranks = dict(ProductBacklogItem.objects.values_list("title", "rank"))
    assert ranks["Item 2"] < ranks["Item 6"] < ranks["Item 3"]
    assert ranks["Item 6"] == (ranks["Item 2"] + ranks["Item 3"]) // 2


def test_positions_count_open_items_only():
    nexus = nexus_build(items=4)
    it = _items(nexus)
    pbi_transition(item=it["Item 1"], to_column=column(nexus, "Done"), actor=None)
    pbi_delete(item=it["Item 2"], actor=None)
    result = pbi_move(item=it["Item 4"], before_id=it["Item 3"].pk, actor=None)
    # Open items are Item 3 and Item 4: from 2nd to 1st, whatever the finished and deleted items do.
    assert (result.from_position, result.to_position) == (2, 1)


def test_positions_match_a_recount_over_many_moves():
    """`from_position`/`to_position` (counted on the open columns' index) equal the places in the
    open order before and after each move, with finished, deleted and another Nexus's items about."""
    import random

    nexus = nexus_build(items=30)
    other = nexus_build(items=10)  # its items must not count
    it = _items(nexus)
    for title in ("Item 3", "Item 11", "Item 20"):
        pbi_transition(item=it[title], to_column=column(nexus, "Done"), actor=None)
    pbi_delete(item=it["Item 7"], actor=None)
    pbi_move(item=_items(other)["Item 10"], before_id=_items(other)["Item 1"].pk, actor=None)
    rng = random.Random(3)
    for _ in range(60):
        order = _open_order(nexus)
        moved, neighbour = rng.sample(order, 2)
        side = rng.choice(["before_id", "after_id"])
        result = pbi_move(item=_items(nexus)[moved], actor=None, **{side: _items(nexus)[neighbour].pk})
        assert result.from_position == order.index(moved) + 1
        assert result.to_position == _open_order(nexus).index(moved) + 1


def test_moves_record_who_moved_and_from_where():
    nexus = nexus_build(items=3)
    po = UserFactory.create(username="mover")
    it = _items(nexus)
    pbi_move(item=it["Item 3"], position=1, actor=po)
    row = Transition.objects.get(kind=TransitionKind.RANK)
    assert (row.actor, row.from_position, row.to_position, row.item.title) == (po, 3, 1, "Item 3")


def test_stale_neighbours_still_move_and_say_so():
    nexus = nexus_build(items=5)
    it = _items(nexus)
    # The client thinks Item 2 and Item 4 are adjacent; Item 3 lies between: placed above Item 4.
    moved = pbi_move(item=it["Item 1"], after_id=it["Item 2"].pk, before_id=it["Item 4"].pk, actor=None)
    assert moved.stale
    assert items_in_order(nexus) == ["Item 2", "Item 3", "Item 1", "Item 4", "Item 5"]


def test_neighbours_in_the_wrong_order_are_stale_and_before_wins():
    nexus = nexus_build(items=4)
    it = _items(nexus)
    moved = pbi_move(item=it["Item 4"], after_id=it["Item 3"].pk, before_id=it["Item 1"].pk, actor=None)
    assert moved.stale
    assert items_in_order(nexus) == ["Item 4", "Item 1", "Item 2", "Item 3"]


# --- positions ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        (1, ["Item 3", "Item 1", "Item 2", "Item 4"]),
        (2, ["Item 1", "Item 3", "Item 2", "Item 4"]),
        (3, ["Item 1", "Item 2", "Item 3", "Item 4"]),
        (4, ["Item 1", "Item 2", "Item 4", "Item 3"]),
        (99, ["Item 1", "Item 2", "Item 4", "Item 3"]),
    ],
)
def test_move_to_a_position(position, expected):
    nexus = nexus_build(items=4)
    it = _items(nexus)
    moved = pbi_move(item=it["Item 3"], position=position, actor=None)
    assert items_in_order(nexus) == expected
    assert moved.to_position == expected.index("Item 3") + 1


def test_position_skips_finished_items():
    nexus = nexus_build(items=4)
    it = _items(nexus)
    pbi_transition(item=it["Item 1"], to_column=column(nexus, "Done"), actor=None)
    pbi_move(item=it["Item 4"], position=1, actor=None)
    assert _open_order(nexus) == ["Item 4", "Item 2", "Item 3"]


def test_bad_positions_are_refused():
    nexus = nexus_build(items=2)
    it = _items(nexus)
    with pytest.raises(DomainError, match="start at 1"):
        pbi_move(item=it["Item 1"], position=0, actor=None)
    alone = nexus_build(items=1)
    with pytest.raises(DomainError, match="no other item"):
        pbi_move(item=ProductBacklogItem.objects.get(backlog__nexus=alone), position=1, actor=None)


def test_bad_moves_change_nothing_and_log_nothing():
    nexus, other = nexus_build(items=3), nexus_build(items=1)
    it = _items(nexus)
    foreign = ProductBacklogItem.objects.get(backlog__nexus=other)
    pbi_transition(item=it["Item 3"], to_column=column(nexus, "Done"), actor=None)
    before, ranks = items_in_order(nexus), _ranks(nexus)
    cases = [
        ({"item": it["Item 1"], "before_id": foreign.pk}, "another Nexus"),
        ({"item": it["Item 1"], "after_id": it["Item 1"].pk}, "itself"),
        ({"item": it["Item 1"], "before_id": 987654}, "does not exist"),
        ({"item": it["Item 1"]}, "before"),
        ({"item": it["Item 3"], "before_id": it["Item 1"].pk}, "finished"),
        ({"item": it["Item 3"], "position": 1}, "finished"),
    ]
    for kwargs, message in cases:
        with pytest.raises(DomainError, match=message):
            pbi_move(actor=None, **kwargs)
    assert items_in_order(nexus) == before
    assert _ranks(nexus) == ranks
    assert not Transition.objects.filter(kind=TransitionKind.RANK).exists()


def test_a_deleted_item_cannot_move():
    nexus = nexus_build(items=2)
    it = _items(nexus)
    pbi_delete(item=it["Item 2"], actor=None)
    with pytest.raises(DomainError, match="deleted"):
        pbi_move(item=it["Item 2"], position=1, actor=None)


def test_renumbering_when_the_gap_is_used_up_keeps_every_move():
    nexus = nexus_build(items=3)
    it = _items(nexus)
    renumbered = 0
    for _ in range(30):  # halving a 2^20 gap runs out after about 20 moves into the same place
        last = ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("-rank")[0]
        moved = pbi_move(item=last, after_id=it["Item 1"].pk, actor=None)
        renumbered += moved.renumbered
        assert items_in_order(nexus)[:2] == ["Item 1", last.title]
    assert renumbered >= 1
    assert len(set(_ranks(nexus))) == 3
    assert min(_ranks(nexus)) % RANK_GAP == 0 or renumbered  # ranks are sparse again after a renumber


# --- the page's token ---------------------------------------------------------------------------------


def test_in_sync_only_when_the_token_is_current():
    nexus = nexus_build(items=3)
    it = _items(nexus)
    token = backlog_token(backlog_id=nexus.backlog.pk)
    first = pbi_move(item=it["Item 3"], position=1, actor=None, seen_token=token)
    assert first.in_sync
    assert first.token != token
    assert first.token == backlog_token(backlog_id=nexus.backlog.pk)
    second = pbi_move(item=it["Item 2"], position=1, actor=None, seen_token=token)  # old token
    assert not second.in_sync
    third = pbi_move(item=it["Item 1"], position=1, actor=None, seen_token=second.token)
    assert third.in_sync


def test_any_write_changes_the_token():
    nexus = nexus_build(items=2)
    it = _items(nexus)
    tokens = {backlog_token(backlog_id=nexus.backlog.pk)}
    pbi_update(item=it["Item 1"], title="Renamed", actor=None)
    tokens.add(backlog_token(backlog_id=nexus.backlog.pk))
    pbi_create(nexus=nexus, title="New", actor=None)
    tokens.add(backlog_token(backlog_id=nexus.backlog.pk))
    pbi_delete(item=it["Item 2"], actor=None)
    tokens.add(backlog_token(backlog_id=nexus.backlog.pk))
    assert len(tokens) == 4
    assert backlog_window(nexus=nexus).token == backlog_token(backlog_id=nexus.backlog.pk)


# --- children: split, carried along, never among them ------------------------------------------------


def test_split_places_children_under_the_parent_with_its_labels_and_teams():
    nexus = nexus_build(items=3)
    it = _items(nexus)
    team = nexus.teams.first()
    assert team is not None
    pbi_update(item=it["Item 2"], labels=["api"], class_of_service="expedite", actor=None)
    from backlog.services import pbi_set_teams

    pbi_set_teams(item=it["Item 2"], teams=[team], actor=None)
    children = pbi_split(item=it["Item 2"], titles=["A", " ", "B"], actor=None)
    assert [c.title for c in children] == ["A", "B"]
    assert items_in_order(nexus) == ["Item 1", "Item 2", "A", "B", "Item 3"]
    for child in children:
        child.refresh_from_db()
        assert child.parent_id == it["Item 2"].pk
        assert child.class_of_service == "expedite"
        assert list(child.labels.values_list("name", flat=True)) == ["api"]
        assert list(child.teams.all()) == [team]
    # A second split goes after the first children.
    pbi_split(item=it["Item 2"], titles=["C"], actor=None)
    assert items_in_order(nexus) == ["Item 1", "Item 2", "A", "B", "C", "Item 3"]


def test_split_refuses_no_title_and_finished_items():
    nexus = nexus_build(items=2)
    it = _items(nexus)
    with pytest.raises(DomainError, match="at least one"):
        pbi_split(item=it["Item 1"], titles=["", "  "], actor=None)
    with pytest.raises(DomainError, match="longer than 300"):
        pbi_split(item=it["Item 1"], titles=["ok", "x" * 301], actor=None)
    assert ProductBacklogItem.objects.filter(backlog__nexus=nexus).count() == 2  # nothing half-made
    pbi_transition(item=it["Item 2"], to_column=column(nexus, "Done"), actor=None)
    with pytest.raises(DomainError, match="finished"):
        pbi_split(item=it["Item 2"], titles=["x"], actor=None)


def test_children_move_with_their_parent():
    nexus = nexus_build(items=3)
    it = _items(nexus)
    pbi_split(item=it["Item 1"], titles=["1a", "1b"], actor=None)
    grandchild = pbi_split(item=ProductBacklogItem.objects.get(title="1a"), titles=["1a-x"], actor=None)[0]
    assert items_in_order(nexus) == ["Item 1", "1a", "1a-x", "1b", "Item 2", "Item 3"]
    assert [f.title for f in family_block(it["Item 1"])] == ["1a", "1a-x", "1b"]
    moved = pbi_move(item=it["Item 1"], after_id=it["Item 3"].pk, actor=None)
    assert moved.carried == 3
    assert items_in_order(nexus) == ["Item 2", "Item 3", "Item 1", "1a", "1a-x", "1b"]
    assert moved.to_position == 3
    logged = {t.item.title: (t.from_position, t.to_position) for t in Transition.objects.filter(kind="rank")}
    assert logged == {"Item 1": (1, 3), "1a": (2, 4), "1a-x": (3, 5), "1b": (4, 6)}
    # To a position: the parent lands there, its children follow.
    pbi_move(item=it["Item 1"], position=1, actor=None)
    assert items_in_order(nexus) == ["Item 1", "1a", "1a-x", "1b", "Item 2", "Item 3"]
    pbi_move(item=it["Item 1"], position=2, actor=None)
    assert items_in_order(nexus) == ["Item 2", "Item 1", "1a", "1a-x", "1b", "Item 3"]
    assert grandchild.parent is not None
    assert grandchild.parent.title == "1a"


def test_an_item_cannot_go_among_its_own_children():
    nexus = nexus_build(items=2)
    it = _items(nexus)
    child = pbi_split(item=it["Item 1"], titles=["child"], actor=None)[0]
    with pytest.raises(DomainError, match="its own children"):
        pbi_move(item=it["Item 1"], after_id=child.pk, actor=None)
    # A child moved away is no longer carried along.
    pbi_move(item=child, after_id=it["Item 2"].pk, actor=None)
    assert family_block(it["Item 1"]) == []
    moved = pbi_move(item=it["Item 1"], after_id=child.pk, actor=None)
    assert moved.carried == 0
    assert items_in_order(nexus) == ["Item 2", "child", "Item 1"]


# --- the page's window ----------------------------------------------------------------------------------


def test_window_positions_and_filters_keep_backlog_order():
    nexus = nexus_build(items=6)
    it = _items(nexus)
    for name in ("Item 2", "Item 5"):
        pbi_update(item=it[name], labels=["ux"], is_blocked=True, actor=None)
    window = backlog_window(nexus=nexus, offset=2, limit=2)
    assert [(r.title, r.position) for r in window.rows] == [("Item 3", 3), ("Item 4", 4)]
    assert (window.total, window.open_total, window.has_more) == (6, 6, True)
    label = nexus.labels.get(name="ux")
    filtered = backlog_window(nexus=nexus, filters=BacklogFilters(label=label.pk))
    assert [(r.title, r.position, r.labels) for r in filtered.rows] == [
        ("Item 2", 2, ["ux"]),
        ("Item 5", 5, ["ux"]),
    ]
    assert (filtered.total, filtered.open_total) == (2, 6)
    assert [r.title for r in backlog_window(nexus=nexus, filters=BacklogFilters(blocked=False)).rows] == [
        "Item 1",
        "Item 3",
        "Item 4",
        "Item 6",
    ]
    assert [r.title for r in backlog_window(nexus=nexus, filters=BacklogFilters(q="item 6")).rows] == [
        "Item 6"
    ]


def test_a_drag_in_a_filtered_view_lands_between_its_visible_neighbours():
    nexus = nexus_build(items=6)
    it = _items(nexus)
    for name in ("Item 1", "Item 4", "Item 6"):
        pbi_update(item=it[name], class_of_service="expedite", actor=None)
    # Filtered view: Item 1, Item 4, Item 6. Drag Item 6 between Item 1 and Item 4.
    pbi_move(item=it["Item 6"], after_id=it["Item 1"].pk, before_id=it["Item 4"].pk, actor=None)
    view = [r.title for r in backlog_window(nexus=nexus, filters=BacklogFilters(cos="expedite")).rows]
    assert view == ["Item 1", "Item 6", "Item 4"]
    order = items_in_order(nexus)
    assert order.index("Item 1") < order.index("Item 6") < order.index("Item 4")


def test_window_shows_children_under_their_parent_and_names_a_parent_far_away():
    nexus = nexus_build(items=3)
    it = _items(nexus)
    a, b = pbi_split(item=it["Item 1"], titles=["A", "B"], actor=None)
    rows = {r.title: r for r in backlog_window(nexus=nexus).rows}
    assert rows["Item 1"].has_children
    assert rows["Item 1"].depth == 0
    assert (rows["A"].depth, rows["B"].depth, rows["A"].parent_title) == (1, 1, "")
    pbi_move(item=b, after_id=it["Item 3"].pk, actor=None)
    rows = {r.title: r for r in backlog_window(nexus=nexus).rows}
    assert (rows["B"].depth, rows["B"].parent_title) == (0, "Item 1")
    # A window that starts at a child still knows its family (the row before it is read too).
    window = backlog_window(nexus=nexus, offset=1, limit=2)
    assert [(r.title, r.depth) for r in window.rows] == [("A", 1), ("Item 2", 0)]
    assert a.parent_id == it["Item 1"].pk


# --- making room: the neighbourhood first --------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite renumbers the whole backlog")
def test_a_used_up_gap_renumbers_only_its_neighbourhood():
    from backlog.services.ordering import REBALANCE_MIN_GAP, REBALANCE_WINDOW

    nexus = nexus_build(items=3 * REBALANCE_WINDOW)
    order = list(
        ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank").values_list("pk", flat=True)
    )
    far_top, far_bottom = order[0], order[-1]
    ranks_before = dict(ProductBacklogItem.objects.values_list("pk", "rank"))
    anchor = order[REBALANCE_WINDOW + 10]
    renumbered = []
    for pk in order[-30:-1]:  # 29 moves into the gap below the anchor: 2^20 halves 20 times
        moved = pbi_move(item=ProductBacklogItem.objects.get(pk=pk), after_id=anchor, actor=None)
        renumbered.append(moved.renumbered)
    assert any(renumbered)
    ranks = dict(ProductBacklogItem.objects.values_list("pk", "rank"))
    assert len(set(ranks.values())) == len(ranks)
    # Items far from the gap kept their ranks: only the neighbourhood was written.
    assert ranks[far_top] == ranks_before[far_top]
    assert ranks[far_bottom] == ranks_before[far_bottom]
    changed = [pk for pk in order if ranks[pk] != ranks_before[pk]]
    assert len(changed) <= 2 * REBALANCE_WINDOW + 29
    # The order is every move's result: the moved items sit under the anchor, last moved first.
    expected = [*order[: REBALANCE_WINDOW + 11], *reversed(order[-30:-1])]
    now = list(
        ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank").values_list("pk", flat=True)
    )
    assert now[: len(expected)] == expected
    gaps = [b - a for a, b in zip(sorted(ranks.values()), sorted(ranks.values())[1:], strict=False)]
    assert min(gaps) >= 2  # room again; after a rebalance gaps are at least REBALANCE_MIN_GAP
    assert REBALANCE_MIN_GAP > 2


def test_packed_ranks_get_room_again():
    from backlog.services.ordering import backlog_rebalance

    nexus = nexus_build(items=4)
    items = list(ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank"))
    # Pack the ranks tightly (a bulk import could do this): 1, 2, 3, 4.
    for i, item in enumerate(items, start=1):
        ProductBacklogItem.objects.filter(pk=item.pk).update(rank=-i)
    for i, item in enumerate(items, start=1):
        ProductBacklogItem.objects.filter(pk=item.pk).update(rank=i)
    if connection.vendor == "postgresql":
        # The ends of the backlog may spread out: room is found around any rank.
        assert backlog_rebalance(backlog_id=nexus.backlog.pk, rank=2) == 4
    moved = pbi_move(item=items[3], after_id=items[0].pk, before_id=items[1].pk, actor=None)
    assert items_in_order(nexus) == ["Item 1", "Item 4", "Item 2", "Item 3"]
    assert len(set(_ranks(nexus))) == 4
    assert moved.renumbered or connection.vendor == "postgresql"
