"""The kinds of the Nexus's and the Scrum Teams' WIP limits are part of the Definition of Workflow
(Kanban Guide for Scrum Teams): they live in `backlog` (`wip_limit_kind` on the Nexus, the team and
the column), change through `nexus_update` / `team_update` under the Nexus lock, and the moves read
them there, with no hook installed by another app. The flow settings set them through those services."""

from __future__ import annotations

import pytest

from backlog.errors import DomainError, WipLimitReached
from backlog.models import Nexus, Role, ScrumTeam, WipLimitKind
from backlog.services import items, nexus_update, pbi_create, pbi_transition, team_update
from flow.models import FlowSettings
from flow.services import flow_settings_set
from tests.factories import column, member, nexus_build, team

pytestmark = pytest.mark.django_db


def _in_progress(nexus, title, teams):
    item = pbi_create(nexus=nexus, title=title, actor=None, teams=teams)
    pbi_transition(item=item, to_column=column(nexus, "In Progress"), actor=None)
    return item


def test_no_hook_is_left_in_backlog():
    assert not hasattr(items, "wip_limit_kinds_register")
    assert not hasattr(items, "_wip_limit_kinds")


def test_a_team_made_hard_through_team_update_refuses_the_move():
    nexus = nexus_build()
    a = team_update(team=team(nexus, "Team A"), wip_limit=1, wip_limit_kind=WipLimitKind.HARD)
    assert ScrumTeam.objects.get(pk=a.pk).wip_limit_kind == "hard"
    _in_progress(nexus, "a1", [a])
    a2 = pbi_create(nexus=nexus, title="a2", actor=None, teams=[a])
    with pytest.raises(WipLimitReached, match="Team A is at its WIP limit"):
        pbi_transition(item=a2, to_column=column(nexus, "In Progress"), actor=None)
    team_update(team=a, wip_limit_kind=WipLimitKind.SOFT)
    warned = pbi_transition(item=a2, to_column=column(nexus, "In Progress"), actor=None)
    assert warned.warnings == ["Team A is at its WIP limit (1 of 1 items in progress)."]


def test_a_nexus_made_hard_through_nexus_update_refuses_the_move():
    nexus = nexus_update(nexus=nexus_build(), wip_limit=1, wip_limit_kind=WipLimitKind.HARD)
    _in_progress(nexus, "one", [])
    two = pbi_create(nexus=nexus, title="two", actor=None)
    with pytest.raises(WipLimitReached, match="The Nexus is at its WIP limit"):
        pbi_transition(item=two, to_column=column(nexus, "In Progress"), actor=None)


@pytest.mark.parametrize("scope", ["nexus", "team"])
def test_an_unknown_kind_names_the_field(scope):
    nexus = nexus_build()

    def update():
        if scope == "nexus":
            return nexus_update(nexus=nexus, wip_limit_kind="firm")
        return team_update(team=team(nexus), wip_limit_kind="firm")

    with pytest.raises(DomainError) as exc:
        update()
    assert exc.value.field == "wip_limit_kind"


def test_an_unchanged_kind_is_no_write():
    nexus = nexus_build()
    before = Nexus.objects.get(pk=nexus.pk).updated_at
    nexus_update(nexus=nexus, wip_limit_kind=WipLimitKind.SOFT)
    assert Nexus.objects.get(pk=nexus.pk).updated_at == before


def test_the_flow_settings_write_the_kind_into_backlog():
    nexus = nexus_build()
    nit = member(nexus, Role.NIT_MEMBER, username="nit")
    a = team(nexus, "Team A")
    row = flow_settings_set(
        nexus=nexus, team=a, actor=nit, sle_percent=85, sle_days=None, wip_limit_kind="hard"
    )
    assert row.wip_limit_kind == "hard"
    assert ScrumTeam.objects.get(pk=a.pk).wip_limit_kind == "hard"
    assert Nexus.objects.get(pk=nexus.pk).wip_limit_kind == "soft"
    flow_settings_set(nexus=nexus, team=None, actor=nit, sle_percent=85, sle_days=None, wip_limit_kind="hard")
    assert Nexus.objects.get(pk=nexus.pk).wip_limit_kind == "hard"
    # A kind changed in backlog shows in the flow settings, which keep no copy of it.
    team_update(team=a, wip_limit_kind=WipLimitKind.SOFT)
    assert FlowSettings.objects.select_related("team").get(team=a).wip_limit_kind == "soft"


def _a_move_past_limited_teams(limited_teams: int):
    """A PBI of `limited_teams` Scrum Teams, each with a WIP limit, about to move into progress."""
    nexus = nexus_build(teams=limited_teams)
    teams = list(ScrumTeam.objects.filter(nexus=nexus))
    for t in teams:
        team_update(team=t, wip_limit=5)
    _in_progress(nexus, "busy", teams)
    item = pbi_create(nexus=nexus, title="next", actor=None, teams=teams)
    return lambda: pbi_transition(item=item, to_column=column(nexus, "In Progress"), actor=None)


def test_a_moves_wip_checks_count_all_limited_teams_in_one_query(django_assert_num_queries):
    few, many = _a_move_past_limited_teams(2), _a_move_past_limited_teams(8)
    with django_assert_num_queries(999, exact=False) as queries:  # just counting
        few()
    with django_assert_num_queries(len(queries.captured_queries)):
        many()
