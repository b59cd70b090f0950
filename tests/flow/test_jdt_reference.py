"""The Eclipse JDT reference figures of backlog/data/eclipse-jdt/README.md, reproduced exactly.

Data: Lamkanfi, Pérez, Demeyer, "The Eclipse and Mozilla Defect Tracking Dataset: a Genuine Dataset for
Mining Bug Information", MSR 2013. Timestamps are reduced to UTC dates; raw states are mapped through
``bugzilla_confirmed.json`` (work starts in To Do, finishes in Resolved).
"""

from __future__ import annotations

import csv
import gzip
import json
import time
from datetime import date
from pathlib import Path

import pytest

from flow.metrics import AgeRow, FlowResult, ItemEvent, Workflow, compute_flow

DATA = Path(__file__).resolve().parents[2] / "backlog/data/eclipse-jdt"


def load() -> tuple[list[ItemEvent], Workflow]:
    spec = json.loads((DATA / "bugzilla_confirmed.json").read_text(encoding="utf-8"))
    columns = tuple(spec["columns"])
    workflow = Workflow(columns, columns.index(spec["started"]), columns.index(spec["done"]))
    index = {state: columns.index(col) for state, col in spec["mapping"].items()}
    with gzip.open(DATA / "transitions.csv.gz", "rt", encoding="utf-8", newline="") as fh:
        events = [
            ItemEvent(
                row["item_id"], date.fromisoformat(row["timestamp"][:10]), index.get(row["to_state"]), seq
            )
            for seq, row in enumerate(csv.DictReader(fh))
        ]
    return events, workflow


@pytest.fixture(scope="module")
def jdt() -> tuple[list[ItemEvent], Workflow]:
    return load()


@pytest.fixture(scope="module")
def full(jdt: tuple[list[ItemEvent], Workflow]) -> FlowResult:
    events, workflow = jdt
    return compute_flow(events, workflow, as_of=date(2011, 5, 6), start=date(2006, 1, 1))


@pytest.fixture(scope="module")
def replay(jdt: tuple[list[ItemEvent], Workflow]) -> FlowResult:
    events, workflow = jdt
    return compute_flow(events, workflow, as_of=date(2008, 6, 30))


def test_data_shape(jdt: tuple[list[ItemEvent], Workflow]) -> None:
    events, workflow = jdt
    assert len(events) == 32_099
    assert len({e.item for e in events}) == 10_814
    assert workflow.columns[workflow.started] == "To Do"
    assert workflow.columns[workflow.finished] == "Resolved"


def test_full_history(full: FlowResult) -> None:
    assert (full.start, full.end) == (date(2006, 1, 1), date(2011, 5, 6))
    assert full.items_total == 10_814
    assert full.finished_items == 10_814
    assert full.cycle_time_percentiles == {"50": 5, "70": 21, "85": 99, "95": 401}
    assert full.complete_weeks == 278
    assert round(full.mean_weekly_throughput, 2) == 38.85
    assert round(full.mean_daily_wip, 2) == 387.79
    day = full.day(date(2008, 6, 30))
    assert (day.wip, day.wip_eod, day.throughput) == (552, 542, 10)
    assert full.ages == []


def test_replay_as_of_2008_06_30(replay: FlowResult) -> None:
    assert (replay.start, replay.end) == (date(2006, 1, 1), date(2008, 6, 30))
    assert replay.items_total == 7_394
    assert replay.finished_items == 6_878
    assert replay.in_progress == 516
    assert replay.ages[0] == AgeRow("eclipse-122668", "To Do", 909)
    oldest = next(it for it in replay.items if it.key == "eclipse-122668")
    assert oldest.started == date(2006, 1, 4)
    assert replay.cycle_time_percentiles == {"50": 4, "70": 15, "85": 66, "95": 271}
    assert replay.complete_weeks == 130
    assert round(replay.mean_weekly_throughput, 2) == 52.82
    assert round(replay.mean_daily_wip, 2) == 485.13
    assert replay.daily[-1].wip_eod == 516
    assert replay.wip_as_of == 516 + replay.daily[-1].throughput


def test_whole_file_computes_in_about_a_second(jdt: tuple[list[ItemEvent], Workflow]) -> None:
    events, workflow = jdt
    t0 = time.perf_counter()
    compute_flow(events, workflow, as_of=date(2011, 5, 6), start=date(2006, 1, 1))
    assert time.perf_counter() - t0 < 2.0
