"""Reads of stored flow results: Service Level Expectations and age bands (which the Nexus event pages
call, e.g. the board of `events`), and the figures of the flow page and API (stored, or computed on
request for a view that is not stored)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Q

from backlog.models import (
    Nexus,
)
from flow import series as flow_series
from flow.metrics import percentile
from flow.models import FlowSettings, FlowSnapshot, FlowState, ItemFlow
from flow.report import (
    SLE_DEFAULT_PERCENT,
    SNAPSHOT_FORMAT,
    DayRow,
    FlowData,
    FlowQuery,
    flow_compute,
    forecast_again,
    percentile_of_histogram,
)

# --- Service Level Expectation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SLE:
    """A Service Level Expectation (Kanban Guide for Scrum Teams): "`percent`% of items finish within
    `days` days" (None: no item finished in the last 90 days and none set). `is_set` when the days were
    set by a person rather than taken from recent Cycle Times; `p50` is the 50th percentile of those
    recent Cycle Times (the first colour band of Work Item Age)."""

    percent: int
    days: int | None
    p50: int | None
    is_set: bool = False

    @property
    def text(self) -> str:
        if self.days is None:
            return "no Service Level Expectation yet (no item finished in the last 90 days)"
        return f"{self.percent}% of items finish within {self.days} day{'s' if self.days != 1 else ''}"


def sle_resolve(row: FlowSettings | None, figures: dict[str, Any] | None) -> SLE:
    """The SLE of a scope from its settings row (if any) and its stored or computed figures."""
    percent = row.sle_percent if row else SLE_DEFAULT_PERCENT
    recent = (figures or {}).get("recent_cycle_times") or []
    p50 = percentile_of_histogram(recent, 50)
    if row is not None and row.sle_days is not None:
        return SLE(percent, row.sle_days, p50, is_set=True)
    return SLE(percent, percentile_of_histogram(recent, percent), p50)


def sles_get(*, nexus: Nexus) -> tuple[dict[int | None, SLE], dict[int | None, FlowSettings]]:
    """The SLE of the Nexus (key None) and of each Scrum Team with stored figures or settings (key: team
    id), and the settings rows (with their `team` and `nexus`). Two queries."""
    rows: dict[int | None, FlowSettings] = {
        s.team_id: s for s in FlowSettings.objects.filter(nexus=nexus).select_related("team")
    }
    for row in rows.values():
        row.nexus = nexus  # for `wip_limit_kind` of the Nexus scope
    figures: dict[int | None, dict[str, Any]] = dict(
        FlowSnapshot.objects.filter(nexus=nexus).values_list("team_id", "figures")
    )
    scopes = set(rows) | set(figures) | {None}
    return {k: sle_resolve(rows.get(k), figures.get(k)) for k in scopes}, rows


def team_sle_get(*, nexus: Nexus, team_id: int) -> SLE:
    """The SLE a Scrum Team's work is held to: its own when it has days (set, or from its recent Cycle
    Times), else the Nexus's. Two queries (the two scopes' settings, and only the recent Cycle Times of
    their stored figures)."""
    scopes = Q(team_id=team_id) | Q(team__isnull=True)
    rows: dict[int | None, FlowSettings] = {
        s.team_id: s for s in FlowSettings.objects.filter(scopes, nexus=nexus)
    }
    figures: dict[int | None, dict[str, Any]] = {
        t: {"recent_cycle_times": recent}
        for t, recent in FlowSnapshot.objects.filter(scopes, nexus=nexus).values_list(
            "team_id", "figures__recent_cycle_times"
        )
    }
    own = sle_resolve(rows.get(team_id), figures.get(team_id))
    return own if own.days is not None else sle_resolve(rows.get(None), figures.get(None))


def age_band(age: int | None, *, p50: int | None, sle: int | None) -> str:
    """Colour band of a Work Item Age against the Service Level Expectation (Kanban Guide for Scrum
    Teams): "ok" below the 50th percentile of recent Cycle Times, "watch" from there up to the SLE's
    days, "late" beyond them; "" when unknown. Without a 50th percentile (only a set SLE), ages up to
    the SLE are "ok"."""
    if age is None or sle is None:
        return ""
    if age > sle:
        return "late"
    if p50 is None or age < p50:
        return "ok"
    return "watch"


# --- Flow page and API figures --------------------------------------------------------------------------


def _days_loader(snap: FlowSnapshot) -> Callable[[], list[DayRow]]:
    """Reads the snapshot's daily series when first needed (CSV, API; the page draws from `detail`).
    One query."""

    def load() -> list[DayRow]:
        loaded = flow_series.load([snap.pk]).get(snap.pk)
        if loaded is None:
            return []
        return [DayRow(*day) for day in flow_series.days_of(*loaded)]

    return load


def _from_snapshot(snap: FlowSnapshot) -> FlowData:
    return FlowData(
        nexus=snap.nexus,
        team=snap.team,
        as_of=snap.as_of,
        start=snap.start,
        end=snap.end,
        figures=snap.figures,
        days=_days_loader(snap),
        detail_json=snap.detail,
        computed_at=snap.computed_at,
        stored=True,
    )


def _level_matches(snap: FlowSnapshot, level: str | None) -> bool:
    """Whether the stored snapshot holds the level asked for: the default (its basis), the basis it
    has, or the team level for a team without team-level history (which falls back to the Nexus
    columns, as stored)."""
    if level is None or snap.team_id is None or level == snap.basis:
        return True
    return level == "team" and not snap.figures.get("team_history", snap.basis == "team")


def flow_data_get(*, nexus: Nexus, query: FlowQuery) -> FlowData:
    """The figures of `query`: read from the stored snapshot of the Nexus or of the team when the query
    asks for what it holds (no label or class-of-service filter; the level it holds, see
    `_level_matches`; as-of date, days and history window left to their defaults or equal to the stored
    ones), re-running only the Monte Carlo forecasts when
    other questions are asked. Otherwise computed on request from the transition log. Two queries
    when stored."""
    if not query.picks_items:
        snap = (
            FlowSnapshot.objects.filter(nexus=nexus, team=query.team).select_related("nexus", "team").first()
        )
        if snap is not None and (
            snap.figures.get("format") == SNAPSHOT_FORMAT
            and _level_matches(snap, query.level)
            and query.as_of in (None, snap.as_of)
            and query.start in (None, snap.start)
            and query.end in (None, snap.end)
            and query.mc_history_days in (None, snap.figures.get("mc_history_days"))
        ):
            data = _from_snapshot(snap)
            mc_days = query.mc_days or data.figures["mc_days"]
            mc_items = query.mc_items or data.figures["mc_items"]
            if (mc_days, mc_items) != (data.figures["mc_days"], data.figures["mc_items"]):
                forecast_again(data, mc_days=mc_days, mc_items=mc_items)
            return data
    return flow_compute(nexus=nexus, query=query)


@dataclass
class FlowPage:
    """What the flow page shows: the figures and the scope's SLE."""

    data: FlowData
    sle: SLE


def flow_page_get(*, nexus: Nexus, query: FlowQuery) -> FlowPage:
    """The flow page's figures (see `flow_data_get`) and the scope's SLE."""
    data = flow_data_get(nexus=nexus, query=query)
    row = FlowSettings.objects.filter(nexus=nexus, team=query.team).first()
    return FlowPage(data=data, sle=sle_resolve(row, data.figures))


def flow_state_stamp(*, nexus_id: int) -> str:
    """What changes the flow page without a write to the Nexus's data (which advances its change
    counter): when the stored figures were computed and whether a recompute is pending. For the page's
    ETag (`backlog.http.nexus_etag(extra=)`). One query."""
    state = FlowState.objects.filter(nexus_id=nexus_id).values_list("computed_at", "pending_since").first()
    return "" if state is None else f"{state[0]}|{state[1]}"


# --- A period's figures (a Sprint's, for the Nexus Sprint Retrospective) ------------------------------

#: Aging items listed at most by `period_flow_get` (the count covers them all).
AGING_LISTED = 10


@dataclass(frozen=True)
class AgingItem:
    """A PBI in progress at the end of a period whose Work Item Age then was beyond the SLE: its id,
    title and age (calendar days, inclusive)."""

    item_id: int
    title: str
    age: int


@dataclass(frozen=True)
class PeriodFlow:
    """The flow figures of the days `start..end` (calendar days in the Nexus's time zone, inclusive;
    `end` is today for a period that has not ended), Kanban Guide for Scrum Teams definitions as in
    `flow.metrics`, from the stored per-item dates (`ItemFlow`, the Nexus's Definition of Workflow):

    - `throughput`: PBIs that finished (entered the finished column) in the period;
    - `cycle_time_p50`, `cycle_time_p85`: nearest-rank percentiles of their Cycle Times (calendar days,
      inclusive; None when none finished);
    - `wip`: PBIs started and not finished at the end of `end`;
    - `aging`: how many of those were older than the Nexus's Service Level Expectation (`sle`) at `end`,
      and the oldest of them (`aging_items`, at most `AGING_LISTED`)."""

    start: date
    end: date
    throughput: int
    cycle_time_p50: int | None
    cycle_time_p85: int | None
    wip: int
    aging: int
    aging_items: list[AgingItem]
    sle: SLE


def period_flow_get(*, nexus: Nexus, start: date, end: date) -> PeriodFlow:
    """The figures of `PeriodFlow` for `start..end` (see there). Four queries whatever the number of
    PBIs (the Cycle Times of the period's finished items come as one list; aging is counted in SQL)."""
    sle = sles_get(nexus=nexus)[0][None]
    rows = ItemFlow.objects.filter(nexus=nexus, item__deleted_at__isnull=True)
    finished = list(
        rows.filter(finished_on__gte=start, finished_on__lte=end).values_list("cycle_time", flat=True)
    )
    cycle_times = [c for c in finished if c is not None]
    in_progress = rows.filter(started_on__lte=end).filter(
        Q(finished_on__isnull=True) | Q(finished_on__gt=end)
    )
    wip = in_progress.count()
    aging_items: list[AgingItem] = []
    aging = 0
    if sle.days is not None:
        # Age at `end` = end - started_on + 1 > SLE days  <=>  started_on < end - SLE days + 1.
        late = in_progress.filter(started_on__lt=end - timedelta(days=sle.days - 1))
        oldest = late.order_by("started_on", "item_id").values_list("item_id", "item__title", "started_on")
        listed = list(oldest[:AGING_LISTED])
        aging = late.count() if len(listed) == AGING_LISTED else len(listed)
        aging_items = [
            AgingItem(pk, title, (end - started).days + 1) for pk, title, started in listed if started
        ]
    return PeriodFlow(
        start=start,
        end=end,
        throughput=len(finished),
        cycle_time_p50=percentile(cycle_times, 0.5) if cycle_times else None,
        cycle_time_p85=percentile(cycle_times, 0.85) if cycle_times else None,
        wip=wip,
        aging=aging,
        aging_items=aging_items,
        sle=sle,
    )
