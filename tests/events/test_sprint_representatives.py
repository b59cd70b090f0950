"""Who plans (`events.services.common.planning_rights`, in every Sprint service): a Scrum Team's
representatives (its Developers and Scrum Masters) plan PBIs into their own team's lane, take them out
of it and write their team's Sprint Goal; another team's lane or goal, the Nexus Sprint Goal, the dates,
start and close are refused (403 naming the field) with nothing saved. The Product Owner and the Nexus
Integration Team keep every right; Stakeholders read."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from backlog.errors import NotAllowed
from backlog.models import Role, TeamInvolvement
from backlog.services import membership_add, pbi_set_teams
from events.models import Sprint, SprintItem, SprintScopeChange, SprintTeamGoal
from events.services import (
    planning_rights,
    sprint_close,
    sprint_create,
    sprint_delete,
    sprint_plan,
    sprint_start,
    sprint_unplan,
    sprint_update,
)
from tests.events.sprint_helpers import items, sprint_build, teams
from tests.factories import member, nexus_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def nexus():
    return nexus_build(items=4)


@pytest.fixture
def dev_a(nexus):
    """A Developer of Team A."""
    return member(nexus, Role.DEVELOPER, username="dev-a", team_obj=teams(nexus)[0])


def _saved(sprint: Sprint) -> tuple:
    """What a refused write must leave as it was: the Sprint's version and goals, its scope, the scope
    log, every square of the Nexus."""
    sprint.refresh_from_db()
    return (
        sprint.version,
        sprint.goal,
        sorted(SprintTeamGoal.objects.filter(sprint=sprint).values_list("team_id", "goal")),
        sorted(SprintItem.objects.filter(sprint=sprint).values_list("item_id", flat=True)),
        SprintScopeChange.objects.filter(sprint=sprint).count(),
        sorted(
            TeamInvolvement.objects.filter(item__backlog__nexus=sprint.nexus).values_list(
                "item_id", "team_id"
            )
        ),
    )


def test_rights_of_each_role(nexus, dev_a):
    a, b, _c = teams(nexus)
    sm_b = member(nexus, Role.SCRUM_MASTER, username="sm-b", team_obj=b)
    nit = member(nexus, Role.NIT_MEMBER, username="nit")
    stakeholder = member(nexus, Role.STAKEHOLDER, username="sh")
    po = nexus.memberships.get(role=Role.PRODUCT_OWNER).user
    rights = planning_rights(user=dev_a, nexus_id=nexus.pk)
    assert (rights.whole, rights.teams, rights.any_lane) == (False, frozenset({a.pk}), True)
    assert rights.plans(a.pk)
    assert not rights.plans(b.pk)
    assert planning_rights(user=sm_b, nexus_id=nexus.pk).teams == frozenset({b.pk})
    for everything in (po, nit, None):
        assert planning_rights(user=everything, nexus_id=nexus.pk).whole
        assert planning_rights(user=everything, nexus_id=nexus.pk).plans(b.pk)
    assert not planning_rights(user=stakeholder, nexus_id=nexus.pk).any_lane
    assert not planning_rights(user=dev_a, nexus_id=nexus_build().pk).any_lane  # another Nexus


# --- Plan -------------------------------------------------------------------------------------------------


def test_a_developer_plans_into_their_own_lane(nexus, dev_a):
    a = teams(nexus)[0]
    sprint = sprint_build(nexus)
    item = items(nexus)[0]
    row = sprint_plan(sprint=sprint, item=item, teams=[a], actor=dev_a)
    assert row.item_id == item.pk
    assert list(TeamInvolvement.objects.filter(item=item).values_list("team_id", flat=True)) == [a.pk]
    change = SprintScopeChange.objects.get(sprint=sprint, item=item)
    assert (change.kind, change.actor, change.teams) == ("added", dev_a, [a.pk])


def test_a_scrum_master_plans_into_their_own_lane_of_the_active_sprint(nexus):
    b = teams(nexus)[1]
    sm_b = member(nexus, Role.SCRUM_MASTER, username="sm-b", team_obj=b)
    sprint = sprint_build(nexus, planned=items(nexus)[:1], started=True)
    item = items(nexus)[1]
    sprint_plan(sprint=sprint, item=item, teams=[b], actor=sm_b, event="daily_scrum")
    assert SprintItem.objects.filter(sprint=sprint, item=item).exists()


@pytest.mark.parametrize("lanes", [["B"], ["A", "B"]], ids=["another lane", "own and another at once"])
def test_another_teams_lane_is_refused_naming_team_and_nothing_is_saved(nexus, dev_a, lanes):
    by_name = {t.name[-1]: t for t in teams(nexus)}
    sprint = sprint_build(nexus)
    before = _saved(sprint)
    with pytest.raises(NotAllowed) as exc:
        sprint_plan(sprint=sprint, item=items(nexus)[0], teams=[by_name[n] for n in lanes], actor=dev_a)
    assert exc.value.status_code == 403
    assert exc.value.field == "team"
    assert "Team B's lane" in exc.value.message
    assert "you represent Team A" in exc.value.message
    assert _saved(sprint) == before


def test_several_lanes_at_once_when_every_lane_is_theirs(nexus):
    a, b, _c = teams(nexus)
    both = member(nexus, Role.DEVELOPER, username="dev-ab", team_obj=a)
    membership_add(nexus=nexus, user=both, role=Role.DEVELOPER, team=b)
    sprint = sprint_build(nexus)
    item = items(nexus)[0]
    sprint_plan(sprint=sprint, item=item, teams=[a, b], actor=both)
    assert set(TeamInvolvement.objects.filter(item=item).values_list("team_id", flat=True)) == {a.pk, b.pk}


def test_a_pbi_forecast_for_another_team_enters_its_lane_so_it_is_refused(nexus, dev_a):
    a, b, _c = teams(nexus)
    sprint = sprint_build(nexus)
    item = items(nexus)[0]
    pbi_set_teams(item=item, teams=[b], actor=None)  # forecast for Team B in the Product Backlog
    before = _saved(sprint)
    with pytest.raises(NotAllowed) as exc:
        sprint_plan(sprint=sprint, item=item, teams=[a], actor=dev_a)
    assert exc.value.field == "team"
    assert "forecast for Team B" in exc.value.message
    assert _saved(sprint) == before
    # Once in the Sprint (Team B's lane, planned by the Product Owner), Team A adds its own square.
    sprint_plan(sprint=sprint, item=item, teams=[b], actor=None)
    sprint_plan(sprint=sprint, item=item, teams=[a], actor=dev_a)
    assert set(TeamInvolvement.objects.filter(item=item).values_list("team_id", flat=True)) == {a.pk, b.pk}


def test_stakeholders_plan_nothing(nexus):
    stakeholder = member(nexus, Role.STAKEHOLDER, username="sh")
    sprint = sprint_build(nexus, planned=items(nexus)[:1])
    before = _saved(sprint)
    with pytest.raises(NotAllowed) as exc:
        sprint_plan(sprint=sprint, item=items(nexus)[1], teams=teams(nexus)[:1], actor=stakeholder)
    assert "Stakeholders read" in exc.value.message
    with pytest.raises(NotAllowed):
        sprint_unplan(sprint=sprint, item=items(nexus)[0], actor=stakeholder)
    with pytest.raises(NotAllowed):
        sprint_update(sprint=sprint, actor=stakeholder, team_goals={teams(nexus)[0].pk: "Mine"})
    assert _saved(sprint) == before


# --- Take out ---------------------------------------------------------------------------------------------


def test_a_developer_takes_their_own_lane_card_out(nexus, dev_a):
    a, b, _c = teams(nexus)
    sprint = sprint_build(nexus)
    shared, own = items(nexus)[:2]
    sprint_plan(sprint=sprint, item=shared, teams=[a, b], actor=None)
    sprint_plan(sprint=sprint, item=own, teams=[a], actor=dev_a)
    # Out of Team A's lane: its square goes, the PBI stays planned for Team B (no scope change).
    sprint_unplan(sprint=sprint, item=shared, team=a, actor=dev_a)
    assert list(TeamInvolvement.objects.filter(item=shared).values_list("team_id", flat=True)) == [b.pk]
    assert SprintItem.objects.filter(sprint=sprint, item=shared).exists()
    # Its last lane: out of the Sprint, the not-started square with it.
    sprint_unplan(sprint=sprint, item=own, team=a, actor=dev_a)
    assert not SprintItem.objects.filter(sprint=sprint, item=own).exists()
    assert not TeamInvolvement.objects.filter(item=own).exists()
    assert SprintScopeChange.objects.filter(sprint=sprint, item=own, kind="removed", actor=dev_a).exists()
    # Without a team (the API's DELETE): a PBI whose every team is theirs.
    sprint_plan(sprint=sprint, item=own, teams=[a], actor=dev_a)
    sprint_unplan(sprint=sprint, item=own, actor=dev_a)
    assert not SprintItem.objects.filter(sprint=sprint, item=own).exists()


def test_another_teams_lane_card_stays(nexus, dev_a):
    a, b, _c = teams(nexus)
    sprint = sprint_build(nexus)
    shared, theirs, nobody = items(nexus)[:3]
    sprint_plan(sprint=sprint, item=shared, teams=[a, b], actor=None)
    sprint_plan(sprint=sprint, item=theirs, teams=[b], actor=None)
    sprint_plan(sprint=sprint, item=nobody, teams=[b], actor=None)
    TeamInvolvement.objects.filter(item=nobody).delete()  # in no team's lane
    before = _saved(sprint)
    for item, team in [(shared, b), (theirs, b), (shared, None), (theirs, None)]:
        with pytest.raises(NotAllowed) as exc:
            sprint_unplan(sprint=sprint, item=item, team=team, actor=dev_a)
        assert exc.value.field == "team"
        assert "Team B's lane" in exc.value.message
    with pytest.raises(NotAllowed) as exc:
        sprint_unplan(sprint=sprint, item=nobody, actor=dev_a)
    assert "in no team's lane" in exc.value.message
    assert _saved(sprint) == before


# --- Goals, start, close ----------------------------------------------------------------------------------


def test_a_developer_writes_their_own_teams_sprint_goal_only(nexus, dev_a):
    a, b, _c = teams(nexus)
    sprint = sprint_build(nexus, goal="Search that finds", team_goals={b.pk: "Ranking"})
    # Their own goal changed, the others sent as they are: saved.
    sprint = sprint_update(sprint=sprint, actor=dev_a, team_goals={a.pk: "Indexing", b.pk: "Ranking"})
    assert dict(sprint.team_goals.values_list("team_id", "goal")) == {a.pk: "Indexing", b.pk: "Ranking"}
    # The Nexus Sprint Goal sent unchanged is no change either.
    sprint_update(
        sprint=sprint, actor=dev_a, goal="Search that finds", team_goals={a.pk: "Index", b.pk: "Ranking"}
    )
    before = _saved(sprint)
    refusals: list[tuple[dict[str, Any], str]] = [
        ({"goal": "Mine now"}, "goal"),
        ({"team_goals": {a.pk: "Index", b.pk: "Rewritten"}}, "team_goals"),
        ({"team_goals": {a.pk: "Index"}}, "team_goals"),  # leaving Team B's out would remove it
        ({"end_date": sprint.end_date + timedelta(days=1)}, "end_date"),
        ({"start_date": sprint.start_date - timedelta(days=1)}, "start_date"),
    ]
    for changes, field in refusals:
        with pytest.raises(NotAllowed) as exc:
            sprint_update(sprint=Sprint.objects.get(pk=sprint.pk), actor=dev_a, **changes)
        assert exc.value.status_code == 403
        assert exc.value.field == field, changes
        assert _saved(sprint) == before, changes
    assert "Team B's Sprint Goal" in _refusal(sprint, dev_a, team_goals={a.pk: "Index"})


def _refusal(sprint, actor, **changes) -> str:
    with pytest.raises(NotAllowed) as exc:
        sprint_update(sprint=Sprint.objects.get(pk=sprint.pk), actor=actor, **changes)
    return exc.value.message


def test_representatives_do_not_create_start_close_or_delete(nexus, dev_a):
    sm_a = member(nexus, Role.SCRUM_MASTER, username="sm-a", team_obj=teams(nexus)[0])
    planned = sprint_build(nexus, planned=items(nexus)[:1])
    for actor in (dev_a, sm_a):
        attempts: list[tuple[Callable[..., Any], dict[str, Any]]] = [
            (sprint_start, {"sprint": planned}),
            (sprint_delete, {"sprint": planned}),
            (sprint_create, {"nexus": nexus}),
        ]
        for service, kwargs in attempts:
            with pytest.raises(NotAllowed) as exc:
                service(actor=actor, **kwargs)
            assert exc.value.field == "sprint"
            assert "Only the Product Owner and the Nexus Integration Team" in exc.value.message
    planned.refresh_from_db()
    assert planned.state == "planned"
    assert Sprint.objects.filter(nexus=nexus).count() == 1
    active = sprint_start(sprint=planned, actor=None)
    with pytest.raises(NotAllowed) as exc:
        sprint_close(sprint=active, actor=dev_a, destinations={items(nexus)[0].pk: "backlog"})
    assert exc.value.field == "sprint"
    active.refresh_from_db()
    assert active.state == "active"


def test_the_product_owner_and_the_nit_keep_every_right(nexus):
    a, b, _c = teams(nexus)
    po = nexus.memberships.get(role=Role.PRODUCT_OWNER).user
    nit = member(nexus, Role.NIT_MEMBER, username="nit")
    sprint = sprint_create(nexus=nexus, actor=po)
    item, other = items(nexus)[:2]
    sprint_plan(sprint=sprint, item=item, teams=[a, b], actor=po)
    sprint_plan(sprint=sprint, item=other, teams=[b], actor=nit)
    sprint_unplan(sprint=sprint, item=item, team=b, actor=nit)
    sprint = sprint_update(sprint=sprint, actor=nit, goal="G", team_goals={a.pk: "A", b.pk: "B"})
    sprint = sprint_update(sprint=sprint, actor=po, team_goals={b.pk: "B only"})
    assert dict(sprint.team_goals.values_list("team_id", "goal")) == {b.pk: "B only"}
    sprint = sprint_start(sprint=sprint, actor=nit)
    sprint_close(sprint=sprint, actor=po, destinations={item.pk: "backlog", other.pk: "backlog"})
