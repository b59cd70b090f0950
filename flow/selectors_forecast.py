"""The dependency-aware forecast of a set of PBIs, read from the database (issue 12): one PBI, a Sprint's
scope, the PBIs of a Product Goal... any list of PBI ids (the caller chooses the scope; `events` passes a
Sprint's, a later Product Goal scope passes its own).

Inputs, as `flow.forecast_deps.forecast_dependencies` takes them:

* **Each Scrum Team's Throughput**: the daily Throughput of the team's stored flow figures (the `FlowSeries`
  of its `FlowSnapshot`, its own team-level flow or the Nexus columns of its PBIs, as the flow page
  shows), the `history_days` calendar days up to the snapshot's as-of date, zero days included. A team
  without stored figures has no Throughput history: its PBIs "cannot forecast" (with that reason).
* **Each team's queue**: the open PBIs of the Nexus in Product Backlog order, each with the teams whose
  square is not yet filled (not started or in progress; a team whose square is ready to integrate or
  Done has finished its part). PBIs with a square in progress come first (a team finishes what it has
  started before it starts more), then the others by rank. A PBI whose every square is filled is
  finished as far as the teams go and is left out (its dependents do not wait on it).
* **Dependencies**: the open `depends_on` dependencies of the Nexus (`integrates_with` ones do not order
  finishes); the PBIs the targets depend on, directly or not, are forecast too.

The result is cached (the Django cache) per Nexus change counter value and flow state (when the stored
figures were computed), per scope and parameters: the same question asked again after no change costs
two queries. Seeded (`flow.montecarlo.DEFAULT_SEED`), 10,000 trials by default.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, cast

from django.core.cache import cache

from backlog.errors import DomainError
from backlog.models import (
    ColumnCategory,
    Dependency,
    DependencyKind,
    DependencyStatus,
    Nexus,
    NexusChangeCounter,
    ProductBacklogItem,
    ScrumTeam,
    TeamInvolvement,
    TeamStatus,
)
from flow import series as flow_series
from flow.forecast_deps import (
    DependencyForecast,
    Outcome,
    dependency_closure,
    forecast_dependencies,
    items_from_order,
)
from flow.history import nexus_today
from flow.models import FlowSnapshot
from flow.montecarlo import DEFAULT_SEED, DEFAULT_TRIALS
from flow.report import HISTORY_DAYS
from flow.selectors import flow_state_stamp

__all__ = ["FORECAST_MAX_ITEMS", "ScopeForecast", "dependency_forecast_get", "forecast_payload"]

#: Most PBIs one forecast takes as its targets (a Sprint's scope, a Product Goal's PBIs).
FORECAST_MAX_ITEMS = 1000
CACHE_KEY = "flow:depforecast:v1:{nexus_id}:{digest}"
CACHE_TIMEOUT = 24 * 3600  # seconds; a newer change counter asks another key
#: Squares whose team still has work on the PBI.
_TEAM_WORK_LEFT = (TeamStatus.NOT_STARTED, TeamStatus.IN_PROGRESS)


@dataclass(frozen=True, slots=True)
class ScopeForecast:
    """The dependency-aware forecast of a scope. `targets`: the open PBIs asked about that the teams still
    work on (ids, Product Backlog order); `finished`: those asked about whose teams have all finished
    their part, or that are finished (left out); `forecast`: the engine's result (None when no target
    is left: `reason`); `chain`: the other PBIs forecast because a target depends on them;
    `titles`/`teams` of every PBI shown (team ids still working on it); `team_names`; `as_of` (day 0:
    the Nexus's today), `trials`, `seed`, `history_days`; `change_counter`: the Nexus's, when computed."""

    targets: tuple[int, ...]
    finished: tuple[int, ...]
    forecast: DependencyForecast | None
    chain: tuple[int, ...]
    titles: dict[int, str]
    teams: dict[int, tuple[int, ...]]
    team_names: dict[int, str]
    as_of: date
    trials: int
    seed: int
    history_days: int
    change_counter: int
    reason: str | None = None
    dependencies: tuple[tuple[int, int], ...] = field(default_factory=tuple)


def _throughput(nexus: Nexus, history_days: int) -> dict[int, list[int]]:
    """Team id -> daily Throughput over the last `history_days` days of its stored figures (oldest
    first, zero days included). Two queries."""
    snaps = {
        pk: (team_id, as_of)
        for pk, team_id, as_of in FlowSnapshot.objects.filter(nexus=nexus, team__isnull=False).values_list(
            "pk", "team_id", "as_of"
        )
    }
    if not snaps:
        return {}
    series = {team_id: [0] * history_days for team_id, _as_of in snaps.values()}
    for snap_id, loaded in flow_series.load(snaps).items():
        team_id, as_of = snaps[snap_id]
        # the days as_of - history_days + 1 .. as_of; none stored: no Throughput
        window = flow_series.extended(loaded, start=as_of - timedelta(days=history_days - 1), end=as_of)
        series[team_id] = window[2].tolist()
    return series


def _digest(item_ids: Sequence[int], trials: int, seed: int, history_days: int, stamp: str) -> str:
    text = f"{sorted(set(item_ids))}|{trials}|{seed}|{history_days}|{stamp}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def dependency_forecast_get(
    *,
    nexus: Nexus,
    item_ids: Sequence[int],
    trials: int = DEFAULT_TRIALS,
    seed: int = DEFAULT_SEED,
    history_days: int = HISTORY_DAYS,
) -> ScopeForecast:
    """The dependency-aware forecast of the PBIs `item_ids` of the Nexus, all of them finished (see the
    module); no id: no forecast, with the reason. Raises `DomainError` naming `items` for more than
    `FORECAST_MAX_ITEMS` ids, or an id that is not a live PBI of the Nexus. A fixed number of queries
    (eight when computed, two when cached), whatever the number of PBIs; the simulation costs about
    0.1 s for 100 PBIs at 10,000 trials."""
    ids = list(dict.fromkeys(int(i) for i in item_ids))
    if len(ids) > FORECAST_MAX_ITEMS:
        raise DomainError(f"Forecast at most {FORECAST_MAX_ITEMS} PBIs at a time.", field="items")
    seq = NexusChangeCounter.objects.filter(nexus=nexus).values_list("seq", flat=True).first() or 0
    stamp = f"{seq}|{flow_state_stamp(nexus_id=nexus.pk)}"
    key = CACHE_KEY.format(nexus_id=nexus.pk, digest=_digest(ids, trials, seed, history_days, stamp))
    cached = cache.get(key)
    if isinstance(cached, ScopeForecast):
        return cached
    result = _compute(nexus, ids, trials=trials, seed=seed, history_days=history_days, seq=seq)
    cache.set(key, result, CACHE_TIMEOUT)
    return result


def _compute(
    nexus: Nexus, ids: list[int], *, trials: int, seed: int, history_days: int, seq: int
) -> ScopeForecast:
    asked = dict(
        ProductBacklogItem.objects.alive()
        .filter(backlog__nexus=nexus, pk__in=ids)
        .values_list("pk", "column__category")
    )
    missing = [i for i in ids if i not in asked]
    if missing:
        raise DomainError(f"No PBI #{missing[0]} in this Nexus.", field="items")
    # The open PBIs in order, with their squares: (item, team, status, rank, title).
    rows = list(
        TeamInvolvement.objects.filter(
            item__in=ProductBacklogItem.objects.open().filter(backlog__nexus=nexus)
        )
        .order_by("item__rank", "team_id")
        .values_list("item_id", "team_id", "status", "item__title")
    )
    left: dict[int, list[int]] = {}
    started: set[int] = set()
    titles: dict[int, str] = {}
    squared: set[int] = set()
    for item_id, team_id, status, title in rows:
        titles[item_id] = title
        squared.add(item_id)
        if status in _TEAM_WORK_LEFT:
            left.setdefault(item_id, []).append(team_id)
        if status == TeamStatus.IN_PROGRESS:
            started.add(item_id)
    open_items = ProductBacklogItem.objects.open().filter(backlog__nexus=nexus)
    edges = [
        (a, b)
        for a, b in Dependency.objects.filter(
            nexus=nexus,
            kind=DependencyKind.DEPENDS_ON,
            status=DependencyStatus.OPEN,
            item__in=open_items,
            depends_on__in=open_items,
        ).values_list("item_id", "depends_on_id")
        if b in left or b not in squared  # a PBI whose teams all finished their part is not waited on
    ]
    order_ids = [i for i in dict.fromkeys(item_id for item_id, *_ in rows) if i in left]
    # Open PBIs without a square stay in: "no Scrum Team is forecast to work on it".
    no_team = [i for i in ids if i not in squared and asked[i] != ColumnCategory.DONE]
    finished = tuple(i for i in ids if i not in left and i not in no_team)
    targets = tuple(i for i in [*order_ids, *no_team] if i in set(ids) and i not in finished)
    team_names = dict(ScrumTeam.objects.filter(nexus=nexus).values_list("pk", "name"))
    as_of = nexus_today(nexus)

    def answer(**kwargs: Any) -> ScopeForecast:
        return ScopeForecast(
            finished=finished,
            team_names=team_names,
            as_of=as_of,
            trials=trials,
            seed=seed,
            history_days=history_days,
            change_counter=seq,
            **kwargs,
        )

    if not targets:
        return answer(
            targets=(),
            forecast=None,
            chain=(),
            titles=titles,
            teams={},
            reason="Every PBI asked about is finished, or its Scrum Teams have all finished their part."
            if ids
            else "No PBI to forecast.",
        )
    keep = cast(set[int], dependency_closure(targets, edges))
    titles.update(
        ProductBacklogItem.objects.filter(pk__in=[i for i in keep if i not in titles]).values_list(
            "pk", "title"
        )
    )
    order: list[tuple[int, list[int]]] = [(i, left[i]) for i in order_ids if i in started]
    order += [(i, left[i]) for i in order_ids if i not in started]
    order += [(i, []) for i in sorted(keep) if i not in left]
    items = items_from_order(order, keep=keep)
    chain_edges = tuple((a, b) for a, b in edges if a in keep and b in keep)
    result = forecast_dependencies(
        _throughput(nexus, history_days),
        items,
        as_of,
        chain_edges,
        targets=targets,
        trials=trials,
        seed=seed,
        team_names=team_names,
    )
    return answer(
        targets=targets,
        forecast=result,
        chain=tuple(cast(int, it.item) for it in items if it.item not in set(targets)),
        titles={i: titles.get(i, "") for i in keep},
        teams={i: tuple(left.get(i, ())) for i in keep},
        dependencies=chain_edges,
    )


def _outcome_dict(outcome: Outcome | None) -> dict[str, Any]:
    if outcome is None:
        return dict.fromkeys(OUTCOME_FIELDS)
    return {
        "dates_without": outcome.dates_without,
        "dates_with": outcome.dates_with,
        "days_without": outcome.days_without,
        "days_with": outcome.days_with,
        "penalty_days": outcome.penalty_days,
        "probability_with": outcome.probability_with,
        "penalty_probability": outcome.penalty_probability,
        "waits": outcome.waits,
        "cannot_forecast": outcome.reason,
    }


#: The fields of one outcome in `forecast_payload` (the API's and the page's shape).
OUTCOME_FIELDS = (
    "dates_without",
    "dates_with",
    "days_without",
    "days_with",
    "penalty_days",
    "probability_with",
    "penalty_probability",
    "waits",
    "cannot_forecast",
)


def forecast_payload(found: ScopeForecast) -> dict[str, Any]:
    """`found` as plain data (the API's body; see `events.api_forecast` for each field): `as_of`, `trials`,
    `seed`, `history_days`, `change_counter`, `targets`, `finished`, `cannot_forecast` (why there is no
    forecast at all, else None), `whole` (the targets all finished: an outcome), `items` (each target,
    then each PBI of its chain: `item`, `title`, `teams`, `target`, `depends_on`, and its outcome) and
    `teams_without_throughput` (`team`, `name`, `reason`). An outcome: dates and calendar days after
    `as_of` per confidence ("50", "70", "85", "95"), without and with the dependencies, the penalty in
    days and in percentage points, `probability_with` (percent), `waits` (percent of trials in which a
    dependency made it later) and `cannot_forecast` (the reason, else None)."""
    fc = found.forecast
    on: dict[int, list[int]] = {}
    for a, b in found.dependencies:
        on.setdefault(a, []).append(b)
    targets = set(found.targets)
    items = []
    for pk in [*found.targets, *found.chain]:
        items.append(
            {
                "item": pk,
                "title": found.titles.get(pk, ""),
                "teams": list(found.teams.get(pk, ())),
                "target": pk in targets,
                "depends_on": sorted(on.get(pk, [])),
                **_outcome_dict(fc.items.get(pk) if fc else None),
            }
        )
    return {
        "as_of": found.as_of,
        "trials": found.trials,
        "seed": found.seed,
        "history_days": found.history_days,
        "change_counter": found.change_counter,
        "targets": list(found.targets),
        "finished": list(found.finished),
        "cannot_forecast": found.reason,
        "whole": _outcome_dict(fc.scope if fc else None) if fc else None,
        "items": items,
        "teams_without_throughput": [
            {"team": team, "name": found.team_names.get(cast(int, team), ""), "reason": why}
            for team, why in (fc.teams_without_throughput.items() if fc else ())
        ],
    }
