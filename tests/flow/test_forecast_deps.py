"""Dependency-aware Monte Carlo forecasts (flow.forecast_deps): a hand-worked case, the closed form for
independent teams (the product of their distribution functions), cannot-forecast reasons, conventions."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from flow.forecast_deps import (
    ForecastItem,
    dependency_closure,
    forecast_dependencies,
    items_from_order,
    simulate_team_finishes,
)

START = date(2026, 1, 5)
ALL = ("50", "70", "85", "95")


def _same(value: object) -> dict[str, object]:
    return dict.fromkeys(ALL, value)


def test_hand_worked_case() -> None:
    """Team A finishes a PBI on half of its days ([0, 1]); team B one every day ([1]).

    Q is A's next PBI: its finishing day T is geometric, P(T <= d) = 1 - 2^-d: 0.5, 0.75, 0.875, 0.9375,
    0.969 for d = 1..5, so 50 % -> day 1, 70 % -> 2, 85 % -> 3, 95 % -> 5.
    P is B's second PBI: day 2 in every trial. P depends on Q: it finishes on max(2, T), so
    P(<= 2) = 0.75, P(<= 3) = 0.875, P(<= 4) = 0.9375, P(<= 5) = 0.969: 50 % -> 2, 70 % -> 2,
    85 % -> 3, 95 % -> 5. Penalty 0, 0, 1, 3 days; at day 2 (the date without) only 75 % of the trials
    are done with the dependency (25 points lost), and the dependency delays P in 25 % of the trials.
    """
    fc = forecast_dependencies(
        {"A": [0, 1], "B": [1]},
        [ForecastItem("Q", {"A": 1}), ForecastItem("P", {"B": 2})],
        START,
        [("P", "Q")],
    )
    q, p = fc.items["Q"], fc.items["P"]
    assert q.days_without == q.days_with == {"50": 1, "70": 2, "85": 3, "95": 5}
    assert q.penalty_days == _same(0)
    assert q.reason is None
    assert p.days_without == _same(2)
    assert p.days_with == {"50": 2, "70": 2, "85": 3, "95": 5}
    assert p.penalty_days == {"50": 0, "70": 0, "85": 1, "95": 3}
    assert p.penalty_probability is not None
    assert p.probability_with is not None
    for c in ALL:
        assert p.penalty_probability[c] == pytest.approx(25, abs=2)
        assert p.probability_with[c] == pytest.approx(75, abs=2)
    assert p.waits == pytest.approx(25, abs=2)
    assert p.dates_with == {
        "50": START + timedelta(days=2),
        "70": START + timedelta(days=2),
        "85": START + timedelta(days=3),
        "95": START + timedelta(days=5),
    }
    # The scope (both done) is P with its dependency: P never finishes before Q.
    assert fc.scope.days_without == {"50": 2, "70": 2, "85": 3, "95": 5}
    assert fc.scope.days_with == fc.scope.days_without
    assert fc.targets == ("Q", "P")


def test_constant_throughput_gives_exact_days_in_queue_order() -> None:
    # A finishes 2 a day: places 1..5 on days 1, 1, 2, 2, 3. B one a day. X needs both (A place 5,
    # B place 1): day 3. Y (B place 2, day 2) depends on X: day 3 with it. Z depends on Y: chains.
    items = [
        ForecastItem("a1", {"A": 1}),
        ForecastItem("a2", {"A": 2}),
        ForecastItem("a3", {"A": 3}),
        ForecastItem("a4", {"A": 4}),
        ForecastItem("X", {"A": 5, "B": 1}),
        ForecastItem("Y", {"B": 2}),
        ForecastItem("Z", {"B": 3}),
    ]
    fc = forecast_dependencies({"A": [2], "B": [1]}, items, START, [("Y", "X"), ("Z", "Y"), ("a1", "a4")])
    days = {k: o.days_with["50"] for k, o in fc.items.items() if o.days_with}
    assert {k: o.days_without["50"] for k, o in fc.items.items() if o.days_without} == {
        "a1": 1,
        "a2": 1,
        "a3": 2,
        "a4": 2,
        "X": 3,
        "Y": 2,
        "Z": 3,
    }
    assert days == {"a1": 2, "a2": 1, "a3": 2, "a4": 2, "X": 3, "Y": 3, "Z": 3}
    assert fc.items["Y"].penalty_days == _same(1)
    assert fc.items["Y"].penalty_probability == _same(100.0)
    assert fc.items["Y"].waits == 100.0
    assert fc.items["Z"].penalty_days == _same(0)


def _exact_quantile(cdf, share: float) -> int:
    d = 1
    while cdf(d) < share:
        d += 1
    return d


def test_independent_teams_closed_form_product_of_distribution_functions() -> None:
    """Two independent teams: A finishes a PBI on 1 day in 2, B on 1 day in 3. Their next PBIs finish on
    geometric days; a PBI needing both is done by day d with probability (1 - 2^-d)(1 - (2/3)^d). Every
    confidence 5..95 % whose exact quantile is not within 1 point of a step matches it."""

    def cdf(d: int) -> float:
        return (1 - 0.5**d) * (1 - (2 / 3) ** d)

    confidences = list(range(5, 100, 5))
    trials = 40_000
    fc = forecast_dependencies(
        {"A": [0, 1], "B": [0, 0, 1]},
        [ForecastItem("both", {"A": 1, "B": 1}), ForecastItem("a", {"A": 2}), ForecastItem("b", {"B": 2})],
        START,
        trials=trials,
        confidences=confidences,
        targets=["both"],
    )
    both = fc.items["both"].days_without
    assert both is not None
    checked = 0
    for c in confidences:
        share = c / 100
        d = _exact_quantile(cdf, share)
        if cdf(d) - share > 0.01 and share - cdf(d - 1) > 0.01:
            assert both[str(c)] == d, c
            checked += 1
    assert checked >= 12
    assert fc.scope.days_without == both
    # A single team's PBI alone: its own geometric law, 1 - 2^-d.
    single = simulate_team_finishes([0, 1], [1], trials=trials, rng=np.random.default_rng(3))[1]
    for d in range(1, 6):
        assert float(np.mean(single <= d)) == pytest.approx(1 - 0.5**d, abs=0.01)


def test_two_identical_teams_at_the_one_team_date_are_about_its_square() -> None:
    """U is team A's third PBI; it depends on V, team B's third PBI, with the same history. At U's date
    without the dependency (say 85 %), the chance both are done is the product F(d)² (0.85² ≈ 72 %;
    LetPeopleWork/Lighthouse measured about 78 % on real teams, whose distributions differ)."""
    history = [0, 1, 0, 2, 0, 0, 3, 1, 0, 1] * 9
    fc = forecast_dependencies(
        {"A": history, "B": history},
        [ForecastItem("U", {"A": 3}), ForecastItem("V", {"B": 3})],
        START,
        [("U", "V")],
        trials=40_000,
    )
    u = fc.items["U"]
    assert u.probability_with is not None
    assert u.penalty_probability is not None
    for c in ALL:
        alone = u.probability_with[c] + u.penalty_probability[c]  # share done by that day without V
        assert alone >= int(c)
        assert u.probability_with[c] == pytest.approx(alone**2 / 100, abs=1.0)
    assert u.penalty_days is not None
    assert all(v is not None and v >= 0 for v in u.penalty_days.values())


def test_cannot_forecast_names_the_reason() -> None:
    items = [
        ForecastItem("ok", {"A": 1}),
        ForecastItem("no-history", {"A": 2, "N": 1}),
        ForecastItem("zero", {"Z": 1}),
        ForecastItem("no-team", {}),
        ForecastItem("waits-on-zero", {"A": 3}),
    ]
    fc = forecast_dependencies(
        {"A": [1, 2], "Z": [0, 0, 0]},
        items,
        START,
        [("waits-on-zero", "zero")],
        team_names={"N": "Team North", "Z": "Team Zulu"},
    )
    assert fc.items["ok"].days_without is not None
    assert fc.items["ok"].reason is None
    assert fc.items["no-history"].days_without is None
    assert fc.items["no-history"].reason == "Team North has no Throughput history yet"
    assert fc.items["zero"].reason == "Team Zulu has no Throughput yet (no PBI finished in its history)"
    assert fc.items["no-team"].reason == "no Scrum Team is forecast to work on it"
    waits = fc.items["waits-on-zero"]
    assert waits.days_without is not None  # its own teams can forecast it
    assert waits.days_with is None
    assert waits.penalty_days is None
    assert waits.reason is not None
    assert waits.reason.startswith("depends on 'zero', which cannot be forecast")
    assert set(fc.teams_without_throughput) == {"N", "Z"}
    assert fc.scope.days_without is None
    assert fc.scope.reason is not None
    assert fc.scope.reason.startswith("3 of 5 PBIs cannot be forecast")


def test_cycle_is_reported_not_raised() -> None:
    items = [ForecastItem("a", {"A": 1}), ForecastItem("b", {"A": 2}), ForecastItem("c", {"A": 3})]
    fc = forecast_dependencies({"A": [1]}, items, START, [("a", "b"), ("b", "a"), ("c", "a")])
    for k in "abc":
        assert fc.items[k].days_without is not None
        assert fc.items[k].days_with is None
        assert fc.items[k].reason == "on a dependency cycle, or depends on one"


def test_dependencies_outside_the_items_count_as_finished_and_closure_finds_them() -> None:
    deps = [("a", "b"), ("b", "c"), ("x", "y")]
    assert dependency_closure(["a"], deps) == {"a", "b", "c"}
    fc = forecast_dependencies({"A": [1]}, [ForecastItem("a", {"A": 1})], START, deps)
    assert fc.items["a"].days_with == _same(1)


def test_seeded_and_reproducible() -> None:
    history = {"A": [0, 1, 3], "B": [1, 0, 0, 2]}
    items = items_from_order([(1, ["A"]), (2, ["A", "B"]), (3, ["B"])])
    one = forecast_dependencies(history, items, START, [(3, 1)], seed=7)
    assert one == forecast_dependencies(history, items, START, [(3, 1)], seed=7)
    other = forecast_dependencies(history, items, START, [(3, 1)], seed=8)
    assert [o.probability_with for o in one.items.values()] != [
        o.probability_with for o in other.items.values()
    ]


def test_items_from_order_places_each_team_queue() -> None:
    items = items_from_order([(1, ["A"]), (2, ["A", "B"]), (3, ["B", "B"]), (4, [])])
    assert [(i.item, dict(i.queue)) for i in items] == [
        (1, {"A": 1}),
        (2, {"A": 2, "B": 1}),
        (3, {"B": 2}),
        (4, {}),
    ]
    kept = items_from_order([(1, ["A"]), (2, ["A", "B"]), (3, ["B"])], keep={3})
    assert [(i.item, dict(i.queue)) for i in kept] == [(3, {"B": 2})]  # the PBIs above still count


def test_per_sprint_throughput_finishes_on_the_last_day_of_a_period() -> None:
    fc = forecast_dependencies(
        {"A": [1]}, [ForecastItem("a", {"A": 1}), ForecastItem("b", {"A": 2})], START, period_days=14
    )
    assert fc.items["a"].days_without == _same(14)
    assert fc.items["b"].days_without == _same(28)


def test_beyond_max_days_is_none() -> None:
    fc = forecast_dependencies({"A": [1]}, [ForecastItem("far", {"A": 50})], START, max_days=30)
    assert fc.items["far"].days_without == _same(None)
    assert fc.items["far"].penalty_days == _same(None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"items": [ForecastItem("a", {"A": 1}), ForecastItem("a", {"A": 2})]}, "each PBI at most once"),
        ({"items": [ForecastItem("a", {"A": 0})]}, "places start at 1"),
        ({"dependencies": [("a", "a")]}, "depends on itself"),
        ({"targets": ["nope"]}, "not among the items"),
        ({"trials": 0}, "at least 1"),
        ({"confidences": [0]}, "confidence must be in"),
        ({"throughput": {"A": [1, -1]}}, "counts must be >= 0"),
    ],
)
def test_bad_input_raises_value_error(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "throughput": {"A": [1]},
        "items": [ForecastItem("a", {"A": 1})],
        "start": START,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        forecast_dependencies(**args)  # type: ignore[arg-type]


def test_one_team_one_place_is_flow_montecarlo_when() -> None:
    """The same draws as `flow.montecarlo.simulate_when` for one place (same blocks, same generator):
    the per-trial finishing days agree exactly, never-finishing trials included; later places of the
    queue never finish before earlier ones."""
    from flow.montecarlo import simulate_when

    history = [0, 1, 0, 3, 5, 0, 0, 2, 7, 1] * 9
    for place, max_days in ((60, 3_650), (400, 120)):
        mine = simulate_team_finishes(
            history, [place], trials=2_000, rng=np.random.default_rng(3), max_days=max_days
        )
        theirs = simulate_when(history, place, trials=2_000, seed=3, max_days=max_days)
        assert [None if d > max_days else int(d) for d in mine[place]] == theirs
    several = simulate_team_finishes(history, [1, 5, 30, 200], trials=1_000, rng=np.random.default_rng(4))
    for a, b in ((1, 5), (5, 30), (30, 200)):
        assert bool(np.all(several[a] <= several[b]))
