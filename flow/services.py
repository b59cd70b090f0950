"""Writes of the flow app: recompute and store flow figures from the transition log, and flow settings.

The computation itself is `flow.metrics` and `flow.montecarlo` (pure functions), shaped by `flow.report`.
`flow_recompute` loads the log of one Nexus once, replays it as of today (calendar days in the Nexus's
time zone) and stores, in one transaction, per-item dates (`ItemFlow`; `ItemTeamFlow` for the teams on
the team basis), and for the whole Nexus and for each of its Scrum Teams a `FlowSnapshot` with its daily
rows (`FlowDay`), writing only the rows that differ from the stored ones (`flow.store`; a scope whose
digest did not change is not even read). A Scrum Team with team-level history gets its own flow
(`flow.team_level`: its square states); one without gets the Nexus columns of the items it is forecast
on, computed from the Nexus's replayed items (`metrics.compute_flow_of_items`); `FlowSnapshot.basis`
says which.

What runs when (the incremental issue):

* a change of named items (`items_changed` with `items`) updates the stored `ItemFlow` and `FlowDay`
  rows at once, after commit, in the request: `flow.incremental.flow_apply` (milliseconds);
* the summaries of a snapshot (`FlowSnapshot.figures`/`detail`: headline figures, percentiles, Monte
  Carlo forecasts, tables) and `FlowState.summary` are not maintained incrementally: every change marks
  them pending and requests the coalesced job (`recompute_request`), a full recompute that runs after
  the response (a Celery worker; on the embedded default a thread of the process, `flow.background`),
  so a burst of changes refreshes them once; the daily rows and item dates are current within
  milliseconds, the summaries within that job's time;
* the full recompute is also the nightly and hourly job, and the fallback whenever the incremental
  update cannot apply a change (a Definition of Workflow or time zone change, nothing stored yet).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from backlog.errors import DomainError, NotAllowed
from backlog.models import Nexus, Role, ScrumTeam, TeamInvolvement, WipLimitKind, WorkflowColumn
from backlog.selectors import roles_of
from backlog.services import nexus_update, team_update
from backlog.services.common import nexus_changed, structure_check
from flow import background, locks, metrics, store, team_level
from flow.gcpause import gc_paused
from flow.history import load_events, nexus_today, workflow_of
from flow.locks import flow_lock
from flow.models import FlowPendingItem, FlowSettings, FlowSnapshot, FlowState
from flow.report import HISTORY_DAYS, FlowData, flow_data_build, forecast_settings, item_keys, summary_of
from nexus_site.db import retry_transient

__all__ = [
    "flow_recompute",
    "flow_recompute_all",
    "flow_recompute_due",
    "flow_settings_set",
    "load_events",
    "nexus_today",
    "recompute_job",
    "recompute_request",
    "workflow_of",
]

log = logging.getLogger(__name__)
BATCH = 2000


def _teams_of(nexus: Nexus) -> dict[str, list[int]]:
    """Item key -> ids of the Scrum Teams forecast to work on it (sorted). One query."""
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


#: Kept for callers of the old name; see `flow.locks`.
RECOMPUTE_LOCK_CLASS = locks.RECOMPUTE_LOCK_CLASS


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
    teams_of = _teams_of(nexus)
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
    days_digests = [store.series_digest(start, sr) for start, sr in series]
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
            written += store.items_store(nexus_id=nexus.pk, rows=item_rows)
        written += team_level.team_items_store(nexus_id=nexus.pk, rows=team_items)
        # A scope whose stored rows are the first days of its series (the day turned, nothing else
        # changed: the digest of those days is the stored one) gets its new days, none read; the other
        # changed scopes are compared row by row.
        compare: dict[int, tuple[date, metrics.FlowSeries]] = {}
        extend: dict[int, tuple[date, metrics.FlowSeries, int]] = {}
        for snap, (start, scope_series), digest in zip(snapshots, series, days_digests, strict=True):
            old_digest, _, old_start, old_end = before.get(snap.pk, ("", "", None, None))
            if old_digest == digest:
                continue
            kept = (old_end - start).days + 1 if old_end is not None and old_start == start else 0
            if (
                old_digest
                and 0 < kept < len(scope_series)
                and old_digest == store.series_digest(start, scope_series, days=kept)
            ):
                extend[snap.pk] = (start, scope_series, kept)
            else:
                compare[snap.pk] = (start, scope_series)
        written += store.series_append(scopes=extend)
        written += store.series_store(scopes=compare)
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
    """The scopes' `FlowSnapshot` rows, updated in place (their daily rows stay, to be compared) or
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


def pending_items_keep(*, nexus_id: int, item_ids: Iterable[int]) -> None:
    """Keep changed items whose incremental update found a full recompute running (`BUSY`) for the
    next job to apply (`FlowPendingItem`, `recompute_job`). One query; an item kept already stays once."""
    rows = [FlowPendingItem(nexus_id=nexus_id, item_id=pk) for pk in sorted(set(item_ids))]
    FlowPendingItem.objects.bulk_create(rows, ignore_conflicts=True)


@retry_transient  # a deadlock: the job again (kept changes it took are then left to the full recompute)
def recompute_job(*, nexus_id: int) -> dict[str, Any]:
    """The coalesced job a change requests (`recompute_request`).

    First the changes a running full recompute turned away (`FlowPendingItem`) are applied by the
    incremental update, now that the flow lock is free. Then, when every change since the last full
    recompute was applied by the incremental update, the summaries are refreshed from the stored
    per-item rows (`flow.refresh.flow_refresh`, a fraction of the time); otherwise, or when the
    refresh cannot (the day turned, the teams or the Definition of Workflow changed, or the kept
    changes could not be applied), the full recompute runs. Returns the full recompute's summary, or
    {"refreshed": outcome}."""
    from flow.incremental import APPLIED, UNCHANGED, flow_apply
    from flow.refresh import FULL, flow_refresh

    # The claim released before anything is read: a change from here on queues the job after this one
    # (`recompute_request`), so none waits unseen for a job that read its inputs before it.
    FlowState.objects.filter(nexus_id=nexus_id).update(pending_since=None, enqueued_at=None)
    # The kept changes taken (read and deleted at once): one kept again from here on is a new row, for
    # the job after this one (applying an item twice is harmless; missing one is not).
    with transaction.atomic():
        kept = list(
            FlowPendingItem.objects.select_for_update().filter(nexus_id=nexus_id).values_list("pk", "item_id")
        )
        FlowPendingItem.objects.filter(pk__in=[pk for pk, _ in kept]).delete()
    if kept:
        try:
            applied = flow_apply(nexus_id=nexus_id, item_ids=[item_id for _, item_id in kept])
        except Exception:  # the changes stay to be shown: by the full recompute, which the sweep runs
            FlowState.objects.filter(nexus_id=nexus_id).update(full_needed=True, pending_since=timezone.now())
            raise
        if applied not in (APPLIED, UNCHANGED):  # another full recompute runs, or one is needed
            return flow_recompute(nexus_id=nexus_id)  # it reads the log after they were kept
    outcome = flow_refresh(nexus_id=nexus_id)
    if outcome == FULL:
        return flow_recompute(nexus_id=nexus_id)
    return {"refreshed": outcome}


def flow_recompute_logged(nexus_id: int, *, job: bool = False) -> bool:
    """`flow_recompute` (`recompute_job` with `job`), a failure logged and marked on the Nexus's
    `FlowState` instead of raised (for the jobs that run many, and the in-process thread). Returns
    whether it succeeded."""
    try:
        if job:
            recompute_job(nexus_id=nexus_id)
        else:
            flow_recompute(nexus_id=nexus_id)
        return True
    except Exception as exc:  # one broken Nexus must not stop the others
        log.exception("Flow recompute of Nexus %s failed", nexus_id)
        FlowState.objects.update_or_create(
            nexus_id=nexus_id, defaults={"last_error": f"recompute failed: {exc}"[:2000]}
        )
        return False


def flow_recompute_all() -> int:
    """Recompute every Nexus (the nightly job; also does recomputes left pending while the broker was
    down). A Nexus that fails is logged and marked, the others still run. Returns how many succeeded."""
    count = 0
    for nexus_id in Nexus.objects.values_list("id", flat=True):
        try:
            flow_recompute(nexus_id=nexus_id)
            count += 1
        except Exception as exc:  # one broken Nexus must not stop the nightly run
            log.exception("Flow recompute of Nexus %s failed", nexus_id)
            FlowState.objects.update_or_create(
                nexus_id=nexus_id, defaults={"last_error": f"recompute failed: {exc}"[:2000]}
            )
    return count


def flow_recompute_due() -> int:
    """Recompute the Nexuses whose stored figures are behind: never computed, computed on an earlier day
    than today in the Nexus's time zone (the hourly check makes "nightly" midnight in each time zone),
    or pending with no job queued (the broker was down). Returns how many were recomputed."""
    count = 0
    states = {s.nexus_id: s for s in FlowState.objects.all()}
    for nexus in Nexus.objects.all():
        state = states.get(nexus.pk)
        due = (
            state is None
            or state.computed_on is None
            or state.computed_on < nexus_today(nexus)
            or (state.pending_since is not None and state.enqueued_at is None)
        )
        if due:
            flow_recompute(nexus_id=nexus.pk)
            count += 1
    return count


def recompute_request(*, nexus_id: int, full: bool = True) -> bool:
    """Mark the Nexus's figures stale and enqueue one recompute unless one is queued already.

    `full=False` says the change was applied to the stored rows by the incremental update, so the job
    may refresh the summaries from them (`recompute_job`); any other change (the default) makes the
    next job the full recompute (`FlowState.full_needed`, cleared when one starts).

    Coalesced: only the first change after a job was queued enqueues; later ones find `enqueued_at`
    set. If the broker is unreachable the change still stands: the recompute stays pending (pages say
    since when) and the next change, job or the nightly run does it. Returns True when a job was sent.
    """
    from kombu.exceptions import OperationalError as BrokerError  # with Celery: not at Django's start

    from flow.tasks import recompute_nexus

    now = timezone.now()
    state, _ = FlowState.objects.get_or_create(nexus_id=nexus_id)
    if full and not state.full_needed:
        FlowState.objects.filter(pk=state.pk).update(full_needed=True)
    FlowState.objects.filter(pk=state.pk, pending_since__isnull=True).update(pending_since=now)
    free = Q(enqueued_at__isnull=True)
    if background.in_thread():
        # Several web processes (gunicorn workers) share the claim: one of them runs the job in its
        # thread a second later. A claim older than that process could take was lost with it (a
        # worker restarted or stopped): take it over.
        free |= Q(enqueued_at__lt=now - background.CLAIM_LOST_AFTER)
    claimed = FlowState.objects.filter(Q(pk=state.pk) & free).update(enqueued_at=now)
    if not claimed:
        return False
    try:
        if background.in_thread():
            background.schedule(nexus_id)  # the embedded default: after the response, in a thread
        else:
            recompute_nexus.delay(nexus_id)
    except BrokerError as exc:
        log.warning("Flow recompute for Nexus %s left pending: broker unreachable (%s)", nexus_id, exc)
        FlowState.objects.filter(pk=state.pk).update(
            enqueued_at=None, last_error=f"broker unreachable: {exc}"
        )
        return False
    return True


# --- Settings: Service Level Expectation and the kind of team and Nexus WIP limits -----------------------

SETTINGS_ROLES = {Role.PRODUCT_OWNER, Role.NIT_MEMBER}


#: The API permission rule of the flow settings (registered in `FlowConfig.ready`).
FLOW_SETTINGS_RULE = "flow_settings"


def can_edit_flow_settings(*, user: User | AnonymousUser, nexus: Nexus) -> bool:
    """The Product Owner, members of the Nexus Integration Team and superusers set SLEs and limit kinds."""
    if getattr(user, "is_superuser", False):
        return True
    return bool(roles_of(user=user, nexus=nexus) & SETTINGS_ROLES)


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def flow_settings_set(
    *,
    nexus: Nexus,
    team: ScrumTeam | None,
    actor: User | AnonymousUser | None,
    sle_percent: int,
    sle_days: int | None,
    wip_limit_kind: str = WipLimitKind.SOFT,
) -> FlowSettings:
    """Set the Service Level Expectation ("`sle_percent`% of items finish within `sle_days` days"; empty
    days = the default from recent Cycle Times) and the kind of the WIP limit of the Nexus (`team` None)
    or of one Scrum Team. The kind is part of the Definition of Workflow and lives in `backlog`: it is
    set through `nexus_update` or `team_update` (`wip_limit_kind`), in the same transaction. Returns the
    scope's row, its `team` and `nexus` as they are now (their `wip_limit_kind` included).

    Raises `NotAllowed` for anyone but the Product Owner, the Nexus Integration Team and admins,
    `DomainError` naming the field for invalid values, or `team` when the Scrum Team is of another
    Nexus or was deleted meanwhile.

    Runs under the Nexus lock (`structure_check`): a concurrent deletion of the team either committed
    before (refused, naming `team`) or waits for this write; and two concurrent writes of the same
    scope are serialised, so the second updates the row the first created (no unique-constraint
    failure, a 500)."""
    if actor is None or not can_edit_flow_settings(user=actor, nexus=nexus):
        raise NotAllowed(
            "Only the Product Owner and the Nexus Integration Team set Service Level Expectations.",
            field=None,
        )
    if team is not None and team.nexus_id != nexus.pk:
        raise DomainError("That Scrum Team is in another Nexus.", field="team")
    if not isinstance(sle_percent, int) or not 1 <= sle_percent <= 100:
        raise DomainError("The percentage is a whole number from 1 to 100.", field="sle_percent")
    if sle_days is not None and (not isinstance(sle_days, int) or not 1 <= sle_days <= 3650):
        raise DomainError(
            "The days are a whole number from 1 to 3650, or empty for the default.", field="sle_days"
        )
    if wip_limit_kind not in WipLimitKind.values:
        raise DomainError("The WIP limit kind is 'hard' or 'soft'.", field="wip_limit_kind")
    _, now_teams = structure_check(nexus_id=nexus.pk, teams=[team] if team else [], teams_field="team")
    if team is not None:
        scope_team: ScrumTeam | None = team_update(team=now_teams[team.pk], wip_limit_kind=wip_limit_kind)
        scope_nexus = nexus
    else:
        scope_team, scope_nexus = None, nexus_update(nexus=nexus, wip_limit_kind=wip_limit_kind)
    row, _ = FlowSettings.objects.update_or_create(
        nexus=nexus,
        team=team,
        defaults={
            "sle_percent": sle_percent,
            "sle_days": sle_days,
            "updated_by": actor if isinstance(actor, User) else None,
        },
    )
    row.nexus, row.team = scope_nexus, scope_team
    nexus_changed(nexus.pk)  # settings are Nexus data; the recompute's stored figures are not
    return row
