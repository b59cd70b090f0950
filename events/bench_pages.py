"""Bench rows of the two Sprint pages (`make bench`; a second `BenchRows` entry of `events`, declared in
`EventsConfig.ready`): the Nexus Sprint Backlog page with an active Sprint of 300 PBIs (target: p95
under 100 ms) and the Nexus Sprint Planning page showing 500 ready PBIs (target: p95 under 150 ms), on
the synthetic Nexus (9 Scrum Teams, 10,000 open PBIs).

Each row prepares its Sprint untimed (the scope written in bulk, as `events.bench_sprints` does:
planning 300 PBIs through the service is not what is measured; start and close go through the
services) and leaves no open Sprint behind, so the other rows of the group find the Nexus as they
expect it."""

from __future__ import annotations

from django.db import connection
from django.db.models import Q, QuerySet
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backlog.bench import bench_client
from backlog.models import ColumnCategory, Nexus, ProductBacklogItem, WorkflowColumn
from events.models import OPEN_STATES, Sprint, SprintItem, SprintScopeChange, SprintState
from events.services import sprint_close, sprint_create, sprint_delete, sprint_next, sprint_start
from nexus_site.bench import BenchContext, Row, measure

#: PBIs of the active Sprint on the Nexus Sprint Backlog row; ready PBIs shown on the planning row.
SPRINT_SIZE = 300
READY_SHOWN = 500


def _close_open(nexus: Nexus) -> None:
    """Close an active Sprint (its unfinished PBIs back to the Product Backlog) and delete planned ones
    left by another row."""
    finish = _finish(nexus)
    for stale in Sprint.objects.filter(nexus=nexus, state=SprintState.ACTIVE):
        scope = SprintItem.objects.filter(sprint=stale)
        if finish is not None:
            scope = scope.filter(item__column__position__lt=finish)
        unfinished = list(scope.values_list("item_id", flat=True))
        next_sprint = sprint_next(sprint=stale)
        sprint_close(sprint=stale, actor=None, destinations=dict.fromkeys(unfinished, "backlog"))
        if next_sprint is not None and next_sprint.state == SprintState.PLANNED:
            sprint_delete(sprint=next_sprint, actor=None)
    for planned in Sprint.objects.filter(nexus=nexus, state=SprintState.PLANNED):
        sprint_delete(sprint=planned, actor=None)


def _finish(nexus: Nexus) -> int | None:
    """The position of the Nexus's finish column (None without one)."""
    finish = WorkflowColumn.objects.filter(nexus=nexus, is_finish=True).values_list("position", flat=True)
    return finish.first()


def _free_items(nexus: Nexus) -> QuerySet[ProductBacklogItem]:
    taken = SprintItem.objects.filter(sprint__nexus=nexus, sprint__state__in=OPEN_STATES).values("item_id")
    return ProductBacklogItem.objects.alive().filter(backlog__nexus=nexus).exclude(pk__in=taken)


def _bulk_scope(sprint: Sprint, ids: list[int]) -> None:
    """Put `ids` in `sprint`'s scope in two statements, then refresh PostgreSQL's planner statistics of
    those tables as autovacuum would a minute later (measured straight after a bulk insert, the team
    board was planned as if the Sprint were empty: 300 ms instead of 25)."""
    now = timezone.now()
    SprintItem.objects.bulk_create(SprintItem(sprint=sprint, item_id=i, added_at=now) for i in ids)
    SprintScopeChange.objects.bulk_create(
        SprintScopeChange(sprint=sprint, item_id=i, kind="added", at=now, event="planning") for i in ids
    )
    if connection.vendor == "postgresql":
        tables = ", ".join(
            connection.ops.quote_name(m._meta.db_table) for m in (SprintItem, SprintScopeChange)
        )
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {tables}")


def sprint_backlog_row(ctx: BenchContext, client: Client, *, size: int = SPRINT_SIZE, runs: int = 20) -> Row:
    """GET the Nexus Sprint Backlog page of an active Sprint of `size` PBIs: two thirds in progress
    (their squares as the generator left them), a sixth ready, a sixth finished."""
    nexus = ctx.nexus
    _close_open(nexus)
    free = _free_items(nexus)
    finish = _finish(nexus)
    done_q = Q(column__position__gte=finish) if finish is not None else Q(pk__in=[])
    doing = list(
        free.filter(column__category=ColumnCategory.IN_PROGRESS)
        .order_by("rank")
        .values_list("pk", flat=True)[: size * 2 // 3]
    )
    ready = list(
        free.filter(column__is_ready=True).order_by("rank").values_list("pk", flat=True)[: size // 6]
    )
    done = list(
        free.filter(done_q).order_by("-id").values_list("pk", flat=True)[: size - len(doing) - len(ready)]
    )
    sprint = sprint_create(nexus=nexus, actor=None, goal="Bench: the Nexus Sprint Goal")
    _bulk_scope(sprint, doing + ready + done)
    sprint_start(sprint=sprint, actor=None)
    scope = SprintItem.objects.filter(sprint=sprint).count()
    url = reverse("events:sprint-backlog", args=[nexus.slug])

    def get(_i: int) -> object:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response

    row = measure(f"Nexus Sprint Backlog page, Sprint of {scope} PBIs", get, runs=runs)
    row.note = "target p95 < 100 ms; 9 teams, groups, squares, Work Item Age"
    _close_open(nexus)
    return row


def planning_row(
    ctx: BenchContext, client: Client, *, shown: int = READY_SHOWN, lanes: int = 60, runs: int = 20
) -> Row:
    """GET the Nexus Sprint Planning page with `?limit=500`: the top 500 ready PBIs not in a Sprint, the
    team lanes of a planned Sprint (`lanes` PBIs) and each team's Throughput over the closed Sprints."""
    nexus = ctx.nexus
    _close_open(nexus)
    sprint = sprint_create(nexus=nexus, actor=None, goal="Bench: planning")
    in_lanes = list(
        _free_items(nexus)
        .filter(column__is_ready=True)
        .order_by("-rank")
        .values_list("pk", flat=True)[:lanes]
    )
    _bulk_scope(sprint, in_lanes)
    ready = _free_items(nexus).filter(column__is_ready=True).count()
    url = reverse("events:planning", args=[nexus.slug]) + f"?limit={shown}"

    def get(_i: int) -> object:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response

    row = measure(f"Nexus Sprint Planning page, {min(shown, ready)} ready PBIs shown", get, runs=runs)
    closed = Sprint.objects.filter(nexus=nexus, state=SprintState.CLOSED).count()
    row.note = (
        f"target p95 < 150 ms; {ready:,} ready not in a Sprint, {len(in_lanes)} in the team lanes, "
        f"{closed} closed Sprints"
    )
    sprint_delete(sprint=sprint, actor=None)
    return row


def run(ctx: BenchContext) -> list[Row]:
    client = bench_client(ctx)
    return [sprint_backlog_row(ctx, client), planning_row(ctx, client)]
