"""Flow's check for `manage.py check_nexus` (registered in `FlowConfig.ready` through
`nexus_site.extensions`): the stored per-item flow figures (`ItemFlow`: started and finished days,
Cycle Time, column milestones, first day, Scrum Teams) equal those a full recompute from the transition
log gives, as of the day the figures were computed (`FlowState.computed_on`), or the figures are marked
pending (`FlowState.pending_since`: a recompute was asked for and has not run yet), which is a note, not
a mismatch. With `--repair-figures` a disagreement is repaired by a full recompute (`flow_recompute`),
which rewrites derived rows only, never the log.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from backlog.models import Nexus, WorkflowColumn
from flow import metrics
from flow.history import load_events, nexus_today, workflow_of
from flow.models import FlowState, ItemFlow
from flow.report import HISTORY_DAYS
from flow.store import ITEM_FIELDS
from nexus_site.extensions import CheckResult, ConsistencyCheck

#: How many disagreeing items are named before the rest are only counted.
MAX_NAMED = 50


def expected_item_rows(nexus: Nexus, as_of: date) -> dict[int, tuple[Any, ...]]:
    """Item id -> the `ItemFlow` values (`flow.store.ITEM_FIELDS` order) a full recompute as of `as_of`
    stores (the same computation as `flow.services.flow_recompute`, without storing)."""
    from flow.services import item_teams

    columns = list(WorkflowColumn.objects.filter(nexus=nexus).order_by("position"))
    if not columns:
        return {}
    events = load_events(nexus, columns)
    result = metrics.compute_flow(events, workflow_of(columns), as_of=as_of, history_days=HISTORY_DAYS)
    first_day: dict[str, date] = {}
    for ev in events:
        if ev.column is not None and ev.day <= as_of:
            first = first_day.get(ev.item)
            if first is None or ev.day < first:
                first_day[ev.item] = ev.day
    teams_of = item_teams(nexus)
    return {
        int(it.key): (
            it.started,
            it.finished,
            it.cycle_time,
            [m.toordinal() if m is not None else None for m in it.milestones],
            first_day.get(it.key),
            teams_of.get(it.key, []),
        )
        for it in result.items
    }


def _differences(nexus: Nexus, as_of: date) -> tuple[list[str], int]:
    """Lines naming the PBIs whose stored figures differ (the first `MAX_NAMED`), and how many differ."""
    expected = expected_item_rows(nexus, as_of)
    stored = {
        row[0]: tuple(row[1:])
        for row in ItemFlow.objects.filter(nexus=nexus).values_list("item_id", *ITEM_FIELDS).iterator()
    }
    lines: list[str] = []
    for item_id in sorted(expected.keys() | stored.keys()):
        want, have = expected.get(item_id), stored.get(item_id)
        if want == have:
            continue
        if have is None:
            lines.append(f"PBI {item_id}: no stored flow figures (a recompute stores {want})")
        elif want is None:
            lines.append(f"PBI {item_id}: stored flow figures {have}, a recompute stores none")
        else:
            diff = ", ".join(
                f"{f} {h!r} (recompute: {w!r})"
                for f, h, w in zip(ITEM_FIELDS, have, want, strict=True)
                if h != w
            )
            lines.append(f"PBI {item_id}: stored {diff}")
    total = len(lines)
    if total > MAX_NAMED:
        lines = [*lines[:MAX_NAMED], f"... and {total - MAX_NAMED} more PBIs"]
    return lines, total


def figures_check(nexus: Nexus, repair: bool = False) -> CheckResult:
    """Stored per-item flow figures against a full recompute (see the module). Pending figures are a
    note; `repair` recomputes them (`flow_recompute`) when they disagree and checks again."""
    from flow.services import flow_recompute

    result = CheckResult()
    state = FlowState.objects.filter(nexus=nexus).first()
    as_of = state.computed_on if state and state.computed_on else nexus_today(nexus)
    lines, total = _differences(nexus, as_of)
    if lines and repair:
        flow_recompute(nexus_id=nexus.pk, trust_digests=False)  # rows changed by hand kept their digest
        result.repaired.append(f"flow figures recomputed ({total} PBI(s) disagreed before)")
        state = FlowState.objects.filter(nexus=nexus).first()
        lines, total = _differences(
            nexus, state.computed_on if state and state.computed_on else nexus_today(nexus)
        )
    if lines and (state is None or state.computed_on is None):
        result.notes.append(f"flow figures never computed yet: {total} PBI(s) wait for the first recompute")
    elif lines and state is not None and state.pending_since is not None:
        result.notes.append(
            f"flow figures pending since {state.pending_since:%Y-%m-%d %H:%M:%S} UTC: "
            f"{total} PBI(s) differ until the recompute runs"
        )
    else:
        result.mismatches.extend(lines)
    return result


def flow_checks() -> tuple[ConsistencyCheck, ...]:
    """Flow's checks, registered by `FlowConfig.ready`."""
    return (
        ConsistencyCheck("flow figures against a full recompute", figures_check, repair="figures", order=50),
    )
