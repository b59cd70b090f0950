"""The summaries of the stored flow figures refreshed from the stored per-item rows, without the log.

After changes the incremental update applied (`flow.incremental.flow_apply`), the per-item rows
(`ItemFlow`, `ItemTeamFlow`) and the daily series (`FlowSeries`) are current, and only the summaries of each
scope are stale: `FlowSnapshot.figures`/`detail` (headline figures, percentiles, Monte Carlo forecasts,
tables, chart lists) and `FlowState.summary`. The coalesced job (`flow.services.recompute_job`) then
runs `flow_refresh`, which makes them from the stored per-item rows: their milestones (date ordinals,
one per column), first day and Scrum Teams, in item id order (the order the full recompute replays the
log in, so ties fall the same way), each item's current column being its last milestone (as the replay
has it). It reads two tables instead of the whole transition log, replays nothing, and writes only the
snapshots and the summary. Only the scopes whose summaries are stale are made again: the Nexus's, and
those of the Scrum Teams whose rows an incremental update changed since their summaries were made
(`FlowSnapshot.rows_version` past `summaries_version`; a change touches the Nexus and the teams of its
items) or whose summaries were made with other forecast settings; the other teams' summaries are those
of their rows already, as of the same day. On the synthetic Nexus of `make bench` (42,561 PBIs, 200,000
transitions) a fraction of the full recompute's time (bench row "flow: coalesced job after an
incremental update").

The result equals the full recompute's as of the same day (`tests/flow/test_incremental.py`: after each
random sequence of changes, the refreshed figures, details and summary are compared with the full
recompute's). Whatever the stored rows cannot tell, the full recompute does: `flow_refresh` returns
`FULL` without writing when a change since the last full recompute was not applied incrementally
(`FlowState.full_needed`), when the day has turned since the rows were written, when the Scrum Teams or
the Definition of Workflow differ from the stored snapshots', or when nothing is stored.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, overload

import numpy as np
from django.db import transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from backlog.models import Nexus, ScrumTeam, WorkflowColumn
from flow import metrics, store, team_level
from flow.gcpause import gc_paused
from flow.history import nexus_today, workflow_of
from flow.models import FlowSnapshot, FlowState, ItemFlow, ItemTeamFlow
from flow.report import (
    HISTORY_DAYS,
    SNAPSHOT_FORMAT,
    WORKFLOW_KEYS,
    FlowData,
    flow_data_build,
    forecast_settings,
    item_keys,
    summary_of,
    workflow_key,
)
from flow.store import int_list, json_text

__all__ = ["FULL", "REFRESHED", "SUPERSEDED", "flow_refresh"]

REFRESHED, FULL, SUPERSEDED = "refreshed", "full", "superseded"
#: The keys of a snapshot's figures that say with what its summaries were made, besides its rows.
MADE_WITH_KEYS = ("format", "mc_days", "mc_items", "mc_history_days")
log = logging.getLogger("flow.services")
#: What the refresh writes of a stale scope's snapshot: its summaries (and of every snapshot of the Nexus
#: `computed_at`, of the stale ones `summaries_version`). Its dates and digests are the incremental
#: update's and the full recompute's (a refresh writing back the digests it read would undo the
#: incremental update's clearing them, and the next full recompute would trust them).
REFRESH_FIELDS = ("figures", "detail")


def _ordinals(texts: list[str], width: int) -> Any:
    """The stored milestones (JSON text: `[738000, null, ...]`) as an items x `width` array of date
    ordinals, 0 = none; None when a row does not have `width` of them (stored for another workflow)."""
    if not texts:
        return np.zeros((0, width), dtype=np.int64)
    flat = ",".join(t.strip()[1:-1] for t in texts).replace("null", "0")
    values = np.fromstring(flat, dtype=np.int64, sep=",") if flat.strip() else np.zeros(0, np.int64)
    if values.size != len(texts) * width:
        return None
    return values.reshape(len(texts), width)


class _StoredItems(Sequence[metrics.ItemFlow]):
    """The engine's items for `compute_flow_of_items`: their keys and current columns (the last set
    milestone); the figures come from the milestones' array, not from these items' dates. Each item is
    made when read: the engine reads only those in progress (their Work Item Age), and the scatterplot's
    labels are given apart (`flow_data_build`'s `labels`)."""

    def __init__(self, ids: list[int], columns: list[int]) -> None:
        self.ids, self.columns = ids, columns

    @classmethod
    def of(cls, ids: list[int], ms: Any) -> _StoredItems:
        width = ms.shape[1]
        set_ = ms > 0
        last = np.where(set_.any(axis=1), width - 1 - np.argmax(set_[:, ::-1], axis=1), 0).tolist()
        return cls(ids, last)

    def subset(self, indexes: list[int]) -> _StoredItems:
        return _StoredItems([self.ids[i] for i in indexes], [self.columns[i] for i in indexes])

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> metrics.ItemFlow: ...

    @overload
    def __getitem__(self, index: slice) -> list[metrics.ItemFlow]: ...

    def __getitem__(self, index: int | slice) -> metrics.ItemFlow | list[metrics.ItemFlow]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return metrics.ItemFlow(str(self.ids[index]), self.columns[index], None, None, None, ())


def flow_refresh(*, nexus_id: int) -> str:
    """Refresh the summaries of the stored flow figures of a Nexus (each scope's `FlowSnapshot.figures`
    and `detail`, and `FlowState.summary`) from its stored per-item rows, as of today in its time zone.
    See the module docstring.

    Takes no lock while it reads and computes (an incremental update meanwhile is not turned away): it
    writes in one short transaction that locks the Nexus's `FlowState` row, and only if no job that
    started later has written already (`FlowState.computed_at` older than this job's start), so an
    older job never overwrites newer figures. Returns `REFRESHED`; `SUPERSEDED` when a later job wrote
    first (nothing written); `FULL` when only the full recompute can make them (nothing written; the
    Nexus is marked `full_needed`). A constant number of queries."""
    nexus = Nexus.objects.filter(pk=nexus_id).first()
    if nexus is None:
        return FULL
    state, _ = FlowState.objects.get_or_create(nexus=nexus)
    started = timezone.now()
    # The claim released before `full_needed` is read: a change marking it from here on queues the job
    # after this one (`flow.services.recompute_request`) instead of finding this one still claimed.
    FlowState.objects.filter(pk=state.pk).update(pending_since=None, enqueued_at=None)
    if FlowState.objects.filter(pk=state.pk, full_needed=True).exists():
        return FULL
    with gc_paused():
        outcome = _refresh(nexus=nexus, started=started)
    if outcome == FULL:  # the change the job was asked for still has to be shown: the full recompute's
        FlowState.objects.filter(pk=state.pk).update(full_needed=True)
    return outcome


def _refresh(*, nexus: Nexus, started: Any) -> str:
    t0 = time.perf_counter()
    as_of = nexus_today(nexus)
    columns = list(WorkflowColumn.objects.filter(nexus=nexus).order_by("position"))
    snaps = {s.team_id: s for s in FlowSnapshot.objects.filter(nexus=nexus).defer("figures", "detail")}
    teams = list(ScrumTeam.objects.filter(nexus=nexus))
    nexus_snap = snaps.get(None)
    if not columns or nexus_snap is None or set(snaps) != {None, *(t.pk for t in teams)}:
        return FULL
    if any(s.as_of != as_of or s.end != as_of for s in snaps.values()):
        return FULL  # the day turned since the rows were written (or they are of another day)
    workflow = workflow_of(columns)
    mc = forecast_settings(nexus)
    made_with = (SNAPSHOT_FORMAT, mc["mc_days"], mc["mc_items"], mc["history_days"])
    stored_keys = {
        team_id: (tuple(values[: len(WORKFLOW_KEYS)]), tuple(values[len(WORKFLOW_KEYS) :]))
        for team_id, *values in FlowSnapshot.objects.filter(nexus=nexus).values_list(
            "team_id", *(f"figures__{k}" for k in (*WORKFLOW_KEYS, *MADE_WITH_KEYS))
        )
    }
    if stored_keys[None][0] != workflow_key(workflow):
        return FULL  # the Definition of Workflow changed since
    # The Scrum Teams whose summaries are not those of their stored rows: changed since (see
    # `FlowSnapshot.rows_version`, read before the rows), or made with other forecast settings or
    # another format. The others are left as they are; the Nexus's are always made.
    stale = {
        t.pk
        for t in teams
        if snaps[t.pk].summaries_version != snaps[t.pk].rows_version or stored_keys[t.pk][1] != made_with
    }
    n_cols = len(workflow.columns)

    # The stored per-item rows, in item id order: ids, milestones, first days, Scrum Teams.
    ids: list[int] = []
    texts: list[str] = []
    firsts: list[Any] = []
    team_texts: list[str] = []
    for pk, milestones, first, teams_text in (
        ItemFlow.objects.filter(nexus=nexus)
        .order_by("item_id")
        .values_list("item_id", json_text("milestones"), "first_day", json_text("teams"))
        .iterator(chunk_size=5000)
    ):
        if milestones is None or first is None:
            return FULL  # rows stored before milestones were kept
        ids.append(pk)
        texts.append(milestones)
        firsts.append(first)
        team_texts.append(teams_text)
    ms = _ordinals(texts, n_cols)
    if ms is None:
        return FULL
    del texts
    items = _StoredItems.of(ids, ms)
    keys = item_keys(nexus)
    labels = [keys.get(k, k) for k in map(str, ids)]  # the scatterplot's, made once for every scope
    now = started
    result = metrics.compute_flow_of_items(
        items,
        workflow,
        as_of=as_of,
        start=min(firsts, default=as_of),
        history_days=HISTORY_DAYS,
        milestone_ordinals=ms,
    )
    if result.start != nexus_snap.start:
        return FULL  # the stored rows do not say what the stored series is made of
    scopes: list[FlowData] = [
        flow_data_build(
            nexus=nexus,
            team=None,
            result=result,
            keys=keys,
            computed_at=now,
            stored=True,
            labels=labels,
            **mc,
        )
    ]
    own = [t.pk for t in teams if t.pk in stale and snaps[t.pk].basis == team_level.BASIS_TEAM]
    per_team: dict[int, list[int]] = defaultdict(list)
    on_nexus_basis = stale.difference(own)
    if on_nexus_basis:  # the items of the stale teams on the Nexus basis (text tested before it is read)
        digits = [str(t) for t in on_nexus_basis]
        for i, text in enumerate(team_texts):
            if any(d in text for d in digits):
                for team_id in int_list(text):
                    if team_id in on_nexus_basis:
                        per_team[team_id].append(i)
    team_rows: dict[int, tuple[list[int], list[str], list[Any]]] = {t: ([], [], []) for t in own}
    imported = team_level.imported_squares(nexus, own) if own else {}
    if own:
        for item_id, team_id, milestones, first in (
            ItemTeamFlow.objects.filter(team_id__in=own)
            .order_by("item_id")
            .values_list("item_id", "team_id", json_text("milestones"), "first_day")
        ):
            rows = team_rows[team_id]
            rows[0].append(item_id)
            rows[1].append(milestones)
            rows[2].append(first)
    for team in teams:
        snap = snaps[team.pk]
        if team.pk not in stale:
            continue
        if team.pk in team_rows:
            t_ids, t_texts, t_firsts = team_rows[team.pk]
            t_ms = _ordinals(t_texts, len(team_level.TEAM_STATES))
            if t_ms is None:
                return FULL
            t_items = _StoredItems.of(t_ids, t_ms)
            t_labels = [keys.get(k, k) for k in map(str, t_ids)]
            team_result = metrics.compute_flow_of_items(
                t_items,
                team_level.TEAM_WORKFLOW,
                as_of=as_of,
                start=min(t_firsts, default=as_of),
                history_days=HISTORY_DAYS,
                milestone_ordinals=t_ms,
            )
        else:
            indexes = per_team.get(team.pk, [])
            t_labels = [labels[i] for i in indexes]
            team_result = metrics.compute_flow_of_items(
                items.subset(indexes),
                workflow,
                as_of=as_of,
                start=min((firsts[i] for i in indexes), default=as_of),
                history_days=HISTORY_DAYS,
                milestone_ordinals=ms[indexes],
            )
        if team_result.start != snap.start:
            return FULL
        data = flow_data_build(
            nexus=nexus,
            team=team,
            result=team_result,
            keys=keys,
            computed_at=now,
            stored=True,
            labels=t_labels,
            **mc,
        )
        data.figures["basis"] = snap.basis
        data.figures["team_history"] = snap.basis == team_level.BASIS_TEAM
        if team.pk in imported:
            data.figures["imported_squares"] = imported[team.pk]
        scopes.append(data)
    t_compute = time.perf_counter()

    summary = summary_of(scopes[0], result)
    written = [
        (snaps[data.team.pk if data.team else None].pk, data.figures, data.detail_json) for data in scopes
    ]
    # The version of the rows each scope's summaries are now made from: the one read before the rows
    # (an incremental update since leaves the scope stale; never lowered, should two jobs write).
    made_from = [
        When(pk=snaps[team_id].pk, then=Value(snaps[team_id].rows_version)) for team_id in (None, *stale)
    ]
    with transaction.atomic():
        state = FlowState.objects.select_for_update().get(nexus=nexus)
        if state.computed_at is not None and state.computed_at > started:
            return SUPERSEDED  # a job that started later has written newer figures
        # the snapshots' rows locked in id order, as the incremental update locks them: no lock cycle
        list(FlowSnapshot.objects.filter(nexus=nexus).select_for_update().order_by("pk").values_list("pk"))
        store.rows_update_each(FlowSnapshot, REFRESH_FIELDS, written)
        FlowSnapshot.objects.filter(nexus=nexus).update(
            computed_at=now,
            summaries_version=Greatest(
                F("summaries_version"), Case(*made_from, default=F("summaries_version"))
            ),
        )
        FlowState.objects.filter(pk=state.pk).update(
            computed_at=now, computed_on=as_of, summary=summary, last_error=""
        )
    log.info(
        "Flow summaries of Nexus %s refreshed from %d stored items, %d scopes: compute %.2f s, store %.2f s",
        nexus.slug,
        len(ids),
        len(scopes),
        t_compute - t0,
        time.perf_counter() - t_compute,
    )
    return REFRESHED
