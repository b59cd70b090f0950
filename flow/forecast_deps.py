"""Dependency-aware Monte Carlo "when" forecasts: who waits on whom (issue 12). Pure functions, numpy.

Method (the conventions of ``flow.montecarlo``, which this module reuses):

* **Each team's own flow.** Every Scrum Team's Throughput history (items finished per calendar day, zero
  days included; or per period of ``period_days`` days, e.g. per Sprint) is resampled with replacement,
  ``trials`` times (default 10,000), with a fixed seed: the same inputs give the same forecast. A team
  finishes the PBIs in its queue in order: the PBI at place ``k`` of a team's queue is finished by that
  team on the first day its running total of resampled Throughput reaches ``k``. Day 1 is the day after
  the start (as-of) date; a period ends on day ``period_days * n``. The teams' draws are independent
  (one random stream per team, derived from the seed and the team's key); within a team, one path of
  Throughput per trial serves all its PBIs, so a team's later PBIs never finish before its earlier ones.
* **(a) A PBI that needs several teams** is finished when the last of them has finished its part: per
  trial, the latest of the teams' finishing days. For independent teams the chance of being done by day
  ``d`` is then the product of each team's chance (the product of their distribution functions): two
  identical teams, each at 85 % on a date, are both done by it in 0.85² ≈ 72 % of the trials. On real
  teams, whose distributions differ (the slowest dominates), LetPeopleWork/Lighthouse reports that a
  date at 85 % for one team is about 78 % with two and 54 % with five (figures as quoted in issue 12).
* **(b) A PBI cannot finish before the PBIs it depends on**: per trial, its finish is the latest of its
  own (a) and those of every PBI it depends on (themselves with their dependencies, in topological
  order), i.e. a longest-path over the dependency graph, trial by trial.
* **Confidence** ``c`` (percent): the earliest day by which at least ``c`` % of the trials have finished
  (nearest rank ``ceil(c · trials / 100)`` of the finishing days in ascending order, as
  ``flow.montecarlo.forecast_when``). A trial not finished within ``max_days`` calendar days never
  finishes; a confidence whose rank falls on such a trial is None.
* **Dependency penalty** at confidence ``c``: in days, the date with the dependencies minus the date
  without (both in calendar days); in probability, at the date without the dependencies, the share of
  trials finished without them minus the share finished with them, in percentage points (the date a
  team would promise at 85 % is only so likely once it waits on others).

"Cannot forecast" (``Outcome.reason``): a PBI no Scrum Team is forecast to work on; a PBI one of whose
teams has no Throughput history, or one with no finished PBI in it (it would never finish); with the
dependencies, a PBI that depends (directly or not) on one of those, or lies on a dependency cycle.

Sources: the Kanban Guide for Scrum Teams (flow metrics to forecast; no method prescribed); Daniel
Vacanti, "When Will It Be Done?" (Monte Carlo from Throughput, nearest-rank percentiles);
LetPeopleWork/Lighthouse (multi-team forecasts, the product of the teams' distribution functions);
the Nexus Guide (Cross-Team Refinement: which teams deliver which PBI; dependencies made transparent).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from flow.montecarlo import CONFIDENCES, DEFAULT_MAX_DAYS, DEFAULT_SEED, DEFAULT_TRIALS, _rank

__all__ = [
    "DependencyForecast",
    "ForecastItem",
    "Outcome",
    "dependency_closure",
    "forecast_dependencies",
    "items_from_order",
    "simulate_team_finishes",
]

_CHUNK_CELLS = 4_000_000  # draws per numpy block, as flow.montecarlo: bounds memory to ~32 MB
_NEVER = np.iinfo(np.int32).max  # finishing day of a trial that did not finish within max_days

_Days = npt.NDArray[np.int32]


@dataclass(frozen=True, slots=True)
class ForecastItem:
    """A PBI to forecast. ``item``: its key (e.g. the PBI id). ``queue``: each Scrum Team that still has
    to work on it -> its place in that team's queue (1 = the next PBI the team finishes; the team's
    not-yet-done PBIs ahead of it, plus one). An empty ``queue`` cannot be forecast."""

    item: Hashable
    queue: Mapping[Hashable, int]


@dataclass(frozen=True, slots=True)
class Outcome:
    """The forecast of one PBI, or of a set of PBIs as a whole (all of them finished).

    ``days_without`` / ``days_with``: confidence (percent, as str, e.g. "85") -> calendar days after
    ``start`` (day 1 = the day after), without / with the dependencies; a value is None when the rank
    falls on trials that do not finish within ``max_days``; the dict is None when it cannot be forecast
    (``reason`` says why). ``penalty_days``: ``days_with - days_without`` per confidence (None where
    either is None). ``probability_with``: percent of trials finished by ``days_without[c]`` once the
    dependencies count; ``penalty_probability``: percentage points lost (the share finished by that
    day without the dependencies minus ``probability_with``). ``waits``: percent of trials in which a
    dependency made it finish later than its own teams would have. ``reason``: why a forecast (without,
    or only with the dependencies) is missing, else None."""

    start: date
    days_without: dict[str, int | None] | None
    days_with: dict[str, int | None] | None
    penalty_days: dict[str, int | None] | None = None
    probability_with: dict[str, float] | None = None
    penalty_probability: dict[str, float] | None = None
    waits: float | None = None
    reason: str | None = None

    @property
    def dates_without(self) -> dict[str, date | None] | None:
        """``days_without`` as calendar dates (``start`` + days)."""
        return _dates(self.start, self.days_without)

    @property
    def dates_with(self) -> dict[str, date | None] | None:
        """``days_with`` as calendar dates (``start`` + days)."""
        return _dates(self.start, self.days_with)


@dataclass(frozen=True, slots=True)
class DependencyForecast:
    """Result of ``forecast_dependencies``: ``items`` maps every forecast PBI (in the order given) to its
    ``Outcome``; ``scope`` is the ``Outcome`` of the targets as a whole (every one of them finished: a
    Sprint's scope, the Product Goal's PBIs, or the one PBI asked about). ``teams_without_throughput``:
    the teams named by a PBI that have no usable Throughput, with the reason."""

    start: date
    trials: int
    seed: int
    items: dict[Hashable, Outcome]
    scope: Outcome
    targets: tuple[Hashable, ...]
    teams_without_throughput: dict[Hashable, str] = field(default_factory=dict)


def _dates(start: date, days: dict[str, int | None] | None) -> dict[str, date | None] | None:
    if days is None:
        return None
    return {c: None if d is None else start + timedelta(days=d) for c, d in days.items()}


def _team_rng(seed: int, team: Hashable) -> np.random.Generator:
    """One independent, reproducible stream per team: from the seed and a stable hash of the team key
    (so a team's draws do not depend on which other teams are in the forecast)."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(repr(team).encode())]))


def simulate_team_finishes(
    throughput: Sequence[int],
    places: Iterable[int],
    *,
    trials: int = DEFAULT_TRIALS,
    rng: np.random.Generator,
    max_days: int = DEFAULT_MAX_DAYS,
    period_days: int = 1,
) -> dict[int, _Days]:
    """Per trial, the day one team finishes the PBI at each of ``places`` of its queue.

    ``throughput``: items finished per period of ``period_days`` calendar days (zero periods included),
    non-empty, counts >= 0, at least one > 0. ``places``: 1-based places in the team's queue. Returns
    place -> int32 array of ``trials`` finishing days (calendar days after the start; a period's items
    finish on its last day, ``period_days * n``), ``np.iinfo(np.int32).max`` for a trial that has not
    reached the place within ``max_days`` days. Raises ``ValueError`` for an empty, negative or
    all-zero history, a place < 1, ``trials < 1``, ``max_days < 1`` or ``period_days < 1``.
    """
    hist = np.asarray(throughput, dtype=np.int64)
    if hist.ndim != 1 or hist.size == 0:
        raise ValueError("throughput must be a non-empty sequence of counts")
    if (hist < 0).any():
        raise ValueError("throughput counts must be >= 0")
    if not hist.any():
        raise ValueError("throughput has no finished item: it never finishes")
    if trials < 1 or max_days < 1 or period_days < 1:
        raise ValueError("trials, max_days and period_days must be at least 1")
    wanted = np.unique(np.asarray(sorted(set(places)), dtype=np.int64))
    if wanted.size == 0:
        return {}
    if wanted[0] < 1:
        raise ValueError("places in a queue start at 1")
    top = int(wanted[-1])
    max_periods = max_days // period_days
    finish = np.full((trials, wanted.size), _NEVER, dtype=np.int32)
    alive = np.arange(trials)
    totals = np.zeros(trials, dtype=np.int64)
    width = max(8, math.ceil(1.25 * top / float(hist.mean())))  # the first block covers most trials
    period0 = 0
    stride = top + 1  # rows of the capped running totals, laid end to end, stay sorted
    while alive.size and period0 < max_periods:
        width = min(width, max_periods - period0, max(1, _CHUNK_CELLS // alive.size))
        rows = alive.size
        draws = hist[rng.integers(0, hist.size, size=(rows, width))]
        running = np.cumsum(draws, axis=1) + totals[:, None]
        offsets = np.arange(rows, dtype=np.int64) * stride
        flat = (np.minimum(running, top) + offsets[:, None]).ravel()
        # First period of the block whose running total reaches each place (width = not in this block).
        first = np.searchsorted(flat, (wanted[None, :] + offsets[:, None]).ravel(), side="left")
        first = first.reshape(rows, wanted.size) - (np.arange(rows, dtype=np.int64) * width)[:, None]
        new = (wanted[None, :] > totals[:, None]) & (first < width)
        block = finish[alive]
        block[new] = ((period0 + first + 1) * period_days)[new]
        finish[alive] = block
        done = running[:, -1] >= top
        totals = running[~done, -1]
        alive = alive[~done]
        period0 += width
        width *= 2
    return {int(p): finish[:, i] for i, p in enumerate(wanted)}


def _percentiles(finish: _Days, confidences: Sequence[float | int], max_days: int) -> dict[str, int | None]:
    ranks = [_rank(c, finish.size) - 1 for c in confidences]
    picked = np.partition(finish, sorted(set(ranks)))
    return {
        str(c): (int(picked[k]) if picked[k] <= max_days else None)
        for c, k in zip(confidences, ranks, strict=True)
    }


def _outcome(
    start: date,
    own: _Days | None,
    dep: _Days | None,
    reason: str | None,
    confidences: Sequence[float | int],
    max_days: int,
) -> Outcome:
    if own is None:
        return Outcome(start, None, None, reason=reason)
    without = _percentiles(own, confidences, max_days)
    if dep is None:
        return Outcome(start, without, None, reason=reason)
    with_ = _percentiles(dep, confidences, max_days)
    penalty_days: dict[str, int | None] = {}
    probability_with: dict[str, float] = {}
    penalty_probability: dict[str, float] = {}
    for c in map(str, confidences):
        d0, d1 = without[c], with_[c]
        penalty_days[c] = None if d0 is None or d1 is None else d1 - d0
        if d0 is not None:
            p_own = float(np.count_nonzero(own <= d0)) * 100 / own.size
            p_dep = float(np.count_nonzero(dep <= d0)) * 100 / dep.size
            probability_with[c] = round(p_dep, 1)
            penalty_probability[c] = round(p_own - p_dep, 1)
    waits = round(float(np.count_nonzero(dep > own)) * 100 / own.size, 1)
    return Outcome(start, without, with_, penalty_days, probability_with, penalty_probability, waits, reason)


def dependency_closure(
    targets: Iterable[Hashable], dependencies: Iterable[tuple[Hashable, Hashable]]
) -> set[Hashable]:
    """The targets and every PBI they depend on, directly or not: the PBIs to pass to
    ``forecast_dependencies`` to forecast the targets. ``dependencies``: (A, B) pairs, "A depends on B"."""
    on: dict[Hashable, list[Hashable]] = {}
    for a, b in dependencies:
        on.setdefault(a, []).append(b)
    seen = set(targets)
    stack = list(seen)
    while stack:
        for b in on.get(stack.pop(), ()):
            if b not in seen:
                seen.add(b)
                stack.append(b)
    return seen


def items_from_order(
    order: Iterable[tuple[Hashable, Iterable[Hashable]]], *, keep: Collection[Hashable] | None = None
) -> list[ForecastItem]:
    """``ForecastItem``s from PBIs in Product Backlog order (highest first), each with the teams that
    still have to work on it (e.g. its team squares not yet Done): a PBI's place in a team's queue is
    one plus the number of that team's PBIs above it. Pass the whole order down to the last PBI to
    forecast (the PBIs above count as the teams' work ahead), and the PBIs to forecast as ``keep``
    (the targets and ``dependency_closure``): only those are returned, which bounds the work and the
    memory (two int32 arrays of ``trials`` per PBI returned). Pass the team's PBIs in progress first if
    they are to be finished before the backlog's order says."""
    seen: dict[Hashable, int] = {}
    items = []
    for item, teams in order:
        queue = {}
        for team in dict.fromkeys(teams):
            seen[team] = seen.get(team, 0) + 1
            queue[team] = seen[team]
        if keep is None or item in keep:
            items.append(ForecastItem(item, queue))
    return items


def _team_label(team: Hashable, names: Mapping[Any, str] | None) -> str:
    return names[team] if names and team in names else f"team {team}"


def _usable(throughput: Mapping[Any, Sequence[int]], team: Hashable, label: str) -> str | None:
    """Why the team's Throughput cannot forecast (None when it can). Raises ``ValueError`` for a
    negative count (bad input, not a missing history)."""
    hist = throughput.get(team)
    if hist is None or len(hist) == 0:
        return f"{label} has no Throughput history yet"
    if any(v < 0 for v in hist):
        raise ValueError(f"throughput[{team!r}]: counts must be >= 0")
    if not any(hist):
        return f"{label} has no Throughput yet (no PBI finished in its history)"
    return None


def _topological(keys: Sequence[Hashable], on: dict[Hashable, list[Hashable]]) -> tuple[list[Hashable], set]:
    """Kahn's order (each PBI after those it depends on) and the PBIs left over: on a cycle, or
    depending on one."""
    waiting = {k: len(on.get(k, ())) for k in keys}
    needed_by: dict[Hashable, list[Hashable]] = {}
    for a in keys:
        for b in on.get(a, ()):
            needed_by.setdefault(b, []).append(a)
    ready = [k for k in keys if waiting[k] == 0]
    order = []
    while ready:
        b = ready.pop()
        order.append(b)
        for a in needed_by.get(b, ()):
            waiting[a] -= 1
            if waiting[a] == 0:
                ready.append(a)
    return order, {k for k in keys if waiting[k] > 0}


def forecast_dependencies(
    throughput: Mapping[Any, Sequence[int]],
    items: Sequence[ForecastItem],
    start: date,
    dependencies: Iterable[tuple[Hashable, Hashable]] = (),
    *,
    targets: Iterable[Hashable] | None = None,
    trials: int = DEFAULT_TRIALS,
    seed: int = DEFAULT_SEED,
    confidences: Sequence[float | int] = CONFIDENCES,
    max_days: int = DEFAULT_MAX_DAYS,
    period_days: int = 1,
    team_names: Mapping[Any, str] | None = None,
) -> DependencyForecast:
    """When will these PBIs be done, from each team's own flow, with and without their dependencies.

    ``throughput``: team -> Throughput history (items per calendar day, zero days included, as
    ``flow.metrics.compute_flow(...).daily_throughput``; or per period of ``period_days`` days, e.g. a
    Sprint's length). ``items``: the PBIs to forecast with their place in each team's queue
    (``items_from_order`` builds them from the Product Backlog's order). ``start``: the as-of date (day 1
    is the day after). ``dependencies``: (A, B) pairs, "A depends on B" (A cannot finish before B); a
    pair naming a PBI that is not in ``items`` is ignored (that PBI counts as finished: pass every open
    PBI the targets depend on, ``dependency_closure``). ``targets``: the PBIs whose joint finish is
    ``scope`` (default: all ``items``). ``team_names``: labels for the reasons (default "team <key>").

    Returns a ``DependencyForecast`` (see ``Outcome`` for the fields: calendar days after ``start`` per
    confidence, with and without the dependencies, and the dependency penalty in days and in
    percentage points). Same inputs and seed, same result. Work: one simulation per team (trials by the
    days until the team's last place), then one pass over the dependency graph per trial, vectorised;
    memory about 8 bytes per trial per PBI (two int32 arrays: 80 KB a PBI at 10,000 trials).

    Raises ``ValueError`` for duplicate items, a place < 1, a PBI depending on itself, a target not in
    ``items``, a negative Throughput count, ``trials``/``max_days``/``period_days`` < 1 or a confidence
    outside (0, 100]. A team without Throughput is not an error: its PBIs cannot be forecast (reason).
    """
    if trials < 1 or max_days < 1 or period_days < 1:
        raise ValueError("trials, max_days and period_days must be at least 1")
    for c in confidences:
        _rank(c, trials)
    keys = [it.item for it in items]
    if len(set(keys)) != len(keys):
        raise ValueError("items: each PBI at most once")
    known = set(keys)
    goal = tuple(keys if targets is None else dict.fromkeys(targets))
    missing = [t for t in goal if t not in known]
    if missing:
        raise ValueError(f"targets: {missing[:5]!r} not among the items")
    on: dict[Hashable, list[Hashable]] = {}
    for a, b in dependencies:
        if a == b:
            raise ValueError(f"dependencies: {a!r} depends on itself")
        if a in known and b in known:
            on.setdefault(a, []).append(b)

    # Each team's places, and its finishing days per trial.
    places: dict[Hashable, set[int]] = {}
    for it in items:
        for team, place in it.queue.items():
            if place < 1:
                raise ValueError(f"items[{it.item!r}].queue[{team!r}]: places start at 1")
            places.setdefault(team, set()).add(int(place))
    unusable: dict[Hashable, str] = {}
    finishes: dict[Hashable, dict[int, _Days]] = {}
    for team in sorted(places, key=repr):
        why = _usable(throughput, team, _team_label(team, team_names))
        if why is not None:
            unusable[team] = why
            continue
        finishes[team] = simulate_team_finishes(
            throughput[team],
            places[team],
            trials=trials,
            rng=_team_rng(seed, team),
            max_days=max_days,
            period_days=period_days,
        )

    # (a) Each PBI's own finish: the latest of its teams'.
    own: dict[Hashable, _Days] = {}
    reasons: dict[Hashable, str] = {}
    for it in items:
        if not it.queue:
            reasons[it.item] = "no Scrum Team is forecast to work on it"
            continue
        bad = [unusable[t] for t in it.queue if t in unusable]
        if bad:
            reasons[it.item] = "; ".join(sorted(bad))
            continue
        arrays = [finishes[t][int(p)] for t, p in it.queue.items()]
        own[it.item] = arrays[0] if len(arrays) == 1 else np.maximum.reduce(arrays)

    # (b) With the dependencies: the latest of its own and of every PBI it depends on, in topological order.
    order, cyclic = _topological(keys, on)
    dep: dict[Hashable, _Days] = {}
    dep_reasons: dict[Hashable, str] = {}
    for a in order:
        if a not in own:
            continue
        blockers = [b for b in on.get(a, ()) if b not in dep]
        if blockers:
            b = blockers[0]
            dep_reasons[a] = (
                f"depends on {b!r}, which cannot be forecast ({reasons.get(b) or dep_reasons[b]})"
            )
            continue
        arrays = [own[a], *(dep[b] for b in on.get(a, ()))]
        dep[a] = arrays[0] if len(arrays) == 1 else np.maximum.reduce(arrays)
    for a in cyclic:
        if a in own:
            dep_reasons[a] = "on a dependency cycle, or depends on one"

    outcomes = {
        k: _outcome(
            start,
            own.get(k),
            dep.get(k),
            reasons.get(k) or dep_reasons.get(k),
            confidences,
            max_days,
        )
        for k in keys
    }
    scope = _scope(start, goal, own, dep, reasons, dep_reasons, confidences, max_days)
    return DependencyForecast(start, trials, seed, outcomes, scope, goal, unusable)


def _scope(
    start: date,
    goal: tuple[Hashable, ...],
    own: dict[Hashable, _Days],
    dep: dict[Hashable, _Days],
    reasons: dict[Hashable, str],
    dep_reasons: dict[Hashable, str],
    confidences: Sequence[float | int],
    max_days: int,
) -> Outcome:
    """All the targets finished: per trial, the latest of their finishes (with / without)."""
    if not goal:
        return Outcome(start, None, None, reason="no PBI to forecast")
    lost = [k for k in goal if k not in own]
    if lost:
        return Outcome(
            start,
            None,
            None,
            reason=f"{len(lost)} of {len(goal)} PBIs cannot be forecast: {reasons[lost[0]]}",
        )
    whole = np.maximum.reduce([own[k] for k in goal]) if len(goal) > 1 else own[goal[0]]
    lost = [k for k in goal if k not in dep]
    if lost:
        why = (
            f"with the dependencies, {len(lost)} of {len(goal)} PBIs cannot be forecast: "
            f"{dep_reasons[lost[0]]}"
        )
        return _outcome(start, whole, None, why, confidences, max_days)
    joint = np.maximum.reduce([dep[k] for k in goal]) if len(goal) > 1 else dep[goal[0]]
    return _outcome(start, whole, joint, None, confidences, max_days)
