"""Bench rows of the team squares (`backlog.services.squares`): a square change that starts a PBI (its
automatic move into the started column, through `pbi_transition` with the WIP checks, and its three log
rows), and a move on a team's board between two in-progress columns (no Nexus move)."""

from __future__ import annotations

from backlog.models import ScrumTeam, TeamColumn, TeamInvolvement
from backlog.services import pbi_create
from backlog.services.squares import square_set, team_item_move
from backlog.services.team_columns import team_column_create
from nexus_site.bench import BenchContext, Row, measure

RUNS, WARMUP = 20, 2


def _index(i: int) -> int:
    """`measure` calls warm-ups with -1, -2 and runs with 0..RUNS-1: one fresh item each."""
    return -1 - i if i < 0 else WARMUP + i


def run(ctx: BenchContext) -> list[Row]:
    nexus = ctx.nexus
    teams = list(ScrumTeam.objects.filter(nexus=nexus).order_by("name")[:2])
    items = [
        pbi_create(nexus=nexus, title=f"Bench square {n}", actor=None, teams=teams)
        for n in range(RUNS + WARMUP)
    ]
    squares = [TeamInvolvement.objects.get(item=item, team=teams[0]) for item in items]

    def start(i: int) -> object:
        result = square_set(involvement=squares[_index(i)], status="in_progress", actor=None)
        assert result.item.column.is_start, "the PBI did not follow its square"
        return result

    started = measure(
        "square change that starts a PBI (automatic move into the started column, WIP checks, 3 log rows)",
        start,
        runs=RUNS,
        warmup=WARMUP,
    )
    team = teams[0]
    review = TeamColumn.objects.filter(team=team, name="Bench review").first() or team_column_create(
        team=team, name="Bench review", state="in_progress", actor=None
    )
    doing = (
        TeamColumn.objects.filter(team=team, state="in_progress").exclude(pk=review.pk).earliest("position")
    )
    item = items[0]

    def move(i: int) -> object:
        return team_item_move(item=item, team=team, to_column=review if i % 2 else doing, actor=None)

    moved = measure("move on a team's board (team column to team column, logged)", move, runs=RUNS)
    return [started, moved]
