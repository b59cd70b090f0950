"""Bench row of the change counter (`backlog.services.common.nexus_changed`): 10 concurrent writers
(threads, each with its own database connection) on one Nexus, alternating item updates and moves.
Reports the latency of a write, the throughput, and the lost increments: the counter must have gone
up by exactly the number of writes committed (it is advanced by one UPSERT under its row lock, in
each write's transaction). A lost increment is a bug, not a slow run: the row raises."""

from __future__ import annotations

import statistics
import threading
import time

from django.db import connections

from backlog.models import Nexus, ProductBacklogItem
from backlog.selectors import nexus_change_seq
from backlog.services import pbi_update
from backlog.services.ordering import pbi_move
from nexus_site.bench import BenchContext, Row, nearest_rank

THREADS = 10
WRITES_EACH = 30


def concurrent_writers(nexus: Nexus, *, threads: int = THREADS, writes_each: int = WRITES_EACH) -> Row:
    """`threads` writers, each on its own open PBI of `nexus`: even writes rename it (`pbi_update`),
    odd ones move it near the top (`pbi_move`, which serialises on the Product Backlog's lock).
    Raises `AssertionError` when the counter's increase differs from the writes committed that changed
    something (a move to the place the item has already changes nothing), or when a write failed."""
    ids = list(
        ProductBacklogItem.objects.open()
        .filter(backlog__nexus=nexus)
        .order_by("rank")
        .values_list("pk", flat=True)[: threads * 3 : 3]
    )
    assert len(ids) == threads, f"the Nexus needs {threads * 3} open PBIs"
    before = nexus_change_seq(nexus_id=nexus.pk)
    barrier = threading.Barrier(threads)
    latencies: list[float] = []
    errors: list[BaseException] = []
    committed = [0]
    changes = [0]  # writes that changed something (a move to the place an item has is none)
    lock = threading.Lock()

    def writer(n: int, pk: int) -> None:
        mine: list[float] = []
        mine_changes = 0
        try:
            barrier.wait(timeout=30)
            for i in range(writes_each):
                started = time.perf_counter()
                item = ProductBacklogItem.objects.get(pk=pk)
                changed = True
                if i % 2:
                    moved = pbi_move(item=item, position=1 + (n + i) % 20, actor=None)
                    changed = moved.from_position != moved.to_position  # else it counts nothing
                else:
                    pbi_update(item=item, title=f"Bench writer {n}, write {i}", actor=None)
                mine.append((time.perf_counter() - started) * 1000)
                mine_changes += changed
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            with lock:
                latencies.extend(mine)
                committed[0] += len(mine)
                changes[0] += mine_changes
            connections.close_all()

    workers = [threading.Thread(target=writer, args=(n, pk)) for n, pk in enumerate(ids)]
    started = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    lost = changes[0] - (nexus_change_seq(nexus_id=nexus.pk) - before)
    assert lost == 0, f"{lost} increment(s) of the change counter lost"
    return Row(
        f"{threads} concurrent writers on one Nexus (update / move), change counter",
        committed[0],
        statistics.median(latencies),
        nearest_rank(latencies, 0.95),
        None,
        f"{committed[0] / seconds:,.0f} writes/s; seq +{changes[0]} for {changes[0]} changes "
        f"({committed[0] - changes[0]} moves to the place the item had), 0 lost increments",
    )


def run(ctx: BenchContext) -> list[Row]:
    return [concurrent_writers(ctx.nexus)]
