"""What the Sprint services share (`events.services`): the rule of who plans, the Sprint lock, the
checks of versions, dates and team goals, and the Sprint's webhook payload."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import F
from django.utils import timezone

from backlog.errors import Conflict, DomainError, PreconditionFailed
from backlog.models import (
    ColumnCategory,
    Nexus,
    Role,
    ScrumTeam,
    WorkflowColumn,
)
from backlog.selectors import roles_of
from events.models import (
    Sprint,
    SprintEvent,
    SprintTeamGoal,
)

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


def _check_event(event: str) -> None:
    if event not in SprintEvent.values:
        raise DomainError(f"The event is one of {', '.join(SprintEvent.values)}.", field="event")


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
