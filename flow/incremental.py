"""The incremental update of stored flow figures: a change of a few items costs milliseconds.

A change that flow metrics read (a column change, a team square, the Scrum Teams forecast on an item,
a deletion or restore; `backlog.signals.items_changed` with `items`) does not recompute the Nexus.
`flow_apply` replaces, in the stored figures, the part of each changed item:

* its old part is what its `ItemFlow` row says (milestones, first day, the Scrum Teams it counted
  for); its new part is computed from its own column changes (`flow.metrics.item_flow`, the same
  rules as the full recompute) and its Scrum Teams now;
* the difference is a handful of dated steps per series (WIP +1 from its start day, -1 after its
  finish day; Throughput on its finish day; each CFD column +1 from its milestone), added to the days
  from the first one it changes onward of the stored daily series (`FlowSeries`, `flow.series`: one
  array per scope, read and written whole) of the Nexus and of each Scrum Team the item counts (or
  counted) for; a move today changes today's values of each;
* the series of every scope runs to today: when the day has turned since the rows were written, each
  scope gets the missing days (the last day carried forward: nothing happened on them); a scope's first
  day moves when its earliest item joins or leaves it.

A Scrum Team whose figures have the team basis (its own flow, `flow.team_level`) counts an item by its
team square instead: the item's old part in that scope is its `ItemTeamFlow` row, its new part is
computed from its team-level rows (`team_added`, `team_status`, `team_column`) over the four square
states, with the same rules; a square change (or a move on the team's board) therefore updates the
team's rows here. A team's first team-level row changes the basis of its figures: the full recompute's
job (`FULL`).

The result equals a full recompute as of the same day, row by row and item by item
(`tests/flow/test_incremental.py`, a Hypothesis property test). The headline figures, percentiles and
Monte Carlo forecasts of `FlowSnapshot.figures`/`detail` and `FlowState.summary` are not touched here:
the figures are marked pending, each scope whose rows changed gets a new version of its rows
(`FlowSnapshot.rows_version`), and the coalesced recompute job refreshes those scopes' summaries
after the response (`flow.services.recompute_request`, `flow.refresh`). Whatever the incremental update
cannot do alone it hands to that job by returning `FULL` (nothing stored yet, rows stored before
milestones were kept, the Definition of Workflow or the time zone changed since, a new Scrum Team, a
team's first team-level row) or `BUSY` (a full recompute holds the Nexus's flow lock: the job queued
after it will see the change).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Min
from django.db.models.fields.json import KeyTransform

from backlog.models import Nexus, TeamInvolvement, WorkflowColumn
from flow import metrics, store, team_level
from flow import series as flow_series
from flow.history import nexus_today, workflow_of
from flow.item_log import item_log
from flow.locks import flow_lock
from flow.models import FlowSnapshot, ItemFlow, ItemTeamFlow
from flow.report import WORKFLOW_KEYS, workflow_key

__all__ = ["APPLIED", "BUSY", "FULL", "UNCHANGED", "flow_apply"]

APPLIED, UNCHANGED, FULL, BUSY = "applied", "unchanged", "full", "busy"

#: One series' steps: day -> change of the running value from that day on.
Steps = dict[date, int]


class _Scope:
    """The steps of one scope's series (wip, wip_eod, throughput, then one per CFD column)."""

    def __init__(self, n_cols: int) -> None:
        self.steps: list[Steps] = [defaultdict(int) for _ in range(3 + n_cols)]

    def add(self, it: metrics.ItemFlow | None, sign: int, workflow: metrics.Workflow) -> None:
        if it is None:
            return
        wip, eod, thr = self.steps[0], self.steps[1], self.steps[2]
        for k, m in enumerate(it.milestones):
            if m is not None:
                self.steps[3 + k][m] += sign
        s, f = it.started, it.finished
        if s is not None:
            wip[s] += sign
            eod[s] += sign
            if f is not None:
                after = f + timedelta(days=1)
                wip[after] -= sign
                eod[f] -= sign
                thr[f] += sign
                thr[after] -= sign

    def runs(self, first: date, last: date) -> list[tuple[date, date, list[int]]]:
        """The change of each series over the days `first..last`, as runs (first day, last day
        inclusive, change) where it is constant and not zero, in order of day. A back-move changes
        every day since the item started, but only a few runs, each added to its days of the stored
        series at once (`flow.series.add_runs`)."""
        changes: dict[date, list[int]] = {}
        for i, series in enumerate(self.steps):
            for day, v in series.items():
                if v:
                    changes.setdefault(day, [0] * len(self.steps))[i] += v
        days = sorted(changes)
        run = [0] * len(self.steps)
        out: list[tuple[date, date, list[int]]] = []
        for k, day in enumerate(days):
            run = [a + b for a, b in zip(run, changes[day], strict=True)]
            end = days[k + 1] - timedelta(days=1) if k + 1 < len(days) else last
            lo, hi = max(day, first), min(end, last)
            if lo <= hi and any(run):
                out.append((lo, hi, run))
        return out


def _stored_item(row: tuple[Any, ...], workflow: metrics.Workflow) -> metrics.ItemFlow:
    started, finished, cycle, ordinals = row[0], row[1], row[2], row[3]
    ms = tuple(date.fromordinal(o) if o is not None else None for o in ordinals)
    column = max((k for k, m in enumerate(ms) if m is not None), default=0)
    return metrics.ItemFlow("", column, started, finished, cycle, ms)


def flow_apply(*, nexus_id: int, item_ids: Iterable[int], as_of: date | None = None) -> str:
    """Update the stored flow figures of a Nexus for a change of the items `item_ids`: their
    `ItemFlow` rows and the daily series (`FlowSeries`) of the Nexus and of each Scrum Team they count or
    counted for, from the first day that changes to `as_of` (default: today in the Nexus's time zone),
    as a full recompute as of that day would store them. See the module docstring.

    Returns `APPLIED`; `UNCHANGED` when the items' part is what is stored (nothing was written, and
    no figure changes); `FULL` when a full recompute is needed instead (nothing was written); `BUSY`
    when a recompute holds the Nexus's flow lock (nothing was written; the recompute queued after it
    covers the change). A constant number of queries, whatever the size of the Nexus (about a dozen);
    the rows written are the days that change."""
    ids = sorted(set(item_ids))
    nexus = Nexus.objects.filter(pk=nexus_id).first()
    if nexus is None or not ids:
        return UNCHANGED
    with flow_lock(nexus_id, wait=False) as got, transaction.atomic(savepoint=False):
        if not got:
            return BUSY
        return _apply_locked(nexus=nexus, ids=ids, as_of=as_of or nexus_today(nexus))


def _apply_locked(*, nexus: Nexus, ids: list[int], as_of: date) -> str:
    """`flow_apply` under the Nexus's flow lock, in its transaction: check that the stored figures can
    take the change, compute the items' parts before and after (`_parts`), the steps they make in each
    scope (`_steps`), the rows to shift, insert and delete (`_plan`), then write (`_write`)."""
    snaps = _snapshots_locked(nexus)
    columns = list(WorkflowColumn.objects.filter(nexus=nexus).order_by("position"))
    nexus_snap = snaps.get(None)
    if not columns or nexus_snap is None:
        return FULL
    workflow = workflow_of(columns)
    if tuple(getattr(nexus_snap, f"wf_{k}") for k in WORKFLOW_KEYS) != workflow_key(workflow) or any(
        s.end > as_of or s.as_of > as_of for s in snaps.values()
    ):
        return FULL  # the Definition of Workflow or the time zone changed: the full recompute's job
    n_cols = len(workflow.columns)
    # The Scrum Teams whose figures are their own flow (`flow.team_level`): their part of an item is
    # its team square's history, stored in `ItemTeamFlow`; the other teams' part is its `ItemFlow`.
    own = {t for t, snap in snaps.items() if t is not None and snap.basis == team_level.BASIS_TEAM}
    width = {t: len(team_level.TEAM_STATES) if t in own else n_cols for t in snaps}
    parts = _parts(nexus=nexus, ids=ids, columns=columns, workflow=workflow, own=own, as_of=as_of)
    if isinstance(parts, str):
        return parts
    if parts.unchanged():
        return UNCHANGED  # nothing flow reads changed
    steps = _steps(ids=ids, parts=parts, workflow=workflow, own=own, width=width, n_cols=n_cols)
    if any(team not in snaps for team in steps.concerned):
        return FULL  # a Scrum Team without stored figures yet
    plan = _plan(nexus=nexus, ids=ids, snaps=snaps, steps=steps, own=own, width=width, as_of=as_of)
    if isinstance(plan, str):
        return plan
    _write(nexus=nexus, parts=parts, plan=plan)
    # The scopes whose summaries no longer match their rows: those the changed items are in, and those
    # extended to a new day. The refresh makes theirs again and leaves the others (`flow.refresh`).
    changed_scopes = {snaps[team].pk for team in steps.concerned} | {row[0] for row in plan.snap_updates}
    FlowSnapshot.objects.filter(pk__in=changed_scopes).update(rows_version=F("rows_version") + 1)
    return APPLIED


def _snapshots_locked(nexus: Nexus) -> dict[int | None, FlowSnapshot]:
    """The Nexus's snapshots by team id (None = the Nexus), their rows locked. Locked first, in id
    order, as the refresh of the summaries locks them (`flow.refresh`): the two write them in one
    order, never in a lock cycle. Of the figures (tens of KB of JSON per scope) only the Definition of
    Workflow they were made with is read (`wf_<key>`, `WORKFLOW_KEYS`). One query."""
    return {
        s.team_id: s
        for s in FlowSnapshot.objects.filter(nexus=nexus)
        .select_for_update()
        .order_by("pk")
        .only("id", "team", "as_of", "start", "end", "basis", "days_digest", "items_digest")
        .annotate(**{f"wf_{k}": KeyTransform(k, "figures") for k in WORKFLOW_KEYS})
    }


@dataclass
class _Parts:
    """The changed items' parts in the figures, as stored and as they are now."""

    #: item id -> its stored `ItemFlow` values (`store.ITEM_FIELDS`)
    old_rows: dict[int, tuple[Any, ...]]
    #: item id -> its new `ItemFlow` values; an item that no longer counts has none
    new_rows: dict[int, store.ItemRow]
    #: item id -> its flow now (`metrics.item_flow`), None when it no longer counts
    news: dict[int, metrics.ItemFlow | None]
    #: (item id, team id) -> (`ItemTeamFlow` pk, stored values), for the team-basis scopes
    old_team: dict[tuple[int, int], tuple[int, team_level.TeamItemRow]]
    #: (item id, team id) -> new `ItemTeamFlow` values
    new_team: dict[tuple[int, int], team_level.TeamItemRow]

    def unchanged(self) -> bool:
        return self.new_rows == {k: tuple(v) for k, v in self.old_rows.items()} and self.new_team == {
            k: v for k, (_, v) in self.old_team.items()
        }


def _parts(
    *,
    nexus: Nexus,
    ids: list[int],
    columns: list[WorkflowColumn],
    workflow: metrics.Workflow,
    own: set[int],
    as_of: date,
) -> _Parts | str:
    """The items' stored rows and their new ones, computed from their log (`flow.item_log`) with the
    full recompute's rules; for the team-basis scopes (`own`), their `ItemTeamFlow` rows likewise.
    Returns `FULL` for rows stored before milestones were kept, or a team's first team-level row (its
    figures change basis). Four queries at most."""
    old_rows = {
        item_id: rest
        for item_id, *rest in ItemFlow.objects.filter(item_id__in=ids).values_list(
            "item_id", *store.ITEM_FIELDS
        )
    }
    if any(row[3] is None for row in old_rows.values()):
        return FULL  # stored before milestones were kept
    # The items' log: column events, team-level rows and team events, in one query (`flow.item_log`).
    log = item_log(nexus.pk, nexus.time_zone, columns, ids)
    by_item = log.events
    teams_now: dict[int, list[int]] = defaultdict(list)
    for item_id, team_id in (
        TeamInvolvement.objects.filter(item_id__in=ids).order_by("team_id").values_list("item_id", "team_id")
    ):
        teams_now[item_id].append(team_id)

    new_rows: dict[int, store.ItemRow] = {}
    news: dict[int, metrics.ItemFlow | None] = {}
    for item_id in ids:
        evs = by_item.get(str(item_id), [])
        it = metrics.item_flow(str(item_id), evs, workflow, as_of=as_of)
        news[item_id] = it
        if it is not None:
            first = min(ev.day for ev in evs if ev.column is not None and ev.day <= as_of)
            new_rows[item_id] = (
                it.started,
                it.finished,
                it.cycle_time,
                [m.toordinal() if m is not None else None for m in it.milestones],
                first,
                teams_now.get(item_id, []),
            )
    # Team-level history: a team gaining its first square change changes basis (the full recompute's
    # job); the team-basis scopes' parts of the items, before and after. Only the teams with
    # team-level rows in the items' log, or forecast on them now or before, can have a part
    # (`ItemTeamFlow` rows are made from those rows, and from the Nexus columns of an imported square,
    # `team_level.nexus_fallback`): a column change of items no team-basis team works on reads nothing
    # more.
    if log.with_history - own:
        return FULL
    forecast_now = {t for teams in teams_now.values() for t in teams}
    forecast_before = {t for row in old_rows.values() for t in row[5]}
    team_ids = sorted((log.with_rows | forecast_now | forecast_before) & own)
    old_team: dict[tuple[int, int], tuple[int, team_level.TeamItemRow]] = {}
    new_team: dict[tuple[int, int], team_level.TeamItemRow] = {}
    if team_ids:
        for pk, item_id, team_id, *team_values in ItemTeamFlow.objects.filter(
            item_id__in=ids, team_id__in=team_ids
        ).values_list("id", "item_id", "team_id", *team_level.TEAM_ITEM_FIELDS):
            old_team[(item_id, team_id)] = (pk, (*team_values,))
        for team_id in team_ids:
            evs = team_level.nexus_fallback(
                log.team_events.get(team_id, []),
                team_id=team_id,
                item_keys=[str(i) for i in ids if team_id in teams_now.get(i, ())],
                nexus_events=by_item,
                added=log.created_squares,
                workflow=workflow,
            )
            per_item: dict[str, list[metrics.ItemEvent]] = defaultdict(list)
            for ev in evs:
                per_item[ev.item].append(ev)
            for key, item_evs in per_item.items():
                team_it = metrics.item_flow(key, item_evs, team_level.TEAM_WORKFLOW, as_of=as_of)
                if team_it is not None:
                    first_team = team_level.first_days(item_evs, as_of=as_of)[key]
                    new_team[(int(key), team_id)] = team_level.team_item_row(team_it, first_team)
    return _Parts(old_rows, new_rows, news, old_team, new_team)


@dataclass
class _Steps:
    """The change in each scope concerned (team id, None = the Nexus) and the first days of the items
    it loses and gains there."""

    concerned: dict[int | None, _Scope]
    old_first: dict[int | None, list[date]]
    new_first: dict[int | None, list[date]]


def _steps(
    *,
    ids: list[int],
    parts: _Parts,
    workflow: metrics.Workflow,
    own: set[int],
    width: dict[int | None, int],
    n_cols: int,
) -> _Steps:
    """Each item's part taken out of the scopes it counted for (the Nexus, and the Nexus-basis teams
    its stored row names, or the team-basis teams its `ItemTeamFlow` rows name) and its new part added
    to those it counts for now. No query."""
    concerned: dict[int | None, _Scope] = {None: _Scope(n_cols)}

    def scope_of(team: int | None) -> _Scope:
        if team not in concerned:
            concerned[team] = _Scope(width.get(team, n_cols))
        return concerned[team]

    old_first: dict[int | None, list[date]] = defaultdict(list)
    new_first: dict[int | None, list[date]] = defaultdict(list)
    for item_id in ids:
        old = parts.old_rows.get(item_id)
        new = parts.new_rows.get(item_id)
        old_it = _stored_item(tuple(old), workflow) if old is not None else None
        new_it = parts.news[item_id]
        old_scopes = [None, *(t for t in old[5] if t not in own)] if old is not None else []
        new_scopes = [None, *(t for t in new[5] if t not in own)] if new is not None else []
        for team in old_scopes:
            scope_of(team).add(old_it, -1, workflow)
            assert old is not None
            if old[4] is not None:
                old_first[team].append(old[4])
        for team in new_scopes:
            scope_of(team).add(new_it, +1, workflow)
            assert new is not None
            assert new[4] is not None
            new_first[team].append(new[4])
    for (_, team), (_, team_row) in parts.old_team.items():
        scope_of(team).add(team_level.stored_item(team_row), -1, team_level.TEAM_WORKFLOW)
        old_first[team].append(team_row[4])
    for (_, team), team_row in parts.new_team.items():
        scope_of(team).add(team_level.stored_item(team_row), +1, team_level.TEAM_WORKFLOW)
        new_first[team].append(team_row[4])
    return _Steps(concerned, old_first, new_first)


@dataclass
class _Plan:
    """What to write to the daily series and the snapshots."""

    #: snapshot id -> its new series (first day, values (width, days)), written whole (`flow.series`)
    series: dict[int, flow_series.Loaded] = field(default_factory=dict)
    #: (snapshot id, as_of, start, end, days digest, items digest)
    snap_updates: list[tuple[Any, ...]] = field(default_factory=list)


def _plan(
    *,
    nexus: Nexus,
    ids: list[int],
    snaps: dict[int | None, FlowSnapshot],
    steps: _Steps,
    own: set[int],
    width: dict[int | None, int],
    as_of: date,
) -> _Plan | str:
    """The series each scope must have (its first day to `as_of`) and how to get there from the stored
    one: the stored days kept, the days since its last one carried forward (nothing happened on them),
    zeros before its old first day when that moved earlier, days before a later first day dropped, and
    the change added to each day it affects; the digests of what changes cleared. Only the scopes the
    change concerns and those behind `as_of` (the day turned) are read and written. Returns `FULL` when
    one of their stored series is missing or is not its snapshot's days. Reads those series (one query)
    and, when a scope's earliest item left it, the first day of its other items (one query at most)."""
    concerned, old_first, new_first = steps.concerned, steps.old_first, steps.new_first
    work = {team: snap for team, snap in snaps.items() if team in concerned or snap.end != as_of}
    stored = flow_series.load(snap.pk for snap in work.values())

    # Scopes whose earliest item left: their new first day, from the stored items. One query at most.
    rescan = {
        team
        for team, days in old_first.items()
        if snaps[team].start in days and snaps[team].start not in new_first.get(team, [])
    }
    rescan_nexus = {t for t in rescan if t not in own}
    scanned = _first_days(nexus.pk, rescan_nexus, exclude=ids) if rescan_nexus else {}
    if rescan - rescan_nexus:
        scanned.update(
            ItemTeamFlow.objects.filter(team_id__in=rescan - rescan_nexus)
            .exclude(item_id__in=ids)
            .values_list("team_id")
            .annotate(first=Min("first_day"))
            .order_by()
        )

    plan = _Plan()
    for team, snap in work.items():
        loaded = stored.get(snap.pk)
        if (
            loaded is None
            or loaded[0] != snap.start
            or flow_series.last_day(loaded) != snap.end
            or loaded[1].shape[0] != 3 + width[team]
        ):
            return FULL  # the stored series is not what it should be: rebuild it
        members = int(loaded[1][3, -1])  # CFD of the first column on the last day: the scope's items
        scope = concerned.get(team)
        start = snap.start if members else as_of  # an empty scope's series is the one day as_of
        if scope is not None:
            if members == 0:
                base: date | None = None
            elif team in rescan:
                base = scanned.get(team)
            else:
                base = snap.start
            candidates = [d for d in (base, *new_first.get(team, [])) if d is not None]
            start = min(candidates) if candidates else as_of
        # The days the scope must have, start..as_of, from the stored ones; then the change of each day.
        values = flow_series.extended(loaded, start=start, end=as_of)
        runs = scope.runs(start, as_of) if scope is not None else []
        flow_series.add_runs(values, start, runs)
        moved = (snap.start, snap.end, snap.as_of) != (start, as_of, as_of)
        if runs or moved:  # else its series is the stored one: nothing to write
            plan.series[snap.pk] = (start, values)
        if moved:
            plan.snap_updates.append((snap.pk, as_of, start, as_of, "", ""))
        elif (team is None or runs) and (snap.days_digest or snap.items_digest):
            # rows (or, for the Nexus, items) written: the digests of the last full recompute no longer
            # say what is stored (`flow.services`: the next one compares these rows one by one); once
            # cleared, they stay so until that recompute
            plan.snap_updates.append((snap.pk, snap.as_of, snap.start, snap.end, "", ""))
    return plan


def _write(*, nexus: Nexus, parts: _Parts, plan: _Plan) -> None:
    """Write the items' rows, then the daily series and the snapshots. A constant number of statements."""
    old_rows, new_rows, old_team, new_team = parts.old_rows, parts.new_rows, parts.old_team, parts.new_team
    gone = [pk for pk in old_rows if pk not in new_rows]
    changed = [pk for pk in new_rows if pk in old_rows and tuple(old_rows[pk]) != new_rows[pk]]
    added = [(pk, nexus.pk, *row) for pk, row in new_rows.items() if pk not in old_rows]
    store.rows_delete(ItemFlow, gone)
    store.rows_update(ItemFlow, store.ITEM_FIELDS, [(pk, *new_rows[pk]) for pk in changed])
    store.rows_insert(ItemFlow, ("item_id", "nexus_id", *store.ITEM_FIELDS), added)
    store.rows_delete(ItemTeamFlow, [pk for key, (pk, _) in old_team.items() if key not in new_team])
    store.rows_update(
        ItemTeamFlow,
        team_level.TEAM_ITEM_FIELDS,
        [(old_team[k][0], *v) for k, v in new_team.items() if k in old_team and old_team[k][1] != v],
    )
    store.rows_insert(
        ItemTeamFlow,
        ("item_id", "team_id", "nexus_id", *team_level.TEAM_ITEM_FIELDS),
        [(k[0], k[1], nexus.pk, *v) for k, v in new_team.items() if k not in old_team],
    )
    flow_series.save(plan.series)
    store.rows_update(
        FlowSnapshot, ("as_of", "start", "end", "days_digest", "items_digest"), plan.snap_updates
    )


def _first_days(nexus_id: int, scopes: set[int | None], *, exclude: list[int]) -> dict[int | None, date]:
    """The first day of each of `scopes` (None = the Nexus) over the stored items other than
    `exclude`: the earliest `first_day` of an item counted in it. Reads the stored items in order of
    first day, stopping when every scope has its day. One query."""
    found: dict[int | None, date] = {}
    qs = (
        ItemFlow.objects.filter(nexus_id=nexus_id, first_day__isnull=False)
        .exclude(item_id__in=exclude)
        .order_by("first_day")
        .values_list("first_day", "teams")
    )
    for first_day, teams in qs.iterator(chunk_size=500):
        assert first_day is not None  # filtered above
        for scope in (None, *teams):
            if scope in scopes and scope not in found:
                found[scope] = first_day
        if len(found) == len(scopes):
            break
    return found
