"""Hand-worked examples and properties for flow.metrics (Kanban Guide for Scrum Teams + the flow issue)."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flow.metrics import (
    AgeRow,
    ItemEvent,
    Workflow,
    compute_flow,
    item_milestones,
    percentile,
)

# Backlog(0) -> To Do(1, started) -> Doing(2) -> Done(3, finished) -> Closed(4)
WF = Workflow(("Backlog", "To Do", "Doing", "Done", "Closed"), started=1, finished=3)
D0 = date(2024, 1, 1)  # a Monday


def d(n: int) -> date:
    """Day n of the examples: d(1) = 2024-01-01."""
    return D0 + timedelta(days=n - 1)


def ev(item: str, day: int, column: int | None, seq: int = 0) -> ItemEvent:
    return ItemEvent(item, d(day), column, seq)


# --- milestones ---------------------------------------------------------------------------------------


def test_forward_path_keeps_first_entry() -> None:
    evs = [ev("A", 1, 0), ev("A", 2, 1), ev("A", 4, 2), ev("A", 6, 3), ev("A", 8, 4)]
    assert item_milestones(evs, WF) == [d(1), d(2), d(4), d(6), d(8)]


def test_backward_move_erases_later_milestones() -> None:
    # Done on day 4, reopened to Doing on day 6: Done and Closed erased, Doing kept (first entry, day 2).
    evs = [ev("A", 1, 1), ev("A", 2, 2), ev("A", 4, 3), ev("A", 5, 4), ev("A", 6, 2)]
    assert item_milestones(evs, WF) == [d(1), d(1), d(2), None, None]
    # ... and finished again on day 9: its finish date is its last finish.
    evs.append(ev("A", 9, 3))
    assert item_milestones(evs, WF) == [d(1), d(1), d(2), d(9), None]
    res = compute_flow(evs, WF, as_of=d(10))
    assert res.items[0].cycle_time == 9  # day 9 - day 1 + 1


def test_skipped_columns_back_filled() -> None:
    # To Do on day 1 straight to Closed on day 5: Doing and Done take day 5; Backlog takes day 1.
    assert item_milestones([ev("A", 1, 1), ev("A", 5, 4)], WF) == [d(1), d(1), d(5), d(5), d(5)]
    # Created directly in Done: started = finished = that day, Cycle Time 1.
    assert item_milestones([ev("B", 3, 3)], WF) == [d(3)] * 4 + [None]


def test_column_jumped_over_then_entered_takes_the_later_date() -> None:
    # To Do d1 -> Closed d3 -> back to Done d20: the item entered Done itself only on day 20.
    evs = [ev("A", 1, 1), ev("A", 3, 4), ev("A", 20, 3)]
    assert item_milestones(evs, WF) == [d(1), d(1), d(20), d(20), None]
    # A column entered in person keeps its date when the item comes back to it from a later one.
    evs = [ev("A", 1, 1), ev("A", 3, 3), ev("A", 5, 4), ev("A", 20, 3)]
    assert item_milestones(evs, WF) == [d(1), d(1), d(3), d(3), None]


def test_unmapped_states_ignored() -> None:
    evs = [ev("A", 1, 1), ev("A", 2, None), ev("A", 3, 3), ev("A", 4, None)]
    assert item_milestones(evs, WF) == item_milestones([evs[0], evs[2]], WF)
    res = compute_flow([*evs, ev("ghost", 1, None)], WF, as_of=d(5))
    assert [it.key for it in res.items] == ["A"]  # an item with only unmapped states is not on the board


def test_same_day_events_ordered_by_seq() -> None:
    # Same day: Done (seq 2) then back to To Do (seq 1) given in the wrong order -> still in progress? No:
    # seq says To Do came first, then Done, so the item is finished.
    evs = [ev("A", 1, 3, seq=2), ev("A", 1, 1, seq=1)]
    assert item_milestones(evs, WF) == [d(1)] * 4 + [None]
    evs = [ev("A", 1, 3, seq=1), ev("A", 1, 1, seq=2)]
    assert item_milestones(evs, WF) == [d(1), d(1), None, None, None]


def test_invalid_column_and_workflow() -> None:
    with pytest.raises(ValueError, match="column index"):
        item_milestones([ev("A", 1, 5)], WF)
    with pytest.raises(ValueError, match="column index"):
        compute_flow([ev("A", 1, -1)], WF, as_of=d(1))
    with pytest.raises(ValueError, match="started"):
        Workflow(("a", "b"), started=1, finished=0)
    with pytest.raises(ValueError, match="at least one column"):
        Workflow((), started=0, finished=0)


# --- Cycle Time and percentiles -------------------------------------------------------------------------


def test_same_day_finish_is_cycle_time_one() -> None:
    res = compute_flow([ev("A", 3, 1), ev("A", 3, 3, seq=1)], WF, as_of=d(3))
    assert res.items[0].cycle_time == 1
    assert res.cycle_time_percentiles == {"50": 1, "70": 1, "85": 1, "95": 1}


def test_nearest_rank_percentile() -> None:
    values = [10, 1, 9, 2, 8, 3, 7, 4, 6, 5]  # n = 10
    assert percentile(values, 0.85) == 9  # rank ceil(8.5) = 9
    assert percentile(values, 0.7) == 7  # rank 7 exactly, not ceil(7.000000000000001) = 8
    assert percentile(values, 0.5) == 5
    assert percentile(values, 0.95) == 10
    assert percentile(values, 1) == 10
    assert percentile(values, Fraction(1, 10)) == 1
    assert percentile([4], 0.5) == 4
    assert percentile([d(3), d(1), d(2)], 0.5) == d(2)
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)
    with pytest.raises(ValueError, match="must be in"):
        percentile(values, 0)
    with pytest.raises(ValueError, match="must be in"):
        percentile(values, 1.5)


def test_cycle_time_percentiles_and_none_when_nothing_finished() -> None:
    evs = [e for i in range(1, 11) for e in (ev(f"I{i}", 1, 1), ev(f"I{i}", i, 3))]  # CT 1..10
    res = compute_flow(evs, WF, as_of=d(12))
    assert res.cycle_time_percentiles == {"50": 5, "70": 7, "85": 9, "95": 10}
    assert res.finished_items == 10
    assert compute_flow([ev("A", 1, 1)], WF, as_of=d(3)).cycle_time_percentiles is None


# --- WIP, Throughput, CFD, Age --------------------------------------------------------------------------


def test_wip_counts_start_and_finish_days_and_end_of_day() -> None:
    evs = [ev("A", 2, 1), ev("A", 4, 3), ev("B", 3, 1), ev("B", 3, 3, seq=1), ev("C", 3, 0)]
    res = compute_flow(evs, WF, as_of=d(5), start=d(1))
    assert [r.wip for r in res.daily] == [0, 1, 2, 1, 0]
    assert [r.wip_eod for r in res.daily] == [0, 1, 1, 0, 0]
    assert [r.throughput for r in res.daily] == [0, 0, 1, 1, 0]
    assert res.mean_daily_wip == pytest.approx(4 / 5)
    assert res.day(d(3)).cfd == {"Backlog": 3, "To Do": 2, "Doing": 1, "Done": 1, "Closed": 0}
    assert res.day(d(4)).cfd == {"Backlog": 3, "To Do": 2, "Doing": 2, "Done": 2, "Closed": 0}
    assert res.wip_as_of == 0
    with pytest.raises(KeyError):
        res.day(d(6))


def test_wip_as_of_counts_items_finished_that_day() -> None:
    evs = [ev("A", 1, 1), ev("A", 3, 3), ev("B", 2, 2)]
    res = compute_flow(evs, WF, as_of=d(3))
    assert res.wip_as_of == 2
    assert res.daily[-1].wip == 2
    assert res.daily[-1].wip_eod == 1
    assert res.ages == [AgeRow("B", "Doing", 2)]


def test_ages_oldest_first_with_current_column() -> None:
    evs = [ev("Y", 5, 1), ev("X", 2, 1), ev("X", 4, 2), ev("Z", 2, 2), ev("W", 1, 0), ev("F", 1, 3)]
    res = compute_flow(evs, WF, as_of=d(10))
    assert res.ages == [AgeRow("X", "Doing", 9), AgeRow("Z", "Doing", 9), AgeRow("Y", "To Do", 6)]
    assert res.in_progress == 3
    assert res.items_total == 5


def test_complete_weeks_only_in_weekly_mean() -> None:
    # Range Wednesday 2024-01-03 .. Tuesday 2024-01-23: complete weeks Jan 8-14 and Jan 15-21.
    finishes = {"a": 3, "b": 8, "c": 14, "d": 16, "e": 16, "f": 22}
    evs = [e for k, n in finishes.items() for e in (ev(k, 3, 1), ev(k, n, 3, seq=1))]
    res = compute_flow(evs, WF, as_of=d(23), start=d(3), end=d(23))
    assert res.complete_weeks == 2
    assert res.mean_weekly_throughput == 2.0  # (2 + 2) / 2; the partial weeks' 1 + 1 are left out
    assert [(w.week_start, w.throughput, w.complete) for w in res.weekly] == [
        (d(1), 1, False),
        (d(8), 2, True),
        (d(15), 2, True),
        (d(22), 1, False),
    ]
    assert compute_flow(evs, WF, as_of=d(5)).complete_weeks == 0
    assert compute_flow(evs, WF, as_of=d(5)).mean_weekly_throughput == 0.0


def test_as_of_replay_counts_finished_then_reopened_as_finished() -> None:
    evs = [ev("A", 1, 1), ev("A", 5, 3), ev("A", 10, 1), ev("A", 15, 3), ev("B", 8, 1)]
    replay = compute_flow(evs, WF, as_of=d(7))
    assert replay.items[0].finished == d(5)
    assert replay.items[0].cycle_time == 5
    assert replay.finished_items == 1
    assert replay.ages == []  # B does not exist yet
    assert [r.wip for r in replay.daily] == [1, 1, 1, 1, 1, 0, 0]
    full = compute_flow(evs, WF, as_of=d(20))
    assert full.items[0].finished == d(15)
    assert full.day(d(7)).wip == 1  # A reopened later: in progress through day 15 in the full series
    assert replay.day(d(7)).wip == 0
    assert full.ages == [AgeRow("B", "To Do", 13)]


def test_series_range_defaults_and_errors() -> None:
    evs = [ev("A", 3, 1), ev("A", 9, 3)]
    res = compute_flow(evs, WF, as_of=d(12))
    assert (res.start, res.end, len(res.daily)) == (d(3), d(12), 10)
    res = compute_flow(evs, WF, as_of=d(12), start=d(5), end=d(20))
    assert (res.start, res.end, len(res.daily)) == (d(5), d(20), 16)
    assert res.daily[0].wip == 1
    assert res.daily[0].cfd["To Do"] == 1  # started before the range: counted from the first day
    assert res.day(d(20)).cfd["Done"] == 1
    empty = compute_flow([], WF, as_of=d(4))
    assert (empty.start, empty.end, empty.items_total, empty.mean_daily_wip) == (d(4), d(4), 0, 0.0)
    with pytest.raises(ValueError, match="before start"):
        compute_flow(evs, WF, as_of=d(12), start=d(8), end=d(7))
    with pytest.raises(ValueError, match="history_days"):
        compute_flow(evs, WF, as_of=d(12), history_days=0)


def test_daily_throughput_history_window() -> None:
    evs = [ev("a", 1, 1), ev("a", 2, 3), ev("b", 1, 1), ev("b", 9, 3), ev("c", 1, 1), ev("c", 10, 3)]
    res = compute_flow(evs, WF, as_of=d(10), history_days=5)
    assert res.history_start == d(6)
    assert res.daily_throughput == [0, 0, 0, 1, 1]
    assert len(compute_flow(evs, WF, as_of=d(10)).daily_throughput) == 90


# --- properties -------------------------------------------------------------------------------------------


@st.composite
def event_logs(draw: st.DrawFn) -> list[ItemEvent]:
    n_items = draw(st.integers(1, 8))
    out: list[ItemEvent] = []
    seq = 0
    for i in range(n_items):
        days = sorted(draw(st.lists(st.integers(0, 40), min_size=1, max_size=7)))
        for day in days:
            column = draw(st.one_of(st.none(), st.integers(0, len(WF.columns) - 1)))
            out.append(ItemEvent(f"item{i}", D0 + timedelta(days=day), column, seq))
            seq += 1
    return out


def _range(evs: list[ItemEvent]) -> tuple[date, date]:
    days = [e.day for e in evs]
    return min(days), max(days) + timedelta(days=3)


@settings(max_examples=300, deadline=None)
@given(event_logs())
def test_cfd_lines_never_decrease(evs: list[ItemEvent]) -> None:
    lo, hi = _range(evs)
    res = compute_flow(evs, WF, as_of=hi, start=lo)
    for name in WF.columns:
        line = [r.cfd[name] for r in res.daily]
        assert line == sorted(line)
    for r in res.daily:  # a later column never exceeds an earlier one
        counts = [r.cfd[name] for name in WF.columns]
        assert counts == sorted(counts, reverse=True)
    for it in res.items:  # milestones: a non-decreasing prefix ending at the current column
        set_ms = [m for m in it.milestones if m is not None]
        assert set_ms == sorted(set_ms)
        assert len(set_ms) == it.column + 1


@settings(max_examples=300, deadline=None)
@given(event_logs())
def test_wip_item_days_equal_cycle_times_plus_open_days(evs: list[ItemEvent]) -> None:
    lo, hi = _range(evs)
    res = compute_flow(evs, WF, as_of=hi, start=lo)
    finished = sum(it.cycle_time for it in res.items if it.cycle_time is not None)
    open_days = sum((hi - it.started).days + 1 for it in res.items if it.started and it.finished is None)
    assert sum(r.wip for r in res.daily) == finished + open_days
    assert sum(r.throughput for r in res.daily) == res.finished_items
    assert res.wip_as_of == res.daily[-1].wip


@settings(max_examples=300, deadline=None)
@given(event_logs())
def test_end_of_day_wip_is_cfd_started_minus_cfd_finished(evs: list[ItemEvent]) -> None:
    lo, hi = _range(evs)
    res = compute_flow(evs, WF, as_of=hi, start=lo)
    s, f = WF.columns[WF.started], WF.columns[WF.finished]
    for r in res.daily:
        assert r.wip_eod == r.cfd[s] - r.cfd[f]
        assert r.wip == r.wip_eod + r.throughput


@settings(max_examples=200, deadline=None)
@given(event_logs(), st.integers(0, 40))
def test_replay_equals_truncated_log(evs: list[ItemEvent], cut: int) -> None:
    as_of = D0 + timedelta(days=cut)
    lo, _ = _range(evs)
    hi = max(lo, as_of)
    kept = [e for e in evs if e.day <= as_of]
    a = compute_flow(evs, WF, as_of=as_of, start=lo, end=hi)
    b = compute_flow(kept, WF, as_of=as_of, start=lo, end=hi)
    assert a.daily == b.daily
    assert a.items == b.items
    assert a.ages == b.ages


@settings(max_examples=200, deadline=None)
@given(event_logs(), st.integers(0, 40), st.integers(0, 45))
def test_series_match_a_naive_day_by_item_count(evs: list[ItemEvent], cut: int, first: int) -> None:
    as_of = D0 + timedelta(days=cut)
    start = D0 + timedelta(days=first)
    end = max(start, as_of) + timedelta(days=2)
    res = compute_flow(evs, WF, as_of=as_of, start=start, end=end)
    for row in res.daily:
        day = row.date
        started = [it for it in res.items if it.started is not None and it.started <= day]
        assert row.wip == sum(1 for it in started if it.finished is None or it.finished >= day)
        assert row.wip_eod == sum(1 for it in started if it.finished is None or it.finished > day)
        assert row.throughput == sum(1 for it in res.items if it.finished == day)
        for k, name in enumerate(WF.columns):
            reached = [it for it in res.items if any(m is not None and m <= day for m in it.milestones[k:])]
            assert row.cfd[name] == len(reached)
    assert res.mean_daily_wip == pytest.approx(sum(r.wip for r in res.daily) / len(res.daily))
