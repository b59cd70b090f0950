"""What the Sprint services share (`events.services`): the rules of who plans (the whole Sprint, or a
team's lane and Sprint Goal), the Sprint lock, the checks of versions, dates and team goals, and the
Sprint's webhook payload."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import F
from django.utils import timezone

from backlog.errors import Conflict, DomainError, NotAllowed, PreconditionFailed
from backlog.models import (
    ColumnCategory,
    Membership,
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
#: The permission rule of the team lanes and team Sprint Goals (registered in `EventsConfig.ready`): who
#: plans some lane (`can_plan_lanes`); the services then say which (`planning_rights`, 403 naming `team`).
SPRINT_LANES_RULE = "sprint_lanes"
#: Who plans, starts and closes Sprints (Nexus Guide: the Product Owner with the Nexus Integration Team,
#: which is accountable for the Nexus); each Scrum Team's representatives plan its own lane.
PLANNING_ROLES = frozenset({Role.PRODUCT_OWNER, Role.NIT_MEMBER})
#: A Scrum Team's representatives at Nexus Sprint Planning: its Developers and Scrum Masters.
REPRESENTATIVE_ROLES = frozenset({Role.DEVELOPER, Role.SCRUM_MASTER})


def can_plan_sprints(*, user: User | AnonymousUser, nexus: Nexus) -> bool:
    """Whether `user` may create, change, plan, start, close and delete the Nexus's Sprints: its Product
    Owner, members of its Nexus Integration Team, and superusers."""
    if getattr(user, "is_superuser", False):
        return True
    return bool(roles_of(user=user, nexus=nexus) & PLANNING_ROLES)


@dataclass(frozen=True)
class PlanningRights:
    """What a person may do at Nexus Sprint Planning (`planning_rights`).

    `whole`: plan the whole Sprint: every team lane, the Nexus Sprint Goal and every team Sprint Goal,
    the dates, create, start, close and delete (the Product Owner, Nexus Integration Team members,
    superusers, and `actor=None`: the system). `teams`: the ids of the Scrum Teams whose lane (PBIs
    planned into the Sprint for that team, and taken out again) and Sprint Goal the person plans; None
    means every team (`whole`). A Developer or Scrum Master has their own team(s); Stakeholders,
    Executive Action Team members and non-members none. `roles` are the person's roles in the Nexus
    (for the reason of a refusal)."""

    whole: bool
    teams: frozenset[int] | None
    roles: frozenset[str] = frozenset()
    signed_in: bool = True

    @property
    def any_lane(self) -> bool:
        """Whether the person plans some team lane (the page shows the planning controls)."""
        return self.teams is None or bool(self.teams)

    def plans(self, team_id: int) -> bool:
        """Whether the person plans the lane and the Sprint Goal of the team `team_id`."""
        return self.teams is None or team_id in self.teams


#: The rights of the system (`actor=None`: imports, the demo, tasks) and of superusers.
_EVERY_RIGHT = PlanningRights(whole=True, teams=None)


def planning_rights(*, user: Actor, nexus_id: int) -> PlanningRights:
    """`PlanningRights` of `user` in the Nexus `nexus_id`. One query (none for the system, a superuser
    or an anonymous user)."""
    if user is None or getattr(user, "is_superuser", False):
        return _EVERY_RIGHT
    if not isinstance(user, User):
        return PlanningRights(whole=False, teams=frozenset(), signed_in=False)
    rows = list(Membership.objects.filter(nexus_id=nexus_id, user=user).values_list("role", "team_id"))
    roles = frozenset(role for role, _ in rows)
    if roles & PLANNING_ROLES:
        return PlanningRights(whole=True, teams=None, roles=roles)
    own = frozenset(t for role, t in rows if role in REPRESENTATIVE_ROLES and t is not None)
    return PlanningRights(whole=False, teams=own, roles=roles)


def can_plan_lanes(*, user: User | AnonymousUser, nexus: Nexus) -> bool:
    """Whether `user` plans some team lane of the Nexus's Sprints (the rule `sprint_lanes`): those who
    plan the whole Sprint (`can_plan_sprints`) and every team's representatives (Developers and Scrum
    Masters); which lanes, the services decide (`planning_rights`). One query (none for a superuser)."""
    return planning_rights(user=user, nexus_id=nexus.pk).any_lane


def _team_names(team_ids: Iterable[int]) -> str:
    names = sorted(ScrumTeam.objects.filter(pk__in=list(team_ids)).values_list("name", flat=True))
    return " and ".join(names) if names else "no Scrum Team"


def _reader_refusal(rights: PlanningRights) -> str:
    """The reason for someone who plans no lane at all."""
    if not rights.signed_in:
        return "Sign in to plan a Sprint."
    if rights.roles:
        return (
            "Stakeholders read the Sprint; the Product Owner, the Nexus Integration Team and the Scrum "
            "Teams' representatives plan it."
        )
    return "You are not a member of this Nexus."


def planning_check(*, actor: Actor, nexus_id: int, field: str = "team") -> PlanningRights:
    """The actor's `PlanningRights`; raises `NotAllowed` (403, naming `field`) for someone who plans no
    team lane at all (Stakeholders, Executive Action Team members, non-members)."""
    rights = planning_rights(user=actor, nexus_id=nexus_id)
    if not rights.any_lane:
        raise NotAllowed(_reader_refusal(rights), field=field)
    return rights


def lanes_check(
    *,
    rights: PlanningRights,
    team_ids: Collection[int],
    doing: str = "plan into {team}'s lane",
    field: str = "team",
) -> None:
    """Raise `NotAllowed` (403, naming `field`) unless `rights` cover every team of `team_ids` (a
    representative plans into and takes out of their own team's lane, and writes its Sprint Goal, only).
    `doing` says what was refused, `{team}` standing for the other team(s) (replaced, not formatted:
    it may hold a PBI's title)."""
    if rights.teams is None:
        return
    if not rights.any_lane:
        raise NotAllowed(_reader_refusal(rights), field=field)
    others = sorted(set(team_ids) - rights.teams)
    if others:
        theirs = _team_names(others)
        refused = doing.replace("{team}", theirs)
        raise NotAllowed(
            f"Only {theirs}'s representatives (Developers and Scrum Masters), the Product Owner and the "
            f"Nexus Integration Team {refused}; you represent {_team_names(rights.teams)}. "
            "Nothing was changed.",
            field=field,
        )


def whole_sprint_check(*, rights: PlanningRights, what: str, field: str = "sprint") -> None:
    """Raise `NotAllowed` (403, naming `field`) unless `rights` cover the whole Sprint (`what`: what
    the person tried, e.g. "start a Sprint")."""
    if rights.whole:
        return
    if not rights.any_lane:
        raise NotAllowed(_reader_refusal(rights), field=field)
    assert rights.teams is not None
    raise NotAllowed(
        f"Only the Product Owner and the Nexus Integration Team {what}; as a representative of "
        f"{_team_names(rights.teams)} you plan your team's lane and its Sprint Goal. Nothing was changed.",
        field=field,
    )


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
