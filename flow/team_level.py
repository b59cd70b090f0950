"""Team-level flow: each Scrum Team's own flow, read from its team-level transitions.

The Kanban Guide for Scrum Teams leaves each Scrum Team its own Definition of Workflow inside the
Nexus's; a team's work on a Product Backlog Item is its *team square* (Yeret, "Scaling Scrum with Nexus
and Kanban"): not started, in progress, ready to integrate (filled), Done (filled with a tick). The
team's own board moves it through the team's columns, each mapped onto one of those four states.

This module turns the team-level rows of the transition log (`backlog.models.Transition`, kinds
`team_added`, `team_status`, `team_column`) into the engine's events (`flow.metrics.ItemEvent`), one
list per Scrum Team, over a fixed four-column workflow, `TEAM_WORKFLOW`, whose columns are the four
square states. The engine (`flow.metrics.compute_flow`, `item_flow`) then applies exactly the Nexus
level's conventions (calendar days in the Nexus's time zone, inclusive Cycle Time and Work Item Age,
milestones = the first day a state was entered, a back-move erasing the later milestones so the item
reopens, WIP counting start and finish days, nearest-rank percentiles). Definitions (Kanban Guide for
Scrum Teams, applied to the team square):

* **started**: the day the team's square first leaves "not started" (in progress or beyond);
* **finished**: the day the square first becomes filled (ready to integrate) or Done (a square that
  skips "ready" takes Done's day, the engine's skipped-column rule);
* a move back (e.g. ready -> in progress, or to not started) erases the later milestones: the item is
  in progress (or not started) again and finishes when it is filled again;
* Work Item Age, Cycle Time, Throughput and WIP follow from these two points as at the Nexus level;
* the **CFD bands are the four square states** (not the team's own columns: the team's columns can be
  renamed, added and removed, while the four states are stable and comparable between teams).

Which items count for a team: the live items the team is forecast on now (a `TeamInvolvement`), from
the day of their first team-level row for that team (`team_added` gives the state the square was
created in; `team_status` its new state; `team_column` the state of the column moved into).

**Imported squares.** A square the import forecast (no `team_added` row: the JDT demo's past, or a
tracker synced in) has no team-level rows until a team first changes it. On a team's own flow such a
PBI is counted from its **Nexus columns** until then (`nexus_fallback`): before the Nexus's started
column its square counts as not started, from it as in progress, from the finished column on as Done
(the filled square then takes Done's day); from its first team-level row on, its team-level rows
count. So a team that starts using its board keeps its imported work in progress and its history of
finished work, and the flow page says how many of its PBIs are counted so (`imported_squares`).

**Basis.** A Scrum Team *has team-level history* when the log holds at least one `team_status` or
`team_column` row of it (for any item of the Nexus, live or deleted: the history does not go away, so
a team never falls back once it has some). Such a team's stored figures (`FlowSnapshot.basis`
"team") come from its own transitions; a team without (imported history, such as the JDT demo's past)
keeps the figures from the Nexus columns of the items it is forecast on (basis "nexus"), and the pages
and API say which one they show.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from datetime import date

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef
from django.db.models.functions import TruncDate

from backlog.models import Nexus, TeamInvolvement, TeamStatus, Transition, TransitionKind
from flow import metrics

__all__ = [
    "BASES",
    "BASIS_NEXUS",
    "BASIS_TEAM",
    "HISTORY_KINDS",
    "TEAM_STATES",
    "TEAM_WORKFLOW",
    "load_team_events",
    "teams_with_history",
]

#: The basis of a Scrum Team's figures: its own team-level transitions, or the Nexus columns of its items.
BASIS_TEAM, BASIS_NEXUS = "team", "nexus"
BASES = (BASIS_TEAM, BASIS_NEXUS)

#: The square states, left to right: the columns of `TEAM_WORKFLOW` (CFD bands of a team's own flow).
TEAM_STATES: tuple[str, ...] = (
    TeamStatus.NOT_STARTED,
    TeamStatus.IN_PROGRESS,
    TeamStatus.READY_TO_INTEGRATE,
    TeamStatus.DONE,
)
_INDEX = {str(s): i for i, s in enumerate(TEAM_STATES)}

#: The engine's workflow of a team's own flow: the four square states; started = in progress,
#: finished = ready to integrate (filled). Kanban Guide for Scrum Teams, on the team square.
TEAM_WORKFLOW = metrics.Workflow(
    columns=tuple(str(TeamStatus(s).label) for s in TEAM_STATES), started=1, finished=2
)

#: The rows that make a team's history "team-level" (a square state change or a move on its board).
HISTORY_KINDS = (TransitionKind.TEAM_STATUS, TransitionKind.TEAM_COLUMN)
_EVENT_KINDS = (TransitionKind.TEAM_ADDED, *HISTORY_KINDS)


def teams_with_history(
    nexus: Nexus, *, item_ids: list[int] | None = None, team_ids: list[int] | None = None
) -> set[int]:
    """Ids of the Nexus's Scrum Teams (or of `team_ids`) with at least one `team_status` or
    `team_column` row in the log (over all items of the Nexus, deleted ones included; or only over
    `item_ids`). One query."""
    if item_ids is not None:  # the Nexus's items: their rows name its teams (no join needed)
        qs = Transition.objects.filter(kind__in=HISTORY_KINDS, item_id__in=item_ids, team__isnull=False)
    else:
        qs = Transition.objects.filter(kind__in=HISTORY_KINDS, team__nexus=nexus)
    if team_ids is not None:
        qs = qs.filter(team_id__in=team_ids)
    return set(qs.order_by().values_list("team_id", flat=True).distinct())


def load_team_events(
    nexus: Nexus,
    *,
    team_ids: list[int] | None = None,
    item_ids: list[int] | None = None,
    label: str | None = None,
    class_of_service: str | None = None,
) -> dict[int, list[metrics.ItemEvent]]:
    """The team-level events of the Nexus's live items, per Scrum Team (team id -> events in log
    order), each reduced to its calendar day in the Nexus's time zone, its `column` the index of the
    square state entered in `TEAM_STATES` (None for a state this tool does not know: ignored). Only the
    rows of a team still forecast on the item count. Filters: `team_ids`, `item_ids`, and the items'
    label or class of service now. One query."""
    tz = zoneinfo.ZoneInfo(nexus.time_zone)
    qs = Transition.objects.filter(
        kind__in=_EVENT_KINDS,
        item__backlog__nexus=nexus,
        item__deleted_at__isnull=True,
        team__isnull=False,
        item__involvements__team_id=F("team_id"),
    )
    if team_ids is not None:
        qs = qs.filter(team_id__in=team_ids)
    if item_ids is not None:
        qs = qs.filter(item_id__in=item_ids)
    if label:
        qs = qs.filter(item__labels__name=label)
    if class_of_service:
        qs = qs.filter(item__class_of_service=class_of_service)
    in_sql = connection.vendor == "postgresql"
    when = TruncDate("at", tzinfo=tz) if in_sql else F("at")
    rows = (
        qs.order_by("item_id", "at", "id")
        .annotate(when=when)
        .values_list("item_id", "team_id", "when", "kind", "to_name", "team_status")
    )
    source = rows if item_ids is not None and len(item_ids) <= 100 else rows.iterator(chunk_size=5000)
    out: dict[int, list[metrics.ItemEvent]] = defaultdict(list)
    for seq, (item_id, team_id, at, kind, to_name, team_status) in enumerate(source):
        state = team_status if kind == TransitionKind.TEAM_COLUMN else to_name
        day: date = at if in_sql else at.astimezone(tz).date()
        out[team_id].append(metrics.ItemEvent(item=str(item_id), day=day, column=state_index(state), seq=seq))
    return out


def state_index(state: str | None) -> int | None:
    """The index in `TEAM_STATES` of a square state a team-level row entered (a `team_status` or
    `team_added` row's `to_name`, a `team_column` row's `team_status`); None for a state this tool does
    not know (ignored, unmapped)."""
    return _INDEX.get(state) if state is not None else None


#: Below every seq of `load_team_events`: an imported square's Nexus-column events come before its
#: team-level rows of the same day.
_FALLBACK_SEQ = -(10**15)


def nexus_state(column: int | None, workflow: metrics.Workflow) -> int | None:
    """The square state (index in `TEAM_STATES`) that a Nexus column stands for on an imported square:
    before the started column not started, up to the finished column in progress, from it Done."""
    if column is None:
        return None
    if column < workflow.started:
        return 0
    return 1 if column < workflow.finished else 3


def added_pairs(*, team_ids: list[int], item_ids: list[int] | None = None) -> set[tuple[int, int]]:
    """(item id, team id) of the squares of `team_ids` (of the items `item_ids`, or all) created in
    this tool: those with a `team_added` row. The others are imported squares. One query."""
    qs = Transition.objects.filter(kind=TransitionKind.TEAM_ADDED, team_id__in=team_ids)
    if item_ids is not None:
        qs = qs.filter(item_id__in=item_ids)
    return set(qs.order_by().values_list("item_id", "team_id").distinct())


def nexus_fallback(
    team_events: list[metrics.ItemEvent],
    *,
    team_id: int,
    item_keys: list[str],
    nexus_events: dict[str, list[metrics.ItemEvent]],
    added: set[tuple[int, int]],
    workflow: metrics.Workflow,
) -> list[metrics.ItemEvent]:
    """A team's events (`load_team_events`) with, for each of its imported squares among `item_keys`
    (no `team_added` row in `added`), the item's Nexus-column events (`nexus_events`, in the Nexus's
    `workflow`) up to the day of its first team-level row (all of them when it has none), as square
    states (`nexus_state`). In item id order, then (day, seq) as the engine orders them."""
    first_team: dict[str, date] = {}
    for ev in team_events:
        seen = first_team.get(ev.item)
        if seen is None or ev.day < seen:
            first_team[ev.item] = ev.day
    out = list(team_events)
    for key in item_keys:
        if (int(key), team_id) in added:
            continue
        until = first_team.get(key)
        for ev in nexus_events.get(key, ()):
            if ev.column is not None and (until is None or ev.day <= until):
                out.append(
                    metrics.ItemEvent(key, ev.day, nexus_state(ev.column, workflow), ev.seq + _FALLBACK_SEQ)
                )
    if len(out) != len(team_events):
        out.sort(key=lambda ev: (int(ev.item), ev.day, ev.seq))
    return out


def imported_squares(nexus: Nexus, team_ids: list[int]) -> dict[int, int]:
    """Per Scrum Team of `team_ids`: how many live PBIs it is forecast on through an imported square
    (no `team_added` row), counted on its own flow from their Nexus columns until their first
    team-level row (`nexus_fallback`). One query."""
    added = Transition.objects.filter(
        kind=TransitionKind.TEAM_ADDED, item_id=OuterRef("item_id"), team_id=OuterRef("team_id")
    )
    rows = (
        TeamInvolvement.objects.filter(
            team_id__in=team_ids, item__backlog__nexus=nexus, item__deleted_at__isnull=True
        )
        .exclude(Exists(added))
        .order_by()
        .values_list("team_id")
        .annotate(n=Count("id"))
    )
    return dict.fromkeys(team_ids, 0) | dict(rows)


def first_days(events: list[metrics.ItemEvent], *, as_of: date) -> dict[str, date]:
    """Each item's first mapped day up to `as_of` in `events` (the day it joins the scope's series)."""
    first: dict[str, date] = {}
    for ev in events:
        if ev.column is not None and ev.day <= as_of:
            seen = first.get(ev.item)
            if seen is None or ev.day < seen:
                first[ev.item] = ev.day
    return first


# --- Storage of the items' parts in the team-basis scopes (`ItemTeamFlow`) ---------------------------

#: The value columns of `ItemTeamFlow`, in the order of a `TeamItemRow`.
TEAM_ITEM_FIELDS = ("started_on", "finished_on", "cycle_time", "milestones", "first_day")

#: (started, finished, Cycle Time, milestone ordinals, first day) of an item in a team's own flow.
TeamItemRow = tuple[date | None, date | None, int | None, list[int | None], date]


def team_item_row(it: metrics.ItemFlow, first_day: date) -> TeamItemRow:
    """The stored form of an item's part in a team's own flow."""
    return (
        it.started,
        it.finished,
        it.cycle_time,
        [m.toordinal() if m is not None else None for m in it.milestones],
        first_day,
    )


def stored_item(row: TeamItemRow) -> metrics.ItemFlow:
    """The engine's view of a stored `TeamItemRow` (enough for the incremental update's steps)."""
    ms = tuple(date.fromordinal(o) if o is not None else None for o in row[3])
    column = max((k for k, m in enumerate(ms) if m is not None), default=0)
    return metrics.ItemFlow("", column, row[0], row[1], row[2], ms)


def team_items_store(*, nexus_id: int, rows: dict[tuple[int, int], TeamItemRow]) -> int:
    """Make the Nexus's `ItemTeamFlow` rows exactly `rows` ((item id, team id) -> values), writing only
    the difference with the stored rows (read in one query). Returns the number of rows written."""
    from flow import store
    from flow.models import ItemTeamFlow

    stored = {
        (item_id, team_id): (pk, tuple(values))
        for pk, item_id, team_id, *values in ItemTeamFlow.objects.filter(nexus_id=nexus_id)
        .values_list("id", "item_id", "team_id", *TEAM_ITEM_FIELDS)
        .iterator(chunk_size=5000)
    }
    gone = [pk for key, (pk, _) in stored.items() if key not in rows]
    new = [(item, team, nexus_id, *row) for (item, team), row in rows.items() if (item, team) not in stored]
    changed = [
        (stored[key][0], *row) for key, row in rows.items() if key in stored and stored[key][1] != tuple(row)
    ]
    store.rows_delete(ItemTeamFlow, gone)
    store.rows_update(ItemTeamFlow, TEAM_ITEM_FIELDS, changed)
    store.rows_insert(ItemTeamFlow, ("item_id", "team_id", "nexus_id", *TEAM_ITEM_FIELDS), new)
    return len(gone) + len(new) + len(changed)


def team_flows(nexus: Nexus) -> dict[int, list[metrics.ItemEvent]]:
    """The events of each Scrum Team of the Nexus that has team-level history (team id -> its events,
    possibly none): the teams whose figures have the team basis. Two queries."""
    with_history = teams_with_history(nexus)
    if not with_history:
        return {}
    events = load_team_events(nexus, team_ids=sorted(with_history))
    return {team_id: events.get(team_id, []) for team_id in with_history}


def team_item_rows(
    team_id: int, result: metrics.FlowResult, events: list[metrics.ItemEvent]
) -> dict[tuple[int, int], TeamItemRow]:
    """The `ItemTeamFlow` rows of one team-basis scope's result ((item id, team id) -> values)."""
    first = first_days(events, as_of=result.as_of)
    return {(int(it.key), team_id): team_item_row(it, first[it.key]) for it in result.items}
