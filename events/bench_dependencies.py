"""Bench rows of dependencies (issue 12): the Dependency board for 9 Scrum Teams, 6 Sprints, 500 PBIs and
300 dependencies (p95 target: 150 ms server time), the Cross-Team Refinement board, and the cycle check on a
graph of 2,000 edges (target: 5 ms). The board's Nexus is made here once (slug `bench-deps`), through the
services; the cycle check times the pure function (`cycle_path`) and, apart, the whole check with its
query (`dependency_create`'s `_cycle_check`)."""

from __future__ import annotations

import contextlib
import random

from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from django.urls import reverse

from backlog.errors import Conflict
from backlog.models import ColumnCategory, Dependency, Nexus, ProductBacklogItem, Role
from backlog.services import ColumnSpec, membership_add, nexus_create, pbi_create, team_create
from backlog.services.common import nexus_lock
from backlog.services.dependencies import _cycle_check, cycle_path, dependency_create
from events.models import Sprint
from events.services import sprint_create, sprint_plan, sprint_start
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
