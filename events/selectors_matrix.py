"""The dependency matrix (issue 12): Scrum Team x Scrum Team counts of open dependencies, with their trend
per Sprint, so the Nexus sees which pairs of teams are coupled and can re-slice work or re-form teams (the
Nexus Guide: a Nexus may scale down when dependencies allow).

Definitions:

* a cell (row team A, column team B) counts the open dependencies whose waiting PBI (`item` of a
  `depends_on` dependency) has team A forecast on it and whose PBI waited on (`depends_on`) has team B
  (the team squares as they are now). A dependency between PBIs of several teams counts in every such
  cell; an `integrates_with` dependency waits both ways and counts in (A, B) and in (B, A). The diagonal
  counts dependencies between two PBIs of the same team (no coupling between teams);
* the trend: the same counts at the end of each of the last Sprints (the last day of a closed Sprint,
  end of day in the Nexus's time zone; now for the active one), read from the dependencies' append-only
  log (`DependencyChange`: a dependency's status at a time is the `to_status` of its last change at or
  before it), with the teams of today's squares (the log does not record squares).

A fixed number of queries (five), whatever the number of dependencies, teams or Sprints.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.db.models import Q
from django.utils import timezone

from backlog.models import (
    DependencyChange,
    DependencyKind,
    DependencyStatus,
    Nexus,
    ScrumTeam,
    TeamInvolvement,
)
from events.models import Sprint, SprintState

__all__ = ["MATRIX_SPRINTS", "DependencyMatrix", "MatrixPoint", "dependency_matrix_get"]

#: Sprints the trend shows (the last ones that have started, the active one included).
MATRIX_SPRINTS = 6
MATRIX_SPRINTS_MAX = 26

Pair = tuple[int, int]


@dataclass(frozen=True, slots=True)
class MatrixPoint:
    """The counts at one point of the trend: `sprint` (None: now), `at` (UTC), `counts[(row team id,
    column team id)]` of open dependencies, `open_total` open dependencies (each once)."""

    sprint: Sprint | None
    at: datetime
    counts: dict[Pair, int]
    open_total: int


@dataclass
class DependencyMatrix:
    """`teams` (rows and columns, by name); `now`: the counts now; `trend`: one point per Sprint shown
    (oldest first), the active Sprint's point being now; `pairs`: the (row, column) pairs of different
    teams with a count anywhere in the trend or now, most coupled now first. `open_without_teams`: open
    dependencies with no team on one side (in no cell)."""

    teams: list[ScrumTeam]
    now: MatrixPoint
    trend: list[MatrixPoint]
    pairs: list[Pair] = field(default_factory=list)
    open_without_teams: int = 0

    def count(self, row: int, column: int) -> int:
        """Open dependencies now from team `row` (waiting) to team `column` (waited on)."""
        return self.now.counts.get((row, column), 0)

    @property
    def largest(self) -> int:
        """The largest count now (for shading the cells; the numbers are always shown)."""
        return max(self.now.counts.values(), default=0)


def _sprint_end(sprint: Sprint, tz: zoneinfo.ZoneInfo) -> datetime:
    return datetime.combine(sprint.end_date + timedelta(days=1), time.min, tzinfo=tz)


def _counts(
    open_ids: set[int], ends: dict[int, tuple[int, int, str]], squares: dict[int, list[int]]
) -> tuple[dict[Pair, int], int]:
    counts: dict[Pair, int] = {}
    without = 0
    for dep_id in open_ids:
        item, on, kind = ends[dep_id]
        rows, cols = squares.get(item, []), squares.get(on, [])
        if not rows or not cols:
            without += 1
            continue
        cells = {(a, b) for a in rows for b in cols}
        if kind == DependencyKind.INTEGRATES_WITH:
            cells |= {(b, a) for a, b in cells}
        for cell in cells:
            counts[cell] = counts.get(cell, 0) + 1
    return counts, without


def dependency_matrix_get(*, nexus: Nexus, sprints: int = MATRIX_SPRINTS) -> DependencyMatrix:
    """The dependency matrix of the Nexus now, and its trend over the last `sprints` Sprints that have
    started (1 to `MATRIX_SPRINTS_MAX`; see the module). Five queries."""
    sprints = max(1, min(sprints, MATRIX_SPRINTS_MAX))
    tz = zoneinfo.ZoneInfo(nexus.time_zone)
    now = timezone.now()
    teams = list(ScrumTeam.objects.filter(nexus=nexus).order_by("name"))
    shown = list(
        Sprint.objects.filter(nexus=nexus, state__in=[SprintState.ACTIVE, SprintState.CLOSED]).order_by(
            "-number"
        )[:sprints]
    )[::-1]
    log = list(
        DependencyChange.objects.filter(nexus_id=nexus.pk)
        .order_by("at", "id")
        .values_list(
            "dependency_id", "at", "to_status", "item_id_then", "depends_on_id_then", "dependency__kind"
        )
    )
    ends = {dep_id: (item, on, kind) for dep_id, _at, _status, item, on, kind in log}
    squares: dict[int, list[int]] = {}
    for item_id, team_id in (
        TeamInvolvement.objects.filter(
            Q(item_id__in=DependencyChange.objects.filter(nexus_id=nexus.pk).values("item_id_then"))
            | Q(item_id__in=DependencyChange.objects.filter(nexus_id=nexus.pk).values("depends_on_id_then"))
        )
        .order_by()
        .values_list("item_id", "team_id")
    ):
        squares.setdefault(item_id, []).append(team_id)
    # Replay the log once, taking the open set at each point in time order.
    points_at = [(s, now if s.state == SprintState.ACTIVE else min(_sprint_end(s, tz), now)) for s in shown]
    marks = sorted([*((at, k) for k, (_s, at) in enumerate(points_at)), (now, -1)], key=lambda m: m[0])
    open_now: set[int] = set()
    taken: dict[int, set[int]] = {}
    i = 0
    for at, k in marks:
        while i < len(log) and log[i][1] <= at:
            dep_id, _at, status = log[i][0], log[i][1], log[i][2]
            if status == DependencyStatus.OPEN:
                open_now.add(dep_id)
            else:
                open_now.discard(dep_id)
            i += 1
        taken[k] = set(open_now)
    counts_now, without = _counts(taken[-1], ends, squares)
    now_point = MatrixPoint(None, now, counts_now, len(taken[-1]))
    trend = []
    for k, (sprint, at) in enumerate(points_at):
        counts, _without = _counts(taken[k], ends, squares)
        trend.append(MatrixPoint(sprint, at, counts, len(taken[k])))
    pairs = {p for point in [now_point, *trend] for p, n in point.counts.items() if n and p[0] != p[1]}
    order = sorted(pairs, key=lambda p: (-counts_now.get(p, 0), p))
    names = {t.pk: t.name for t in teams}
    order = [p for p in order if p[0] in names and p[1] in names]
    return DependencyMatrix(teams, now_point, trend, order, without)
