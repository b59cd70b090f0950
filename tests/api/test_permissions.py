"""The permission matrix: role x action -> allowed (2xx), forbidden (403) or invisible (404), exactly as
the pages decide (`backlog.selectors`), for every resource of the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import resolve
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from backlog.models import (
    Label,
    Membership,
    ProductBacklogItem,
    ProductGoal,
    Role,
    ScrumTeam,
    TeamColumn,
    TeamInvolvement,
    Transition,
    WorkflowColumn,
)
from backlog.models_api import Webhook, WebhookDelivery
from backlog.services import goal_create, pbi_create, pbi_set_teams
from backlog.services.team_columns import team_column_create
from backlog.services.webhooks import webhook_create
from flow.services import flow_settings_set
from tests.api.helpers import base, error_fields, people
from tests.factories import UserFactory, member

#: `dev_other` is a Developer of another team (Team B) than `sm` and `dev` (Team A).
#: `eat` is an Executive Action Team member: reads the Nexus like a Stakeholder, decides escalated issues.
ROLES = ["po", "sm", "dev", "dev_other", "nit", "stakeholder", "eat", "outsider", "admin"]
ALLOWED = {
    "view": {"po", "sm", "dev", "dev_other", "nit", "stakeholder", "eat", "admin"},
    "edit": {"po", "sm", "dev", "dev_other", "nit", "admin"},
    # `selectors.can_create_items`, as on the backlog page: every member but Stakeholders.
    "create": {"po", "sm", "dev", "dev_other", "nit", "admin"},
    # Team A's squares, board and columns (`squares.square_refusal`): its own Developers and Scrum
    # Masters, the Product Owner, the Nexus Integration Team; not a Developer of another team.
    "squares": {"po", "sm", "dev", "nit", "admin"},
    # Team B's: `dev_other` is its Developer; `dev` and `sm` (Team A) are not.
    "squares_b": {"po", "dev_other", "nit", "admin"},
    "po": {"po", "admin"},
    "admin": {"admin"},
    # `selectors.can_change_workflow`: the Nexus Integration Team changes the Definition of Workflow.
    "workflow": {"nit", "admin"},
    "flow_settings": {"po", "nit", "admin"},
    # `events.services.can_plan_sprints`: the Product Owner and the Nexus Integration Team create, start,
    # close and delete Sprints and write the Nexus Sprint Goal.
    "sprint_planning": {"po", "nit", "admin"},
    # `events.services.planning_rights`: Team A's lane (plan into it, take its PBIs out) and its Sprint
    # Goal: also Team A's representatives (`sm`, `dev`), not a Developer of another team.
    "sprint_lanes_a": {"po", "sm", "dev", "nit", "admin"},
    # Team B's: `dev_other` is its Developer; `dev` and `sm` (Team A) are not.
    "sprint_lanes_b": {"po", "dev_other", "nit", "admin"},
    # `integration.services_dod.dod_refusal`: the Nexus Integration Team owns the Nexus's Definition of
    # Done; a team's Developers and Scrum Master (and the NIT) write its stricter criteria (Team A's here).
    "dod_edit": {"nit", "admin"},
    "dod_team": {"sm", "dev", "nit", "admin"},
    # `integration.services_increments`: the Product Owner and the NIT manage increments; every member
    # but Stakeholders confirms the Nexus's criteria.
    "increment_manage": {"po", "nit", "admin"},
    "increment_confirm": {"po", "sm", "dev", "dev_other", "nit", "admin"},
    # `dependencies.dependency_change_refusal`: a dependency of Team A's PBI on an unforecast PBI: the
    # Product Owner, the Nexus Integration Team and Team A's Developers (not its Scrum Master, not Team B).
    "dependency": {"po", "dev", "nit", "admin"},
    # `integration.services_issues`: members but Stakeholders raise, change and resolve integration
    # issues; the Product Owner, Scrum Masters and the NIT escalate and delete; the EAT decides.
    "issues_raise": {"po", "sm", "dev", "dev_other", "nit", "eat", "admin"},
    "issues_escalate": {"po", "sm", "nit", "admin"},
    "issues_eat": {"eat", "admin"},
}


@pytest.fixture
def who(nx):
    """The conftest's people plus an Executive Action Team member (`eat`)."""
    return {**people(nx), "eat": member(nx, Role.EAT_MEMBER, username=f"eat-{nx.slug}")}


def _first(nx):
    return ProductBacklogItem.objects.filter(backlog__nexus=nx).order_by("rank").first()


def _last(nx):
    return ProductBacklogItem.objects.filter(backlog__nexus=nx).order_by("rank").last()


def _external_id(nx):
    return pbi_create(nexus=nx, title="Mirrored", external_id="JIRA-1", actor=None).external_id


def _goal(nx):
    return ProductGoal.objects.filter(backlog__nexus=nx).first() or goal_create(nexus=nx, text="Goal")


def _involvement(nx):
    item = _first(nx)
    pbi_set_teams(item=item, teams=[ScrumTeam.objects.filter(nexus=nx).earliest("id")], actor=None)
    return TeamInvolvement.objects.get(item=item)


def _involvement_b(nx):
    item = _first(nx)
    pbi_set_teams(item=item, teams=[_team(nx, "Team B")], actor=None)
    return TeamInvolvement.objects.get(item=item)


def _involvement_started(nx):
    """Team A's square on the first PBI, in progress: taking it off is a change of Team A's square."""
    from backlog.services import involvement_set_status

    return involvement_set_status(involvement=_involvement(nx), status="in_progress", actor=None)


def _task(nx):
    """A task of Team A's work on the first PBI."""
    from backlog.services.tasks import task_create

    square = _involvement(nx)
    return task_create(item=square.item, team=square.team, title="Step", actor=None)


def _task_body(nx, team_name="Team A"):
    item = _first(nx)
    pbi_set_teams(item=item, teams=[_team(nx, team_name)], actor=None)
    return {"item": item.pk, "team": _team(nx, team_name).pk, "title": "Regression test"}


def _team_column(nx, team_name="Team A", state="ready"):
    return TeamColumn.objects.filter(team=_team(nx, team_name), state=state).earliest("position")


def _spare_team_column(nx):
    return team_column_create(team=_team(nx, "Team A"), name="Spare", state="in_progress", actor=None)


def _hook(nx):
    return Webhook.objects.filter(nexus=nx).first() or webhook_create(
        nexus=nx, url="http://127.0.0.1:9/hook", events=["item.created"], actor=None
    )


def _delivery(nx):
    return WebhookDelivery.objects.create(
        webhook=_hook(nx), event="item.created", payload={}, created_at=timezone.now()
    )


def _label(nx):
    pbi_create(nexus=nx, title="Labelled", labels=["editor"], actor=None)
    return Label.objects.get(nexus=nx, name="editor")


def _flow_settings(nx):
    owner = User.objects.get(username=f"po-{nx.slug}")
    return flow_settings_set(nexus=nx, team=None, actor=owner, sle_percent=85, sle_days=None)


def _sprint(nx):
    """A planned Sprint of the Nexus (the first one, made on demand)."""
    from events.models import Sprint, SprintState
    from events.services import sprint_create

    return Sprint.objects.filter(nexus=nx, state=SprintState.PLANNED).first() or sprint_create(
        nexus=nx, actor=None
    )


def _active_sprint(nx):
    """The active Sprint of the Nexus (the planned one started, on demand)."""
    from events.models import Sprint, SprintState
    from events.services import sprint_start

    active = Sprint.objects.filter(nexus=nx, state=SprintState.ACTIVE).first()
    return active or sprint_start(sprint=_sprint(nx), actor=None)


def _planned_item(nx, team_name="Team A"):
    """The first PBI, planned into the planned Sprint for Team A (or `team_name`)."""
    from events.models import SprintItem
    from events.services import sprint_plan

    sprint, item = _sprint(nx), _first(nx)
    if not SprintItem.objects.filter(sprint=sprint, item=item).exists():
        sprint_plan(sprint=sprint, item=item, teams=[_team(nx, team_name)], actor=None)
    return item


def _goals_body(nx, team_name):
    """A PATCH of the planned Sprint's team goals that changes only `team_name`'s (the others as they
    are: `team_goals` replaces them all)."""
    from events.models import SprintTeamGoal
    from events.services import sprint_update

    sprint = _sprint(nx)
    if not SprintTeamGoal.objects.filter(sprint=sprint).exists():
        teams = ScrumTeam.objects.filter(nexus=nx)
        sprint_update(sprint=sprint, actor=None, team_goals={t.pk: f"{t.name} ships" for t in teams})
    goals = dict(SprintTeamGoal.objects.filter(sprint=sprint).values_list("team_id", "goal"))
    goals[_team(nx, team_name).pk] = f"{team_name} ships sooner"
    return {"team_goals": [{"team": team, "goal": goal} for team, goal in goals.items()]}


def _dependency(nx):
    """An open dependency of the first PBI (Team A's) on the last one (no team)."""
    from backlog.models import Dependency
    from backlog.services.dependencies import dependency_create

    first, last = _first(nx), _last(nx)
    if not TeamInvolvement.objects.filter(item=first).exists():
        pbi_set_teams(item=first, teams=[_team(nx, "Team A")], actor=None)
    live = Dependency.objects.filter(item=first, depends_on=last).exclude(status="removed").first()
    return live or dependency_create(item=first, depends_on=last, actor=None)


def _issue(nx):
    """An open level-1 integration issue of the Nexus (made on demand)."""
    from integration.models_issues import IntegrationIssue
    from integration.services_issues import issue_raise

    return (
        IntegrationIssue.objects.filter(nexus=nx, level=1, status="open").first()
        or issue_raise(nexus=nx, actor=None, title="Build red").issue
    )


def _issue_l3(nx):
    """An open integration issue escalated to the Executive Action Team (level 3)."""
    from integration.services_issues import issue_escalate, issue_raise

    issue = issue_raise(nexus=nx, actor=None, title="Needs budget", level=2).issue
    return issue_escalate(issue=issue, actor=None)


def _team(nx, name):
    return ScrumTeam.objects.get(nexus=nx, name=name)


def _criterion(nx, team_name=None):
    """A criterion of the Nexus's Definition of Done (or of `team_name`'s), made on demand."""
    from integration.models import DoneCriterion
    from integration.services_dod import criterion_add

    team = _team(nx, team_name) if team_name else None
    return DoneCriterion.objects.filter(nexus=nx, team=team).first() or criterion_add(
        nexus=nx, text=f"Tested ({team_name or 'Nexus'})", team=team, actor=None
    )


def _running_sprint(nx):
    from events.models import Sprint, SprintState

    return Sprint.objects.filter(nexus=nx, state=SprintState.ACTIVE).first() or _active_sprint(nx)


def _review_note(nx):
    """An open stakeholder note of the running Sprint's review (made on demand)."""
    from events.models import ReviewNote
    from events.services.review import review_note_add

    sprint = _running_sprint(nx)
    return ReviewNote.objects.filter(sprint=sprint, outcome="open").first() or review_note_add(
        sprint=sprint, text="Search is slow", actor=None
    )


def _filled_item(nx):
    """The last PBI with Team A's square ready to integrate."""
    from tests.factories import squares_fill

    item = _last(nx)
    if not TeamInvolvement.objects.filter(item=item).exists():
        pbi_set_teams(item=item, teams=[_team(nx, "Team A")], actor=None)
        squares_fill(item)
    return item


def _increment(nx, *, ready=False, done=False):
    """An open Integrated Increment of the active Sprint (a Nexus criterion; `ready`: a PBI, confirmed)."""
    from integration.models import IntegratedIncrement
    from integration.services_increments import (
        increment_confirm,
        increment_create,
        increment_done,
        increment_integrate,
    )

    _criterion(nx)
    row = IntegratedIncrement.objects.filter(nexus=nx).first()
    if row is None:
        row = increment_create(sprint=_running_sprint(nx), actor=None)
    if (ready or done) and row.state == "open":
        if not row.items.exists():
            increment_integrate(increment=row, item=_filled_item(nx), actor=None)
        confirmed = set(row.confirmations.values_list("criterion", flat=True))
        for c in row.dod_version.criteria:
            if c["id"] not in confirmed:
                increment_confirm(increment=row, criterion=c["id"], actor=None)
        if done:
            increment_done(increment=row, actor=None)
    return row


def _retro_item(nx):
    """A cross-team issue in the active Sprint's retrospective (made on demand)."""
    from events.models import RetroItem
    from events.services.retro import retro_item_add

    return RetroItem.objects.filter(nexus=nx, part="cross_team").first() or retro_item_add(
        sprint=_running_sprint(nx), actor=None, text="Build red"
    )


def _retro_action(nx):
    """An open tracked improvement action agreed at the active Sprint's retrospective."""
    from events.models import ImprovementAction
    from events.services.retro import action_agree

    owner = User.objects.get(username=f"po-{nx.slug}")
    return ImprovementAction.objects.filter(nexus=nx, status="open").first() or action_agree(
        sprint=_running_sprint(nx), actor=None, title="Build every merge", owner=owner
    )


def _column(nx, name):
    return WorkflowColumn.objects.get(nexus=nx, name=name)


# (name, rule, method, path(nx), body(nx))
ACTIONS = [
    ("nexus get", "view", "get", lambda nx: "/", None),
    ("nexus patch", "admin", "patch", lambda nx: "/", lambda nx: {"description": "Changed"}),
    ("nexus changes", "view", "get", lambda nx: "/changes/", None),
    ("items list", "view", "get", lambda nx: "/items/", None),
    ("item get", "view", "get", lambda nx: f"/items/{_first(nx).pk}/", None),
    ("item create", "create", "post", lambda nx: "/items/", lambda nx: {"title": "New"}),
    ("item patch", "edit", "patch", lambda nx: f"/items/{_first(nx).pk}/", lambda nx: {"title": "Renamed"}),
    ("item delete", "edit", "delete", lambda nx: f"/items/{_first(nx).pk}/", None),
    (
        "item move",
        "po",
        "post",
        lambda nx: f"/items/{_last(nx).pk}/move/",
        lambda nx: {"before": _first(nx).pk},
    ),
    (
        "item transition",
        "edit",
        "post",
        lambda nx: f"/items/{_first(nx).pk}/transition/",
        lambda nx: {"column": WorkflowColumn.objects.get(nexus=nx, name="In Progress").pk},
    ),
    ("item transitions", "view", "get", lambda nx: f"/items/{_first(nx).pk}/transitions/", None),
    (
        "item by external id",
        "view",
        "get",
        lambda nx: f"/items/by-external-id/{_external_id(nx)}/",
        None,
    ),
    ("upsert", "create", "put", lambda nx: "/items/by-external-id/X-1/", lambda nx: {"title": "X"}),
    (
        "bulk",
        "create",
        "post",
        lambda nx: "/items/bulk/",
        lambda nx: {"items": [{"external_id": "B", "title": "B"}]},
    ),
    ("tombstones", "view", "get", lambda nx: "/items/deleted/", None),
    ("teams list", "view", "get", lambda nx: "/teams/", None),
    (
        "team get",
        "view",
        "get",
        lambda nx: f"/teams/{ScrumTeam.objects.filter(nexus=nx).earliest('id').pk}/",
        None,
    ),
    ("team create", "admin", "post", lambda nx: "/teams/", lambda nx: {"name": "Team Z"}),
    (
        "team patch",
        "admin",
        "patch",
        lambda nx: f"/teams/{_team(nx, 'Team B').pk}/",
        lambda nx: {"wip_limit": 3},
    ),
    ("team delete", "admin", "delete", lambda nx: f"/teams/{_team(nx, 'Team C').pk}/", None),
    ("teams deleted", "view", "get", lambda nx: "/teams/deleted/", None),
    ("memberships list", "view", "get", lambda nx: "/memberships/", None),
    (
        "membership create",
        "admin",
        "post",
        lambda nx: "/memberships/",
        lambda nx: {"username": UserFactory.create().username, "role": "stakeholder"},
    ),
    ("membership get", "view", "get", lambda nx: f"/memberships/{nx.memberships.earliest('id').pk}/", None),
    ("goals list", "view", "get", lambda nx: "/goals/", None),
    ("goal create", "po", "post", lambda nx: "/goals/", lambda nx: {"text": "Goal"}),
    ("goal get", "view", "get", lambda nx: f"/goals/{_goal(nx).pk}/", None),
    ("goal patch", "po", "patch", lambda nx: f"/goals/{_goal(nx).pk}/", lambda nx: {"text": "Better"}),
    (
        "goal close",
        "po",
        "post",
        lambda nx: f"/goals/{_goal(nx).pk}/close/",
        lambda nx: {"status": "achieved"},
    ),
    ("columns list", "view", "get", lambda nx: "/columns/", None),
    ("column get", "view", "get", lambda nx: f"/columns/{nx.columns.earliest('id').pk}/", None),
    ("labels list", "view", "get", lambda nx: "/labels/", None),
    ("label get", "view", "get", lambda nx: f"/labels/{_label(nx).pk}/", None),
    ("flow settings list", "view", "get", lambda nx: "/flow-settings/", None),
    ("flow settings get", "view", "get", lambda nx: f"/flow-settings/{_flow_settings(nx).pk}/", None),
    (
        "membership delete",
        "admin",
        "delete",
        lambda nx: f"/memberships/{Membership.objects.get(nexus=nx, role=Role.NIT_MEMBER).pk}/",
        None,
    ),
    ("memberships deleted", "view", "get", lambda nx: "/memberships/deleted/", None),
    ("goals list", "view", "get", lambda nx: "/goals/", None),
    ("goal create", "po", "post", lambda nx: "/goals/", lambda nx: {"text": "Goal"}),
    ("goals deleted", "view", "get", lambda nx: "/goals/deleted/", None),
    ("columns list", "view", "get", lambda nx: "/columns/", None),
    (
        "column create",
        "workflow",
        "post",
        lambda nx: "/columns/",
        lambda nx: {"name": "QA", "category": "in_progress"},
    ),
    (
        "column patch",
        "workflow",
        "patch",
        lambda nx: f"/columns/{_column(nx, 'Review').pk}/",
        lambda nx: {"wip_limit": 5},
    ),
    ("column delete", "workflow", "delete", lambda nx: f"/columns/{_column(nx, 'Review').pk}/", None),
    ("columns deleted", "view", "get", lambda nx: "/columns/deleted/", None),
    ("labels list", "view", "get", lambda nx: "/labels/", None),
    ("labels deleted", "view", "get", lambda nx: "/labels/deleted/", None),
    ("flow settings list", "view", "get", lambda nx: "/flow-settings/", None),
    ("flow settings deleted", "view", "get", lambda nx: "/flow-settings/deleted/", None),
    (
        "flow settings set",
        "flow_settings",
        "post",
        lambda nx: "/flow-settings/",
        lambda nx: {"team": None, "sle_percent": 80},
    ),
    ("involvements list", "view", "get", lambda nx: "/involvements/", None),
    (
        "involvement create",
        "edit",
        "post",
        lambda nx: "/involvements/",
        lambda nx: {"item": _first(nx).pk, "team": ScrumTeam.objects.filter(nexus=nx).earliest("id").pk},
    ),
    ("involvement get", "view", "get", lambda nx: f"/involvements/{_involvement(nx).pk}/", None),
    (
        "involvement patch",
        "squares",
        "patch",
        lambda nx: f"/involvements/{_involvement(nx).pk}/",
        lambda nx: {"status": "in_progress"},
    ),
    (
        "involvement patch of another team",
        "squares_b",
        "patch",
        lambda nx: f"/involvements/{_involvement_b(nx).pk}/",
        lambda nx: {"status": "ready"},
    ),
    (
        "involvement move",
        "squares",
        "post",
        lambda nx: f"/involvements/{_involvement(nx).pk}/move/",
        lambda nx: {"column": _team_column(nx).pk},
    ),
    ("team columns list", "view", "get", lambda nx: "/team-columns/", None),
    ("team column get", "view", "get", lambda nx: f"/team-columns/{_team_column(nx).pk}/", None),
    (
        "team column create",
        "squares",
        "post",
        lambda nx: "/team-columns/",
        lambda nx: {"team": _team(nx, "Team A").pk, "name": "Review", "state": "in_progress"},
    ),
    (
        "team column create on another team's board",
        "squares_b",
        "post",
        lambda nx: "/team-columns/",
        lambda nx: {"team": _team(nx, "Team B").pk, "name": "Review", "state": "in_progress"},
    ),
    (
        "team column patch",
        "squares",
        "patch",
        lambda nx: f"/team-columns/{_team_column(nx).pk}/",
        lambda nx: {"wip_limit": 3},
    ),
    (
        "team column delete",
        "squares",
        "delete",
        lambda nx: f"/team-columns/{_spare_team_column(nx).pk}/",
        None,
    ),
    ("team columns deleted", "view", "get", lambda nx: "/team-columns/deleted/", None),
    ("tasks list", "view", "get", lambda nx: "/tasks/", None),
    ("task get", "view", "get", lambda nx: f"/tasks/{_task(nx).pk}/", None),
    ("task create", "squares", "post", lambda nx: "/tasks/", _task_body),
    (
        "task create for another team",
        "squares_b",
        "post",
        lambda nx: "/tasks/",
        lambda nx: _task_body(nx, "Team B"),
    ),
    ("task patch", "squares", "patch", lambda nx: f"/tasks/{_task(nx).pk}/", lambda nx: {"done": True}),
    ("involvement delete", "edit", "delete", lambda nx: f"/involvements/{_involvement(nx).pk}/", None),
    (
        "involvement delete of a started square",
        "squares",
        "delete",
        lambda nx: f"/involvements/{_involvement_started(nx).pk}/",
        None,
    ),
    ("transitions list", "view", "get", lambda nx: "/transitions/", None),
    (
        "transition get",
        "view",
        "get",
        lambda nx: f"/transitions/{Transition.objects.filter(item=_first(nx)).earliest('id').pk}/",
        None,
    ),
    ("flow figures", "view", "get", lambda nx: "/flow/", None),
    ("webhooks list", "po", "get", lambda nx: "/webhooks/", None),
    (
        "webhook create",
        "po",
        "post",
        lambda nx: "/webhooks/",
        lambda nx: {"url": "http://127.0.0.1:9/hook", "events": ["item.created"]},
    ),
    ("webhook get", "po", "get", lambda nx: f"/webhooks/{_hook(nx).pk}/", None),
    (
        "webhook patch",
        "po",
        "patch",
        lambda nx: f"/webhooks/{_hook(nx).pk}/",
        lambda nx: {"description": "CI"},
    ),
    ("webhook delete", "po", "delete", lambda nx: f"/webhooks/{_hook(nx).pk}/", None),
    ("webhook rotate secret", "po", "post", lambda nx: f"/webhooks/{_hook(nx).pk}/rotate-secret/", None),
    ("webhook deliveries", "po", "get", lambda nx: f"/webhooks/{_hook(nx).pk}/deliveries/", None),
    (
        "webhook redeliver",
        "po",
        "post",
        lambda nx: f"/webhooks/{_hook(nx).pk}/deliveries/{_delivery(nx).pk}/redeliver/",
        None,
    ),
    ("webhooks deleted", "po", "get", lambda nx: "/webhooks/deleted/", None),
    ("sprints list", "view", "get", lambda nx: "/sprints/", None),
    ("sprint create", "sprint_planning", "post", lambda nx: "/sprints/", lambda nx: {"goal": "Ship it"}),
    ("sprint get", "view", "get", lambda nx: f"/sprints/{_sprint(nx).pk}/", None),
    (
        "sprint patch (Nexus Sprint Goal)",
        "sprint_planning",
        "patch",
        lambda nx: f"/sprints/{_sprint(nx).pk}/",
        lambda nx: {"goal": "Ship it sooner"},
    ),
    (
        "sprint patch (dates)",
        "sprint_planning",
        "patch",
        lambda nx: f"/sprints/{_sprint(nx).pk}/",
        lambda nx: {"end_date": (_sprint(nx).end_date + timedelta(days=1)).isoformat()},
    ),
    (
        "sprint patch (Team A's goal)",
        "sprint_lanes_a",
        "patch",
        lambda nx: f"/sprints/{_sprint(nx).pk}/",
        lambda nx: _goals_body(nx, "Team A"),
    ),
    (
        "sprint patch (Team B's goal)",
        "sprint_lanes_b",
        "patch",
        lambda nx: f"/sprints/{_sprint(nx).pk}/",
        lambda nx: _goals_body(nx, "Team B"),
    ),
    ("sprint delete", "sprint_planning", "delete", lambda nx: f"/sprints/{_sprint(nx).pk}/", None),
    ("sprint start", "sprint_planning", "post", lambda nx: f"/sprints/{_sprint(nx).pk}/start/", None),
    (
        "sprint close",
        "sprint_planning",
        "post",
        lambda nx: f"/sprints/{_active_sprint(nx).pk}/close/",
        lambda nx: {},
    ),
    ("sprint items", "view", "get", lambda nx: f"/sprints/{_sprint(nx).pk}/items/", None),
    (
        "sprint plan (Team A's lane)",
        "sprint_lanes_a",
        "post",
        lambda nx: f"/sprints/{_sprint(nx).pk}/items/",
        lambda nx: {"item": _first(nx).pk, "teams": [_team(nx, "Team A").pk]},
    ),
    (
        "sprint plan (Team B's lane)",
        "sprint_lanes_b",
        "post",
        lambda nx: f"/sprints/{_sprint(nx).pk}/items/",
        lambda nx: {"item": _first(nx).pk, "teams": [_team(nx, "Team B").pk]},
    ),
    (
        "sprint plan (Team A's and Team B's lanes at once)",
        "sprint_planning",
        "post",
        lambda nx: f"/sprints/{_sprint(nx).pk}/items/",
        lambda nx: {"item": _first(nx).pk, "teams": [_team(nx, "Team A").pk, _team(nx, "Team B").pk]},
    ),
    (
        "sprint plan (Team A's lane of the active Sprint)",
        "sprint_lanes_a",
        "post",
        lambda nx: f"/sprints/{_active_sprint(nx).pk}/items/",
        lambda nx: {"item": _first(nx).pk, "teams": [_team(nx, "Team A").pk], "event": "daily_scrum"},
    ),
    (
        "sprint unplan (Team A's PBI)",
        "sprint_lanes_a",
        "delete",
        lambda nx: f"/sprints/{_sprint(nx).pk}/items/{_planned_item(nx).pk}/",
        None,
    ),
    (
        "sprint unplan (Team B's PBI)",
        "sprint_lanes_b",
        "delete",
        lambda nx: f"/sprints/{_sprint(nx).pk}/items/{_planned_item(nx, 'Team B').pk}/",
        None,
    ),
    ("sprint scope log", "view", "get", lambda nx: f"/sprints/{_sprint(nx).pk}/scope-log/", None),
    ("sprints deleted", "view", "get", lambda nx: "/sprints/deleted/", None),
    ("dod list", "view", "get", lambda nx: "/definition-of-done/", None),
    (
        "dod create (Nexus)",
        "dod_edit",
        "post",
        lambda nx: "/definition-of-done/",
        lambda nx: {"text": "Tested"},
    ),
    (
        "dod create (Team A)",
        "dod_team",
        "post",
        lambda nx: "/definition-of-done/",
        lambda nx: {"text": "Screen-reader checked", "team": _team(nx, "Team A").pk},
    ),
    ("dod get", "view", "get", lambda nx: f"/definition-of-done/{_criterion(nx).pk}/", None),
    (
        "dod patch (Team A)",
        "dod_team",
        "patch",
        lambda nx: f"/definition-of-done/{_criterion(nx, 'Team A').pk}/",
        lambda nx: {"text": "Stricter still"},
    ),
    (
        "dod delete (Nexus)",
        "dod_edit",
        "delete",
        lambda nx: f"/definition-of-done/{_criterion(nx).pk}/",
        None,
    ),
    ("dod versions", "view", "get", lambda nx: "/definition-of-done/versions/", None),
    ("dod deleted", "view", "get", lambda nx: "/definition-of-done/deleted/", None),
    ("increments list", "view", "get", lambda nx: "/increments/", None),
    (
        "increment create",
        "increment_manage",
        "post",
        lambda nx: "/increments/",
        lambda nx: {"sprint": _running_sprint(nx).pk},
    ),
    ("increment get", "view", "get", lambda nx: f"/increments/{_increment(nx).pk}/", None),
    (
        "increment integrate",
        "increment_manage",
        "post",
        lambda nx: f"/increments/{_increment(nx).pk}/integrate/",
        lambda nx: {"item": _filled_item(nx).pk},
    ),
    (
        "increment confirm",
        "increment_confirm",
        "post",
        lambda nx: f"/increments/{_increment(nx).pk}/confirm/",
        lambda nx: {"criterion": _criterion(nx).pk, "evidence_url": "https://ci.example.com/runs/1"},
    ),
    (
        "increment done",
        "increment_manage",
        "post",
        lambda nx: f"/increments/{_increment(nx, ready=True).pk}/done/",
        None,
    ),
    (
        "increment release",
        "increment_manage",
        "post",
        lambda nx: f"/increments/{_increment(nx, done=True).pk}/release/",
        None,
    ),
    ("increments deleted", "view", "get", lambda nx: "/increments/deleted/", None),
    ("dependencies list", "view", "get", lambda nx: "/dependencies/", None),
    (
        "dependency create",
        "create",
        "post",
        lambda nx: "/dependencies/",
        lambda nx: {"item": _first(nx).pk, "depends_on": _last(nx).pk},
    ),
    ("dependency get", "view", "get", lambda nx: f"/dependencies/{_dependency(nx).pk}/", None),
    (
        "dependency patch",
        "dependency",
        "patch",
        lambda nx: f"/dependencies/{_dependency(nx).pk}/",
        lambda nx: {"status": "resolved"},
    ),
    ("dependency delete", "dependency", "delete", lambda nx: f"/dependencies/{_dependency(nx).pk}/", None),
    ("dependencies deleted", "view", "get", lambda nx: "/dependencies/deleted/", None),
    (
        "suggested dependencies list",
        "view",
        "get",
        lambda nx: f"/items/{_first(nx).pk}/suggested-dependencies/",
        None,
    ),
    (
        "suggested dependency confirm",
        "create",
        "post",
        lambda nx: f"/items/{_first(nx).pk}/suggested-dependencies/{_last(nx).pk}/confirm/",
        lambda nx: {"found_at": "planning"},
    ),
    (
        "suggested dependency dismiss",
        "create",
        "post",
        lambda nx: f"/items/{_first(nx).pk}/suggested-dependencies/{_last(nx).pk}/dismiss/",
        None,
    ),
    ("dependency matrix", "view", "get", lambda nx: "/dependency-matrix/", None),
    # A GET's body is its query string: `?item=<the first PBI>`.
    (
        "dependency forecast",
        "view",
        "get",
        lambda nx: "/dependency-forecast/",
        lambda nx: {"item": _first(nx).pk},
    ),
    ("issues list", "view", "get", lambda nx: "/integration-issues/", None),
    (
        "issue raise",
        "issues_raise",
        "post",
        lambda nx: "/integration-issues/",
        lambda nx: {"title": "Flaky tests", "event": "daily_scrum"},
    ),
    ("issue get", "view", "get", lambda nx: f"/integration-issues/{_issue(nx).pk}/", None),
    (
        "issue patch",
        "issues_raise",
        "patch",
        lambda nx: f"/integration-issues/{_issue(nx).pk}/",
        lambda nx: {"title": "Renamed"},
    ),
    ("issue delete", "issues_escalate", "delete", lambda nx: f"/integration-issues/{_issue(nx).pk}/", None),
    (
        "issue escalate",
        "issues_escalate",
        "post",
        lambda nx: f"/integration-issues/{_issue(nx).pk}/escalate/",
        lambda nx: {"note": "Beyond us"},
    ),
    (
        "issue resolve",
        "issues_raise",
        "post",
        lambda nx: f"/integration-issues/{_issue(nx).pk}/resolve/",
        lambda nx: {"resolution": "Fixed"},
    ),
    (
        "issue decide",
        "issues_eat",
        "post",
        lambda nx: f"/integration-issues/{_issue_l3(nx).pk}/decide/",
        lambda nx: {"decision": "Fund it"},
    ),
    ("issue history", "view", "get", lambda nx: f"/integration-issues/{_issue(nx).pk}/history/", None),
    ("issues deleted", "view", "get", lambda nx: "/integration-issues/deleted/", None),
    # The Nexus Sprint Review's notes (`events.api_review`): every member records feedback; members but
    # Stakeholders correct and link; `can_create_items` makes a PBI; the PO and the NIT delete.
    ("reviews list", "view", "get", lambda nx: "/reviews/", None),
    (
        "review note create",
        "view",
        "post",
        lambda nx: "/reviews/",
        lambda nx: {"sprint": _running_sprint(nx).pk, "text": "Love the new search", "stakeholder": "Ops"},
    ),
    ("review note get", "view", "get", lambda nx: f"/reviews/{_review_note(nx).pk}/", None),
    (
        "review note patch",
        "edit",
        "patch",
        lambda nx: f"/reviews/{_review_note(nx).pk}/",
        lambda nx: {"stakeholder": "Eclipse PMC"},
    ),
    ("review note delete", "sprint_planning", "delete", lambda nx: f"/reviews/{_review_note(nx).pk}/", None),
    (
        "review note to-pbi",
        "create",
        "post",
        lambda nx: f"/reviews/{_review_note(nx).pk}/to-pbi/",
        lambda nx: {"title": "Faster search"},
    ),
    (
        "review note link",
        "edit",
        "post",
        lambda nx: f"/reviews/{_review_note(nx).pk}/link/",
        lambda nx: {"item": _first(nx).pk, "title": "Faster search, with records"},
    ),
    ("review note history", "view", "get", lambda nx: f"/reviews/{_review_note(nx).pk}/history/", None),
    ("reviews deleted", "view", "get", lambda nx: "/reviews/deleted/", None),
    # The Nexus Sprint Retrospective (`events.services.retro`): the representatives (members but
    # Stakeholders) record cross-team issues and agree actions; Team A's items: its Developers and Scrum
    # Master, the Product Owner and the NIT (the rule of the squares).
    ("retro items list", "view", "get", lambda nx: "/retrospectives/items/", None),
    (
        "retro item create (cross-team)",
        "edit",
        "post",
        lambda nx: "/retrospectives/items/",
        lambda nx: {"sprint": _running_sprint(nx).pk, "text": "Build red"},
    ),
    (
        "retro item create (Team A)",
        "squares",
        "post",
        lambda nx: "/retrospectives/items/",
        lambda nx: {"sprint": _running_sprint(nx).pk, "text": "Late merge", "team": _team(nx, "Team A").pk},
    ),
    ("retro item get", "view", "get", lambda nx: f"/retrospectives/items/{_retro_item(nx).pk}/", None),
    (
        "retro item patch",
        "edit",
        "patch",
        lambda nx: f"/retrospectives/items/{_retro_item(nx).pk}/",
        lambda nx: {"text": "Build red for days"},
    ),
    ("retro item delete", "edit", "delete", lambda nx: f"/retrospectives/items/{_retro_item(nx).pk}/", None),
    ("retro items deleted", "view", "get", lambda nx: "/retrospectives/items/deleted/", None),
    ("retro actions list", "view", "get", lambda nx: "/retrospectives/actions/", None),
    (
        "retro action agree",
        "edit",
        "post",
        lambda nx: "/retrospectives/actions/",
        lambda nx: {"sprint": _running_sprint(nx).pk, "title": "Pair on APIs", "owner": f"po-{nx.slug}"},
    ),
    ("retro action get", "view", "get", lambda nx: f"/retrospectives/actions/{_retro_action(nx).pk}/", None),
    (
        "retro action patch",
        "edit",
        "patch",
        lambda nx: f"/retrospectives/actions/{_retro_action(nx).pk}/",
        lambda nx: {"title": "Build every merge, not nightly"},
    ),
    (
        "retro action status",
        "edit",
        "post",
        lambda nx: f"/retrospectives/actions/{_retro_action(nx).pk}/status/",
        lambda nx: {"status": "done"},
    ),
    (
        "retro action history",
        "view",
        "get",
        lambda nx: f"/retrospectives/actions/{_retro_action(nx).pk}/history/",
        None,
    ),
    ("retro actions deleted", "view", "get", lambda nx: "/retrospectives/actions/deleted/", None),
]

#: Operations outside the matrix, each tested on its own: the Nexus list and Nexus creation are not
#: inside a Nexus (an outsider gets an empty list, or a 403, not a 404).
OUTSIDE_THE_MATRIX = {("NexusesViewSet", "list"), ("NexusesViewSet", "create")}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "rule", "method", "path", "body"), ACTIONS, ids=[a[0] for a in ACTIONS])
def test_permission_matrix(nx, who, api, settings, role, name, rule, method, path, body):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    url = base(nx) + path(nx)
    kwargs = {"format": "json"}
    if body is not None:
        kwargs["data"] = body(nx)
    response = getattr(api(role), method)(url, **kwargs)
    if role == "outsider":
        assert response.status_code == 404, response.content
        error_fields(response)
    elif role in ALLOWED[rule]:
        assert 200 <= response.status_code < 300, (response.status_code, response.content)
    else:
        assert response.status_code == 403, (response.status_code, response.content)
        assert response.json()["message"]


def test_anonymous_gets_401_with_a_challenge(nx, client):
    response = client.get(base(nx) + "/items/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")
    assert response.json()["code"] == "not_authenticated"


def test_nexus_list_shows_only_my_nexuses(nx, api):
    from tests.factories import nexus_build

    nexus_build()
    slugs = [n["slug"] for n in api("dev").get("/api/v1/nexuses/").json()["results"]]
    assert slugs == [nx.slug]
    assert len(api("admin").get("/api/v1/nexuses/").json()["results"]) == 2
    assert api("outsider").get("/api/v1/nexuses/").json()["results"] == []


def test_only_administrators_create_a_nexus(api):
    body = {
        "name": "Payments",
        "columns": [
            {"name": "Ready", "category": "not_started"},
            {"name": "Doing", "category": "in_progress", "is_start": True},
            {"name": "Done", "category": "done", "is_finish": True},
        ],
    }
    assert api("po").post("/api/v1/nexuses/", body, format="json").status_code == 403
    response = api("admin").post("/api/v1/nexuses/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["slug"] == "payments"


def test_every_operation_of_the_api_is_in_the_matrix(nx, who, settings):
    """A new operation (of this or a later capability) needs a row in `ACTIONS`."""
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    generator = SchemaGenerator()
    generator._initialise_endpoints()
    documented = {
        (type(view).__name__, getattr(view, "action", None) or method.lower())
        for path, _regex, method, view in generator._get_paths_and_endpoints()
        if path.startswith("/api/v1/")
    }
    in_matrix = set()
    for _name, _rule, method, path, _body in ACTIONS:
        match = resolve(base(nx) + path(nx))
        view_class = match.func.cls  # type: ignore[attr-defined]
        actions = getattr(match.func, "actions", None)
        in_matrix.add((view_class.__name__, actions[method] if actions else method))
    missing = documented - in_matrix - OUTSIDE_THE_MATRIX
    assert not missing, sorted(missing)
    assert len(in_matrix) >= 45
