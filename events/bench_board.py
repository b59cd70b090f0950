"""Bench rows of the live Nexus board (`make bench`, declared in `EventsConfig.ready`) on a Nexus of the
bench with `IN_PROGRESS` cards in progress (9 Scrum Teams, five columns, two of them in progress, one to
three team squares a card, some blocked, dependencies; made once, through the services, next to the
synthetic Nexus, whose 7,500 PBIs in progress are far beyond any Nexus's WIP): the live part of the board
rendered with nothing cached (what the first viewer after a change pays), the same served from the
shared cache (what every other viewer pays), and the "changed since?" answer (304) that every open board
polls every 1.2 to 1.8 s. One more row: the synthetic Nexus's board rendered (columns in progress capped
at `FULL_CAP` cards, saying how many more)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.cache import caches
from django.test import Client
from django.urls import reverse

from backlog.models import ColumnCategory, Nexus, ProductBacklogItem, Role, TeamStatus
from backlog.selectors import workflow_columns
from backlog.services import (
    involvement_set_status,
    membership_add,
    nexus_create,
    pbi_create,
    pbi_transition,
    pbi_update,
    team_create,
)
from backlog.services.common import items_changed_batched
from backlog.services.dependencies import dependency_create
from backlog.services.nexus import ColumnSpec
from events.board import FULL_CAP, columns_in_progress
from nexus_site.bench import BenchContext, Row, measure

#: Cards in progress the board rows are measured with (issue 16: 600).
IN_PROGRESS = 600


BOARD_SLUG = "bench-board"
COLUMNS = [
    ColumnSpec("Ready", ColumnCategory.NOT_STARTED, is_ready=True),
    ColumnSpec("In Progress", ColumnCategory.IN_PROGRESS, is_start=True),
    ColumnSpec("Integrating", ColumnCategory.IN_PROGRESS),
    ColumnSpec("Done", ColumnCategory.DONE, is_finish=True),
    ColumnSpec("Released", ColumnCategory.DONE),
]


def board_nexus(count: int | None = None) -> Nexus:
    """The bench's board Nexus (made on first use; idempotent): `count` PBIs in progress, 200 ready, 50
    done, squares, blocks and dependencies, all through the services."""
    count = IN_PROGRESS if count is None else count
    nexus = Nexus.objects.filter(slug=BOARD_SLUG).first()
    if nexus is not None:
        return nexus
    nexus = nexus_create(name="Bench board", slug=BOARD_SLUG, columns=COLUMNS)
    teams = [team_create(nexus=nexus, name=f"Team {chr(65 + i)}") for i in range(9)]
    columns = {c.name: c for c in workflow_columns(nexus=nexus)}
    with items_changed_batched():
        made = []
        for i in range(count + 250):
            where = (
                "Ready"
                if i >= count + 50
                else "Done"
                if i >= count
                else ("In Progress", "Integrating")[i % 2]
            )
            own = [teams[(i + k) % 9] for k in range(1 + i % 3)]
            item = pbi_create(
                nexus=nexus, title=f"Bench PBI {i}: integrate the checkout step", actor=None, teams=own
            )
            if where != "Ready":
                if where == "Done":
                    for inv in item.involvements.all():
                        involvement_set_status(
                            involvement=inv, status=TeamStatus.READY_TO_INTEGRATE, actor=None
                        )
                pbi_transition(item=item, to_column=columns[where], actor=None)
            if i < count and i % 17 == 0:
                pbi_update(item=item, actor=None, is_blocked=True, blocked_reason="Waiting for another team")
            made.append(item)
        for i in range(0, min(count, 200), 10):
            dependency_create(item=made[i], depends_on=made[i + 1], actor=None)
    return nexus


def run(ctx: BenchContext) -> list[Row]:
    """Four rows: the board rendered cold, served warm, the version answer, the synthetic Nexus's board."""
    nexus = board_nexus()
    columns = workflow_columns(nexus=nexus)
    cards = ProductBacklogItem.objects.alive().filter(column__in=columns_in_progress(columns)).count()
    client = Client()
    user, _ = User.objects.get_or_create(username="bench-board-nit")
    membership_add(nexus=nexus, user=user, role=Role.NIT_MEMBER)
    membership_add(nexus=ctx.nexus, user=user, role=Role.NIT_MEMBER)
    client.force_login(user)
    cache = caches["default"]
    url = reverse("events:board", args=[nexus.slug]) + "?live=1"

    def cold(_i: int) -> object:
        cache.clear()
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response

    def warm(_i: int) -> object:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response

    version = reverse("events:board-version", args=[nexus.slug])
    etag = client.get(version)["ETag"]

    def poll(_i: int) -> object:
        response = client.get(version, HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 304, (version, response.status_code)
        return response

    synthetic = reverse("events:board", args=[ctx.nexus.slug]) + "?live=1"

    def big(_i: int) -> object:
        cache.clear()
        response = client.get(synthetic)
        assert response.status_code == 200, (synthetic, response.status_code)
        return response

    in_progress = (
        ProductBacklogItem.objects.alive()
        .filter(column__in=columns_in_progress(workflow_columns(nexus=ctx.nexus)))
        .count()
    )
    note = "every card rendered; target p95 < 150 ms"
    return [
        measure(f"board, rendered (nothing cached, {cards:,} cards in progress)", cold, runs=20, note=note),
        measure("board, from the shared cache (every other viewer)", warm, runs=50),
        measure(
            'board "changed since?" (304)',
            poll,
            runs=200,
            note="target p95 < 5 ms; polled by every open board",
        ),
        measure(
            f"board of the synthetic Nexus, rendered ({in_progress:,} PBIs in progress)",
            big,
            runs=5,
            note=f"columns in progress show {FULL_CAP} cards each and say how many more",
        ),
    ]
