"""Bench rows of the Sprints (`make bench`, run from `events.bench.run`): closing a Sprint of 300 PBIs
(target: under 1 s), through `events.services.sprint_close` as every door calls it."""

from __future__ import annotations

import statistics
import time

from django.db import connection, reset_queries
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backlog.models import Nexus, ProductBacklogItem, WorkflowColumn
from events.models import OPEN_STATES, Sprint, SprintItem, SprintScopeChange, SprintState
from events.services import sprint_close, sprint_create, sprint_delete, sprint_next, sprint_start
from nexus_site.bench import Row, nearest_rank

#: PBIs in the Sprint closed: two thirds unfinished, one third finished.
SCOPE = 300


def _prepare(nexus: Nexus, size: int) -> tuple[Sprint, dict[int, str]]:
    """An active Sprint of `size` PBIs not in any open Sprint (a third of them in the finish column or
    after it), a planned next Sprint, and the destinations of a close: one unfinished PBI in five back to
    the Product Backlog, the rest carried over. Not timed. The scope is written in bulk (planning 300
    PBIs through `sprint_plan` is another benchmark's business); the start goes through the service."""
    for stale in Sprint.objects.filter(nexus=nexus, state=SprintState.ACTIVE):  # another row's
        if sprint_next(sprint=stale) is None:
            sprint_create(nexus=nexus, actor=None)
        sprint_close(sprint=stale, actor=None)
    finish = (
        WorkflowColumn.objects.filter(nexus=nexus, is_finish=True).values_list("position", flat=True).first()
    )
    taken = SprintItem.objects.filter(sprint__nexus=nexus, sprint__state__in=OPEN_STATES).values("item_id")
    free = ProductBacklogItem.objects.alive().filter(backlog__nexus=nexus).exclude(pk__in=taken)
    done_q = Q(column__position__gte=finish) if finish is not None else Q(pk__in=[])
    unfinished = list(free.exclude(done_q).order_by("rank").values_list("pk", flat=True)[: size * 2 // 3])
    finished = list(
        free.filter(done_q).order_by("-id").values_list("pk", flat=True)[: size - len(unfinished)]
    )
    sprint = sprint_create(nexus=nexus, actor=None)
    now = timezone.now()
    ids = unfinished + finished
    SprintItem.objects.bulk_create(SprintItem(sprint=sprint, item_id=i, added_at=now) for i in ids)
    SprintScopeChange.objects.bulk_create(
        SprintScopeChange(sprint=sprint, item_id=i, kind="added", at=now, event="planning") for i in ids
    )
    sprint_start(sprint=sprint, actor=None)
    sprint_create(nexus=nexus, actor=None)
    return sprint, dict.fromkeys(unfinished[::5], "backlog")


def sprint_close_row(nexus: Nexus, *, runs: int = 10, warmup: int = 1, size: int = SCOPE) -> Row:
    """Close an active Sprint of `size` PBIs `warmup + runs` times (a fresh Sprint each time, prepared
    untimed); the row times `sprint_close` alone: snapshot, scope log, carry-over into the next Sprint."""
    times: list[float] = []
    queries = 0
    scope = 0
    first = (
        Sprint.objects.filter(nexus=nexus).order_by("-number").values_list("number", flat=True).first() or 0
    )
    for i in range(warmup + runs):
        sprint, destinations = _prepare(nexus, size)
        scope = SprintItem.objects.filter(sprint=sprint).count()
        reset_queries()
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            sprint_close(sprint=sprint, actor=None, destinations=destinations)
            elapsed = (time.perf_counter() - started) * 1000
        if i >= warmup:
            times.append(elapsed)
            queries = max(queries, len(ctx.captured_queries))
    # The planned Sprints the closes carried PBIs into go again: the bench leaves no open Sprint behind.
    for planned in Sprint.objects.filter(nexus=nexus, state=SprintState.PLANNED, number__gt=first):
        sprint_delete(sprint=planned, actor=None)
    return Row(
        f"close a Sprint of {scope} PBIs",
        runs,
        statistics.median(times),
        nearest_rank(times, 0.95),
        queries,
        "target < 1 s; a third done, the rest carried over or (1 in 5) back to the Product Backlog",
    )
