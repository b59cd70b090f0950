"""Every write to a Nexus's Sprints (Nexus Guide): create and edit a Sprint (dates, the Nexus Sprint Goal,
the team Sprint Goals), plan a Product Backlog Item into it and out again, start it, close it, delete a
planned one. Keyword-only, typed, transactional; each raises a `backlog.errors.DomainError` subclass
with a message a person can read and the field at fault.

Rules, all checked under the Nexus's row lock (`backlog.services.common.nexus_lock`), so that two
concurrent requests cannot both pass them:

- at most one active Sprint per Nexus (also a partial unique constraint, `sprint_one_active_per_nexus`);
- the dates of a Nexus's Sprints never overlap (calendar days in the Nexus's time zone, inclusive);
- a closed Sprint is never changed again: not its dates, goals or scope, and not its snapshots;
- a PBI is in the scope of at most one planned or active Sprint at a time;
- every change of scope is a typed, append-only `SprintScopeChange` row (who, when, at which event).

Lock order (as in `backlog.services.common`): an item, then the Nexus, then the Sprint rows (by number),
the change counter last (`nexus_changed`, deferred to the end through `items_changed_batched`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from backlog.errors import Conflict, DomainError, PreconditionFailed
from backlog.models import (
    ColumnCategory,
    Nexus,
    ProductBacklogItem,
    Role,
    ScrumTeam,
    Source,
    TeamInvolvement,
    WorkflowColumn,
)
from backlog.selectors import roles_of
from backlog.services import involvement_add
from backlog.services.common import UNSET, Unset, items_changed_batched, nexus_changed, nexus_lock
from backlog.services.webhooks import webhook_event_record
from events.models import (
    OPEN_STATES,
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
from flow.history import nexus_today

Actor = User | AnonymousUser | None

#: Where an unfinished PBI goes when its Sprint closes: carried over to the next Sprint (the default) or
#: back to the Product Backlog.
DESTINATION_NEXT = "next"
DESTINATION_BACKLOG = "backlog"
DESTINATIONS = (DESTINATION_NEXT, DESTINATION_BACKLOG)

#: `team_goals` as the services take it: `[{"team": ScrumTeam | team id, "goal": str}, ...]` or
#: `{team id: goal}`.
TeamGoals = Iterable[Mapping[str, Any]] | Mapping[int, str]


#: The permission rule of Sprint planning, start and close (registered in `EventsConfig.ready`).
SPRINT_PLANNING_RULE = "sprint_planning"
#: Who plans, starts and closes Sprints (Nexus Guide: the Product Owner with the Nexus Integration Team,
#: which is accountable for the Nexus; Developers and Stakeholders read).
PLANNING_ROLES = frozenset({Role.PRODUCT_OWNER, Role.NIT_MEMBER})


def can_plan_sprints(*, user: User | AnonymousUser, nexus: Nexus) -> bool:
    """Whether `user` may create, change, plan, start, close and delete the Nexus's Sprints: its Product
    Owner, members of its Nexus Integration Team, and superusers."""
    if getattr(user, "is_superuser", False):
        return True
    return bool(roles_of(user=user, nexus=nexus) & PLANNING_ROLES)


def _actor(actor: Actor) -> User | None:
    return actor if isinstance(actor, User) else None


def _lock_sprint(sprint: Sprint) -> Sprint:
    """`sprint` refreshed from its row, locked until the transaction ends (take the Nexus lock first)."""
    sprint.refresh_from_db(from_queryset=Sprint.objects.select_for_update(no_key=True))
    return sprint


def _touch(*sprints: Sprint) -> None:
    """A write of locked Sprints that sync clients and `If-Match` must see: version + 1, `updated_at`."""
    now = timezone.now()
    for sprint in sprints:
        Sprint.objects.filter(pk=sprint.pk).update(version=F("version") + 1, updated_at=now)
        sprint.version += 1
        sprint.updated_at = now


def _closed_refusal(sprint: Sprint, what: str) -> Conflict:
    return Conflict(
        f"Sprint {sprint.number} is closed: {what}. A closed Sprint is never changed; use the next one.",
        field="sprint",
    )


def _check_version(sprint: Sprint, expected_version: int | None) -> None:
    if expected_version is not None and sprint.version != expected_version:
        raise PreconditionFailed(
            f"The Sprint is at version {sprint.version}, not {expected_version}: someone changed it after "
            "you read it. Nothing was changed; read it again and re-apply your change.",
            current_version=sprint.version,
            field="If-Match",
        )


def _check_dates(*, nexus: Nexus, start: date, end: date, exclude: int | None = None) -> None:
    """Raise `DomainError` (`end_date`) when `end` is before `start`, `Conflict` (`start_date`) when the
    days overlap another Sprint of the Nexus. Under the Nexus lock."""
    if end < start:
        raise DomainError(
            f"A Sprint ends on or after the day it starts ({start.isoformat()}), not {end.isoformat()}.",
            field="end_date",
        )
    overlapping = Sprint.objects.filter(nexus=nexus, start_date__lte=end, end_date__gte=start)
    if exclude is not None:
        overlapping = overlapping.exclude(pk=exclude)
    other = overlapping.order_by("number").first()
    if other is not None:
        raise Conflict(
            f"{start.isoformat()} to {end.isoformat()} overlaps Sprint {other.number} "
            f"({other.start_date.isoformat()} to {other.end_date.isoformat()}): the Sprints of a Nexus "
            "never overlap.",
            field="start_date",
        )


def _team_goal_pairs(nexus: Nexus, team_goals: TeamGoals) -> dict[int, str]:
    """`{team id: goal}` from either input shape; raises `DomainError` (`team_goals`) for a malformed entry
    or a team that is not (any more) in the Nexus. Under the Nexus lock."""
    pairs: dict[int, str] = {}
    if isinstance(team_goals, Mapping):
        entries: list[tuple[Any, Any]] = list(team_goals.items())
    else:
        entries = []
        for entry in team_goals:
            if not isinstance(entry, Mapping) or "team" not in entry:
                raise DomainError('Each team goal is {"team": id, "goal": text}.', field="team_goals")
            entries.append((entry["team"], entry.get("goal", "")))
    for team, goal in entries:
        team_id = team.pk if isinstance(team, ScrumTeam) else team
        if not isinstance(team_id, int) or isinstance(team_id, bool):
            raise DomainError("A team goal names its Scrum Team by id.", field="team_goals")
        if not isinstance(goal, str):
            raise DomainError("A team's Sprint Goal is text.", field="team_goals")
        if team_id in pairs:
            raise DomainError(
                f"Scrum Team {team_id} has two Sprint Goals here: give one.", field="team_goals"
            )
        pairs[team_id] = goal.strip()
    known = set(ScrumTeam.objects.filter(nexus=nexus, pk__in=pairs).values_list("pk", flat=True))
    unknown = sorted(set(pairs) - known)
    if unknown:
        raise DomainError(f"Scrum Team {unknown[0]} is not in this Nexus.", field="team_goals")
    return pairs


def _set_team_goals(sprint: Sprint, pairs: dict[int, str]) -> None:
    """Make the Sprint's team goals exactly `pairs` (an empty goal: the team has none)."""
    keep = {t: g for t, g in pairs.items() if g}
    SprintTeamGoal.objects.filter(sprint=sprint).exclude(team_id__in=keep).delete()
    existing = {g.team_id: g for g in SprintTeamGoal.objects.filter(sprint=sprint)}
    for team_id, goal in keep.items():
        row = existing.get(team_id)
        if row is None:
            SprintTeamGoal.objects.create(sprint=sprint, team_id=team_id, goal=goal)
        elif row.goal != goal:
            row.goal = goal
            row.save(update_fields=["goal"])


def _team_goal_list(sprint: Sprint) -> list[dict[str, Any]]:
    return [
        {"team": team_id, "goal": goal}
        for team_id, goal in SprintTeamGoal.objects.filter(sprint=sprint)
        .order_by("team__name")
        .values_list("team_id", "goal")
    ]


def sprint_payload(sprint: Sprint) -> dict[str, Any]:
    """The Sprint in a webhook body: `{"id", "number", "state", "start_date", "end_date", "goal"}`."""
    return {
        "id": sprint.pk,
        "number": sprint.number,
        "state": sprint.state,
        "start_date": sprint.start_date,
        "end_date": sprint.end_date,
        "goal": sprint.goal,
    }


# --- Create, edit, delete --------------------------------------------------------------------------------


@transaction.atomic
def sprint_create(
    *,
    nexus: Nexus,
    actor: Actor,
    start_date: date | None = None,
    end_date: date | None = None,
    goal: str = "",
    team_goals: TeamGoals | None = None,
) -> Sprint:
    """Plan the Nexus's next Sprint (state `planned`). `number` = the last Sprint's + 1 (from 1).
    `start_date` defaults to the day after the last Sprint's end, else today in the Nexus's time zone;
    `end_date` to `start_date + nexus.sprint_length_days - 1` (both calendar days, inclusive). `goal` is
    the Nexus Sprint Goal; `team_goals` each team's Sprint Goal (`TeamGoals`).

    Raises `DomainError` (`end_date`: before the start; `team_goals`: a team not in the Nexus) and
    `Conflict` (`start_date`: the days overlap another Sprint of the Nexus)."""
    nexus_lock(nexus.pk)
    last = Sprint.objects.filter(nexus=nexus).order_by("-number").first()
    try:
        if start_date is None:
            start_date = last.end_date + timedelta(days=1) if last is not None else nexus_today(nexus)
        if end_date is None:
            end_date = start_date + timedelta(days=max(1, nexus.sprint_length_days) - 1)
    except OverflowError as exc:
        raise DomainError("That Sprint would end after the year 9999.", field="start_date") from exc
    _check_dates(nexus=nexus, start=start_date, end=end_date)
    pairs = _team_goal_pairs(nexus, team_goals) if team_goals is not None else {}
    sprint = Sprint.objects.create(
        nexus=nexus,
        number=(last.number + 1) if last is not None else 1,
        start_date=start_date,
        end_date=end_date,
        goal=(goal or "").strip(),
    )
    if pairs:
        _set_team_goals(sprint, pairs)
    nexus_changed(nexus.pk)
    return sprint


@transaction.atomic
def sprint_update(
    *,
    sprint: Sprint,
    actor: Actor,
    expected_version: int | None = None,
    goal: str | Unset = UNSET,
    team_goals: TeamGoals | Unset = UNSET,
    start_date: date | Unset = UNSET,
    end_date: date | Unset = UNSET,
) -> Sprint:
    """Change a planned or active Sprint: the Nexus Sprint Goal, the team Sprint Goals (`team_goals`
    replaces them all; a team left out or with an empty goal has none), its dates (`start_date` only
    while planned). `sprint` is refreshed under its row lock, changed and returned.

    Raises `PreconditionFailed` (`If-Match`, 412) when `expected_version` is not the Sprint's version,
    `Conflict` (`sprint`) for a closed Sprint, (`start_date`) for moving the start of a started Sprint or
    overlapping dates, `DomainError` (`end_date`, `team_goals`) as `sprint_create`."""
    nexus_lock(sprint.nexus_id)
    _lock_sprint(sprint)
    _check_version(sprint, expected_version)
    if sprint.state == SprintState.CLOSED:
        raise _closed_refusal(sprint, "its goals and dates are kept as they were")
    nexus = sprint.nexus
    changed = False
    new_start = sprint.start_date if isinstance(start_date, Unset) else start_date
    new_end = sprint.end_date if isinstance(end_date, Unset) else end_date
    if new_start != sprint.start_date and sprint.state != SprintState.PLANNED:
        raise Conflict("A started Sprint keeps its start date; only its end may move.", field="start_date")
    if (new_start, new_end) != (sprint.start_date, sprint.end_date):
        _check_dates(nexus=nexus, start=new_start, end=new_end, exclude=sprint.pk)
        sprint.start_date, sprint.end_date = new_start, new_end
        changed = True
    if not isinstance(goal, Unset) and (goal or "").strip() != sprint.goal:
        sprint.goal = (goal or "").strip()
        changed = True
    if not isinstance(team_goals, Unset):
        pairs = _team_goal_pairs(nexus, team_goals)
        before = {g["team"]: g["goal"] for g in _team_goal_list(sprint)}
        if before != {t: g for t, g in pairs.items() if g}:
            _set_team_goals(sprint, pairs)
            changed = True
    if changed:
        sprint.version += 1
        sprint.save(update_fields=["start_date", "end_date", "goal", "version", "updated_at"])
        nexus_changed(sprint.nexus_id)
    return sprint


@transaction.atomic
def sprint_delete(*, sprint: Sprint, actor: Actor, expected_version: int | None = None) -> None:
    """Delete a planned Sprint (its scope rows and scope log with it; the PBIs stay in the Product
    Backlog with their squares). Leaves a tombstone (`sprint`) for sync clients. Raises `Conflict`
    (`state`) for a Sprint that has started: an active or closed Sprint is history."""
    nexus_lock(sprint.nexus_id)
    _lock_sprint(sprint)
    _check_version(sprint, expected_version)
    if sprint.state != SprintState.PLANNED:
        raise Conflict(
            f"Sprint {sprint.number} has started: only a planned Sprint can be deleted.", field="state"
        )
    nexus_id = sprint.nexus_id
    sprint.delete()
    nexus_changed(nexus_id)


# --- Scope ---------------------------------------------------------------------------------------------


def _lock_item(item_id: int) -> ProductBacklogItem:
    return (
        ProductBacklogItem.objects.select_for_update(of=("self",), no_key=True)
        .select_related("backlog", "column")
        .get(pk=item_id)
    )


def _open_sprint_of(item_id: int, *, exclude: int | None = None) -> Sprint | None:
    rows = Sprint.objects.filter(scope__item_id=item_id, state__in=OPEN_STATES)
    if exclude is not None:
        rows = rows.exclude(pk=exclude)
    return rows.first()


def _check_event(event: str) -> None:
    if event not in SprintEvent.values:
        raise DomainError(f"The event is one of {', '.join(SprintEvent.values)}.", field="event")


@transaction.atomic
@items_changed_batched()  # one change counted, after every lock (the squares' services count too)
def sprint_plan(
    *,
    sprint: Sprint,
    item: ProductBacklogItem,
    teams: Iterable[ScrumTeam],
    actor: Actor,
    event: str = SprintEvent.PLANNING,
    source: str = Source.UI,
) -> SprintItem:
    """Plan a PBI into a planned or active Sprint, forecasting `teams` on it: each team not yet on the
    item gets its square (`backlog.services.involvement_add`, logged in the transition log); teams on it
    already keep theirs. Logs an `added` scope change (at `event`) when the item enters the scope;
    planning an item already in this Sprint only adds the missing squares. Returns its `SprintItem`.

    Raises `DomainError` for a deleted item or one of another Nexus (`item`), no team at all or a team
    not in the Nexus (`teams`), an unknown `event`; `Conflict` for a closed Sprint (`sprint`), an item
    that is Done or in another planned or active Sprint (`item`)."""
    _check_event(event)
    teams = list(teams)
    locked = _lock_item(item.pk)
    if locked.backlog.nexus_id != sprint.nexus_id:
        raise DomainError("That item is not in this Nexus's Product Backlog.", field="item")
    if locked.deleted_at is not None:
        raise DomainError("This item has been deleted.", field="item")
    nexus_lock(sprint.nexus_id)
    _lock_sprint(sprint)
    if sprint.state == SprintState.CLOSED:
        raise _closed_refusal(sprint, "nothing can be planned into it")
    finish = _finish_position(sprint.nexus_id)
    if finish is not None and locked.column.position >= finish:
        raise Conflict(f"“{locked.title}” is Done already: there is nothing left to plan.", field="item")
    other = _open_sprint_of(locked.pk, exclude=sprint.pk)
    if other is not None:
        raise Conflict(
            f"“{locked.title}” is in Sprint {other.number} already: a PBI is in one open Sprint at a time. "
            "Take it out of that Sprint first.",
            field="item",
        )
    team_ids = {t.pk for t in teams}
    known = {t.pk: t for t in ScrumTeam.objects.filter(nexus_id=sprint.nexus_id, pk__in=team_ids)}
    if len(known) != len(team_ids):
        raise DomainError("That Scrum Team is not in this Nexus (any more).", field="teams")
    on_item = set(TeamInvolvement.objects.filter(item=locked).values_list("team_id", flat=True))
    if not team_ids and not on_item:
        raise DomainError("Say which Scrum Teams will work on the item (one at least).", field="teams")
    for team in sorted(known.values(), key=lambda t: t.name):
        if team.pk not in on_item:
            involvement_add(item=locked, team=team, actor=actor, source=source)
    row = SprintItem.objects.filter(sprint=sprint, item=locked).first()
    changed = row is None or bool(team_ids - on_item)
    if row is None:
        now = timezone.now()
        row = SprintItem.objects.create(sprint=sprint, item=locked, added_at=now)
        SprintScopeChange.objects.create(
            sprint=sprint,
            item=locked,
            kind=ScopeChangeKind.ADDED,
            actor=_actor(actor),
            at=now,
            event=event,
            teams=sorted(on_item | team_ids),
        )
        _touch(sprint)
        webhook_event_record(
            nexus_id=sprint.nexus_id,
            event="sprint.planned",
            payload={
                "sprint": sprint_payload(sprint),
                "item": locked.pk,
                "teams": sorted(on_item | team_ids),
            },
            item_id=locked.pk,
        )
    elif team_ids - on_item:
        _touch(sprint)
    if changed:  # planning a planned PBI again with no new team changes nothing: nothing to count
        nexus_changed(sprint.nexus_id)
    return row


@transaction.atomic
def sprint_unplan(
    *, sprint: Sprint, item: ProductBacklogItem, actor: Actor, event: str = SprintEvent.PLANNING
) -> None:
    """Take a PBI out of a planned or active Sprint (`removed` scope change at `event`). Its squares
    stay: the teams remain forecast on the item in the Product Backlog.

    Raises `Conflict` for a closed Sprint (`sprint`), `DomainError` (`item`) for an item not in the
    Sprint's scope, (`event`) for an unknown event."""
    _check_event(event)
    locked = _lock_item(item.pk)
    nexus_lock(sprint.nexus_id)
    _lock_sprint(sprint)
    if sprint.state == SprintState.CLOSED:
        raise _closed_refusal(sprint, "its scope is kept as it was")
    row = SprintItem.objects.filter(sprint=sprint, item=locked).first()
    if row is None:
        raise DomainError(f"That item is not in Sprint {sprint.number}.", field="item")
    row.delete()
    SprintScopeChange.objects.create(
        sprint=sprint,
        item=locked,
        kind=ScopeChangeKind.REMOVED,
        actor=_actor(actor),
        at=timezone.now(),
        event=event,
        teams=sorted(TeamInvolvement.objects.filter(item=locked).values_list("team_id", flat=True)),
    )
    _touch(sprint)
    nexus_changed(sprint.nexus_id)


# --- Start and close -----------------------------------------------------------------------------------


def _teams_by_item(item_ids: list[int]) -> dict[int, list[int]]:
    teams: dict[int, list[int]] = {}
    for item_id, team_id in (
        TeamInvolvement.objects.filter(item_id__in=item_ids)
        .order_by("team__name")
        .values_list("item_id", "team_id")
    ):
        teams.setdefault(item_id, []).append(team_id)
    return teams


@transaction.atomic
def sprint_start(*, sprint: Sprint, actor: Actor, expected_version: int | None = None) -> Sprint:
    """Start a planned Sprint: state `active`, `started_at` now, and the plan frozen in the `start`
    snapshot (`SprintSnapshot`: each PBI with its title and teams, the Nexus Sprint Goal, the team
    Sprint Goals). The snapshot is never rewritten.

    Raises `Conflict` (`state`) when the Sprint is not planned, or another Sprint of the Nexus is active
    (close that one first); `PreconditionFailed` (`If-Match`) as `sprint_update`."""
    nexus_lock(sprint.nexus_id)
    _lock_sprint(sprint)
    _check_version(sprint, expected_version)
    if sprint.state != SprintState.PLANNED:
        raise Conflict(
            f"Sprint {sprint.number} is {sprint.state}: only a planned Sprint starts.", field="state"
        )
    active = Sprint.objects.filter(nexus_id=sprint.nexus_id, state=SprintState.ACTIVE).first()
    if active is not None:
        raise Conflict(
            f"Sprint {active.number} is active: a Nexus has one active Sprint. Close it first.", field="state"
        )
    now = timezone.now()
    items = list(
        ProductBacklogItem.objects.filter(sprint_rows__sprint=sprint)
        .order_by("rank")
        .values_list("pk", "title")
    )
    teams = _teams_by_item([pk for pk, _ in items])
    SprintSnapshot.objects.create(
        sprint=sprint,
        kind=SnapshotKind.START,
        taken_at=now,
        data={
            "items": [{"id": pk, "title": title, "teams": teams.get(pk, [])} for pk, title in items],
            "goal": sprint.goal,
            "team_goals": _team_goal_list(sprint),
        },
    )
    sprint.state = SprintState.ACTIVE
    sprint.started_at = now
    sprint.version += 1
    sprint.save(update_fields=["state", "started_at", "version", "updated_at"])
    webhook_event_record(
        nexus_id=sprint.nexus_id, event="sprint.started", payload={"sprint": sprint_payload(sprint)}
    )
    nexus_changed(sprint.nexus_id)
    return sprint


def _finish_position(nexus_id: int) -> int | None:
    """The position of the Nexus's finish column (`WorkflowColumn.is_finish`), else of its first Done
    column; None when it has neither."""
    columns = list(
        WorkflowColumn.objects.filter(nexus_id=nexus_id)
        .order_by("position")
        .values_list("position", "is_finish", "category")
    )
    finish = next((p for p, is_finish, _ in columns if is_finish), None)
    if finish is None:
        finish = next((p for p, _, category in columns if category == ColumnCategory.DONE), None)
    return finish


def sprint_next(*, sprint: Sprint) -> Sprint | None:
    """The planned Sprint that follows `sprint` (the lowest number above it), if any."""
    return (
        Sprint.objects.filter(nexus_id=sprint.nexus_id, number__gt=sprint.number, state=SprintState.PLANNED)
        .order_by("number")
        .first()
    )


@transaction.atomic
def sprint_close(
    *,
    sprint: Sprint,
    actor: Actor,
    destinations: Mapping[int, str] | None = None,
    expected_version: int | None = None,
    event: str = SprintEvent.REVIEW,
) -> Sprint:
    """Close the active Sprint and freeze its outcome in the `close` snapshot (`SprintSnapshot`): the PBIs
    done (in the Nexus's finish column, `WorkflowColumn.is_finish`, or a column after it, when the
    Sprint closes) and those not done, each with where it went: `destinations[item_id]` is `"next"` (the
    default: carried over to the next planned Sprint, `carried_out` here and `carried_in` there) or
    `"backlog"` (`returned` to the Product Backlog). Deleted PBIs of the scope are listed apart
    (`deleted`) and go nowhere. The closed Sprint keeps its scope; nothing rewrites it later.

    Raises `Conflict` (`state`) when the Sprint is not active; `DomainError` (`destinations`) for a
    destination that is not `next`/`backlog`, an item not in the Sprint or already Done, and when some
    unfinished PBI goes to `next` but the Nexus has no planned next Sprint (create one first, or send it
    back to the Product Backlog); `PreconditionFailed` (`If-Match`) as `sprint_update`. Queries: a fixed
    number, whatever the size of the scope."""
    _check_event(event)
    destinations = dict(destinations or {})
    nexus_lock(sprint.nexus_id)
    _lock_sprint(sprint)
    _check_version(sprint, expected_version)
    if sprint.state != SprintState.ACTIVE:
        raise Conflict(
            f"Sprint {sprint.number} is {sprint.state}: only the active Sprint closes.", field="state"
        )
    for key, value in destinations.items():
        if value not in DESTINATIONS:
            raise DomainError(
                f"destinations[{key}] is {value!r}: an unfinished PBI goes to “next” or “backlog”.",
                field="destinations",
            )
    finish = _finish_position(sprint.nexus_id)
    scope = list(
        SprintItem.objects.filter(sprint=sprint)
        .order_by("item__rank")
        .values_list("item_id", "item__column__position", "item__deleted_at")
    )
    in_scope = {item_id for item_id, _, _ in scope}
    stray = sorted(set(destinations) - in_scope)
    if stray:
        raise DomainError(f"Item {stray[0]} is not in Sprint {sprint.number}.", field="destinations")
    done = [i for i, pos, deleted in scope if deleted is None and finish is not None and pos >= finish]
    deleted = [i for i, _, d in scope if d is not None]
    not_done = [i for i, pos, d in scope if d is None and (finish is None or pos < finish)]
    done_asked = sorted(set(destinations) & set(done))
    if done_asked:
        raise DomainError(f"Item {done_asked[0]} is Done: it goes nowhere.", field="destinations")
    to_next = [i for i in not_done if destinations.get(i, DESTINATION_NEXT) == DESTINATION_NEXT]
    nxt = sprint_next(sprint=sprint)
    if to_next and nxt is None:
        raise DomainError(
            f"{len(to_next)} unfinished PBI(s) would be carried over to the next Sprint, but the Nexus has "
            "no planned next Sprint: create it first, or send them back to the Product Backlog "
            '(destinations: {item id: "backlog"}).',
            field="destinations",
        )
    if nxt is not None:
        _lock_sprint(nxt)
    now = timezone.now()
    teams = _teams_by_item(not_done)
    who = _actor(actor)
    changes: list[SprintScopeChange] = []
    for item_id in not_done:
        kind = ScopeChangeKind.CARRIED_OUT if item_id in to_next else ScopeChangeKind.RETURNED
        on = teams.get(item_id, [])
        changes.append(
            SprintScopeChange(
                sprint=sprint, item_id=item_id, kind=kind, actor=who, at=now, event=event, teams=on
            )
        )
    if nxt is not None and to_next:
        already = set(
            SprintItem.objects.filter(sprint=nxt, item_id__in=to_next).values_list("item_id", flat=True)
        )
        SprintItem.objects.bulk_create(
            SprintItem(sprint=nxt, item_id=i, added_at=now) for i in to_next if i not in already
        )
        changes += [
            SprintScopeChange(
                sprint=nxt,
                item_id=i,
                kind=ScopeChangeKind.CARRIED_IN,
                actor=who,
                at=now,
                event=event,
                teams=teams.get(i, []),
            )
            for i in to_next
        ]
    SprintScopeChange.objects.bulk_create(changes)
    to_next_set = set(to_next)
    SprintSnapshot.objects.create(
        sprint=sprint,
        kind=SnapshotKind.CLOSE,
        taken_at=now,
        data={
            "done": done,
            "not_done": [
                {
                    "id": i,
                    "destination": DESTINATION_NEXT if i in to_next_set else DESTINATION_BACKLOG,
                    "sprint": nxt.pk if i in to_next_set and nxt is not None else None,
                }
                for i in not_done
            ],
            "deleted": deleted,
            "goal": sprint.goal,
            "team_goals": _team_goal_list(sprint),
        },
    )
    sprint.state = SprintState.CLOSED
    sprint.closed_at = now
    sprint.version += 1
    sprint.save(update_fields=["state", "closed_at", "version", "updated_at"])
    if nxt is not None and to_next:
        _touch(nxt)
    webhook_event_record(
        nexus_id=sprint.nexus_id,
        event="sprint.closed",
        payload={
            "sprint": sprint_payload(sprint),
            "done": done,
            "not_done": len(not_done),
            "next_sprint": nxt.pk if nxt is not None and to_next else None,
        },
    )
    nexus_changed(sprint.nexus_id)
    return sprint
