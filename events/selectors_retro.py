"""Reads of the Nexus Sprint Retrospective (Nexus Guide) for its page and the API: the three parts of a
Sprint's retrospective, the open improvement actions of earlier retrospectives (first on the page, with the
Sprint they were agreed in and their age), the Sprint's flow figures (`flow.selectors.period_flow_get`) and
the Definition of Workflow with its SLE. A fixed number of queries whatever the number of items, actions,
teams or Sprints (asserted in `tests/events/test_retro_page.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.http import Http404

from backlog.models import READ_ONLY_ROLES, Membership, Nexus, ScrumTeam, WorkflowColumn
from events.models import (
    ActionKind,
    ActionStatus,
    ImprovementAction,
    RetroItem,
    RetroPart,
    Sprint,
    SprintState,
)
from flow.history import nexus_today
from flow.selectors import SLE, PeriodFlow, period_flow_get

#: Started Sprints: a retrospective belongs to one.
STARTED = (SprintState.ACTIVE, SprintState.CLOSED)
#: From this many days before its last day on, the active Sprint is the one `/retrospective/` opens (the
#: Nexus Sprint Retrospective is the Sprint's last event); before, the last closed Sprint's.
RETRO_DAYS_BEFORE_END = 1


def retro_sprint_default(*, nexus: Nexus, today: date | None = None) -> Sprint | None:
    """The Sprint whose retrospective `/n/<slug>/retrospective/` opens: the active Sprint from its last
    `RETRO_DAYS_BEFORE_END + 1` days on (the retrospective is its last event), else the last closed
    Sprint, else the active one; None before any Sprint has started. Two queries at most."""
    rows = list(Sprint.objects.filter(nexus=nexus, state__in=STARTED).order_by("-number")[:2])
    active = next((s for s in rows if s.state == SprintState.ACTIVE), None)
    closed = next((s for s in rows if s.state == SprintState.CLOSED), None)
    today = today or nexus_today(nexus)
    if active is not None and (
        closed is None or today >= active.end_date - timedelta(days=RETRO_DAYS_BEFORE_END)
    ):
        return active
    return closed


def retro_sprint_get(*, nexus: Nexus, sprint_id: int) -> Sprint:
    """The started Sprint `sprint_id` of the Nexus; `Http404` for another Nexus's, an unknown or a planned
    one (a retrospective belongs to a Sprint that has started). One query."""
    sprint = Sprint.objects.filter(nexus=nexus, pk=sprint_id, state__in=STARTED).first()
    if sprint is None:
        raise Http404("No such started Sprint in this Nexus.")
    sprint.nexus = nexus
    return sprint


def retro_items_qs(*, nexus: Nexus) -> QuerySet[RetroItem]:
    """A Nexus's retrospective items with what the API and page show (Sprint, team, author)."""
    return RetroItem.objects.filter(nexus=nexus).select_related("sprint", "team", "author")


def actions_qs(*, nexus: Nexus) -> QuerySet[ImprovementAction]:
    """A Nexus's improvement actions with their Sprints, owner and PBI (column) selected."""
    return ImprovementAction.objects.filter(nexus=nexus).select_related(
        "sprint", "closed_sprint", "owner", "item", "item__column", "cross_team_issue"
    )


@dataclass(frozen=True)
class ActionRow:
    """An improvement action on the page: `age` in calendar days from the day it was agreed to today (or
    to the day it was closed), in the Nexus's time zone."""

    action: ImprovementAction
    age: int


@dataclass(frozen=True)
class CrossTeamIssue:
    """A cross-team issue (part 1) and the team items (part 2) linked to it."""

    item: RetroItem
    team_items: list[RetroItem]


@dataclass(frozen=True)
class TeamPart:
    """A Scrum Team's items (part 2) in the retrospective; `can_record` for the viewer."""

    team: ScrumTeam
    items: list[RetroItem]
    can_record: bool


@dataclass(frozen=True)
class WorkflowRow:
    """A Definition of Workflow column as the page shows it: its SLE applies to the columns between the
    started and the finished one (Work Item Age counts there)."""

    column: WorkflowColumn
    in_progress: bool


@dataclass
class RetroPage:
    """What the retrospective page shows for `sprint` (see the module)."""

    nexus: Nexus
    sprint: Sprint
    sprints: list[tuple[int, int, str]]  # (id, number, state) of the started Sprints, newest first
    carried: list[ActionRow]  # open tracked actions of earlier retrospectives, oldest first
    closed_here: list[ActionRow]  # earlier actions marked done or dropped at this retrospective
    cross_team: list[CrossTeamIssue]
    teams: list[TeamPart]
    actions: list[ActionRow]  # agreed at this retrospective
    members: list[User]
    flow: PeriodFlow
    workflow: list[WorkflowRow]
    sle: SLE
    can_record: bool
    can_create_pbis: bool
    can_change_workflow: bool
    today: date
    team_choices: list[ScrumTeam] = field(default_factory=list)  # teams whose items the viewer records
    prev_sprint: tuple[int, int] | None = None  # (id, number) of the Sprint before, started
    next_sprint: tuple[int, int] | None = None
    counts: dict[str, int] = field(default_factory=dict)


def _age(action: ImprovementAction, today: date, tz: Any) -> int:
    end = action.closed_at.astimezone(tz).date() if action.closed_at else today
    return max(0, (end - action.agreed_at.astimezone(tz).date()).days)


def retro_page_get(
    *,
    nexus: Nexus,
    sprint: Sprint,
    can_record: bool,
    team_ids: set[int] | None,
    can_create_pbis: bool,
    can_change_workflow: bool,
) -> RetroPage:
    """The page of `sprint`'s retrospective: `team_ids` are the teams whose items the viewer may record
    (None: every team), the `can_*` flags the viewer's other rights (`events.services.retro`). A fixed
    number of queries."""
    import zoneinfo

    tz = zoneinfo.ZoneInfo(nexus.time_zone)
    today = nexus_today(nexus)
    sprints = list(
        Sprint.objects.filter(nexus=nexus, state__in=STARTED)
        .order_by("-number")
        .values_list("pk", "number", "state")
    )
    items = list(
        RetroItem.objects.filter(sprint=sprint).select_related("team", "author").order_by("created_at", "id")
    )
    teams = list(ScrumTeam.objects.filter(nexus=nexus).order_by("name"))
    issues = [i for i in items if i.part == RetroPart.CROSS_TEAM]
    linked: dict[int, list[RetroItem]] = {}
    per_team: dict[int, list[RetroItem]] = {}
    for i in items:
        if i.part == RetroPart.TEAM:
            assert i.team_id is not None
            per_team.setdefault(i.team_id, []).append(i)
            if i.cross_team_issue_id:
                linked.setdefault(i.cross_team_issue_id, []).append(i)
    # This retrospective's actions, the open ones of earlier retrospectives and those closed here.
    rows = list(
        actions_qs(nexus=nexus)
        .filter(
            Q(sprint=sprint)
            | Q(sprint__number__lt=sprint.number, kind=ActionKind.ACTION, status=ActionStatus.OPEN)
            | Q(closed_sprint=sprint, sprint__number__lt=sprint.number)
        )
        .order_by("agreed_at", "id")
    )
    here = [ActionRow(a, _age(a, today, tz)) for a in rows if a.sprint_id == sprint.pk]
    carried = [ActionRow(a, _age(a, today, tz)) for a in rows if a.sprint_id != sprint.pk and a.is_open]
    closed_here = [
        ActionRow(a, _age(a, today, tz)) for a in rows if a.sprint_id != sprint.pk and not a.is_open
    ]
    members = (
        list(
            User.objects.filter(
                pk__in=Membership.objects.filter(nexus=nexus).exclude(role__in=READ_ONLY_ROLES).values("user")
            ).order_by("username")
        )
        if can_record
        else []
    )
    columns = list(WorkflowColumn.objects.filter(nexus=nexus).order_by("position"))
    start = next((c.position for c in columns if c.is_start), None)
    finish = next((c.position for c in columns if c.is_finish), None)
    workflow = [
        WorkflowRow(
            c,
            start is not None and finish is not None and start <= c.position < finish,
        )
        for c in columns
    ]
    end = min(sprint.end_date, today)
    flow = period_flow_get(nexus=nexus, start=sprint.start_date, end=end)
    index = next(i for i, row in enumerate(sprints) if row[0] == sprint.pk)
    before = sprints[index + 1] if index + 1 < len(sprints) else None
    after = sprints[index - 1] if index > 0 else None
    return RetroPage(
        team_choices=[t for t in teams if team_ids is None or t.pk in team_ids],
        prev_sprint=(before[0], before[1]) if before else None,
        next_sprint=(after[0], after[1]) if after else None,
        nexus=nexus,
        sprint=sprint,
        sprints=sprints,
        carried=carried,
        closed_here=closed_here,
        cross_team=[CrossTeamIssue(i, linked.get(i.pk, [])) for i in issues],
        teams=[TeamPart(t, per_team.get(t.pk, []), team_ids is None or t.pk in team_ids) for t in teams],
        actions=here,
        members=members,
        flow=flow,
        workflow=workflow,
        sle=flow.sle,
        can_record=can_record,
        can_create_pbis=can_create_pbis,
        can_change_workflow=can_change_workflow,
        today=today,
        counts={"team_items": sum(len(v) for v in per_team.values()), "cross_team": len(issues)},
    )
