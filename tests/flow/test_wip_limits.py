"""WIP limits of the whole Nexus and of each Scrum Team (items in progress: from the started column up to,
not including, the finished one): hard refuses the move, soft warns; the board shows counts and limits."""

from __future__ import annotations

import pytest
from django.urls import reverse

from backlog.errors import WipLimitReached
from backlog.models import Nexus, ProductBacklogItem, Role, ScrumTeam, Transition, WorkflowColumn
from backlog.services import pbi_create, pbi_transition
from events.selectors import board_get
from flow.services import flow_settings_set
from tests.factories import column, member, nexus_build, squares_fill, team

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup():
    nexus = nexus_build()  # Ready | In Progress (started) | Review | Done (finished)
    owner = member(nexus, Role.NIT_MEMBER, username="nit")
    a, b = team(nexus, "Team A"), team(nexus, "Team B")
    return nexus, owner, a, b


def _item(nexus, title, teams, col="Ready"):
    item = pbi_create(nexus=nexus, title=title, actor=None, teams=teams)
    if col != "Ready":
        pbi_transition(item=item, to_column=column(nexus, col), actor=None)
    return item


def test_nexus_soft_limit_warns_and_moves(setup):
    nexus, _owner, a, _b = setup
    Nexus.objects.filter(pk=nexus.pk).update(wip_limit=2)
    _item(nexus, "one", [a], "In Progress")
    _item(nexus, "two", [a], "Review")
    third = _item(nexus, "three", [a])
    result = pbi_transition(item=third, to_column=column(nexus, "In Progress"), actor=None)
    assert result.warnings == ["The Nexus is at its WIP limit (2 of 2 items in progress)."]
    third.refresh_from_db()
    assert third.column.name == "In Progress"


def test_nexus_hard_limit_refuses(setup):
    nexus, owner, a, _b = setup
    Nexus.objects.filter(pk=nexus.pk).update(wip_limit=2)
    flow_settings_set(
        nexus=nexus, team=None, actor=owner, sle_percent=85, sle_days=None, wip_limit_kind="hard"
    )
    _item(nexus, "one", [a], "In Progress")
    _item(nexus, "two", [], "Review")
    third = _item(nexus, "three", [a])
    logged = Transition.objects.count()
    with pytest.raises(
        WipLimitReached, match=r"The Nexus is at its WIP limit \(2 of 2 items in progress\)"
    ) as exc:
        pbi_transition(item=third, to_column=column(nexus, "In Progress"), actor=None)
    assert exc.value.field == "column"
    assert exc.value.status_code == 409
    third.refresh_from_db()
    assert third.column.name == "Ready"
    assert Transition.objects.count() == logged
    # Moving within the work in progress, or out of it, is never limited by the Nexus or team limits.
    one = ProductBacklogItem.objects.get(title="one")
    assert pbi_transition(item=one, to_column=column(nexus, "Review"), actor=None).warnings == []
    squares_fill(one)
    assert pbi_transition(item=one, to_column=column(nexus, "Done"), actor=None).warnings == []
    # Now there is room again; reopening the finished item counts as bringing it into progress.
    pbi_transition(item=third, to_column=column(nexus, "In Progress"), actor=None)
    with pytest.raises(WipLimitReached):
        pbi_transition(item=one, to_column=column(nexus, "Review"), actor=None)


def test_team_limits_soft_and_hard(setup):
    nexus, owner, a, b = setup
    ScrumTeam.objects.filter(pk=a.pk).update(wip_limit=1)
    _item(nexus, "a1", [a], "In Progress")
    a2 = _item(nexus, "a2", [a, b])
    b1 = _item(nexus, "b1", [b])
    assert pbi_transition(item=b1, to_column=column(nexus, "In Progress"), actor=None).warnings == []
    result = pbi_transition(item=a2, to_column=column(nexus, "In Progress"), actor=None)
    assert result.warnings == ["Team A is at its WIP limit (1 of 1 items in progress)."]
    pbi_transition(item=a2, to_column=column(nexus, "Ready"), actor=None)
    flow_settings_set(nexus=nexus, team=a, actor=owner, sle_percent=85, sle_days=None, wip_limit_kind="hard")
    with pytest.raises(WipLimitReached, match="Team A is at its WIP limit"):
        pbi_transition(item=a2, to_column=column(nexus, "In Progress"), actor=None)


def test_column_and_scope_limits_together(setup):
    nexus, _owner, a, _b = setup
    WorkflowColumn.objects.filter(nexus=nexus, name="In Progress").update(wip_limit=1)
    ScrumTeam.objects.filter(pk=a.pk).update(wip_limit=1)
    _item(nexus, "a1", [a], "In Progress")
    a2 = _item(nexus, "a2", [a])
    result = pbi_transition(item=a2, to_column=column(nexus, "In Progress"), actor=None)
    assert result.warnings == [
        "'In Progress' is at its WIP limit (1 of 1).",
        "Team A is at its WIP limit (1 of 1 items in progress).",
    ]


def test_board_shows_counts_against_limits(client, setup):
    nexus, owner, a, b = setup
    Nexus.objects.filter(pk=nexus.pk).update(wip_limit=3)
    ScrumTeam.objects.filter(pk=a.pk).update(wip_limit=1)
    flow_settings_set(nexus=nexus, team=a, actor=owner, sle_percent=85, sle_days=None, wip_limit_kind="hard")
    _item(nexus, "a1", [a, b], "In Progress")
    _item(nexus, "b1", [b], "Review")
    _item(nexus, "r1", [a])
    nexus.refresh_from_db()
    limits = {
        lim.name: (lim.count, lim.limit, lim.kind, lim.at_limit) for lim in board_get(nexus=nexus).limits
    }
    assert limits == {
        "Nexus": (2, 3, "soft", False),
        "Team A": (1, 1, "hard", True),
        "Team B": (2, None, "soft", False),
        "Team C": (0, None, "soft", False),
    }
    client.force_login(owner)
    html = client.get(reverse("events:board", args=[nexus.slug])).content.decode()
    assert "Nexus: 2 / 3" in html
    assert 'class="limit at"' in html
    assert "Team A: 1 / 1" in html
