"""Bench rows of the flow app (`make bench`): full recomputes, the incremental update, the API writes
that touch flow, and the flow page served from stored results.

Targets (flow issue): full recompute of the JDT Nexus under 10 s on PostgreSQL, of the synthetic Nexus
(10,000 open PBIs, 200,000 transitions) under 60 s; the flow page from stored results with p95 under
200 ms and a constant number of queries. Incremental issue: an incremental update of one change on the
synthetic Nexus p95 under 20 ms (a column change; and a team square change, whose team's own flow
it updates: team-level flow issue); an API column change, square change, block and title edit p95 under
50 ms on the synthetic Nexus (tasks queued, as with a worker); the full recompute of the JDT history at
most a third of the code before it, as a process of its own from start to finish (compare with a worktree
of that code and a database of its own, migrated by it, the same history imported); peak resident memory
of a full recompute of the synthetic Nexus (a process of its own) under 500 MB.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from backlog.bench import vacuum_analyze
from backlog.models import ProductBacklogItem, Role, TeamInvolvement, TeamStatus, WorkflowColumn
from backlog.services import membership_add, pbi_transition
from backlog.services.sync import token_create
from backlog.signals import items_changed
from flow import receivers
from flow.incremental import APPLIED, UNCHANGED, flow_apply
from flow.models import FlowSnapshot
from flow.services import flow_recompute
from nexus_site.bench import BenchContext, Row, measure, nearest_rank, postgres_url


def _admin_client(ctx: BenchContext) -> Client:
    client = ctx.extra.get("flow_admin_client")
    if client is None:
        user, _ = User.objects.get_or_create(username="bench-flow-admin", defaults={"is_superuser": True})
        client = Client()
        client.force_login(user)
        ctx.extra["flow_admin_client"] = client
    return client


def _recompute_row(name: str, nexus: Any) -> Row:
    timings: dict[str, Any] = {}

    def run(_i: int) -> object:
        timings.update(flow_recompute(nexus_id=nexus.pk)["timings"])
        return None

    row = measure(name, run, runs=3, warmup=1)
    spans = FlowSnapshot.objects.filter(nexus=nexus).values_list("start", "end")
    days = sum((end - start).days + 1 for start, end in spans)  # each series runs start..end
    scopes = len(spans)
    row.note = (
        f"{scopes} scopes (Nexus + teams), {days:,} days; last run: load {timings.get('load')} s, "
        f"compute {timings.get('compute')} s, store {timings.get('store')} s "
        f"({timings.get('rows_written', 0):,} days and items written)"
    )
    return row


def _page_row(name: str, client: Client, url: str, runs: int = 30) -> Row:
    sizes: list[int] = []

    def get(_i: int) -> object:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        sizes.append(len(response.content))
        return response

    row = measure(name, get, runs=runs)
    row.note = f"{url} ({max(sizes) // 1024} KB)"
    return row


@contextmanager
def _tasks_queued() -> Iterator[None]:
    """Queue Celery tasks instead of running them inline, as with a worker; restored afterwards."""
    from nexus_site.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        yield
    finally:
        app.conf.task_always_eager = eager


@contextmanager
def _heap_frozen() -> Iterator[None]:
    """The objects made so far (the generated Nexus, the bench's own) out of the cyclic garbage
    collector's sight while the rows below are timed, as the gunicorn workers freeze their start-up
    objects (`nexus_site/gunicorn_conf.py`): otherwise a full collection over the bench process's
    heap (25 ms and more) lands in whichever timed run triggers it."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _open_in_progress(ctx: BenchContext, n: int) -> list[ProductBacklogItem]:
    """`n` open PBIs of the synthetic Nexus in a column between its start and finish (the ones a
    Nexus Daily Scrum moves), with their column."""
    columns = list(WorkflowColumn.objects.filter(nexus=ctx.nexus).order_by("position"))
    start = next(i for i, c in enumerate(columns) if c.is_start)
    return list(
        ProductBacklogItem.objects.open()
        .filter(backlog__nexus=ctx.nexus, column__in=columns[start : start + 1])
        .select_related("column")
        .order_by("pk")[:n]
    )


def _incremental_row(ctx: BenchContext) -> Row:
    """One column change, then `flow_apply` for it, timed alone (the change itself is not timed)."""
    columns = list(WorkflowColumn.objects.filter(nexus=ctx.nexus).order_by("position"))
    items = _open_in_progress(ctx, 30)
    nxt = {c.pk: columns[min(i + 1, len(columns) - 1)] for i, c in enumerate(columns)}
    times: list[float] = []
    forward: list[float] = []
    back: list[float] = []
    cpu: list[float] = []  # CPU time of this process: the part a busy machine does not inflate
    queries = 0
    items_changed.disconnect(dispatch_uid="flow.on_items_changed")  # apply by hand, timed
    try:
        for i, item in enumerate(items):
            to = nxt[item.column_id] if i % 3 else columns[0]  # forward moves, and some back to the start
            pbi_transition(item=item, to_column=to, actor=None)
            with CaptureQueriesContext(connection) as cap:
                started, cpu0 = time.perf_counter(), time.process_time()
                outcome = flow_apply(nexus_id=ctx.nexus.pk, item_ids=[item.pk])
                elapsed = (time.perf_counter() - started) * 1000
                cpu.append((time.process_time() - cpu0) * 1000)
            assert outcome in (APPLIED, UNCHANGED), outcome
            if i >= 5:  # warm-up
                times.append(elapsed)
                (forward if i % 3 else back).append(elapsed)
                queries = max(queries, len(cap.captured_queries))
    finally:
        items_changed.connect(receivers.on_items_changed, dispatch_uid="flow.on_items_changed")
    times.sort()
    return Row(
        "flow: incremental update of one column change, synthetic Nexus",
        len(times),
        times[len(times) // 2],
        nearest_rank(times, 0.95),
        queries,
        "flow_apply after a move forward (or, one in three, back to the first column: every day "
        "since the item started changes, for the Nexus and each of its teams): ItemFlow + daily series "
        f"of the Nexus and the item's teams; forward moves p95 {nearest_rank(forward, 0.95):.1f} ms, "
        f"back-moves p95 {nearest_rank(back, 0.95):.1f} ms; CPU of this process median "
        f"{sorted(cpu)[len(cpu) // 2]:.1f} ms; target p95 < 20 ms",
    )


def _job_row(ctx: BenchContext) -> Row:
    """The coalesced job after one column change the incremental update applied: the summaries
    refreshed from the stored rows (`flow.refresh`), timed alone (the change and its update are not)."""
    from flow.services import recompute_job

    columns = list(WorkflowColumn.objects.filter(nexus=ctx.nexus).order_by("position"))
    items = _open_in_progress(ctx, 12)
    nxt = {c.pk: columns[min(i + 1, len(columns) - 1)] for i, c in enumerate(columns)}
    flow_recompute(nexus_id=ctx.nexus.pk)  # current figures: the jobs below may refresh
    times: list[float] = []
    outcomes: set[str] = set()
    items_changed.disconnect(dispatch_uid="flow.on_items_changed")  # apply by hand
    try:
        for i, item in enumerate(items):
            pbi_transition(item=item, to_column=nxt[item.column_id], actor=None)
            assert flow_apply(nexus_id=ctx.nexus.pk, item_ids=[item.pk]) in (APPLIED, UNCHANGED)
            started = time.perf_counter()
            outcomes.add(str(recompute_job(nexus_id=ctx.nexus.pk).get("refreshed", "full")))
            if i >= 2:  # warm-up
                times.append((time.perf_counter() - started) * 1000)
    finally:
        items_changed.connect(receivers.on_items_changed, dispatch_uid="flow.on_items_changed")
    times.sort()
    return Row(
        "flow: coalesced job after an incremental change, synthetic Nexus",
        len(times),
        times[len(times) // 2],
        nearest_rank(times, 0.95),
        None,
        f"the summaries of the Nexus and its 9 teams refreshed from the stored rows "
        f"({', '.join(sorted(outcomes))}); the full recompute is the row above",
    )


def _square_row(ctx: BenchContext) -> Row:
    """One team square change (its team's figures on the team basis: its own flow, `flow.team_level`),
    then `flow_apply` for it, timed alone (the change itself is not timed). Teams of the squares used
    that have no team-level history yet get one square change first and one full recompute (not
    timed), so that every timed change updates a team-basis scope, not a change of basis."""
    from backlog.errors import DomainError
    from backlog.services import involvement_set_status

    items = _open_in_progress(ctx, 60)
    squares = list(TeamInvolvement.objects.filter(item__in=items).order_by("pk")[:40])
    if not squares:
        return Row(
            "flow: incremental update of one square change, synthetic Nexus", 0, 0, 0, None, "no squares"
        )
    cycle = [
        TeamStatus.IN_PROGRESS,
        TeamStatus.READY_TO_INTEGRATE,
        TeamStatus.IN_PROGRESS,
        TeamStatus.NOT_STARTED,
    ]
    times: list[float] = []
    cpu: list[float] = []  # CPU time of this process: the part a busy machine does not inflate
    queries = 0
    items_changed.disconnect(dispatch_uid="flow.on_items_changed")  # apply by hand, timed
    try:
        own = set(
            FlowSnapshot.objects.filter(nexus=ctx.nexus, basis="team").values_list("team_id", flat=True)
        )
        first = {sq.team_id: sq for sq in squares if sq.team_id not in own}
        for sq in first.values():
            involvement_set_status(involvement=sq, status=TeamStatus.IN_PROGRESS, actor=None)
        if first:
            flow_recompute(nexus_id=ctx.nexus.pk)
        for i in range(36):
            sq = squares[i % len(squares)]
            sq.refresh_from_db()
            try:
                involvement_set_status(
                    involvement=sq, status=cycle[(i // len(squares)) % len(cycle)], actor=None
                )
            except DomainError:
                continue  # a hard WIP limit of the automatic Nexus move: nothing changed
            with CaptureQueriesContext(connection) as cap:
                started, cpu0 = time.perf_counter(), time.process_time()
                outcome = flow_apply(nexus_id=ctx.nexus.pk, item_ids=[sq.item_id])
                elapsed = (time.perf_counter() - started) * 1000
                cpu_ms = (time.process_time() - cpu0) * 1000
            assert outcome in (APPLIED, UNCHANGED), outcome
            if i >= 5:  # warm-up
                times.append(elapsed)
                cpu.append(cpu_ms)
                queries = max(queries, len(cap.captured_queries))
    finally:
        items_changed.connect(receivers.on_items_changed, dispatch_uid="flow.on_items_changed")
    times.sort()
    return Row(
        "flow: incremental update of one square change, synthetic Nexus",
        len(times),
        times[len(times) // 2],
        nearest_rank(times, 0.95),
        queries,
        "flow_apply after a team square change (with its automatic Nexus column move): ItemFlow, "
        "ItemTeamFlow and the daily series of the Nexus and the item's teams (own flow); CPU of this "
        f"process median {sorted(cpu)[len(cpu) // 2]:.1f} ms; target p95 < 20 ms",
    )


def _api_client(ctx: BenchContext) -> Client:
    client = ctx.extra.get("flow_api_client")
    if client is None:
        user, _ = User.objects.get_or_create(username="bench-flow-api", defaults={"is_superuser": True})
        membership_add(nexus=ctx.nexus, user=user, role=Role.NIT_MEMBER)
        _token, key = token_create(user=user, name="bench-flow")
        client = Client(HTTP_AUTHORIZATION=f"Token {key}")
        ctx.extra["flow_api_client"] = client
    return client


def _write_rows(ctx: BenchContext) -> list[Row]:
    """The four writes of a Nexus Daily Scrum through the API, each with what flow does inside the
    request (the incremental update for a column change and a square; nothing for a block or a title)."""
    client = _api_client(ctx)
    base = f"/api/v1/nexuses/{ctx.nexus.slug}"
    columns = list(WorkflowColumn.objects.filter(nexus=ctx.nexus).order_by("position"))
    items = _open_in_progress(ctx, 60)
    state = {it.pk: it.column_id for it in items}
    index = {c.pk: i for i, c in enumerate(columns)}

    def call(method: str, url: str, body: dict[str, Any]) -> None:
        response = getattr(client, method)(url, json.dumps(body), content_type="application/json")
        assert response.status_code == 200, (url, response.status_code, response.content[:300])

    def column_change(i: int) -> None:
        item = items[i % len(items)]
        here = index[state[item.pk]]
        to = columns[here + 1 if here + 1 < len(columns) - 1 else 1]
        call("post", f"{base}/items/{item.pk}/transition/", {"column": to.pk})
        state[item.pk] = to.pk

    involvements = list(
        TeamInvolvement.objects.filter(item__in=items).values_list("pk", flat=True).order_by("pk")[:40]
    )
    statuses = list(TeamStatus.values)

    def square(i: int) -> None:
        pk = involvements[i % len(involvements)]
        call("patch", f"{base}/involvements/{pk}/", {"status": statuses[(i + 1) % len(statuses)]})

    def block(i: int) -> None:
        item = items[(i + 7) % len(items)]
        call("patch", f"{base}/items/{item.pk}/", {"is_blocked": i % 2 == 0, "blocked_reason": "waits"})

    def title(i: int) -> None:
        item = items[(i + 13) % len(items)]
        call("patch", f"{base}/items/{item.pk}/", {"title": f"Renamed in the bench {i}"})

    rows = []
    with _tasks_queued():
        rows.append(measure("API: column change (POST items/{id}/transition/)", column_change, runs=30))
        if involvements:
            rows.append(measure("API: team square change (PATCH involvements/{id}/)", square, runs=30))
        rows.append(measure("API: block / unblock (PATCH items/{id}/)", block, runs=30))
        rows.append(measure("API: title edit (PATCH items/{id}/)", title, runs=30))
    for row in rows:
        row.note = "synthetic Nexus, tasks queued (as with a worker); flow work inside the request"
    return rows


def _process_row(name: str, nexus: Any) -> Row:
    """A full recompute of `nexus` in a process of its own, from start to finish (the interpreter,
    `django.setup()`, the recompute, the exit): its time and peak resident memory."""
    code = (
        "import time; t0 = time.perf_counter(); import django, resource; django.setup();"
        "from flow.services import flow_recompute;"
        "t = time.perf_counter();"
        f"flow_recompute(nexus_id={nexus.pk});"
        "t1 = time.perf_counter();"
        # the peak of this process's own memory: VmHWM (ru_maxrss keeps the parent's size from the fork)
        "hwm = [int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM')];"
        "print(t - t0, t1 - t, hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE}
    if connection.vendor == "postgresql":
        env["DATABASE_URL"] = postgres_url()
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=Path(settings.BASE_DIR),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    ms = (time.perf_counter() - started) * 1000
    setup, seconds, kb = float(out[-3]), float(out[-2]), int(out[-1])
    return Row(
        name,
        1,
        ms,
        ms,
        None,
        f"peak resident memory {kb / 1024:.0f} MB; start-up (django.setup) {setup:.2f} s, the recompute "
        f"itself {seconds:.2f} s (over the figures stored by the rows above)",
    )


def run(ctx: BenchContext) -> list[Row]:
    rows: list[Row] = []
    client = _admin_client(ctx)
    if ctx.jdt_nexus is not None:
        rows.append(
            _recompute_row("flow: full recompute, JDT Nexus (10,814 items, as of today)", ctx.jdt_nexus)
        )
        rows.append(_process_row("flow: full recompute, JDT Nexus, as a process of its own", ctx.jdt_nexus))
    rows.append(_recompute_row("flow: full recompute, synthetic Nexus (200,000 transitions)", ctx.nexus))
    rows.append(_process_row("flow: full recompute, synthetic Nexus, as a process of its own", ctx.nexus))
    # The recomputes above wrote tens of thousands of rows into fresh tables: statistics and the
    # visibility map as autovacuum keeps them in a live database, rather than autovacuum running on
    # one of the two cores while the rows below are timed.
    vacuum_analyze()
    with _heap_frozen():
        rows.append(_incremental_row(ctx))
        rows.append(_square_row(ctx))
        rows += _write_rows(ctx)
    rows.append(_job_row(ctx))  # after: its moves would change which PBIs the rows above move
    slug = ctx.nexus.slug
    team = FlowSnapshot.objects.filter(nexus=ctx.nexus, team__isnull=False).select_related("team").first()
    rows.append(_page_row("flow page from stored results, synthetic Nexus", client, f"/n/{slug}/flow/"))
    if team is not None and team.team is not None:
        rows.append(
            _page_row(
                "flow page from stored results, one team", client, f"/n/{slug}/flow/?team={team.team.slug}"
            )
        )
    rows.append(
        _page_row("flow API from stored results, synthetic Nexus", client, f"/api/v1/nexuses/{slug}/flow/")
    )
    if ctx.jdt_nexus is not None:
        jdt = ctx.jdt_nexus.slug
        rows.append(
            _page_row("flow page from stored results, JDT (20 years of days)", client, f"/n/{jdt}/flow/")
        )
        rows.append(
            _page_row(
                "flow page computed on request, JDT replay as of 2008-06-30",
                client,
                f"/n/{jdt}/flow/?as_of=2008-06-30",
                runs=5,
            )
        )
    return rows
