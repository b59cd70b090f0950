"""Writes of the flow app: recompute and store flow figures from the transition log (`recompute`), the
jobs that run it and the requests for them (`jobs`), and flow settings (`settings`).

The computation itself is `flow.metrics` and `flow.montecarlo` (pure functions), shaped by `flow.report`.
`flow_recompute` loads the log of one Nexus once, replays it as of today (calendar days in the Nexus's
time zone) and stores, in one transaction, per-item dates (`ItemFlow`; `ItemTeamFlow` for the teams on
the team basis), and for the whole Nexus and for each of its Scrum Teams a `FlowSnapshot` with its daily
series (`FlowSeries`, one row per scope: `flow.series`), writing only the item rows that differ from
the stored ones (`flow.store`) and the series of the scopes that changed (a scope whose digest did not
change is not even read). A Scrum Team with team-level history gets its own flow
(`flow.team_level`: its square states); one without gets the Nexus columns of the items it is forecast
on, computed from the Nexus's replayed items (`metrics.compute_flow_of_items`); `FlowSnapshot.basis`
says which.

What runs when (the incremental issue):

* a change of named items (`items_changed` with `items`) updates the stored `ItemFlow` rows and daily
  series at once, after commit, in the request: `flow.incremental.flow_apply` (milliseconds);
* the summaries of a snapshot (`FlowSnapshot.figures`/`detail`: headline figures, percentiles, Monte
  Carlo forecasts, tables) and `FlowState.summary` are not maintained incrementally: every change marks
  them pending and requests the coalesced job (`recompute_request`), a full recompute that runs after
  the response (a Celery worker; on the embedded default a thread of the process, `flow.background`),
  so a burst of changes refreshes them once; the daily series and item dates are current within
  milliseconds, the summaries within that job's time;
* the full recompute is also the nightly and hourly job, and the fallback whenever the incremental
  update cannot apply a change (a Definition of Workflow or time zone change, nothing stored yet).
"""

from __future__ import annotations

from flow.services.jobs import (
    flow_recompute_all,
    flow_recompute_due,
    flow_recompute_logged,
    pending_items_keep,
    recompute_job,
    recompute_request,
)
from flow.services.recompute import flow_recompute, item_teams
from flow.services.settings import FLOW_SETTINGS_RULE, can_edit_flow_settings, flow_settings_set

__all__ = [
    "FLOW_SETTINGS_RULE",
    "can_edit_flow_settings",
    "flow_recompute",
    "flow_recompute_all",
    "flow_recompute_due",
    "flow_recompute_logged",
    "flow_settings_set",
    "item_teams",
    "pending_items_keep",
    "recompute_job",
    "recompute_request",
]
