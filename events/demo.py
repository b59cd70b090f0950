"""The demo step of `events` (`load_demo`, after backlog's): the demo Nexus's Sprints, reconstructed from its
real transition history (the Eclipse JDT reports, replayed to the replay date and shifted to today).

- **Cadence.** Sprints of the Nexus's `sprint_length_days` (14) start on Mondays; the current Sprint is the
  one holding today (it starts on this week's Monday in even ISO weeks, last week's in odd ones).
  `PAST_SPRINTS` closed Sprints come before it, back to back.
- **Scope of a Sprint** = every PBI in progress at some moment of it (in a column from the Nexus's start
  column up to, not including, its finish column: To Do, In Progress) or that finished during it. A PBI in
  progress when the Sprint starts was carried in from the previous Sprint (or, in the first one,
  planned at Nexus Sprint Planning); one that started during the Sprint was added then (at the Nexus
  Daily Scrum, at the real time it started).
- **Close.** Done = in the finish column (Resolved) or after it when the Sprint ended: its Throughput is what
  really finished. Each unfinished PBI went to the next Sprint when it was still in progress (carried
  over), else back to the Product Backlog (returned).
- **The current Sprint** is active: its plan (start snapshot) is the PBIs in progress at its start, its
  scope grows with the real starts since; a Nexus Sprint Goal and a Sprint Goal per Scrum Team that has
  work in it. The next Sprint is planned and empty (`events.services.sprint_create`), for Nexus Sprint
  Planning.
- **A second team** is forecast on the open PBIs (in progress, or the not-started part of the Product
  Backlog) whose title carries a `[tag]` of another team's area. A tag's area is the Scrum Team that owns
  at least `TAG_SHARE` of the Nexus's PBIs carrying it (among at least `TAG_MIN` of them), counted over
  the whole imported history: "[search]" is Core's (82 % of 240), "[content assist]" Text's, "[quick
  fix]" UI's... So a UI report titled "[search] ..." gets a Core square. Added through
  `backlog.services.involvement_add` (logged), not started.

The Sprints are written in bulk in one transaction under the Nexus lock, as the importer writes history
(one service call per row would take minutes for ~15,000 scope rows); the rows obey every rule of
`events.services` (no overlap, one active Sprint, a PBI in at most one open Sprint, typed scope log,
frozen snapshots). Idempotent: a Nexus that has Sprints is left as it is.
"""

from __future__ import annotations

import re
import zoneinfo
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import transaction

from backlog.models import (
    Nexus,
    ProductBacklogItem,
    ScrumTeam,
    TeamInvolvement,
    Transition,
    TransitionKind,
    WorkflowColumn,
)
from backlog.services import involvement_add
from backlog.services.common import items_changed_batched, nexus_changed, nexus_lock
from events.models import (
    ScopeChangeKind,
    SnapshotKind,
    Sprint,
    SprintEvent,
    SprintItem,
    SprintScopeChange,
    SprintSnapshot,
    SprintState,
    SprintTeamGoal,
)
from events.services import sprint_create
from flow.history import nexus_today
from nexus_site.extensions import DemoContext

#: Closed Sprints reconstructed before the current one (a year at two weeks each).
PAST_SPRINTS = 26
#: A `[tag]` is a team's area when that team owns this share of the PBIs carrying it...
TAG_SHARE = 0.75
#: ... among at least these many.
TAG_MIN = 15
TAG = re.compile(r"\[([^\]]{2,30})\]")
NOT_RECORDED = "Not recorded: reconstructed from the Eclipse JDT history."
NEXUS_SPRINT_GOAL = (
    "Ganymede (3.4) service release: fix the regressions reported since the release in the compiler, "
    "the editor and the debugger, and ship no new critical bug."
)
#: The team Sprint Goals of the current Sprint, by Scrum Team name (how each supports the Nexus Sprint Goal).
TEAM_GOALS = {
    "Core": "Compiler and search regressions against 3.4 fixed, with a test each.",
    "UI": "Quick fixes, refactorings and the build path dialogs behave as in 3.3 again.",
    "Text": "Content assist and hovers in the Java editor are fast and correct again.",
    "Debug": "Breakpoints and launching work on every supported JRE.",
    "APT": "Annotation processing regressions reported against 3.4 fixed.",
    "Doc": "The 3.4.1 help matches what the service release changes.",
}

NOT_STARTED, IN_PROGRESS, DONE = 0, 1, 2


def demo_step(ctx: DemoContext) -> str:
    """`events`' step of `load_demo` (order 20, after backlog's 0): see the module. Returns console lines."""
    nexus = Nexus.objects.filter(slug=ctx.slug).first()
    if nexus is None:
        return ""
    existing = Sprint.objects.filter(nexus=nexus).count()
    if existing:
        return f"Demo Sprints are loaded already ({existing} Sprints)."
    forecast = second_teams_forecast(nexus=nexus)
    report = sprints_reconstruct(nexus=nexus)
    return f"{report} {forecast} PBIs got a second Scrum Team (their title names another team's area)."


# --- Second teams ------------------------------------------------------------------------------------------


def tag_owners(*, nexus: Nexus) -> dict[str, int]:
    """`{tag: Scrum Team id}` of the tags that are a team's area (see the module), from every PBI's title
    and its first Scrum Team."""
    counts: dict[str, Counter[int]] = defaultdict(Counter)
    first_team: dict[int, int] = {}
    for item_id, team_id in (
        TeamInvolvement.objects.filter(item__backlog__nexus=nexus)
        .order_by("id")
        .values_list("item_id", "team_id")
    ):
        first_team.setdefault(item_id, team_id)
    for item_id, title in ProductBacklogItem.objects.filter(backlog__nexus=nexus).values_list("id", "title"):
        team = first_team.get(item_id)
        if team is None:
            continue
        for tag in {t.strip().lower() for t in TAG.findall(title)}:
            counts[tag][team] += 1
    owners = {}
    for tag, by_team in counts.items():
        total = sum(by_team.values())
        team, n = by_team.most_common(1)[0]
        if total >= TAG_MIN and n >= TAG_SHARE * total:
            owners[tag] = team
    return owners


def second_teams_forecast(*, nexus: Nexus) -> int:
    """Forecast a second Scrum Team on the open PBIs whose title names another team's area (`tag_owners`).
    Returns how many PBIs got one. Idempotent (a PBI with two teams already is skipped)."""
    owners = tag_owners(nexus=nexus)
    teams = {t.pk: t for t in ScrumTeam.objects.filter(nexus=nexus)}
    on_item: dict[int, list[int]] = defaultdict(list)
    for item_id, team_id in TeamInvolvement.objects.filter(
        item__backlog__nexus=nexus, item__deleted_at__isnull=True
    ).values_list("item_id", "team_id"):
        on_item[item_id].append(team_id)
    finish = (
        WorkflowColumn.objects.filter(nexus=nexus, is_finish=True).values_list("position", flat=True).first()
    )
    open_items = ProductBacklogItem.objects.alive().filter(backlog__nexus=nexus)
    if finish is not None:
        open_items = open_items.filter(column__position__lt=finish)
    added = 0
    with transaction.atomic(), items_changed_batched():
        for item in open_items.select_related("backlog").order_by("rank"):
            own = on_item.get(item.pk, [])
            if len(own) != 1:
                continue
            wanted = [owners[t] for t in (x.strip().lower() for x in TAG.findall(item.title)) if t in owners]
            other = next((t for t in wanted if t not in own), None)
            if other is None or other not in teams:
                continue
            involvement_add(item=item, team=teams[other], actor=None, source="import")
            added += 1
    return added


# --- Sprints from the history ------------------------------------------------------------------------------


def cadence(today: date, length: int, past: int) -> list[tuple[date, date]]:
    """The (first, last) days of `past` closed Sprints and of the current one (last), back to back, each
    `length` calendar days, starting on Mondays, the current one holding `today`."""
    monday = today - timedelta(days=today.weekday())
    if length == 14 and today.isocalendar().week % 2 == 1:
        monday -= timedelta(days=7)
    elif length != 14:
        monday = today - timedelta(days=(today - date(2001, 1, 1)).days % length)
    starts = [monday - timedelta(days=length * k) for k in range(past, -1, -1)]
    return [(s, s + timedelta(days=length - 1)) for s in starts]


@dataclass
class _Timeline:
    """An item's states (NOT_STARTED, IN_PROGRESS, DONE) over time: `states[i]` from `times[i]` on."""

    times: list[datetime] = field(default_factory=list)
    states: list[int] = field(default_factory=list)

    def at(self, moment: datetime) -> int | None:
        """The state at `moment` (None: the item did not exist yet)."""
        i = bisect_right(self.times, moment)
        return self.states[i - 1] if i else None

    def within(self, a: datetime, b: datetime) -> list[tuple[datetime, int]]:
        """The changes in [a, b)."""
        i, j = bisect_left(self.times, a), bisect_left(self.times, b)
        return list(zip(self.times[i:j], self.states[i:j], strict=True))


def _timelines(nexus: Nexus) -> dict[int, _Timeline]:
    columns = list(WorkflowColumn.objects.filter(nexus=nexus).order_by("position"))
    start = next((c.position for c in columns if c.is_start), columns[0].position)
    finish = next((c.position for c in columns if c.is_finish), columns[-1].position)
    state_of = {
        c.pk: NOT_STARTED if c.position < start else IN_PROGRESS if c.position < finish else DONE
        for c in columns
    }
    lines: dict[int, _Timeline] = defaultdict(_Timeline)
    rows = (
        Transition.objects.filter(
            kind=TransitionKind.COLUMN, item__backlog__nexus=nexus, item__deleted_at__isnull=True
        )
        .order_by("item_id", "at", "id")
        .values_list("item_id", "at", "to_column_id")
    )
    for item_id, at, column_id in rows.iterator(chunk_size=5000):
        if column_id not in state_of:
            continue
        line = lines[item_id]
        line.times.append(at)
        line.states.append(state_of[column_id])
    return lines


@dataclass
class _Scope:
    """One Sprint's reconstructed scope: item id -> (added at, kind, event); done and unfinished at close."""

    rows: dict[int, tuple[datetime, str, str]] = field(default_factory=dict)
    at_start: list[int] = field(default_factory=list)
    done: list[int] = field(default_factory=list)
    not_done: dict[int, str] = field(default_factory=dict)  # item -> "next" | "backlog"


def _scopes(
    lines: dict[int, _Timeline], bounds: list[tuple[datetime, datetime]], horizon: datetime
) -> list[_Scope]:
    scopes = [_Scope() for _ in bounds]
    last = len(bounds) - 1
    for item_id, line in lines.items():
        carried = False
        for k, (a, b) in enumerate(bounds):
            end = min(b, horizon)
            first = line.at(a)
            entered, previous = None, first
            for t, state in line.within(a, end):
                if state != previous and state in (IN_PROGRESS, DONE):
                    entered = t  # started, restarted or finished during the Sprint
                    break
                previous = state
            at_start = carried or first == IN_PROGRESS
            if not at_start and entered is None:
                continue
            scope = scopes[k]
            if at_start:
                scope.at_start.append(item_id)
                kind = ScopeChangeKind.CARRIED_IN if carried else ScopeChangeKind.ADDED
                scope.rows[item_id] = (a, kind, SprintEvent.PLANNING)
            else:
                assert entered is not None
                scope.rows[item_id] = (entered, ScopeChangeKind.ADDED, SprintEvent.DAILY_SCRUM)
            if k == last:
                break
            final = line.at(b - timedelta(microseconds=1))
            if final == DONE:
                scope.done.append(item_id)
                carried = False
            elif final == IN_PROGRESS:
                scope.not_done[item_id] = "next"
                carried = True
            else:
                scope.not_done[item_id] = "backlog"
                carried = False
    return scopes


def sprints_reconstruct(*, nexus: Nexus, past: int = PAST_SPRINTS) -> str:
    """Write the Nexus's closed Sprints, its active one and a planned next one (see the module). Returns a
    line for the console."""
    today = nexus_today(nexus)
    tz = zoneinfo.ZoneInfo(nexus.time_zone)
    days = cadence(today, nexus.sprint_length_days, past)
    bounds = [
        (
            datetime.combine(s, time.min, tzinfo=tz),
            datetime.combine(e + timedelta(days=1), time.min, tzinfo=tz),
        )
        for s, e in days
    ]
    # The history holds every event of the replay date (today), some at a later hour than now: the
    # active Sprint takes them all, as the board does.
    horizon = datetime.combine(today + timedelta(days=1), time.min, tzinfo=tz)
    scopes = _scopes(_timelines(nexus), bounds, horizon)
    titles = dict(ProductBacklogItem.objects.filter(backlog__nexus=nexus).values_list("id", "title"))
    teams_of: dict[int, list[int]] = defaultdict(list)
    for item_id, team_id in (
        TeamInvolvement.objects.filter(item__backlog__nexus=nexus)
        .order_by("team__name")
        .values_list("item_id", "team_id")
    ):
        teams_of[item_id].append(team_id)
    team_names = dict(ScrumTeam.objects.filter(nexus=nexus).values_list("id", "name"))
    with transaction.atomic():
        nexus_lock(nexus.pk)
        sprints = Sprint.objects.bulk_create(
            Sprint(
                nexus=nexus,
                number=k + 1,
                start_date=s,
                end_date=e,
                state=SprintState.CLOSED if k < past else SprintState.ACTIVE,
                goal=NOT_RECORDED if k < past else NEXUS_SPRINT_GOAL,
                started_at=bounds[k][0],
                closed_at=bounds[k][1] if k < past else None,
            )
            for k, (s, e) in enumerate(days)
        )
        current = sprints[-1]
        in_current = {team for item in scopes[-1].rows for team in teams_of.get(item, [])}
        SprintTeamGoal.objects.bulk_create(
            SprintTeamGoal(sprint=current, team_id=t, goal=TEAM_GOALS.get(team_names[t], NEXUS_SPRINT_GOAL))
            for t in sorted(in_current)
        )
        items: list[SprintItem] = []
        changes: list[SprintScopeChange] = []
        snapshots: list[SprintSnapshot] = []
        for k, (sprint, scope) in enumerate(zip(sprints, scopes, strict=True)):
            for item_id, (at, kind, event) in scope.rows.items():
                items.append(SprintItem(sprint=sprint, item_id=item_id, added_at=at))
                changes.append(
                    SprintScopeChange(
                        sprint=sprint,
                        item_id=item_id,
                        kind=kind,
                        at=at,
                        event=event,
                        teams=teams_of.get(item_id, []),
                    )
                )
            plan = sorted(scope.at_start)
            team_goals: list[dict[str, Any]] = (
                [{"team": t, "goal": TEAM_GOALS.get(team_names[t], "")} for t in sorted(in_current)]
                if k == past
                else []
            )
            snapshots.append(
                SprintSnapshot(
                    sprint=sprint,
                    kind=SnapshotKind.START,
                    taken_at=bounds[k][0],
                    data={
                        "items": [
                            {"id": i, "title": titles.get(i, ""), "teams": teams_of.get(i, [])} for i in plan
                        ],
                        "goal": sprint.goal,
                        "team_goals": team_goals,
                    },
                )
            )
            if k == past:
                continue
            closed_at = bounds[k][1]
            nxt = sprints[k + 1]
            for item_id, destination in scope.not_done.items():
                kind = ScopeChangeKind.CARRIED_OUT if destination == "next" else ScopeChangeKind.RETURNED
                changes.append(
                    SprintScopeChange(
                        sprint=sprint,
                        item_id=item_id,
                        kind=kind,
                        at=closed_at,
                        event=SprintEvent.REVIEW,
                        teams=teams_of.get(item_id, []),
                    )
                )
            snapshots.append(
                SprintSnapshot(
                    sprint=sprint,
                    kind=SnapshotKind.CLOSE,
                    taken_at=closed_at,
                    data={
                        "done": sorted(scope.done),
                        "not_done": [
                            {"id": i, "destination": d, "sprint": nxt.pk if d == "next" else None}
                            for i, d in sorted(scope.not_done.items())
                        ],
                        "deleted": [],
                        "goal": sprint.goal,
                        "team_goals": [],
                    },
                )
            )
        SprintItem.objects.bulk_create(items, batch_size=2000)
        SprintScopeChange.objects.bulk_create(changes, batch_size=2000)
        SprintSnapshot.objects.bulk_create(snapshots, batch_size=200)
        nexus_changed(nexus.pk)
    sprint_create(nexus=nexus, actor=None)  # the next Sprint, planned and empty
    done = [len(s.done) for s in scopes[:-1]]
    return (
        f"{past} closed Sprints reconstructed from the history (Throughput {min(done, default=0)} to "
        f"{max(done, default=0)} PBIs a Sprint); Sprint {current.number} is active with "
        f"{len(scopes[-1].rows)} PBIs, Sprint {current.number + 1} is planned."
    )
