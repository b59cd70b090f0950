"""Shapes `FlowData` for the flow page: the JSON the charts draw (`static/js/flow.js`), the tables that
repeat the figures on the page, and the CSV downloads. No queries."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flow.report import CONFIDENCE_KEYS, PERCENTILE_KEYS, FlowData, WeekRow
from flow.selectors import SLE

#: Weeks of the series tables shown on the page; the CSV downloads hold them all.
TABLE_WEEKS = 26
CSV_TABLES = ("daily", "weekly", "cycle-times", "ages", "forecasts")


def chart_payload(data: FlowData, sle: SLE) -> dict[str, Any]:
    """What the charts need besides `data.detail` (the series, per-item points and histograms, embedded
    apart as stored): the columns, the first day, percentiles, the SLE and the forecast answers."""
    f = data.figures
    return {
        "columns": data.columns,
        "started": f["started_column"],
        "finished": f["finished_column"],
        "start": data.start.isoformat(),
        "as_of": data.as_of.isoformat(),
        "mean_weekly_throughput": f["mean_weekly_throughput"],
        "mean_daily_wip": f["mean_daily_wip"],
        "percentiles": f["cycle_time_percentiles"],
        "sle": {"percent": sle.percent, "days": sle.days},
        "mc_days": f["mc_days"],
        "mc_items": f["mc_items"],
        "mc_how_many": f["mc_how_many"],
        "mc_when": f["mc_when"],
        "confidences": list(CONFIDENCE_KEYS),
    }


@dataclass(frozen=True)
class AgingColumn:
    """Aging WIP per column: how many items, the median and the oldest Work Item Age."""

    name: str
    count: int
    median: int | None
    oldest: int | None


def page_tables(data: FlowData) -> dict[str, Any]:
    """The short tables shown beside the charts, from `figures` and the daily rows only (the per-item
    lists stay unparsed); the CSV downloads hold every row."""
    f = data.figures
    columns = data.columns
    return {
        "weeks": [
            WeekRow(date.fromisoformat(start), tp, complete, mean_wip, cfd)
            for start, tp, complete, mean_wip, cfd in reversed(f["weeks_tail"])
        ],
        "columns": columns,
        "oldest": [{"item": key, "column": columns[col], "age": age} for key, col, age in f["oldest"]],
        "aging": [AgingColumn(*row) for row in f["aging_columns"]],
        "recent": [(key, date.fromisoformat(day), ct) for key, day, ct in f["recent_finishes"]],
        "percentiles": [(k, f["cycle_time_percentiles"][k]) for k in PERCENTILE_KEYS],
        "mc_how_many": [(k, f["mc_how_many"][k]) for k in CONFIDENCE_KEYS],
        "mc_when": [(k, f["mc_when"][k]) for k in CONFIDENCE_KEYS],
    }


def csv_text(data: FlowData, table: str) -> str:
    """One of `CSV_TABLES` as CSV text (header row first). Raises KeyError for an unknown table."""
    out = io.StringIO()
    w = csv.writer(out)
    columns = data.columns
    f = data.figures
    if table == "daily":
        w.writerow(["date", "wip", "wip_eod", "throughput", *(f"cfd:{c}" for c in columns)])
        for d in data.days:
            w.writerow([d.date.isoformat(), d.wip, d.wip_eod, d.throughput, *d.cfd])
    elif table == "weekly":
        w.writerow(["week_start", "throughput", "complete_week", "mean_wip", *(f"cfd:{c}" for c in columns)])
        for wk in data.weeks():
            w.writerow([wk.start.isoformat(), wk.throughput, int(wk.complete), wk.mean_wip, *wk.cfd])
    elif table == "cycle-times":
        w.writerow(["item", "finished", "cycle_time_days"])
        for off, ct, key in data.detail["scatter"]:
            w.writerow([key, (data.start + timedelta(days=off)).isoformat(), ct])
    elif table == "ages":
        w.writerow(["item", "column", "work_item_age_days"])
        for key, col, age in data.detail["ages"]:
            w.writerow([key, columns[col], age])
    elif table == "forecasts":
        w.writerow(["forecast", "confidence_or_value", "answer_or_trials"])
        for k in CONFIDENCE_KEYS:
            w.writerow([f"how many in {f['mc_days']} days", f"{k}%", f["mc_how_many"][k]])
        for k in CONFIDENCE_KEYS:
            w.writerow(
                [f"when {f['mc_items']} items done", f"{k}%", f["mc_when"][k] or "not within 10 years"]
            )
        for value, n in data.detail["mc_how_many_histogram"]:
            w.writerow(["how-many histogram", value, n])
        for day, n in data.detail["mc_when_histogram"]:
            w.writerow(["when histogram", day, n])
    else:
        raise KeyError(table)
    return out.getvalue()
