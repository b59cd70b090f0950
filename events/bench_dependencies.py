"""Bench rows of dependencies (issue 12): the Dependency board for 9 Scrum Teams, 6 Sprints, 500 PBIs and
300 dependencies (p95 target: 150 ms server time), the Cross-Team Refinement board, and the cycle check on a
graph of 2,000 edges (target: 5 ms), the dependency matrix page, and the dependency-aware forecast of 100
PBIs served from the database (target: 10,000 trials under 1 s). The board's Nexus is made here once (slug
`bench-deps`), through the services; the cycle check times the pure function (`cycle_path`) and, apart,
the whole check with its query (`dependency_create`'s `_cycle_check`). For the forecast, each team is
given 90 days of synthetic daily Throughput (Poisson, 0.3 to 1.1 a day) in its stored flow figures."""

from __future__ import annotations

import contextlib
import random
from datetime import timedelta

import numpy as np
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backlog.errors import Conflict
from backlog.models import ColumnCategory, Dependency, Nexus, ProductBacklogItem, Role
from backlog.services import ColumnSpec, membership_add, nexus_create, pbi_create, team_create
from backlog.services.common import nexus_lock
from backlog.services.dependencies import _cycle_check, cycle_path, dependency_create
from events.models import Sprint
from events.services import sprint_create, sprint_plan, sprint_start
from flow import series as flow_series
from flow.models import FlowSnapshot
from flow.montecarlo import DEFAULT_SEED
from flow.selectors_forecast import dependency_forecast_get
from nexus_site.bench import BenchContext, Row, measure

SLUG = "bench-deps"
TEAMS, SPRINTS, ITEMS, DEPENDENCIES, EDGES = 9, 6, 500, 300, 2000


def _nexus() -> Nexus:
    """The board's Nexus: 9 teams, 6 Sprints (the first active), 500 PBIs planned across them (one or two
    teams each), 300 dependencies, each from a PBI to one higher in the order (so never a cycle)."""
    nexus = Nexus.objects.filter(slug=SLUG).first()
    if nexus is not None and Dependency.objects.filter(nexus=nexus).count() >= DEPENDENCIES:
        return nexus
    rng = random.Random(7)
    with transaction.atomic():
        if nexus is not None:
            nexus.delete()
        nexus = nexus_create(
            name="Bench: dependencies",
            slug=SLUG,
            columns=[
                ColumnSpec("Ready", ColumnCategory.NOT_STARTED, is_ready=True),
                ColumnSpec("In Progress", ColumnCategory.IN_PROGRESS, is_start=True),
                ColumnSpec("Done", ColumnCategory.DONE, is_finish=True),
            ],
        )
        teams = [team_create(nexus=nexus, name=f"Team {i + 1}") for i in range(TEAMS)]
        sprints = [sprint_create(nexus=nexus, actor=None) for _ in range(SPRINTS)]
        sprint_start(sprint=sprints[0], actor=None)
        sprints = list(Sprint.objects.filter(nexus=nexus).order_by("number"))
        items = []
        for i in range(ITEMS):
            item = pbi_create(nexus=nexus, title=f"Bench PBI {i + 1}: work of several teams", actor=None)
            on = rng.sample(teams, rng.choice((1, 1, 2)))
            sprint_plan(sprint=sprints[i * SPRINTS // ITEMS], item=item, teams=on, actor=None)
            items.append(item)
        pairs: set[tuple[int, int]] = set()
        while len(pairs) < DEPENDENCIES:
            a, b = sorted(rng.sample(range(ITEMS), 2))
            pairs.add((b, a))
        for b, a in sorted(pairs):
            dependency_create(item=items[b], depends_on=items[a], actor=None)
    return nexus


def _throughput(nexus: Nexus) -> None:
    """90 days of synthetic daily Throughput per team (Poisson, 0.3 to 1.1 a day) as its stored figures
    (bench data: the bench Nexus has no finished PBI)."""
    today = timezone.localdate()
    rng = np.random.default_rng(12)
    for k, team_id in enumerate(nexus.teams.order_by("name").values_list("pk", flat=True)):
        snap, _ = FlowSnapshot.objects.update_or_create(
            nexus=nexus,
            team_id=team_id,
            defaults={
                "as_of": today,
                "start": today - timedelta(days=89),
                "end": today,
                "computed_at": timezone.now(),
            },
        )
        counts = rng.poisson(0.3 + 0.1 * k, 90)
        values = np.zeros((3, 90), dtype=np.int64)  # WIP, end-of-day WIP, Throughput; no CFD column
        values[2] = counts
        flow_series.save({snap.pk: (today - timedelta(days=89), values)})


def _client(nexus: Nexus) -> Client:
    user, _ = User.objects.get_or_create(username="bench-deps-po")
    if not nexus.memberships.filter(user=user).exists():
        membership_add(nexus=nexus, user=user, role=Role.PRODUCT_OWNER)
    client = Client()
    client.force_login(user)
    return client


def run(ctx: BenchContext) -> list[Row]:
    nexus = _nexus()
    client = _client(nexus)
    rows = []
    board = reverse("events:dependencies", args=[nexus.slug]) + f"?sprints={SPRINTS}"

    def get_board(_i: int) -> object:
        response = client.get(board)
        assert response.status_code == 200, response.status_code
        return response

    rows.append(
        measure(
            f"dependency board ({TEAMS} teams, {SPRINTS} Sprints, {ITEMS} PBIs, {DEPENDENCIES} dependencies)",
            get_board,
            runs=20,
            note="target p95 < 150 ms",
        )
    )
    refinement = reverse("events:refinement", args=[nexus.slug]) + "?limit=100"

    def get_refinement(_i: int) -> object:
        response = client.get(refinement)
        assert response.status_code == 200, response.status_code
        return response

    rows.append(measure("refinement board (100 rows, 9 teams)", get_refinement, runs=20))
    matrix = reverse("events:dependency-matrix", args=[nexus.slug])

    def get_matrix(_i: int) -> object:
        response = client.get(matrix)
        assert response.status_code == 200, response.status_code
        return response

    rows.append(
        measure(f"dependency matrix page ({TEAMS} teams, {DEPENDENCIES} dependencies)", get_matrix, runs=20)
    )
    _throughput(nexus)
    first = list(
        ProductBacklogItem.objects.filter(backlog__nexus=nexus)
        .order_by("rank")
        .values_list("pk", flat=True)[:100]
    )
    found: dict[str, object] = {}

    def forecast(i: int) -> object:
        # Another seed each run: a cache miss, the whole computation timed.
        found["fc"] = dependency_forecast_get(nexus=nexus, item_ids=first, seed=DEFAULT_SEED + 1000 + i)
        return None

    row = measure(
        "dependency forecast, 100 PBIs and their chain, 10,000 trials (selector, cache miss)",
        forecast,
        runs=10,
    )
    fc = found["fc"]
    scope = fc.forecast.scope if fc.forecast else None  # type: ignore[attr-defined]
    row.note = (
        f"target < 1 s; {len(fc.chain)} more PBIs in the chain; all done at 85 %: day "  # type: ignore[attr-defined]
        f"{(scope.days_without or {}).get('85') if scope else None} without the dependencies, day "
        f"{(scope.days_with or {}).get('85') if scope else None} with them"
    )
    rows.append(row)

    def forecast_cached(_i: int) -> object:
        return dependency_forecast_get(nexus=nexus, item_ids=first)

    rows.append(measure("dependency forecast, the same 100 PBIs, from the cache", forecast_cached, runs=20))

    rng = random.Random(11)
    edges: list[tuple[int, int]] = []
    while len(edges) < EDGES:
        a, b = sorted(rng.sample(range(5000), 2))
        edges.append((b, a))  # from a higher id to a lower one: a DAG
    probes = [tuple(sorted(rng.sample(range(5000), 2))) for _ in range(30)]

    def check(i: int) -> object:
        low, high = probes[i % len(probes)]
        return cycle_path(edges, low, high)  # low depends on high: closes a cycle if high reaches low

    rows.append(
        measure(f"cycle check, graph of {EDGES} edges (pure)", check, runs=30, note="target p95 < 5 ms")
    )
    ids = list(
        ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank").values_list("pk", flat=True)
    )

    def check_db(i: int) -> object:
        with transaction.atomic(), contextlib.suppress(Conflict):  # a cycle found: timed the same
            nexus_lock(nexus.pk)
            _cycle_check(nexus.pk, ids[i % 50], ids[-1 - i % 50])
        return None

    rows.append(
        measure(
            f"cycle check with its query and the Nexus lock ({DEPENDENCIES} open edges)",
            check_db,
            runs=30,
        )
    )
    return rows
