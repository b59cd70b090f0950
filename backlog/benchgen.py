"""Synthetic Nexus for `make bench`: 9 Scrum Teams, 10,000 open PBIs, 200,000 transitions; seeded.

Items walk the Definition of Workflow left to right with random dwell times (and the odd step back),
so flow metrics have realistic shapes. 10,000 items end open (not finished); enough finished items are
added to bring the transition log to 200,000 rows. Written with bulk inserts.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from backlog.importer import statistics_refresh
from backlog.models import (
    RANK_GAP,
    ColumnCategory,
    Nexus,
    ProductBacklogItem,
    ScrumTeam,
    Source,
    TeamInvolvement,
    TeamStatus,
    Transition,
    TransitionKind,
    WorkflowColumn,
)
from backlog.services import ColumnSpec, nexus_create
from backlog.services.team_columns import team_columns_default

COLUMNS = [
    ColumnSpec("Ready", ColumnCategory.NOT_STARTED, is_ready=True),
    ColumnSpec("Analysis", ColumnCategory.IN_PROGRESS, is_start=True),
    ColumnSpec("Development", ColumnCategory.IN_PROGRESS),
    ColumnSpec("Integration", ColumnCategory.IN_PROGRESS),
    ColumnSpec("Done", ColumnCategory.DONE, is_finish=True),
]
TEAMS = ["Atlas", "Borealis", "Cosmos", "Delta", "Eclipse", "Fjord", "Gemini", "Halo", "Ion"]


def generate(
    *, slug: str = "bench", open_items: int = 10_000, transitions: int = 200_000, seed: int = 42
) -> Nexus:
    """Create the synthetic Nexus `slug` (replacing one of that name). Returns it."""
    rng = random.Random(seed)
    Nexus.objects.filter(slug=slug).delete()
    with transaction.atomic():
        nexus = nexus_create(name="Bench Nexus", slug=slug, columns=COLUMNS)
        cols = list(WorkflowColumn.objects.filter(nexus=nexus).order_by("position"))
        teams = ScrumTeam.objects.bulk_create([ScrumTeam(nexus=nexus, name=n, slug=n.lower()) for n in TEAMS])
        for team in teams:  # each team's own Definition of Workflow, as `team_create` gives it
            team_columns_default(team=team)
        now = timezone.now()
        start = now - timedelta(days=730)
        items: list[ProductBacklogItem] = []
        paths: list[list[tuple[int, datetime]]] = []
        total = 0
        i = 0
        while i < open_items or total < transitions:
            is_open = i < open_items
            t = start + timedelta(days=rng.uniform(0, 720 if not is_open else 728))
            path = [(0, t)]
            target = rng.randrange(0, 4) if is_open else 4
            col = 0
            while col < target:
                t = t + timedelta(hours=rng.expovariate(1 / 60))
                if col > 1 and rng.random() < 0.08:
                    col -= 1
                else:
                    col += 1
                path.append((col, min(t, now)))
            last_col = path[-1][0]
            items.append(
                ProductBacklogItem(
                    backlog=nexus.backlog,
                    title=f"Synthetic item {i + 1}",
                    external_id=f"SYN-{i + 1}",
                    rank=(i + 1) * RANK_GAP,
                    column=cols[last_col],
                    created_at=path[0][1],
                    updated_at=path[-1][1],
                )
            )
            paths.append(path)
            total += len(path)
            i += 1
        ProductBacklogItem.objects.bulk_create(items, batch_size=5000)
        rows: list[Transition] = []
        involvements: list[TeamInvolvement] = []
        status = {
            ColumnCategory.NOT_STARTED: TeamStatus.NOT_STARTED,
            ColumnCategory.IN_PROGRESS: TeamStatus.IN_PROGRESS,
            ColumnCategory.DONE: TeamStatus.DONE,
        }
        for item, path in zip(items, paths, strict=True):
            prev = None
            for col_idx, at in path:
                rows.append(
                    Transition(
                        item_id=item.pk,
                        kind=TransitionKind.COLUMN,
                        at=at,
                        source=Source.IMPORT,
                        from_column=prev,
                        to_column=cols[col_idx],
                        from_name=prev.name if prev else "",
                        to_name=cols[col_idx].name,
                    )
                )
                prev = cols[col_idx]
            for team in rng.sample(teams, rng.choice((1, 1, 1, 2, 2, 3))):
                involvements.append(
                    TeamInvolvement(
                        item_id=item.pk, team=team, status=status[ColumnCategory(item.column.category)]
                    )
                )
        Transition.objects.bulk_create(rows, batch_size=5000)
        TeamInvolvement.objects.bulk_create(involvements, batch_size=5000)
    statistics_refresh()
    return nexus
