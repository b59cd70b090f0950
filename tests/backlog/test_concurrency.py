"""Concurrent moves from several threads (each with its own database connection) on PostgreSQL: ranks
stay unique, no move is lost, every move is logged. The backlog row lock serialises them."""

from __future__ import annotations

import random
import threading

import pytest
from django.db import connection, connections

from backlog.errors import WipLimitReached
from backlog.models import ProductBacklogItem, Transition, TransitionKind, WipLimitKind
from backlog.services import pbi_move, pbi_transition, pbi_update
from tests.factories import column, items_in_order, nexus_build

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]

THREADS = 6


def _run(workers):
    """Start each worker in its own thread at the same moment; re-raise the first error."""
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def wrapped(fn):
        try:
            barrier.wait(timeout=10)
            fn()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=wrapped, args=(fn,)) for fn in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a mover hung"
    if errors:
        raise errors[0]


def _ranks(nexus):
    return list(ProductBacklogItem.objects.filter(backlog__nexus=nexus).values_list("rank", flat=True))


def test_concurrent_moves_to_the_top_lose_nothing():
    nexus = nexus_build(items=40)
    ids = list(
        ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank").values_list("pk", flat=True)
    )
    movers = [ids[-(i + 1) :: -THREADS][:5] for i in range(THREADS)]  # 30 distinct items from the bottom
    moved = [pk for chunk in movers for pk in chunk]
    assert len(set(moved)) == 30

    def worker(chunk):
        def run():
            for pk in chunk:
                pbi_move(item=ProductBacklogItem.objects.get(pk=pk), position=1, actor=None)

        return run

    _run([worker(chunk) for chunk in movers])
    ranks = _ranks(nexus)
    assert len(ranks) == len(set(ranks)) == 40
    top = set(
        ProductBacklogItem.objects.filter(backlog__nexus=nexus)
        .order_by("rank")
        .values_list("pk", flat=True)[:30]
    )
    assert top == set(moved)  # every move to the top took effect
    assert Transition.objects.filter(kind=TransitionKind.RANK).count() == 30


def test_concurrent_moves_into_the_same_gap_renumber_safely():
    nexus = nexus_build(items=30)
    order = list(
        ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank").values_list("pk", flat=True)
    )
    first, second = order[0], order[1]
    rest = order[2:]
    chunks = [rest[i::THREADS] for i in range(THREADS)]

    def worker(chunk, seed):
        def run():
            rng = random.Random(seed)
            for _ in range(8):  # 48 moves into the gap between the first two items: it runs out
                pk = rng.choice(chunk)
                pbi_move(
                    item=ProductBacklogItem.objects.get(pk=pk), after_id=first, before_id=second, actor=None
                )

        return run

    _run([worker(chunk, seed) for seed, chunk in enumerate(chunks)])
    ranks = _ranks(nexus)
    assert len(ranks) == len(set(ranks)) == 30
    titles = items_in_order(nexus)
    assert titles[0] == "Item 1"
    assert sorted(titles) == sorted(f"Item {i}" for i in range(1, 31))
    # Each move left its item directly above `second` at that moment: every moved item sits above it.
    moved_ids = set(Transition.objects.filter(kind=TransitionKind.RANK).values_list("item_id", flat=True))
    second_rank = ProductBacklogItem.objects.get(pk=second).rank
    assert all(ProductBacklogItem.objects.get(pk=pk).rank < second_rank for pk in moved_ids)
    assert Transition.objects.filter(kind=TransitionKind.RANK).count() <= 48


def test_concurrent_transitions_cannot_beat_a_hard_wip_limit():
    """Six Developers pull six items from two different columns into a column with a hard WIP limit
    of 2 (1 place left) at the same moment: exactly one gets in, the others are refused."""
    nexus = nexus_build(items=7)
    review = column(nexus, "Review")
    review.wip_limit, review.wip_limit_kind = 2, WipLimitKind.HARD
    review.save()
    items = list(ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank"))
    pbi_transition(item=items[0], to_column=review, actor=None)
    for item in items[1:4]:  # three from Ready, three from In Progress
        pbi_transition(item=item, to_column=column(nexus, "In Progress"), actor=None)
    refused: list[WipLimitReached] = []

    def worker(pk):
        def run():
            try:
                pbi_transition(item=ProductBacklogItem.objects.get(pk=pk), to_column=review, actor=None)
            except WipLimitReached as exc:
                refused.append(exc)

        return run

    _run([worker(item.pk) for item in items[1:]])
    assert ProductBacklogItem.objects.filter(column=review).count() == 2
    assert len(refused) == 5


def test_edits_and_moves_of_one_item_do_not_deadlock():
    """A Product Owner reorders an item while a Developer edits it and pulls it across the board: the
    locks are taken in one order (the Product Backlog, then the item), so none of them fails."""
    nexus = nexus_build(items=12)
    ids = list(
        ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank").values_list("pk", flat=True)
    )
    hot = ids[5]

    def mover():
        rng = random.Random(1)
        for _ in range(40):
            other = rng.choice([pk for pk in ids if pk != hot])
            pbi_move(item=ProductBacklogItem.objects.get(pk=hot), before_id=other, actor=None)

    def editor():
        for i in range(40):
            pbi_update(item=ProductBacklogItem.objects.get(pk=hot), title=f"Edited {i}", actor=None)

    def puller():
        for i in range(40):
            name = "In Progress" if i % 2 == 0 else "Ready"
            pbi_transition(
                item=ProductBacklogItem.objects.get(pk=hot), to_column=column(nexus, name), actor=None
            )

    _run([mover, editor, puller])
    item = ProductBacklogItem.objects.get(pk=hot)
    assert item.title == "Edited 39"
    column_moves = Transition.objects.filter(
        item_id=hot, kind=TransitionKind.COLUMN, from_column__isnull=False
    )
    assert column_moves.count() == 40  # every pull logged (creation logs one more, from no column)
