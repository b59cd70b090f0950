"""The Nexus Sprint Retrospective's services (`events.services.retro`): the three parts, who may record
what, an action that becomes a PBI through backlog's create service, tracked actions followed across
Sprints with a typed append-only history, webhooks, refusals naming the field with nothing saved; and the
Sprint's flow figures read through `flow.selectors.period_flow_get`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backlog.errors import Conflict, DomainError, NotAllowed, PreconditionFailed
from backlog.models import ProductBacklogItem, Role
from backlog.models_api import WebhookDelivery
from backlog.services.webhooks import webhook_create
from events.models import ActionStatus, ImprovementAction, ImprovementActionChange, RetroItem, RetroPart
from events.selectors_retro import retro_sprint_default
from events.services import sprint_close
from events.services.retro import (
    action_agree,
    action_set_status,
    action_update,
    retro_item_add,
    retro_item_delete,
    retro_item_update,
)
from flow.models import ItemFlow
from flow.selectors import period_flow_get
from tests.events.sprint_helpers import day, sprint_build
from tests.factories import member, nexus_build, team

pytestmark = pytest.mark.django_db


@pytest.fixture
def nx():
    return nexus_build(items=3)


@pytest.fixture
def sprint(nx):
    return sprint_build(nx, started=True)


@pytest.fixture
def people(nx):
    a, b = team(nx, "Team A"), team(nx, "Team B")
    return {
        "nit": member(nx, Role.NIT_MEMBER, username=f"nit-{nx.slug}"),
        "dev_a": member(nx, Role.DEVELOPER, username=f"deva-{nx.slug}", team_obj=a),
        "dev_b": member(nx, Role.DEVELOPER, username=f"devb-{nx.slug}", team_obj=b),
        "sh": member(nx, Role.STAKEHOLDER, username=f"sh-{nx.slug}"),
        "po": nx.memberships.get(role=Role.PRODUCT_OWNER).user,
    }


def test_three_parts_recorded_and_linked(nx, sprint, people):
    issue = retro_item_add(sprint=sprint, actor=people["dev_a"], text="Build red for three days")
    assert (issue.part, issue.team_id, issue.version) == (RetroPart.CROSS_TEAM, None, 1)
    a_item = retro_item_add(
        sprint=sprint, actor=people["dev_a"], text="We merged late", team=team(nx), cross_team_issue=issue
    )
    assert a_item.part == RetroPart.TEAM
    assert a_item.cross_team_issue_id == issue.pk
    action = action_agree(
        sprint=sprint,
        actor=people["nit"],
        title="Build every merge",
        owner=people["nit"],
        cross_team_issue=issue,
    )
    assert (action.status, action.kind, action.owner_id) == ("open", "action", people["nit"].pk)
    assert list(action.history.values_list("kind", "to_status")) == [("agreed", "open")]


def test_team_items_only_by_that_team_the_po_and_the_nit(nx, sprint, people):
    with pytest.raises(NotAllowed) as exc:
        retro_item_add(sprint=sprint, actor=people["dev_b"], text="Not mine", team=team(nx, "Team A"))
    assert exc.value.field == "team"
    with pytest.raises(NotAllowed):
        retro_item_add(sprint=sprint, actor=people["sh"], text="Cross", team=None)
    for who in ("dev_a", "po", "nit"):
        retro_item_add(sprint=sprint, actor=people[who], text=f"by {who}", team=team(nx, "Team A"))
    assert RetroItem.objects.filter(sprint=sprint).count() == 3


def test_bad_input_names_the_field_and_saves_nothing(nx, sprint, people):
    other = sprint_build(nexus_build(), started=True)
    foreign = retro_item_add(sprint=other, actor=None, text="Elsewhere")
    cases = [
        (lambda: retro_item_add(sprint=sprint, actor=None, text="  "), "text"),
        (lambda: retro_item_add(sprint=sprint, actor=None, text="x" * 501), "text"),
        (
            lambda: retro_item_add(
                sprint=sprint, actor=None, text="t", team=team(nx), cross_team_issue=foreign
            ),
            "cross_team_issue",
        ),
        (lambda: action_agree(sprint=sprint, actor=None, title="x", owner=None), "owner"),
        (lambda: action_agree(sprint=sprint, actor=None, title="", owner=people["nit"]), "title"),
        (
            lambda: action_agree(sprint=sprint, actor=None, title="x", owner=people["nit"], kind="wish"),
            "kind",
        ),
    ]
    for run, field in cases:
        with pytest.raises(DomainError) as exc:
            run()
        assert exc.value.field == field
    outsider = member(nexus_build(), Role.NIT_MEMBER, username="elsewhere")
    with pytest.raises(DomainError) as exc:
        action_agree(sprint=sprint, actor=None, title="x", owner=outsider)
    assert exc.value.field == "owner"
    assert not RetroItem.objects.filter(sprint=sprint).exists()
    assert not ImprovementAction.objects.filter(sprint=sprint).exists()


def test_a_planned_sprint_has_no_retrospective_yet(nx, people):
    planned = sprint_build(nx)
    with pytest.raises(Conflict) as exc:
        retro_item_add(sprint=planned, actor=None, text="Too early")
    assert exc.value.field == "sprint"


def test_an_action_becomes_a_pbi_through_the_create_service(nx, sprint, people):
    before = ProductBacklogItem.objects.filter(backlog__nexus=nx).count()
    action = action_agree(
        sprint=sprint, actor=people["dev_a"], title="Shared parser fixture", owner=people["dev_a"], kind="pbi"
    )
    assert action.item is not None
    assert action.item.title == "Shared parser fixture"
    assert ProductBacklogItem.objects.filter(backlog__nexus=nx).count() == before + 1
    assert action.item.transitions.filter(kind="column").exists()  # logged like any creation
    with pytest.raises(Conflict) as exc:
        action_set_status(action=action, actor=None, status="done")
    assert exc.value.field == "kind"


def test_stakeholders_may_not_agree_or_follow_actions(nx, sprint, people):
    with pytest.raises(NotAllowed):
        action_agree(sprint=sprint, actor=people["sh"], title="x", owner=people["nit"])
    action = action_agree(sprint=sprint, actor=None, title="x", owner=people["nit"])
    with pytest.raises(NotAllowed):
        action_set_status(action=action, actor=people["sh"], status="done")


def test_actions_followed_across_sprints_with_history_and_webhooks(nx, people, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    webhook_create(
        nexus=nx,
        url="http://127.0.0.1:9/hook",
        events=["retro_action.agreed", "retro_action.done", "retro_action.dropped"],
        actor=None,
    )
    first = sprint_build(nx, started=True)
    action = action_agree(sprint=first, actor=people["nit"], title="Merge early", owner=people["nit"])
    dropped = action_agree(sprint=first, actor=people["nit"], title="Daily sync", owner=people["po"])
    sprint_close(sprint=first, actor=None)
    second = sprint_build(nx, started=True)
    with pytest.raises(PreconditionFailed):
        action_set_status(action=action, actor=None, status="done", expected_version=9)
    action = action_set_status(
        action=action, actor=people["dev_a"], status="done", note="Green", expected_version=1
    )
    assert (action.status, action.closed_sprint_id, action.version) == ("done", second.pk, 2)
    assert action.closed_at is not None
    with pytest.raises(Conflict) as exc:
        action_set_status(action=action, actor=None, status="done")
    assert exc.value.field == "status"
    action_set_status(action=dropped, actor=None, status="dropped", sprint=second)
    rows = list(
        ImprovementActionChange.objects.filter(action=action).values_list("kind", "from_status", "to_status")
    )
    assert rows == [("agreed", "", "open"), ("status", "open", "done")]
    with pytest.raises(ValueError, match="append-only"):
        ImprovementActionChange.objects.filter(action=action).latest("id").save()
    events = list(WebhookDelivery.objects.order_by("id").values_list("event", flat=True))
    assert events == [
        "retro_action.agreed",
        "retro_action.agreed",
        "retro_action.done",
        "retro_action.dropped",
    ]
    # Reopened: open again, no close stamps.
    action = action_set_status(action=action, actor=None, status=ActionStatus.OPEN)
    assert (action.closed_at, action.closed_sprint_id) == (None, None)


def test_update_and_delete_items_and_owner_history(nx, sprint, people):
    issue = retro_item_add(sprint=sprint, actor=None, text="Build red")
    item = retro_item_add(sprint=sprint, actor=None, text="Late merge", team=team(nx), cross_team_issue=issue)
    item = retro_item_update(item=item, actor=people["dev_a"], text="Merged late", expected_version=1)
    assert (item.text, item.version) == ("Merged late", 2)
    with pytest.raises(DomainError) as exc:
        retro_item_update(item=issue, actor=None, cross_team_issue=issue)
    assert exc.value.field == "cross_team_issue"
    action = action_agree(
        sprint=sprint, actor=None, title="Build on merge", owner=people["nit"], cross_team_issue=issue
    )
    stamp = item.updated_at
    retro_item_delete(item=issue, actor=people["nit"])
    item.refresh_from_db()
    action.refresh_from_db()
    assert item.cross_team_issue_id is None
    assert (item.version, action.version, action.cross_team_issue_id) == (3, 2, None)  # sync sees them
    assert item.updated_at > stamp
    action = action_agree(sprint=sprint, actor=None, title="x", owner=people["nit"])
    action = action_update(action=action, actor=None, owner=people["dev_a"], title="y")
    assert (action.title, action.owner_id) == ("y", people["dev_a"].pk)
    assert action.history.filter(kind="owner").get().note == f"nit-{nx.slug} → deva-{nx.slug}"


def test_default_sprint_is_the_last_closed_until_the_active_one_ends(nx):
    first = sprint_build(nx, started=True)
    sprint_close(sprint=first, actor=None)
    second = sprint_build(nx, started=True)
    assert retro_sprint_default(nexus=nx, today=second.start_date) == first
    assert retro_sprint_default(nexus=nx, today=second.end_date - timedelta(days=1)) == second
    assert retro_sprint_default(nexus=nexus_build()) is None


def test_period_flow_figures(nx):
    items = list(ProductBacklogItem.objects.filter(backlog__nexus=nx).order_by("pk"))
    # Two finished in the period (Cycle Times 3 and 9), one still in progress since long before.
    ItemFlow.objects.create(item=items[0], nexus=nx, started_on=day(0), finished_on=day(2), cycle_time=3)
    ItemFlow.objects.create(item=items[1], nexus=nx, started_on=day(-2), finished_on=day(6), cycle_time=9)
    ItemFlow.objects.create(item=items[2], nexus=nx, started_on=day(-60))
    from flow.services import flow_settings_set

    owner = nx.memberships.get(role=Role.PRODUCT_OWNER).user
    flow_settings_set(nexus=nx, team=None, actor=owner, sle_percent=85, sle_days=20)
    fig = period_flow_get(nexus=nx, start=day(0), end=day(13))
    assert (fig.throughput, fig.cycle_time_p50, fig.cycle_time_p85, fig.wip) == (2, 3, 9, 1)
    assert fig.aging == 1
    assert fig.aging_items[0].item_id == items[2].pk
    assert fig.aging_items[0].age == 74
    empty = period_flow_get(nexus=nx, start=day(100), end=day(113))
    assert (empty.throughput, empty.cycle_time_p50) == (0, None)
