"""Concurrent moves from several threads (each with its own database connection) on PostgreSQL: ranks
stay unique, no move is lost, every move is logged. The backlog row lock serialises them."""

from __future__ import annotations

import random
import threading

import pytest
from django.db import connection, connections

from backlog.models import ProductBacklogItem, Transition, TransitionKind
from backlog.services.ordering import backlog_move
from tests.factories import items_in_order, nexus_build

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
                backlog_move(item=ProductBacklogItem.objects.get(pk=pk), position=1, actor=None)

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
                backlog_move(
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
