"""The full recompute of a Nexus's flow figures (`flow_recompute`): load the transition log once,
compute every scope (the Nexus and each Scrum Team), store only what differs from the stored rows, all
under the Nexus's flow lock and in one transaction. What it stores is described in `flow.services`."""

from __future__ import annotations

import contextlib
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
from flow.team_level import TeamItemRow

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
    """`flow_recompute` under the Nexus's recompute lock: load the log, compute, store.

    The order lets the server and this process work at once when the item rows are written: every
    query that the computation needs runs first (the load); the Nexus's items are computed and their
    rows, when their digest changed, sent through COPY (`store.items_storing`); the scopes' figures
    (the Nexus's and each Scrum Team's) are computed while the server stores those rows; then the
    rest is stored."""
    columns = list(WorkflowColumn.objects.filter(nexus=nexus).order_by("position"))
    if not columns:
        return {}
    as_of = as_of or nexus_today(nexus)
    workflow = workflow_of(columns)
    events = load_events(nexus, columns)
    keys = item_keys(nexus)
    teams = list(ScrumTeam.objects.filter(nexus=nexus))
    teams_of = item_teams(nexus)
    own_flow = team_level.team_flows(nexus)  # the teams with team-level history: their own flow
    own_ids = sorted(own_flow)
    added = team_level.added_pairs(team_ids=own_ids) if own_flow else set()
    imported = team_level.imported_squares(nexus, own_ids) if own_flow else {}
    t_load = time.perf_counter()
    now = timezone.now()

    result = metrics.compute_flow(events, workflow, as_of=as_of, history_days=HISTORY_DAYS)
    first_day = team_level.first_days(events, as_of=as_of)  # each item's first mapped day
    n_events = len(events)
    if own_flow:  # their imported squares counted from the Nexus columns (`team_level.nexus_fallback`)
        _own_flow_completed(own_flow, events=events, teams_of=teams_of, added=added, workflow=workflow)
    del events
    items_digest = store.items_digest(
        ids=[int(it.key) for it in result.items],
        milestones=result.milestone_ordinals,
        first_days=[first_day[it.key].toordinal() for it in result.items],
        teams=[teams_of.get(it.key, []) for it in result.items],
        started=workflow.started,
        finished=workflow.finished,
    )

    with transaction.atomic():
        FlowState.objects.select_for_update().get(nexus=nexus)  # the row written last, briefly
        have = _snapshots_read(nexus)
        before = {} if not trust_digests else {s.pk: _digests_of(s) for s in have.values()}
        # Digests first: an unchanged scope (or set of items) is not read, let alone compared row by row.
        nexus_snapshot = have.get(None)
        items_kept = (
            trust_digests and nexus_snapshot is not None and nexus_snapshot.items_digest == items_digest
        )
        items = (
            contextlib.nullcontext(0)
            if items_kept
            else store.items_storing(
                nexus_id=nexus.pk, rows=_item_rows(result, first_day, teams_of), width=len(workflow.columns)
            )
        )
        # `compute` in the timings now also holds the item rows' comparison and COPY sending (before
        # the block), which run before and while the scopes are computed.
        with items as items_written:
            # While the server stores the item rows (the COPY is open: no query here), the scopes.
            scopes, series, team_items = _scopes_compute(
                nexus=nexus,
                teams=teams,
                result=result,
                keys=keys,
                now=now,
                first_day=first_day,
                teams_of=teams_of,
                own_flow=own_flow,
                imported=imported,
                workflow=workflow,
                as_of=as_of,
            )
            days_digests = [flow_series.digest(start, sr) for start, sr in series]
            summary = summary_of(scopes[0], result)
            t_compute = time.perf_counter()
        written = items_written
        snapshots = _snapshots_write(
            nexus=nexus, have=have, scopes=scopes, now=now, digests=(days_digests, items_digest)
        )
        written += team_level.team_items_store(nexus_id=nexus.pk, rows=team_items)
        # The series of each scope whose digest changed, written whole. When its stored days are the
        # first days of its new series (the day turned, nothing else changed: the digest of those days
        # is the stored one), the stored series is not even read to count the days written.
        changed: dict[int, tuple[date, metrics.FlowSeries, int]] = {}
        for snap, (start, scope_series), digest in zip(snapshots, series, days_digests, strict=True):
            old_digest, old_start, old_end = before.get(snap.pk, ("", None, None))
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


def _own_flow_completed(
    own_flow: dict[int, list[metrics.ItemEvent]],
    *,
    events: list[metrics.ItemEvent],
    teams_of: dict[str, list[int]],
    added: set[tuple[int, int]],
    workflow: metrics.Workflow,
) -> None:
    """Complete in place the events of each team with team-level history (`own_flow`) with its
    imported squares counted from the Nexus columns (`team_level.nexus_fallback`)."""
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
    for team_id in sorted(own_flow):
        own_flow[team_id] = team_level.nexus_fallback(
            own_flow[team_id],
            team_id=team_id,
            item_keys=forecast.get(team_id, []),
            nexus_events=nexus_events,
            added=added,
            workflow=workflow,
        )


def _item_rows(
    result: metrics.FlowResult, first_day: dict[str, date], teams_of: dict[str, list[int]]
) -> dict[int, store.ItemRow]:
    """The Nexus's `ItemFlow` rows (item id -> values), the milestones from the result's array of
    ordinals (0 = none), not date by date."""
    return {
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


def _scopes_compute(
    *,
    nexus: Nexus,
    teams: list[ScrumTeam],
    result: metrics.FlowResult,
    keys: dict[str, str],
    now: Any,
    first_day: dict[str, date],
    teams_of: dict[str, list[int]],
    own_flow: dict[int, list[metrics.ItemEvent]],
    imported: dict[int, int],
    workflow: metrics.Workflow,
    as_of: date,
) -> tuple[list[FlowData], list[tuple[date, metrics.FlowSeries]], dict[tuple[int, int], TeamItemRow]]:
    """The figures of each scope, the Nexus's first then each Scrum Team's (in `teams`' order), their
    daily series (first day, series) and the team-basis item rows. No query (it runs while the item
    rows' COPY is open)."""
    mc = forecast_settings(nexus)
    scopes: list[FlowData] = [
        flow_data_build(nexus=nexus, team=None, result=result, keys=keys, computed_at=now, stored=True, **mc)
    ]
    team_items: dict[tuple[int, int], TeamItemRow] = {}
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
    return scopes, series, team_items


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


def _snapshots_read(nexus: Nexus) -> dict[int | None, FlowSnapshot]:
    """The Nexus's stored `FlowSnapshot` rows by Scrum Team id (None for the Nexus's), without their
    figures and detail. One query."""
    return {s.team_id: s for s in FlowSnapshot.objects.filter(nexus=nexus).defer("figures", "detail")}


def _digests_of(snapshot: FlowSnapshot) -> tuple[str, date, date]:
    """What a stored snapshot says of its daily series: (days digest, first day, last day), read
    before `_snapshots_write` sets the new values on the same object."""
    return (snapshot.days_digest, snapshot.start, snapshot.end)


def _snapshots_write(
    *,
    nexus: Nexus,
    have: dict[int | None, FlowSnapshot],
    scopes: list[FlowData],
    now: Any,
    digests: tuple[list[str], str],
) -> list[FlowSnapshot]:
    """The scopes' `FlowSnapshot` rows, the stored ones (`have`, from `_snapshots_read`) updated in
    place (their daily series stay, to be compared) or created, with the digests of what this
    recompute stores (`items_digest` on the Nexus's); snapshots of scopes no longer computed are
    deleted. `digests`: the days digest of each scope and the items digest. Returns them in the order
    of `scopes`."""
    days_digests, items_digest = digests
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
    return out
