"""The bench rows of the team squares and the team board run on a small Nexus (`make bench` runs them
on the synthetic one): they measure, and fail only when the code under them fails."""

from __future__ import annotations

import pytest

from backlog.models import ScrumTeam
from backlog.services import nexus_create, pbi_create, team_create
from nexus_site.bench import BenchContext
from tests.factories import DEFAULT_COLUMNS, column

pytestmark = pytest.mark.django_db


def test_square_and_team_board_bench_rows(monkeypatch):
    from backlog import bench_squares
    from events import bench_team

    nexus = nexus_create(name="Bench", slug="bench-small", columns=DEFAULT_COLUMNS)
    for name in ("Atlas", "Borealis"):
        team_create(nexus=nexus, name=name)
    for i in range(8):
        pbi_create(nexus=nexus, title=f"Ready {i}", actor=None)
    atlas = ScrumTeam.objects.get(nexus=nexus, name="Atlas")
    for i in range(3):  # in progress, Atlas's: the Sprint shared by the teams
        pbi_create(
            nexus=nexus, title=f"Doing {i}", actor=None, column=column(nexus, "In Progress"), teams=[atlas]
        )
    ctx = BenchContext(nexus=nexus)
    rows = bench_squares.run(ctx)
    assert [r.runs for r in rows] == [20, 20]
    assert rows[0].queries is not None
    monkeypatch.setattr(bench_team, "SPRINT_ITEMS", 5)
    shared, board = bench_team.run(ctx)
    assert "PBIs shared by the teams" in shared.name
    assert shared.queries is not None
    assert "5 PBIs" in board.name
    assert board.queries is not None
