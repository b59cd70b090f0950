"""The bench rows of the team squares and the team board run on a small Nexus (`make bench` runs them
on the synthetic one): they measure, and fail only when the code under them fails."""

from __future__ import annotations

import pytest

from backlog.services import nexus_create, pbi_create, team_create
from nexus_site.bench import BenchContext
from tests.factories import DEFAULT_COLUMNS

pytestmark = pytest.mark.django_db


def test_square_and_team_board_bench_rows(monkeypatch):
    from backlog import bench_squares
    from events import bench_team

    nexus = nexus_create(name="Bench", slug="bench-small", columns=DEFAULT_COLUMNS)
    for name in ("Atlas", "Borealis"):
        team_create(nexus=nexus, name=name)
    for i in range(8):
        pbi_create(nexus=nexus, title=f"Ready {i}", actor=None)
    ctx = BenchContext(nexus=nexus)
    rows = bench_squares.run(ctx)
    assert [r.runs for r in rows] == [20, 20]
    assert rows[0].queries is not None
    monkeypatch.setattr(bench_team, "SPRINT_ITEMS", 5)
    (board,) = bench_team.run(ctx)
    assert "5 PBIs" in board.name
    assert board.queries is not None
