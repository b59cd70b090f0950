"""The live board's bench rows run on a small Nexus (`make bench` runs them on the synthetic one with 600
cards in progress): they measure, fill the columns in progress, and fail only when the code fails."""

from __future__ import annotations

import pytest

from backlog.models import Nexus, ProductBacklogItem
from backlog.services import nexus_create, pbi_create, team_create
from nexus_site.bench import BenchContext
from tests.factories import DEFAULT_COLUMNS, column

pytestmark = pytest.mark.django_db


def test_live_board_bench_rows(monkeypatch):
    from events import bench_board

    nexus = nexus_create(name="Bench", slug="bench-small-board", columns=DEFAULT_COLUMNS)
    team_create(nexus=nexus, name="Atlas")
    for i in range(12):
        pbi_create(nexus=nexus, title=f"Ready {i}", actor=None)
    monkeypatch.setattr(bench_board, "IN_PROGRESS", 7)
    cold, warm, poll, big = bench_board.run(BenchContext(nexus=nexus))
    assert "7 cards in progress" in cold.name
    board = Nexus.objects.get(slug=bench_board.BOARD_SLUG)
    in_progress = ProductBacklogItem.objects.alive().filter(
        column__in=[column(board, "In Progress"), column(board, "Integrating")]
    )
    assert in_progress.count() == 7
    assert in_progress.filter(is_blocked=True).exists()
    assert ProductBacklogItem.objects.filter(column=column(board, "Done")).count() == 50
    assert "synthetic Nexus" in big.name
    assert "0 PBIs in progress" in big.name  # the small Nexus here: its 12 PBIs are ready
    assert warm.queries is not None
    assert cold.queries is not None
    assert poll.queries is not None
    assert poll.queries <= 3
