"""Monte Carlo forecasts from daily Throughput (numpy).

The Kanban Guide for Scrum Teams asks teams to use flow metrics (Throughput among them) to forecast; it
does not prescribe a method. This tool's method (project flow issue): resample the daily Throughput of a
history window (zero days included, default the last 90 calendar days up to the as-of date, see
``flow.metrics.compute_flow(...).daily_throughput``), 10,000 trials, with a fixed seed so that a forecast
is reproducible.

* "How many items in the next N days" at confidence c: the largest value that at least c% of the trials
  reach or exceed (rank ``ceil(c * trials / 100)`` of the trial totals sorted in descending order).
* "When will M items be done" at confidence c: the earliest date by which at least c% of the trials have
  finished M items (nearest rank ``ceil(c * trials / 100)`` of the finishing days in ascending order).
  Day 1 is the day after the as-of date. A trial that has not finished within ``max_days`` days never
  finishes (an all-zero history never finishes); a confidence whose rank falls on such a trial is None.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction

import numpy as np
import numpy.typing as npt

__all__ = [
    "CONFIDENCES",
    "DEFAULT_MAX_DAYS",
    "DEFAULT_SEED",
    "DEFAULT_TRIALS",
    "HowManyForecast",
    "WhenForecast",
    "forecast_how_many",
    "forecast_when",
    "histogram",
    "mc_how_many",
    "mc_when",
    "simulate_how_many",
    "simulate_when",
]

CONFIDENCES: tuple[int, ...] = (50, 70, 85, 95)
DEFAULT_TRIALS = 10_000
DEFAULT_SEED = 20_080_630
DEFAULT_MAX_DAYS = 3_650
"""Horizon of ``mc_when`` in calendar days (ten years); later finishes count as never."""

_CHUNK_CELLS = 4_000_000  # draws per numpy block: bounds memory to ~32 MB

_IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class HowManyForecast:
    """Result of ``forecast_how_many``: per-confidence counts and the histogram of trial totals."""

    days: int
    trials: int
    seed: int
    at_confidence: dict[str, int]
    histogram: dict[int, int]


@dataclass(frozen=True, slots=True)
class WhenForecast:
    """Result of ``forecast_when``: per-confidence dates (None = not within ``max_days``) and histogram.

    ``histogram`` maps finishing date -> number of trials; ``never`` counts trials that did not finish.
    """

    items: int
    start: date
    trials: int
    seed: int
    at_confidence: dict[str, date | None]
    histogram: dict[date, int]
    never: int


def _history(daily_throughput: Sequence[int]) -> _IntArray:
    hist = np.asarray(daily_throughput, dtype=np.int64)
    if hist.ndim != 1 or hist.size == 0:
        raise ValueError("daily_throughput must be a non-empty sequence of daily counts")
    if (hist < 0).any():
        raise ValueError("daily_throughput counts must be >= 0")
    return hist


def _rank(confidence: float | int, n: int) -> int:
    frac = Fraction(str(confidence)) if isinstance(confidence, float) else Fraction(confidence)
    if not 0 < frac <= 100:
        raise ValueError(f"confidence must be in (0, 100], got {confidence!r}")
    return math.ceil(frac * n / 100)


def _check_trials(trials: int) -> None:
    if trials < 1:
        raise ValueError("trials must be at least 1")


def simulate_how_many(
    daily_throughput: Sequence[int], days: int, *, trials: int = DEFAULT_TRIALS, seed: int = DEFAULT_SEED
) -> list[int]:
    """Per-trial totals: each trial sums ``days`` daily counts drawn with replacement from the history.

    ``daily_throughput``: items finished per calendar day (zero days included), length >= 1, counts >= 0.
    Returns ``trials`` ints in trial order; same inputs and seed -> same output. Raises ``ValueError`` for
    an empty or negative history, ``days < 0`` or ``trials < 1``.
    """
    hist = _history(daily_throughput)
    _check_trials(trials)
    if days < 0:
        raise ValueError("days must be >= 0")
    rng = np.random.default_rng(seed)
    totals = np.zeros(trials, dtype=np.int64)
    step = max(1, _CHUNK_CELLS // trials)
    for lo in range(0, days, step):
        width = min(step, days - lo)
        totals += hist[rng.integers(0, hist.size, size=(trials, width))].sum(axis=1)
    return [int(v) for v in totals]


def simulate_when(
    daily_throughput: Sequence[int],
    items: int,
    *,
    trials: int = DEFAULT_TRIALS,
    seed: int = DEFAULT_SEED,
    max_days: int = DEFAULT_MAX_DAYS,
) -> list[int | None]:
    """Per-trial finishing day: the first day (1 = the day after the as-of date) the running total of
    resampled daily Throughput reaches ``items``; None when not reached within ``max_days`` calendar days
    (always None for an all-zero history).

    Returns ``trials`` values in trial order, reproducible for a given seed. Raises ``ValueError`` for an
    empty or negative history, ``items < 1``, ``trials < 1`` or ``max_days < 1``.
    """
    hist = _history(daily_throughput)
    _check_trials(trials)
    if items < 1:
        raise ValueError("items must be at least 1")
    if max_days < 1:
        raise ValueError("max_days must be at least 1")
    result: list[int | None] = [None] * trials
    if not hist.any():
        return result
    rng = np.random.default_rng(seed)
    alive = np.arange(trials)
    totals = np.zeros(trials, dtype=np.int64)
    mean = float(hist.mean())
    width = max(8, math.ceil(1.25 * items / mean))  # first block covers most trials
    day0 = 0
    while alive.size and day0 < max_days:
        width = min(width, max_days - day0, max(1, _CHUNK_CELLS // alive.size))
        draws = hist[rng.integers(0, hist.size, size=(alive.size, width))]
        running = np.cumsum(draws, axis=1) + totals[:, None]
        reached = running >= items
        done = reached[:, -1]
        first = reached.argmax(axis=1)
        for trial, offset in zip(alive[done].tolist(), first[done].tolist(), strict=True):
            result[trial] = day0 + offset + 1
        totals = running[~done, -1]
        alive = alive[~done]
        day0 += width
        width *= 2
    return result


# The simulations are pure functions of their inputs (the seed included), so their outcome is kept per
# process for the last inputs seen: a recompute after changes that finished no item (most column changes)
# has the same Throughput histories and resamples nothing. A sparse history (a Scrum Team whose own flow
# has just begun: a few finishes in 90 days) makes "when" trials run for thousands of days: 0.18 s per
# scope, every recompute, before. The arrays kept are read-only.
@functools.lru_cache(maxsize=128)
def _how_many_sorted(hist: bytes, days: int, trials: int, seed: int) -> _IntArray:
    """`simulate_how_many`'s totals sorted ascending (history given as int64 bytes)."""
    history: list[int] = np.frombuffer(hist, dtype=np.int64).tolist()
    totals = simulate_how_many(history, days, trials=trials, seed=seed)
    asc = np.sort(np.asarray(totals, dtype=np.int64))  # numpy on the trials: the same as sorting the list
    asc.flags.writeable = False
    return asc


@functools.lru_cache(maxsize=128)
def _when_sorted(hist: bytes, items: int, trials: int, seed: int, max_days: int) -> _IntArray:
    """`simulate_when`'s finishing days of the trials that finish, sorted ascending."""
    history: list[int] = np.frombuffer(hist, dtype=np.int64).tolist()
    days = simulate_when(history, items, trials=trials, seed=seed, max_days=max_days)
    asc = np.sort(np.array([d for d in days if d is not None], dtype=np.int64))
    asc.flags.writeable = False
    return asc


def histogram(outcomes: Iterable[int | None]) -> dict[int, int]:
    """Value -> number of trials, ascending by value; None outcomes (never finished) are left out."""
    counts: dict[int, int] = {}
    for v in outcomes:
        if v is not None:
            counts[v] = counts.get(v, 0) + 1
    return dict(sorted(counts.items()))


def forecast_how_many(
    daily_throughput: Sequence[int],
    days: int,
    *,
    trials: int = DEFAULT_TRIALS,
    seed: int = DEFAULT_SEED,
    confidences: Sequence[float | int] = CONFIDENCES,
) -> HowManyForecast:
    """How many items in the next ``days`` calendar days, with the histogram of trial totals.

    ``at_confidence[str(c)]`` = the largest total that at least c% of the trials reach or exceed
    (confidences in percent, in (0, 100]). Errors as ``simulate_how_many``, plus ``ValueError`` for a
    confidence outside (0, 100].
    """
    hist = _history(daily_throughput)
    asc = _how_many_sorted(hist.tobytes(), days, trials, seed)
    at = {str(c): int(asc[trials - _rank(c, trials)]) for c in confidences}
    values, counts = np.unique(asc, return_counts=True)
    return HowManyForecast(days, trials, seed, at, dict(zip(values.tolist(), counts.tolist(), strict=True)))


def forecast_when(
    daily_throughput: Sequence[int],
    items: int,
    start: date,
    *,
    trials: int = DEFAULT_TRIALS,
    seed: int = DEFAULT_SEED,
    confidences: Sequence[float | int] = CONFIDENCES,
    max_days: int = DEFAULT_MAX_DAYS,
) -> WhenForecast:
    """When will ``items`` items be done, counting from ``start`` (the as-of date; day 1 = start + 1 day).

    ``at_confidence[str(c)]`` = the earliest date by which at least c% of the trials finished, or None
    when that rank falls on trials that never finish within ``max_days`` (e.g. an all-zero history).
    ``histogram`` maps finishing date -> trial count. Errors as ``simulate_when``, plus ``ValueError``
    for a confidence outside (0, 100].
    """
    asc = _when_sorted(_history(daily_throughput).tobytes(), items, trials, seed, max_days)
    never = trials - asc.size
    at: dict[str, date | None] = {}
    for c in confidences:
        k = _rank(c, trials)
        at[str(c)] = start + timedelta(days=int(asc[k - 1])) if k <= asc.size else None
    values, counts = np.unique(asc, return_counts=True)
    hist = {start + timedelta(days=d): n for d, n in zip(values.tolist(), counts.tolist(), strict=True)}
    return WhenForecast(items, start, trials, seed, at, hist, never)


def mc_how_many(
    daily_throughput: Sequence[int],
    days: int,
    *,
    trials: int = DEFAULT_TRIALS,
    seed: int = DEFAULT_SEED,
    confidences: Sequence[float | int] = CONFIDENCES,
) -> dict[str, int]:
    """``forecast_how_many(...).at_confidence``: confidence (percent, as str) -> item count."""
    return forecast_how_many(
        daily_throughput, days, trials=trials, seed=seed, confidences=confidences
    ).at_confidence


def mc_when(
    daily_throughput: Sequence[int],
    items: int,
    start: date,
    *,
    trials: int = DEFAULT_TRIALS,
    seed: int = DEFAULT_SEED,
    confidences: Sequence[float | int] = CONFIDENCES,
    max_days: int = DEFAULT_MAX_DAYS,
) -> dict[str, date | None]:
    """``forecast_when(...).at_confidence``: confidence (percent, as str) -> date, or None (never)."""
    return forecast_when(
        daily_throughput, items, start, trials=trials, seed=seed, confidences=confidences, max_days=max_days
    ).at_confidence
