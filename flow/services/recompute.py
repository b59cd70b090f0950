"""The full recompute of a Nexus's flow figures (`flow_recompute`): load the transition log once,
compute every scope (the Nexus and each Scrum Team), store only what differs from the stored rows, all
under the Nexus's flow lock and in one transaction. What it stores is described in `flow.services`."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import date
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from backlog.models import Nexus, ScrumTeam, TeamInvolvement, WorkflowColumn
from flow import metrics, store, team_level
from flow import series as flow_series
from flow.gcpause import gc_paused
from flow.history import load_events, nexus_today, workflow_of
from flow.locks import flow_lock
from flow.models import FlowSnapshot, FlowState
from flow.report import HISTORY_DAYS, FlowData, flow_data_build, forecast_settings, item_keys, summary_of

__all__ = ["SNAPSHOT_FIELDS", "flow_recompute", "item_teams"]

log = logging.getLogger("flow.services")


def item_teams(nexus: Nexus) -> dict[str, list[int]]:
    """Item key (the PBI id as text) -> ids of the Scrum Teams forecast to work on it (sorted). One query."""
    teams_of: dict[str, list[int]] = defaultdict(list)
    rows = (
        TeamInvolvement.objects.filter(item__backlog__nexus=nexus)
        .order_by("item_id", "team_id")
        .values_list("item_id", "team_id")
    )
    sql, params = rows.query.sql_with_params()  # plain ints: read without the ORM's row machinery
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for item_id, team_id in cursor.fetchall():
            teams_of[str(item_id)].append(team_id)
    return teams_of


def flow_recompute(*, nexus_id: int, as_of: date | None = None, trust_digests: bool = True) -> dict[str, Any]:
    """Recompute and store the flow figures of a Nexus and of each of its Scrum Teams as of `as_of`
    (default today in its time zone), over the days from each scope's first event to `as_of`.

    Clears the pending mark first, so a change made during the computation asks for another run.
    Idempotent and safe to run twice at once: the flow lock of the Nexus (`flow.locks.flow_lock`) is
    taken before the log is loaded and held until the figures are stored, so a second job waits for
    the first to commit, then loads the log as it is then: the job that stores last read the newest
    log (an older job can no longer overwrite newer figures). A change of the items never waits for
    it. Returns the per-Nexus summary (the figures of `flow_report` without the daily rows, plus
    `timings`), or {} for a Nexus without columns. A scope whose digest matches the stored one is not
    read; `trust_digests=False` compares every stored row anyway (`check_nexus --repair-figures`: rows
    changed by hand keep their digest).
    """
    t0 = time.perf_counter()
    nexus = Nexus.objects.get(pk=nexus_id)
    FlowState.objects.get_or_create(nexus=nexus)
    FlowState.objects.filter(nexus=nexus).update(pending_since=None, enqueued_at=None, full_needed=False)
    with flow_lock(nexus.pk, wait=True), gc_paused():
        nexus.refresh_from_db()  # its time zone and Sprint length as they are now
        return _recompute_locked(nexus=nexus, as_of=as_of, t0=t0, trust_digests=trust_digests)


def _recompute_locked(
    *, nexus: Nexus, as_of: date | None, t0: float, trust_digests: bool = True
) -> dict[str, Any]:
    """`flow_recompute` under the Nexus's recompute lock: load the log, compute, store."""
    columns = list(WorkflowColumn.objects.filter(nexus=nexus).order_by("position"))
    if not columns:
        return {}
    as_of = as_of or nexus_today(nexus)
    workflow = workflow_of(columns)
    events = load_events(nexus, columns)
    keys = item_keys(nexus)
    teams = list(ScrumTeam.objects.filter(nexus=nexus))
    t_load = time.perf_counter()
    now = timezone.now()
    mc = forecast_settings(nexus)

    result = metrics.compute_flow(events, workflow, as_of=as_of, history_days=HISTORY_DAYS)
    scopes: list[FlowData] = [
        flow_data_build(nexus=nexus, team=None, result=result, keys=keys, computed_at=now, stored=True, **mc)
    ]
    first_day: dict[str, date] = {}
    for ev in events:  # each item's first mapped day up to as_of
        if ev.column is not None and ev.day <= as_of:
            first = first_day.get(ev.item)
            if first is None or ev.day < first:
                first_day[ev.item] = ev.day
    n_events = len(events)
    teams_of = item_teams(nexus)
    own_flow = team_level.team_flows(nexus)  # the teams with team-level history: their own flow
    imported: dict[int, int] = {}
    if own_flow:  # their imported squares counted from the Nexus columns (`team_level.nexus_fallback`)
        own_ids = sorted(own_flow)
        added = team_level.added_pairs(team_ids=own_ids)
        forecast: dict[int, list[str]] = defaultdict(list)
        for key, team_ids in teams_of.items():
            for team_id in team_ids:
                if team_id in own_flow and (int(key), team_id) not in added:
                    forecast[team_id].append(key)
        wanted = {key for keys_ in forecast.values() for key in keys_}
        nexus_events: dict[str, list[metrics.ItemEvent]] = defaultdict(list)
        for ev in events:
            if ev.item in wanted:
                nexus_events[ev.item].append(ev)
        for team_id in own_ids:
            own_flow[team_id] = team_level.nexus_fallback(
                own_flow[team_id],
                team_id=team_id,
                item_keys=forecast.get(team_id, []),
                nexus_events=nexus_events,
                added=added,
                workflow=workflow,
            )
        imported = team_level.imported_squares(nexus, own_ids)
        del nexus_events
    del events
    team_items: dict[tuple[int, int], team_level.TeamItemRow] = {}
    # Each Scrum Team's scope on the Nexus basis: the Nexus's items it is forecast to work on, replayed
    # once for all.
    per_team: dict[int, list[int]] = defaultdict(list)  # team id -> indexes in result.items
    for i, it in enumerate(result.items):
        for team_id in teams_of.get(it.key, ()):
            per_team[team_id].append(i)
    series: list[tuple[date, metrics.FlowSeries]] = [(result.start, result.series)]
    for team in teams:
        indexes = per_team.pop(team.pk, [])
        own = own_flow.get(team.pk)
        if own is not None:
            team_result = metrics.compute_flow(
                own, team_level.TEAM_WORKFLOW, as_of=as_of, history_days=HISTORY_DAYS
            )
            team_items.update(team_level.team_item_rows(team.pk, team_result, own))
        else:
            nexus_items = [result.items[i] for i in indexes]
            team_result = metrics.compute_flow_of_items(
                nexus_items,
                workflow,
                as_of=as_of,
                start=min((first_day[it.key] for it in nexus_items), default=as_of),
                history_days=HISTORY_DAYS,
                milestone_ordinals=result.milestone_ordinals[indexes],
            )
        series.append((team_result.start, team_result.series))
        data = flow_data_build(
            nexus=nexus, team=team, result=team_result, keys=keys, computed_at=now, stored=True, **mc
        )
        data.figures["basis"] = team_level.BASIS_TEAM if own is not None else team_level.BASIS_NEXUS
        data.figures["team_history"] = own is not None
        if own is not None:
            data.figures["imported_squares"] = imported[team.pk]
        scopes.append(data)
    days_digests = [flow_series.digest(start, sr) for start, sr in series]
    items_digest = store.items_digest(
        ids=[int(it.key) for it in result.items],
        milestones=result.milestone_ordinals,
        first_days=[first_day[it.key].toordinal() for it in result.items],
        teams=[teams_of.get(it.key, []) for it in result.items],
        started=workflow.started,
        finished=workflow.finished,
    )
    del per_team, own_flow
    t_compute = time.perf_counter()

    summary = summary_of(scopes[0], result)
    with transaction.atomic():
        FlowState.objects.select_for_update().get(nexus=nexus)  # the row written last, briefly
        snapshots, before = _snapshots_store(
            nexus=nexus, scopes=scopes, now=now, days_digests=days_digests, items_digest=items_digest
        )
        if not trust_digests:
            before = {}
        # Digests first: an unchanged scope (or set of items) is not read, let alone compared row by row.
        written = 0
        if before.get(snapshots[0].pk, ("", "", None, None))[1] != items_digest:
            # the milestones from the result's array of ordinals (0 = none), not date by date
            item_rows: dict[int, store.ItemRow] = {
                int(it.key): (
                    it.started,
                    it.finished,
                    it.cycle_time,
                    [o or None for o in ordinals],
                    first_day.get(it.key),
                    teams_of.get(it.key, []),
                )
                for it, ordinals in zip(result.items, result.milestone_ordinals.tolist(), strict=True)
            }
            written += store.items_store(nexus_id=nexus.pk, rows=item_rows, width=len(workflow.columns))
        written += team_level.team_items_store(nexus_id=nexus.pk, rows=team_items)
        # The series of each scope whose digest changed, written whole. When its stored days are the
        # first days of its new series (the day turned, nothing else changed: the digest of those days
        # is the stored one), the stored series is not even read to count the days written.
        changed: dict[int, tuple[date, metrics.FlowSeries, int]] = {}
        for snap, (start, scope_series), digest in zip(snapshots, series, days_digests, strict=True):
            old_digest, _, old_start, old_end = before.get(snap.pk, ("", "", None, None))
            if old_digest == digest:
                continue
            kept = 0
            if old_digest and old_end is not None and old_start == start:
                stored_days = (old_end - start).days + 1
                if 0 < stored_days < len(scope_series) and old_digest == flow_series.digest(
                    start, scope_series, days=stored_days
                ):
                    kept = stored_days
            changed[snap.pk] = (start, scope_series, kept)
        written += flow_series.store_changed(scopes=changed)
        FlowState.objects.filter(nexus=nexus).update(
            computed_at=now, computed_on=as_of, summary=summary, last_error=""
        )
    t_store = time.perf_counter()
    log.info(
        "Flow of Nexus %s as of %s: %d events, %d scopes, %d rows written; load %.2f s, compute %.2f s, "
        "store %.2f s",
        nexus.slug,
        as_of,
        n_events,
        len(scopes),
        written,
        t_load - t0,
        t_compute - t_load,
        t_store - t_compute,
    )
    return {
        **summary,
        "timings": {
            "rows_written": written,
            "load": round(t_load - t0, 3),
            "compute": round(t_compute - t_load, 3),
            "store": round(t_store - t_compute, 3),
        },
    }


#: The columns of a `FlowSnapshot` each recompute writes.
SNAPSHOT_FIELDS = (
    "as_of",
    "start",
    "end",
    "computed_at",
    "basis",
    "figures",
    "detail",
    "days_digest",
    "items_digest",
    "rows_version",
    "summaries_version",
)


def _snapshots_store(
    *, nexus: Nexus, scopes: list[FlowData], now: Any, days_digests: list[str], items_digest: str
) -> tuple[list[FlowSnapshot], dict[int, tuple[str, str, date, date]]]:
    """The scopes' `FlowSnapshot` rows, updated in place (their daily series stay, to be compared) or
    created, with the digests of what this recompute stores (`items_digest` on the Nexus's);
    snapshots of scopes no longer computed are deleted. Returns them in the order of `scopes`, and
    the digests and days the kept ones had (snapshot id -> (days digest, items digest, first day,
    last day))."""
    have = {s.team_id: s for s in FlowSnapshot.objects.filter(nexus=nexus).defer("figures", "detail")}
    before = {s.pk: (s.days_digest, s.items_digest, s.start, s.end) for s in have.values()}
    wanted = {data.team.pk if data.team else None for data in scopes}
    gone = [s.pk for team_id, s in have.items() if team_id not in wanted]
    if gone:
        FlowSnapshot.objects.filter(pk__in=gone).delete()
    out: list[FlowSnapshot] = []
    new: list[FlowSnapshot] = []
    for data, digest in zip(scopes, days_digests, strict=True):
        snap = have.get(data.team.pk if data.team else None)
        version = 0 if snap is None else snap.rows_version
        values = {
            "as_of": data.as_of,
            "start": data.start,
            "end": data.end,
            "computed_at": now,
            "basis": data.figures.get("basis", team_level.BASIS_NEXUS),
            "figures": data.figures,
            "detail": data.detail_json,
            "days_digest": digest,
            "items_digest": items_digest if data.team is None else "",
            # the summaries are the rows' (under the flow lock: no incremental update meanwhile)
            "rows_version": version,
            "summaries_version": version,
        }
        if snap is None:
            snap = FlowSnapshot(nexus=nexus, team=data.team, **values)
            new.append(snap)
        else:
            for name, value in values.items():
                setattr(snap, name, value)
        out.append(snap)
    # The figures and the detail run to megabytes of JSON: written one row per statement with their
    # parameters bound apart (`store.rows_update_each`), which the ORM's `bulk_update` quoted into one
    # statement's text (longer than the statement took). New snapshots are created light first, for
    # their ids.
    if new:
        heavy = [(s.figures, s.detail) for s in new]
        for s in new:
            s.figures, s.detail = {}, ""
        FlowSnapshot.objects.bulk_create(new)
        for s, (figures, detail) in zip(new, heavy, strict=True):
            s.figures, s.detail = figures, detail
        if any(s.pk is None for s in new):  # backends without RETURNING
            by_team = {s.team_id: s.pk for s in FlowSnapshot.objects.filter(nexus=nexus).only("id", "team")}
            for s in new:
                s.pk = by_team[s.team_id]
    store.rows_update_each(
        FlowSnapshot, SNAPSHOT_FIELDS, [(s.pk, *(getattr(s, f) for f in SNAPSHOT_FIELDS)) for s in out]
    )
    return out, before
