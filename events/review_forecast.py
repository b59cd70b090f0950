"""The Monte Carlo "when" of the Product Goal's remaining PBIs, for the Nexus Sprint Review page:
dependency-aware (`flow.forecast_deps`), 10,000 trials, at 50/70/85/95 % confidence, cached per value
of the Nexus's change counter (`backlog.selectors.nexus_change_seq`) and per day.

Inputs, read in five queries (whatever the number of PBIs, teams or days):

* the targets: the live PBIs linked to the goal (`ProductBacklogItem.product_goal`) not in a finished
  column (`ColumnCategory.DONE`) of the Definition of Workflow;
* each Scrum Team's queue: first the open PBIs of the open Sprints (active and planned: the teams work
  those first), then the Product Backlog's open PBIs in order (rank) down to the last target outside a
  Sprint, each with the teams whose square is not Done yet (`TeamInvolvement.status`): a PBI's place in a
  team's queue is one plus that team's PBIs before it (`flow.forecast_deps.items_from_order`);
* the open `depends_on` dependencies between open PBIs (`backlog.Dependency`); the targets' closure is
  forecast, so a target waits on what it depends on;
* each team's Throughput: PBIs finished per calendar day (zero days included) over the `WINDOW_DAYS`
  days up to yesterday, from the stored flow figures (`flow.ItemFlow.finished_on`, the day an item
  entered the finished column, in the Nexus's time zone; counted for each team in `ItemFlow.teams`).

"Cannot forecast" (`GoalForecast.reason`): no active Product Goal; no PBI linked to it; every linked PBI
is done (nothing remains); no Throughput (no team finished a PBI in the window); a remaining PBI no
team is forecast on, or whose team has no Throughput, or one on a dependency cycle (the reason names
it, from `flow.forecast_deps`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.core.cache import cache
from django.db.models import Q

from backlog.models import (
    ColumnCategory,
    Dependency,
    DependencyKind,
    DependencyStatus,
    Nexus,
    ProductBacklogItem,
    ProductGoal,
    ScrumTeam,
    TeamInvolvement,
    TeamStatus,
)
from events.models import OPEN_STATES, SprintItem
from flow.forecast_deps import dependency_closure, forecast_dependencies, items_from_order
from flow.history import nexus_today
from flow.models import ItemFlow
from flow.montecarlo import CONFIDENCES, DEFAULT_TRIALS

#: Days of Throughput history the forecast resamples (ending yesterday).
WINDOW_DAYS = 90
#: How long a cached forecast is kept (it is also keyed by the change counter and the day).
CACHE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class GoalForecast:
    """The forecast of the goal's remaining PBIs as a whole (all of them finished).

    `remaining`: how many PBIs are forecast (the linked open ones); `start` the as-of day (today in the
    Nexus's time zone; day 1 is tomorrow); `dates`: confidence (50, 70, 85, 95) -> the calendar date
    by which they are all finished with that confidence, with the dependencies (None past ten years);
    `dates_without` the same ignoring the dependencies; `dependencies` how many open dependencies the
    forecast took into account; `trials` the number of Monte Carlo trials; `window_days` the Throughput
    history used; `reason` why there is no forecast (then `dates` is empty); `seq` the change counter it
    was computed at."""

    remaining: int
    start: date
    dates: dict[int, date | None] = field(default_factory=dict)
    dates_without: dict[int, date | None] = field(default_factory=dict)
    dependencies: int = 0
    trials: int = DEFAULT_TRIALS
    window_days: int = WINDOW_DAYS
    reason: str | None = None
    seq: int = 0

    @property
    def rows(self) -> list[tuple[int, date | None, date | None]]:
        """(confidence, date with dependencies, date without) in ascending confidence."""
        return [(c, self.dates.get(c), self.dates_without.get(c)) for c in CONFIDENCES]


def _throughput(nexus: Nexus, today: date) -> dict[int, list[int]]:
    """Team id -> PBIs finished per calendar day over the window (oldest day first). One query."""
    first = today - timedelta(days=WINDOW_DAYS)
    per_team: dict[int, list[int]] = defaultdict(lambda: [0] * WINDOW_DAYS)
    rows = ItemFlow.objects.filter(
        nexus=nexus, finished_on__gte=first, finished_on__lt=today, item__deleted_at__isnull=True
    ).values_list("finished_on", "teams")
    for day, teams in rows:
        if day is None:
            continue
        for team in teams or []:
            per_team[int(team)][(day - first).days] += 1
    return dict(per_team)


def goal_forecast_compute(*, nexus: Nexus, goal: ProductGoal | None, seq: int = 0) -> GoalForecast:
    """The forecast (see the module), computed now: at most seven queries and one simulation."""
    today = nexus_today(nexus)
    if goal is None:
        return GoalForecast(0, today, reason="The Nexus has no active Product Goal.", seq=seq)
    live = ProductBacklogItem.objects.filter(backlog__nexus=nexus, deleted_at__isnull=True)
    targets = list(
        live.filter(product_goal=goal)
        .exclude(column__category=ColumnCategory.DONE)
        .values_list("pk", "rank")
        .order_by("rank")
    )
    if not targets:
        linked = live.filter(product_goal=goal).exists()
        why = "Every PBI linked to it is done." if linked else "No PBI is linked to the Product Goal yet."
        return GoalForecast(0, today, reason=why, seq=seq)
    throughput = _throughput(nexus, today)
    if not any(sum(days) for days in throughput.values()):
        return GoalForecast(
            len(targets),
            today,
            reason=f"no Scrum Team finished a PBI in the last {WINDOW_DAYS} days: there is no Throughput to "
            "resample.",
            seq=seq,
        )
    # The teams work their open Sprints' PBIs first (active, then planned), then the Product Backlog in
    # order: the queue holds those, and the open PBIs ranked above the last target outside a Sprint.
    in_sprint = set(
        SprintItem.objects.filter(sprint__nexus=nexus, sprint__state__in=OPEN_STATES).values_list(
            "item_id", flat=True
        )
    )
    outside = [rank for pk, rank in targets if pk not in in_sprint]
    bound = Q(item_id__in=in_sprint) | (Q(item__rank__lte=outside[-1]) if outside else Q(pk__in=[]))
    squares = (
        TeamInvolvement.objects.filter(bound, item__backlog__nexus=nexus, item__deleted_at__isnull=True)
        .exclude(item__column__category=ColumnCategory.DONE)
        .exclude(status=TeamStatus.DONE)
        .values_list("item_id", "team_id", "item__rank")
        .order_by("item__rank", "team_id")
    )
    order: dict[int, list[int]] = {pk: [] for pk, _ in targets}
    first: list[int] = []
    rest: list[int] = []
    for item_id, team_id, _rank in squares:
        if item_id not in order or not order[item_id]:
            (first if item_id in in_sprint else rest).append(item_id)
        order.setdefault(item_id, []).append(team_id)
    ranked = first + rest
    target_ids = [pk for pk, _ in targets]
    edges = list(
        Dependency.objects.filter(
            nexus=nexus, status=DependencyStatus.OPEN, kind=DependencyKind.DEPENDS_ON
        ).values_list("item_id", "depends_on_id")
    )
    keep = dependency_closure(target_ids, edges) & set(order)
    # Targets without any open square still count (they cannot be forecast: no team on them).
    queued = set(ranked)
    sequence = [(pk, order[pk]) for pk in ranked] + [(pk, []) for pk in target_ids if pk not in queued]
    items = items_from_order(sequence, keep=keep)
    used = [(a, b) for a, b in edges if a in keep and b in keep]
    names = dict(ScrumTeam.objects.filter(nexus=nexus).values_list("pk", "name"))
    fc = forecast_dependencies(
        throughput, items, today, used, targets=target_ids, trials=DEFAULT_TRIALS, team_names=names
    )
    scope = fc.scope
    if scope.reason is not None or scope.dates_with is None:
        return GoalForecast(len(targets), today, dependencies=len(used), reason=scope.reason, seq=seq)
    return GoalForecast(
        len(targets),
        today,
        dates={int(c): d for c, d in scope.dates_with.items()},
        dates_without={int(c): d for c, d in (scope.dates_without or {}).items()},
        dependencies=len(used),
        seq=seq,
    )


def goal_forecast_get(*, nexus: Nexus, goal: ProductGoal | None, seq: int) -> GoalForecast:
    """The forecast from the cache when the Nexus's change counter is still at `seq` today; computed
    (and cached) otherwise. A cached hit costs no query."""
    today = nexus_today(nexus)
    key = f"review-forecast:v1:{nexus.pk}:{goal.pk if goal else 0}:{seq}:{today.isoformat()}"
    hit = cache.get(key)
    if isinstance(hit, GoalForecast):
        return hit
    result = goal_forecast_compute(nexus=nexus, goal=goal, seq=seq)
    cache.set(key, result, CACHE_SECONDS)
    return result


__all__ = ["CONFIDENCES", "GoalForecast", "goal_forecast_compute", "goal_forecast_get"]
