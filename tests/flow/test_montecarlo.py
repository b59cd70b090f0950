"""Monte Carlo forecasts (flow.montecarlo): determinism, sanity and the confidence conventions."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest

from flow.montecarlo import (
    forecast_how_many,
    forecast_when,
    histogram,
    mc_how_many,
    mc_when,
    simulate_how_many,
    simulate_when,
)

AS_OF = date(2008, 6, 30)
HISTORY = [0, 1, 0, 3, 5, 0, 0, 2, 7, 1] * 9  # 90 days, zero days included


def test_fixed_seed_is_deterministic() -> None:
    assert mc_how_many(HISTORY, 30, seed=7) == mc_how_many(HISTORY, 30, seed=7)
    assert mc_when(HISTORY, 100, AS_OF, seed=7) == mc_when(HISTORY, 100, AS_OF, seed=7)
    assert simulate_how_many(HISTORY, 30, seed=7) == simulate_how_many(HISTORY, 30, seed=7)
    assert simulate_how_many(HISTORY, 30, seed=7) != simulate_how_many(HISTORY, 30, seed=8)


def test_constant_throughput_gives_exact_answers() -> None:
    assert mc_how_many([2] * 10, 10) == {"50": 20, "70": 20, "85": 20, "95": 20}
    at = mc_when([2] * 10, 20, AS_OF)
    assert set(at.values()) == {AS_OF + timedelta(days=10)}  # day 1 = the day after the as-of date
    assert mc_when([2] * 10, 21, AS_OF)["95"] == AS_OF + timedelta(days=11)
    assert mc_how_many([2] * 10, 0) == {"50": 0, "70": 0, "85": 0, "95": 0}


def test_how_many_confidence_is_reached_or_exceeded_by_that_share_of_trials() -> None:
    trials = 1_000
    totals = simulate_how_many(HISTORY, 14, trials=trials, seed=3)
    at = mc_how_many(HISTORY, 14, trials=trials, seed=3)
    for c, value in at.items():
        share = int(c) / 100
        assert sum(t >= value for t in totals) >= share * trials
        assert sum(t >= value + 1 for t in totals) < share * trials  # the largest such value
    assert at["50"] >= at["70"] >= at["85"] >= at["95"]


def test_when_confidence_is_the_date_by_which_that_share_finished() -> None:
    trials = 1_000
    days = simulate_when(HISTORY, 60, trials=trials, seed=3)
    at = mc_when(HISTORY, 60, AS_OF, trials=trials, seed=3)
    for c, when in at.items():
        assert when is not None
        k = (when - AS_OF).days
        share = int(c) / 100
        assert sum(1 for x in days if x is not None and x <= k) >= share * trials
        assert sum(1 for x in days if x is not None and x <= k - 1) < share * trials  # the earliest
    assert at["50"] <= at["70"] <= at["85"] <= at["95"]  # type: ignore[operator]


def test_all_zero_history_never_finishes() -> None:
    assert mc_when([0] * 90, 5, AS_OF) == {"50": None, "70": None, "85": None, "95": None}
    assert mc_how_many([0] * 90, 30) == {"50": 0, "70": 0, "85": 0, "95": 0}
    fc = forecast_when([0] * 90, 5, AS_OF)
    assert (fc.histogram, fc.never) == ({}, 10_000)


def test_partly_unreachable_within_max_days() -> None:
    # Half the history days finish 1 item: 10 items within 10 days only when every draw is a 1.
    fc = forecast_when([0, 1], 10, AS_OF, trials=2_000, seed=1, max_days=10)
    assert fc.at_confidence == {"50": None, "70": None, "85": None, "95": None}
    assert fc.never + sum(fc.histogram.values()) == 2_000


def test_histograms_count_every_trial() -> None:
    fc = forecast_how_many(HISTORY, 30)
    assert sum(fc.histogram.values()) == 10_000
    assert list(fc.histogram) == sorted(fc.histogram)
    fw = forecast_when(HISTORY, 100, AS_OF)
    assert sum(fw.histogram.values()) + fw.never == 10_000
    assert all(d > AS_OF for d in fw.histogram)
    assert histogram([3, None, 1, 3]) == {1: 1, 3: 2}


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        mc_how_many([], 10)
    with pytest.raises(ValueError, match=">= 0"):
        mc_how_many([1, -1], 10)
    with pytest.raises(ValueError, match="days"):
        mc_how_many([1], -1)
    with pytest.raises(ValueError, match="trials"):
        mc_how_many([1], 5, trials=0)
    with pytest.raises(ValueError, match="confidence"):
        mc_how_many([1], 5, confidences=(0,))
    with pytest.raises(ValueError, match="items"):
        mc_when([1], 0, AS_OF)
    with pytest.raises(ValueError, match="max_days"):
        mc_when([1], 5, AS_OF, max_days=0)


def test_ten_thousand_trials_well_under_a_second() -> None:
    t0 = time.perf_counter()
    mc_how_many(HISTORY, 90)
    mc_when(HISTORY, 300, AS_OF)
    assert time.perf_counter() - t0 < 0.5
