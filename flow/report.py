"""The flow figures of a Nexus, one of its Scrum Teams, or items picked by label or class of service:
what `flow_report` prints, the API serves and the flow page draws.

Definitions: the Kanban Guide for Scrum Teams (WIP, Cycle Time, Work Item Age, Throughput, Service Level
Expectation) with this tool's exact conventions, which are choices of this project and are documented in
`flow.metrics` (calendar days in the Nexus's time zone, milestones, inclusive counting, nearest-rank
percentiles) and `flow.montecarlo` (resampled daily Throughput, 10,000 seeded trials). Choices made here:

* filters pick items by what they are now (the Scrum Teams forecast to work on them, their labels, their
  class of service); the events of the picked items are replayed as of the as-of date;
* the Service Level Expectation defaults to "85% of items finish within D days", D being the 85th
  percentile (nearest rank) of the Cycle Times of the items finished in the 90 days up to the as-of
  date; when the percent is set and the days are not, D is that percentile of the same Cycle Times;
* Monte Carlo answers count from the as-of date: "how many in the next `mc_days` days" (default: the
  Nexus's Sprint length) and "when will `mc_items` items be done" (default 50), resampling the daily
  Throughput of the `mc_history_days` days up to the as-of date (default 90).

`FlowData` is the one in-memory shape for a stored snapshot and for figures computed on request.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple, TypedDict

import numpy as np
import orjson

from backlog.errors import DomainError
from backlog.models import Nexus, ProductBacklogItem, ScrumTeam
from backlog.selectors import workflow_columns
from flow import metrics, montecarlo
from flow.history import load_events, nexus_today, workflow_of

HISTORY_DAYS = 90
"""Default Monte Carlo history window, in calendar days up to the as-of date."""
SLE_WINDOW_DAYS = 90
"""The Service Level Expectation's default is taken from the items finished in these last days."""
SLE_DEFAULT_PERCENT = 85
DEFAULT_MC_ITEMS = 50
TABLE_ITEMS = 25
"""Rows of the short item tables of the flow page (oldest items, last finishes); CSV holds them all."""
TABLE_WEEKS = 26
"""Weeks of the short weekly table of the flow page."""
SNAPSHOT_FORMAT = 1
"""Shape of `figures`/`detail`; a stored snapshot of another shape is not served (computed instead)
until the next recompute replaces it."""
MAX_MC_DAYS = 3650
MAX_MC_ITEMS = 100_000
PERCENTILE_KEYS: tuple[str, ...] = tuple(str(p) for p in metrics.PERCENTILES)
CONFIDENCE_KEYS: tuple[str, ...] = tuple(str(c) for c in montecarlo.CONFIDENCES)

#: The keys `flow_report` prints, in order (the flow issue).
REPORT_KEYS = (
    "finished_items",
    "cycle_time_percentiles",
    "mean_weekly_throughput",
    "complete_weeks",
    "mean_daily_wip",
    "wip_as_of",
    "daily",
    "ages",
    "mc_how_many",
    "mc_when",
)


@dataclass(frozen=True)
class FlowQuery:
    """What to compute. None means the default: the whole Nexus, all items, as of today in the Nexus's
    time zone, days from the first event to the as-of date, Monte Carlo over the next Sprint length and
    for `DEFAULT_MC_ITEMS` items with `HISTORY_DAYS` days of history."""

    team: ScrumTeam | None = None
    #: a Scrum Team's basis asked for: "team" (its own flow) or "nexus" (the Nexus columns of its
    #: items); None = its own flow when it has team-level history (`flow.team_level`)
    level: str | None = None
    label: str | None = None
    class_of_service: str | None = None
    as_of: date | None = None
    start: date | None = None
    end: date | None = None
    mc_days: int | None = None
    mc_items: int | None = None
    mc_history_days: int | None = None

    @property
    def picks_items(self) -> bool:
        """Filtered by label or class of service: such views are never stored, always computed."""
        return bool(self.label or self.class_of_service)


class DayRow(NamedTuple):
    """One day of the daily series; `cfd` has one count per column, left to right."""

    date: date
    wip: int
    wip_eod: int
    throughput: int
    cfd: list[int]


class WeekRow(NamedTuple):
    """A Monday-Sunday week of the series: Throughput sum, mean WIP, CFD at the week's last day."""

    start: date
    throughput: int
    complete: bool
    mean_wip: float
    cfd: list[int]


#: Characters escaped in stored chart JSON so that it can go into a <script> element as it is (the
#: escapes of Django's `json_script`); the text stays valid JSON.
_SCRIPT_ESCAPES = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}


def detail_dumps(detail: dict[str, Any]) -> str:
    """`detail` as compact JSON text (UTF-8, keys that are not text written as text), safe to embed in
    a <script type="application/json"> element. Made by orjson: the JDT Nexus's seven scopes, hundreds
    of KB each, took 60 ms with `json.dumps`, a tenth of a full recompute over stored figures."""
    return orjson.dumps(detail, option=orjson.OPT_NON_STR_KEYS).decode().translate(_SCRIPT_ESCAPES)


class FlowData:
    """Flow figures of one scope, from a stored snapshot (`stored`) or computed on request.

    `figures` holds headline numbers and the short tables of the page (JSON-able; see
    `flow_data_build`), `days` the daily series (`DayRow`, loaded lazily from storage), `detail` what
    the charts draw: the series as arrays, the per-item lists (Cycle Time scatterplot points, Work Item
    Ages) and the Monte Carlo histograms. `detail` is kept as JSON text (`detail_json`, embedded in the
    flow page as it is) and parsed only when read, so the stored page reads one row. `computed_at` is
    when the figures were computed (now for figures computed on request).
    """

    def __init__(
        self,
        *,
        nexus: Nexus,
        team: ScrumTeam | None,
        as_of: date,
        start: date,
        end: date,
        figures: dict[str, Any],
        days: list[DayRow] | Callable[[], list[DayRow]],
        computed_at: datetime,
        stored: bool,
        detail: dict[str, Any] | None = None,
        detail_json: str | None = None,
    ) -> None:
        if detail is None and detail_json is None:
            raise ValueError("FlowData needs detail or detail_json")
        self.nexus, self.team = nexus, team
        self.as_of, self.start, self.end = as_of, start, end
        self.figures = figures
        self._days = days
        self.computed_at, self.stored = computed_at, stored
        self._detail, self._detail_json = detail, detail_json
        self._weeks: list[WeekRow] | None = None

    @property
    def days(self) -> list[DayRow]:
        """The daily series (read from storage on first use when `days` was given as a loader)."""
        if callable(self._days):
            self._days = self._days()
        return self._days

    @property
    def detail(self) -> dict[str, Any]:
        if self._detail is None:
            assert self._detail_json is not None
            self._detail = json.loads(self._detail_json)
        return self._detail

    @property
    def detail_json(self) -> str:
        if self._detail_json is None:
            self._detail_json = detail_dumps(self.detail)
        return self._detail_json

    def detail_update(self, **values: Any) -> None:
        self.detail.update(values)
        self._detail_json = None

    @property
    def columns(self) -> list[str]:
        return list(self.figures["columns"])

    @property
    def basis(self) -> str:
        """What a Scrum Team's figures come from: "team" (its own team-level transitions; the columns
        are the four square states) or "nexus" (the Nexus columns of its items; always for the Nexus
        itself). See `flow.team_level`."""
        return str(self.figures.get("basis", "nexus"))

    @property
    def team_history(self) -> bool:
        """Whether the Scrum Team has team-level history (square changes or moves on its board); False
        for the Nexus."""
        return bool(self.figures.get("team_history", self.basis == "team"))

    def weeks(self) -> list[WeekRow]:
        """The daily series summed per Monday-Sunday week (complete = all seven days in the series).
        Computed once per `FlowData` (the days are contiguous calendar days)."""
        if self._weeks is None:
            days = self.days
            out: list[WeekRow] = []
            i = 0
            while i < len(days):
                first = days[i].date
                j = min(len(days), i + 7 - first.weekday())
                week = days[i:j]
                out.append(
                    WeekRow(
                        start=first - timedelta(days=first.weekday()),
                        throughput=sum(d.throughput for d in week),
                        complete=j - i == 7,
                        mean_wip=round(sum(d.wip for d in week) / (j - i), 2),
                        cfd=week[-1].cfd,
                    )
                )
                i = j
            self._weeks = out
        return self._weeks


def percentile_of_histogram(hist: list[list[int]], percent: int) -> int | None:
    """Nearest-rank percentile (rank ceil(p·n)) of values given as sorted [value, count] pairs."""
    n = sum(c for _, c in hist)
    if n == 0:
        return None
    rank = math.ceil(percent * n / 100)
    seen = 0
    for value, count in hist:
        seen += count
        if seen >= rank:
            return value
    return hist[-1][0]


def item_keys(nexus: Nexus) -> dict[str, str]:
    """Item id (as the engine's key) -> how people know it: the external id, or `#<id>`. One query."""
    rows = ProductBacklogItem.objects.filter(backlog__nexus=nexus).values_list("id", "external_id")
    return {str(pk): ext or f"#{pk}" for pk, ext in rows}


#: The keys of a snapshot's figures that say which Definition of Workflow they were computed with.
WORKFLOW_KEYS = ("columns", "started_column", "finished_column")


def workflow_key(workflow: metrics.Workflow) -> tuple[list[str], int, int]:
    """The values `flow_data_build` stores under `WORKFLOW_KEYS` for `workflow`: its column names, left
    to right, and the indexes of its started and finished columns. Stored figures whose values
    differ were computed with another Definition of Workflow (only the full recompute redoes them)."""
    return (list(workflow.columns), workflow.started, workflow.finished)


class ForecastSettings(TypedDict):
    """What a scope's Monte Carlo forecasts are made with (`flow_data_build`'s keywords): how many days
    ahead (the Nexus's Sprint length), how many items, and over how many days of Throughput history."""

    mc_days: int
    mc_items: int
    history_days: int


def forecast_settings(nexus: Nexus) -> ForecastSettings:
    """The Nexus's `ForecastSettings`: its Sprint length, `DEFAULT_MC_ITEMS`, `HISTORY_DAYS`."""
    return ForecastSettings(
        mc_days=nexus.sprint_length_days, mc_items=DEFAULT_MC_ITEMS, history_days=HISTORY_DAYS
    )


def flow_data_build(
    *,
    nexus: Nexus,
    team: ScrumTeam | None,
    result: metrics.FlowResult,
    keys: dict[str, str],
    mc_days: int,
    mc_items: int,
    history_days: int,
    computed_at: datetime,
    stored: bool = False,
    labels: Sequence[str] | None = None,
) -> FlowData:
    """Shape an engine result (and the Monte Carlo forecasts from its as-of date) into `FlowData`.
    `keys` maps an item's key to how people know it (`item_keys`); `labels`, when given, already holds
    that of each of `result.items`, in their order (the refresh makes them once for every scope)."""
    wf = result.workflow
    window_start = result.as_of - timedelta(days=SLE_WINDOW_DAYS - 1)
    # The finished items' days and Cycle Times, from the milestones' array (numpy, no per-item loop).
    ms = result.milestone_ordinals
    started_on, finished_on = ms[:, wf.started], ms[:, wf.finished]
    done = (started_on > 0) & (finished_on > 0)
    cycle = finished_on - started_on + 1
    in_window = done & (finished_on >= window_start.toordinal()) & (finished_on <= result.as_of.toordinal())
    values, counts = np.unique(cycle[in_window], return_counts=True)
    recent_hist = [[v, c] for v, c in zip(values.tolist(), counts.tolist(), strict=True)]
    how = montecarlo.forecast_how_many(result.daily_throughput, mc_days)
    when = montecarlo.forecast_when(result.daily_throughput, mc_items, result.as_of)
    pct = result.cycle_time_percentiles
    figures: dict[str, Any] = {
        "format": SNAPSHOT_FORMAT,
        "finished_items": result.finished_items,
        "cycle_time_percentiles": {k: (pct[k] if pct else None) for k in PERCENTILE_KEYS},
        "mean_weekly_throughput": round(result.mean_weekly_throughput, 2),
        "complete_weeks": result.complete_weeks,
        "mean_daily_wip": round(result.mean_daily_wip, 2),
        "wip_as_of": result.wip_as_of,
        "mc_how_many": how.at_confidence,
        "mc_when": {k: (v.isoformat() if v else None) for k, v in when.at_confidence.items()},
        "items_total": result.items_total,
        "in_progress": result.in_progress,
        "columns": list(wf.columns),
        "started_column": wf.started,
        "finished_column": wf.finished,
        "mc_days": mc_days,
        "mc_items": mc_items,
        "mc_history_days": history_days,
        "mc_trials": how.trials,
        "mc_seed": how.seed,
        "history_start": result.history_start.isoformat(),
        "recent_finished": int(in_window.sum()),
        "recent_cycle_times": recent_hist,
        "recent_percentiles": {k: percentile_of_histogram(recent_hist, int(k)) for k in PERCENTILE_KEYS},
        "sle_default_days": percentile_of_histogram(recent_hist, SLE_DEFAULT_PERCENT),
    }
    start_ord = result.start.toordinal()
    shown = np.flatnonzero(done & (finished_on >= start_ord) & (finished_on <= result.end.toordinal()))
    offsets, cts = finished_on[shown] - start_ord, cycle[shown]
    order = shown[np.lexsort((cts, offsets))]  # by day, then Cycle Time; ties in the items' order
    items = result.items
    points = order.tolist()
    if labels is None:
        named = [keys.get(items[i].key, items[i].key) for i in points]
    else:
        named = [labels[i] for i in points]
    scatter: list[list[Any]] = [
        [off, ct, label]
        for off, ct, label in zip(
            (finished_on[order] - start_ord).tolist(), cycle[order].tolist(), named, strict=True
        )
    ]
    col_index = {name: i for i, name in enumerate(wf.columns)}
    ages = [[keys.get(a.item, a.item), col_index[a.column], a.age] for a in result.ages]
    figures["oldest"] = ages[:TABLE_ITEMS]
    figures["recent_finishes"] = [
        [key, (result.start + timedelta(days=int(off))).isoformat(), ct]
        for off, ct, key in reversed(scatter[-TABLE_ITEMS:])
    ]
    figures["aging_columns"] = _aging_columns(ages, wf)
    detail: dict[str, Any] = {
        "ages": ages,
        "scatter": scatter,
        "throughput_history": list(result.daily_throughput),
        **_mc_detail(how, when),
    }
    series = result.series
    detail.update(
        {
            "wip": series.wip.tolist(),
            "wip_eod": series.wip_eod.tolist(),
            "throughput": series.throughput.tolist(),
            "cfd": series.cfd.tolist(),
        }
    )
    data = FlowData(
        nexus=nexus,
        team=team,
        as_of=result.as_of,
        start=result.start,
        end=result.end,
        figures=figures,
        days=lambda: _days_of(result),  # made when read (a page of computed figures, CSV)
        detail=detail,
        computed_at=computed_at,
        stored=stored,
    )
    weeks = _weeks_of(result)  # what `data.weeks()` gives, made from the arrays
    figures["weeks_tail"] = [
        [w.start.isoformat(), w.throughput, w.complete, w.mean_wip, w.cfd] for w in weeks.rows(-TABLE_WEEKS)
    ]
    detail["weeks"] = [
        [start, total, complete]
        for start, total, complete in zip(weeks.starts, weeks.throughput, weeks.complete, strict=True)
    ]
    return data


def _days_of(result: metrics.FlowResult) -> list[DayRow]:
    """The engine's daily series as `DayRow`s (from its arrays)."""
    sr, base = result.series, result.start.toordinal()
    return [
        DayRow(date.fromordinal(base + i), w, e, t, list(cfd))
        for i, (w, e, t, cfd) in enumerate(
            zip(
                sr.wip.tolist(),
                sr.wip_eod.tolist(),
                sr.throughput.tolist(),
                zip(*sr.cfd.tolist(), strict=True),
                strict=True,
            )
        )
    ]


class _Weeks:
    """`FlowData.weeks` of an engine result as columns made by numpy (week starts as ISO text, Throughput,
    completeness), with `WeekRow`s made only for the weeks asked for (`rows`)."""

    def __init__(self, result: metrics.FlowResult) -> None:
        sr, n = result.series, len(result.series)
        lead = result.start.weekday()
        first_monday = result.start.toordinal() - lead
        epoch = date(1970, 1, 1).toordinal()
        self.series = sr
        self.los = [max(w0, 0) for w0 in range(-lead, n, 7)]
        self.his = [*self.los[1:], n]
        mondays = np.arange(len(self.los), dtype=np.int64) * 7 + (first_monday - epoch)
        self.starts: list[str] = mondays.astype("datetime64[D]").astype(str).tolist()
        self.throughput: list[int] = np.add.reduceat(sr.throughput, self.los).tolist()
        self.complete = [hi - lo == 7 for lo, hi in zip(self.los, self.his, strict=True)]

    def rows(self, first: int = 0) -> list[WeekRow]:
        """The `WeekRow`s of the weeks from index `first` on (negative: from the end)."""
        picked = range(len(self.los))[first:]
        los, his = [self.los[k] for k in picked], [self.his[k] for k in picked]
        wip = [int(self.series.wip[lo:hi].sum()) for lo, hi in zip(los, his, strict=True)]
        cfd = self.series.cfd[:, [hi - 1 for hi in his]].T.tolist()
        return [
            WeekRow(
                start=date.fromisoformat(self.starts[k]),
                throughput=self.throughput[k],
                complete=self.complete[k],
                mean_wip=round(wip[i] / (his[i] - los[i]), 2),
                cfd=cfd[i],
            )
            for i, k in enumerate(picked)
        ]


def _weeks_of(result: metrics.FlowResult) -> _Weeks:
    return _Weeks(result)


def _aging_columns(ages: list[list[Any]], wf: metrics.Workflow) -> list[list[Any]]:
    """Per column of the in-progress part of the workflow: [name, items, median age, oldest age]."""
    by_col: dict[int, list[int]] = {}
    for _key, col, age in ages:
        by_col.setdefault(col, []).append(age)
    rows = []
    for col in range(wf.started, max(wf.finished, wf.started + 1)):
        values = sorted(by_col.get(col, []))
        median = values[(len(values) + 1) // 2 - 1] if values else None
        rows.append([wf.columns[col], len(values), median, values[-1] if values else None])
    return rows


def _mc_detail(how: montecarlo.HowManyForecast, when: montecarlo.WhenForecast) -> dict[str, Any]:
    return {
        "mc_how_many_histogram": [[v, n] for v, n in how.histogram.items()],
        "mc_when_histogram": [[d.isoformat(), n] for d, n in when.histogram.items()],
        "mc_when_never": when.never,
    }


def forecast_again(data: FlowData, *, mc_days: int, mc_items: int) -> None:
    """Re-run the Monte Carlo forecasts of `data` for other questions, from the daily Throughput history
    it holds (same window and seed): a stored snapshot answers any `mc_days` / `mc_items`."""
    history = data.detail["throughput_history"]
    how = montecarlo.forecast_how_many(history, mc_days)
    when = montecarlo.forecast_when(history, mc_items, data.as_of)
    data.figures["mc_how_many"] = how.at_confidence
    data.figures["mc_when"] = {k: (v.isoformat() if v else None) for k, v in when.at_confidence.items()}
    data.figures["mc_days"], data.figures["mc_items"] = mc_days, mc_items
    data.detail_update(**_mc_detail(how, when))


def flow_compute(*, nexus: Nexus, query: FlowQuery, keys: dict[str, str] | None = None) -> FlowData:
    """Compute the figures of `query` from the transition log (replay as of the as-of date).

    Raises `DomainError` (naming the field) when the Nexus has no Definition of Workflow or the days
    are empty (`to` before the first day).
    """
    from django.utils import timezone

    columns = workflow_columns(nexus=nexus)
    if not columns:
        raise DomainError("The Nexus has no Definition of Workflow yet.", field="nexus")
    from flow import team_level

    as_of = query.as_of or nexus_today(nexus)
    history = query.team is not None and bool(team_level.teams_with_history(nexus, team_ids=[query.team.pk]))
    own = history and query.level != team_level.BASIS_NEXUS
    if own:
        assert query.team is not None
        events = team_level.load_team_events(
            nexus, team_ids=[query.team.pk], label=query.label, class_of_service=query.class_of_service
        ).get(query.team.pk, [])
        workflow = team_level.TEAM_WORKFLOW
    else:
        events = load_events(
            nexus, columns, team=query.team, label=query.label, class_of_service=query.class_of_service
        )
        workflow = workflow_of(columns)
    history_days = query.mc_history_days or HISTORY_DAYS
    try:
        result = metrics.compute_flow(
            events,
            workflow,
            as_of=as_of,
            start=query.start,
            end=query.end,
            history_days=history_days,
        )
    except ValueError as exc:
        raise DomainError(f"No days to show: {exc}.", field="to") from exc
    data = flow_data_build(
        nexus=nexus,
        team=query.team,
        result=result,
        keys=keys if keys is not None else item_keys(nexus),
        mc_days=query.mc_days or nexus.sprint_length_days,
        mc_items=query.mc_items or DEFAULT_MC_ITEMS,
        history_days=history_days,
        computed_at=timezone.now(),
    )
    data.figures["basis"] = team_level.BASIS_TEAM if own else team_level.BASIS_NEXUS
    data.figures["team_history"] = history
    return data


def report_dict(data: FlowData) -> dict[str, Any]:
    """The figures as `flow_report` prints them: exactly `REPORT_KEYS` (JSON-able)."""
    f = data.figures
    columns = data.columns
    return {
        "finished_items": f["finished_items"],
        "cycle_time_percentiles": f["cycle_time_percentiles"],
        "mean_weekly_throughput": f["mean_weekly_throughput"],
        "complete_weeks": f["complete_weeks"],
        "mean_daily_wip": f["mean_daily_wip"],
        "wip_as_of": f["wip_as_of"],
        "daily": [
            {
                "date": d.date.isoformat(),
                "wip": d.wip,
                "wip_eod": d.wip_eod,
                "throughput": d.throughput,
                "cfd": dict(zip(columns, d.cfd, strict=True)),
            }
            for d in data.days
        ],
        "ages": [{"item": key, "column": columns[col], "age": age} for key, col, age in data.detail["ages"]],
        "mc_how_many": f["mc_how_many"],
        "mc_when": f["mc_when"],
    }


def summary_of(data: FlowData, result: metrics.FlowResult) -> dict[str, Any]:
    """The per-Nexus summary kept in `FlowState.summary` (small; read by the board and the worker test),
    from the Nexus scope's `data` and engine `result`: `as_of` (ISO date, the Nexus's time zone),
    `items` and `finished_items` (counts), `cycle_time_percentiles` and `recent_percentiles` ("50",
    "70", "85", "95" -> calendar days, or None), `mean_weekly_throughput` (items per complete Monday-Sunday
    week), `complete_weeks`, `mean_daily_wip`, `wip_as_of`, `sle_default_days` (calendar days or None)
    and `oldest` (up to 10 of {"item", "column", "age" in calendar days}: Work Item Age, Kanban Guide for
    Scrum Teams)."""
    f = data.figures
    return {
        "as_of": data.as_of.isoformat(),
        "items": f["items_total"],
        "finished_items": f["finished_items"],
        "cycle_time_percentiles": result.cycle_time_percentiles,
        "mean_weekly_throughput": f["mean_weekly_throughput"],
        "complete_weeks": f["complete_weeks"],
        "mean_daily_wip": f["mean_daily_wip"],
        "wip_as_of": f["wip_as_of"],
        "recent_percentiles": f["recent_percentiles"],
        "sle_default_days": f["sle_default_days"],
        "oldest": [
            {"item": key, "column": data.columns[col], "age": age}
            for key, col, age in data.figures["oldest"][:10]
        ],
    }
