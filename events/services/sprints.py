"""Create, edit and delete a Sprint (`events.services`): dates on the Nexus's cadence, the Nexus Sprint
Goal and the team Sprint Goals.

Who (`events.services.common.planning_rights`): the Product Owner, Nexus Integration Team members,
superusers and the system (`actor=None`) do all of it; a team's representative (Developer, Scrum
Master) writes only their own team's Sprint Goal (403 naming `goal`, `team_goals`, `start_date` or
`end_date` for the rest, nothing saved); anyone else reads."""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction

from backlog.errors import Conflict, DomainError
from backlog.models import (
    Nexus,
)
from backlog.services.common import UNSET, Unset, nexus_changed, nexus_lock
from events.models import (
    Sprint,
    SprintState,
)
from events.services.common import (
    Actor,
    TeamGoals,
    _check_dates,
    _check_version,
    _closed_refusal,
    _lock_sprint,
    _set_team_goals,
    _team_goal_list,
    _team_goal_pairs,
    lanes_check,
    planning_check,
    planning_rights,
    whole_sprint_check,
)
from flow.history import nexus_today
from nexus_site.db import retry_transient

# --- Create, edit, delete --------------------------------------------------------------------------------


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
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

    Raises `NotAllowed` (403, `sprint`) unless `actor` plans the whole Sprint (the Product Owner, the
    Nexus Integration Team, superusers, the system); `DomainError` (`end_date`: before the start;
    `team_goals`: a team not in the Nexus) and `Conflict` (`start_date`: the days overlap another Sprint
    of the Nexus)."""
    whole_sprint_check(rights=planning_rights(user=actor, nexus_id=nexus.pk), what="create a Sprint")
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


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
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

    Who: the Product Owner, the Nexus Integration Team, superusers and the system change all of it; a
    team's representative (Developer, Scrum Master) only their own team's Sprint Goal. What is sent
    unchanged is no change: a representative may send the other goals as they are.

    Raises `NotAllowed` (403) for an actor who plans no lane (`sprint`), and for a representative who
    changes the Nexus Sprint Goal (`goal`), the dates (`start_date`, `end_date`) or another team's
    Sprint Goal (`team_goals`, naming the team: `team_goals` replaces them all, so leaving another
    team's goal out removes it), nothing saved; `PreconditionFailed` (`If-Match`, 412) when
    `expected_version` is not the Sprint's version, `Conflict` (`sprint`) for a closed Sprint,
    (`start_date`) for moving the start of a started Sprint or overlapping dates, `DomainError`
    (`end_date`, `team_goals`) as `sprint_create`."""
    rights = planning_check(actor=actor, nexus_id=sprint.nexus_id, field="sprint")
    nexus_lock(sprint.nexus_id)
    _lock_sprint(sprint)
    _check_version(sprint, expected_version)
    if sprint.state == SprintState.CLOSED:
        raise _closed_refusal(sprint, "its goals and dates are kept as they were")
    nexus = sprint.nexus
    new_start = sprint.start_date if isinstance(start_date, Unset) else start_date
    new_end = sprint.end_date if isinstance(end_date, Unset) else end_date
    new_goal = sprint.goal if isinstance(goal, Unset) else (goal or "").strip()
    pairs: dict[int, str] | None = None
    goals_changed = False
    if not isinstance(team_goals, Unset):
        pairs = _team_goal_pairs(nexus, team_goals)
        before = {g["team"]: g["goal"] for g in _team_goal_list(sprint)}
        after = {t: g for t, g in pairs.items() if g}
        goals_changed = before != after
        # Who may: checked before anything is written.
        lanes_check(
            rights=rights,
            team_ids={t for t in before.keys() | after.keys() if before.get(t) != after.get(t)},
            doing="write {team}'s Sprint Goal (team_goals replaces every team's: send the others as they "
            "are)",
            field="team_goals",
        )
    if new_goal != sprint.goal:
        whole_sprint_check(rights=rights, what="write the Nexus Sprint Goal", field="goal")
    if new_start != sprint.start_date:
        whole_sprint_check(rights=rights, what="change a Sprint's dates", field="start_date")
    if new_end != sprint.end_date:
        whole_sprint_check(rights=rights, what="change a Sprint's dates", field="end_date")
    changed = False
    if new_start != sprint.start_date and sprint.state != SprintState.PLANNED:
        raise Conflict("A started Sprint keeps its start date; only its end may move.", field="start_date")
    if (new_start, new_end) != (sprint.start_date, sprint.end_date):
        _check_dates(nexus=nexus, start=new_start, end=new_end, exclude=sprint.pk)
        sprint.start_date, sprint.end_date = new_start, new_end
        changed = True
    if new_goal != sprint.goal:
        sprint.goal = new_goal
        changed = True
    if pairs is not None and goals_changed:
        _set_team_goals(sprint, pairs)
        changed = True
    if changed:
        sprint.version += 1
        sprint.save(update_fields=["start_date", "end_date", "goal", "version", "updated_at"])
        nexus_changed(sprint.nexus_id)
    return sprint


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def sprint_delete(*, sprint: Sprint, actor: Actor, expected_version: int | None = None) -> None:
    """Delete a planned Sprint (its scope rows and scope log with it; the PBIs stay in the Product
    Backlog with their squares). Leaves a tombstone (`sprint`) for sync clients. Raises `NotAllowed`
    (403, `sprint`) unless `actor` plans the whole Sprint (as `sprint_create`); `Conflict` (`state`) for
    a Sprint that has started: an active or closed Sprint is history."""
    whole_sprint_check(rights=planning_rights(user=actor, nexus_id=sprint.nexus_id), what="delete a Sprint")
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
