"""Services of the Nexus and its Product Backlog: validation, the transition log, WIP limits, goals."""

from __future__ import annotations

import pytest

from backlog.errors import DomainError, VersionConflict, WipLimitReached
from backlog.models import GoalStatus, ProductBacklogItem, Role, Transition, TransitionKind, WipLimitKind
from backlog.services import (
    ColumnSpec,
    goal_close,
    goal_create,
    goal_update,
    involvement_set_status,
    membership_add,
    nexus_create,
    pbi_create,
    pbi_delete,
    pbi_set_teams,
    pbi_transition,
    pbi_update,
)
from tests.factories import DEFAULT_COLUMNS, UserFactory, column, items_in_order, nexus_build, team

pytestmark = pytest.mark.django_db


def test_nexus_create_makes_backlog_and_workflow():
    nexus = nexus_build()
    assert nexus.backlog.pk
    assert [c.name for c in nexus.columns.order_by("position")] == ["Ready", "In Progress", "Review", "Done"]
    assert nexus.columns.get(is_start=True).name == "In Progress"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"sprint_length_days": 0}, "sprint_length_days"),
        ({"columns": [ColumnSpec("A", is_start=True)]}, "columns"),
        ({"columns": [ColumnSpec("A", is_finish=True), ColumnSpec("B", is_start=True)]}, "columns"),
    ],
)
def test_nexus_create_rejects_bad_input(kwargs, field):
    args = {"name": "X", "columns": DEFAULT_COLUMNS, **kwargs}
    with pytest.raises(DomainError) as err:
        nexus_create(**args)
    assert err.value.field == field


def test_exactly_one_product_owner():
    nexus = nexus_build()
    with pytest.raises(DomainError, match="exactly one Product Owner"):
        membership_add(nexus=nexus, user=UserFactory.create(), role=Role.PRODUCT_OWNER)


def test_person_in_nexus_integration_team_and_a_team():
    nexus = nexus_build()
    user = UserFactory.create()
    membership_add(nexus=nexus, user=user, role=Role.NIT_MEMBER)
    membership_add(nexus=nexus, user=user, role=Role.DEVELOPER, team=team(nexus))
    assert set(user.nexus_memberships.values_list("role", flat=True)) == {"nit_member", "developer"}
    with pytest.raises(DomainError, match="belongs to a Scrum Team"):
        membership_add(nexus=nexus, user=user, role=Role.DEVELOPER)


def test_product_goal_lifecycle_keeps_history():
    nexus = nexus_build()
    goal = goal_create(nexus=nexus, text="First goal")
    with pytest.raises(DomainError, match="active Product Goal"):
        goal_create(nexus=nexus, text="Second")
    goal_update(goal=goal, text="First goal, sharper")
    goal_close(goal=goal, status=GoalStatus.ACHIEVED)
    goal_create(nexus=nexus, text="Second")
    statuses = list(nexus.backlog.goals.order_by("created_at").values_list("status", flat=True))
    assert statuses == ["achieved", "active"]


def test_pbi_create_positions_and_logs_creation():
    nexus = nexus_build()
    a = pbi_create(nexus=nexus, title="A", actor=None)
    pbi_create(nexus=nexus, title="B", actor=None)
    pbi_create(nexus=nexus, title="Top", actor=None, position="top")
    pbi_create(nexus=nexus, title="After A", actor=None, after=a)
    assert items_in_order(nexus) == ["Top", "A", "After A", "B"]
    log = Transition.objects.get(item=a)
    assert (log.kind, log.to_name, log.from_column) == (TransitionKind.COLUMN, "Ready", None)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": "  "}, "title"),
        ({"class_of_service": "vip"}, "class_of_service"),
        ({"size": "abc"}, "size"),
    ],
)
def test_pbi_create_rejects_bad_fields(fields, field):
    nexus = nexus_build()
    args = {"title": "ok", **fields}
    with pytest.raises(DomainError) as err:
        pbi_create(nexus=nexus, actor=None, **args)
    assert err.value.field == field
    assert not ProductBacklogItem.objects.exists()


def test_external_id_unique_per_nexus():
    nexus, other = nexus_build(), nexus_build()
    pbi_create(nexus=nexus, title="A", actor=None, external_id="X-1")
    pbi_create(nexus=other, title="A", actor=None, external_id="X-1")
    with pytest.raises(DomainError) as err:
        pbi_create(nexus=nexus, title="B", actor=None, external_id="X-1")
    assert err.value.field == "external_id"


def test_update_with_stale_version_changes_nothing():
    nexus = nexus_build()
    item = pbi_create(nexus=nexus, title="A", actor=None)
    pbi_update(item=item, actor=None, expected_version=1, title="A2", labels=["ux", "api"])
    with pytest.raises(VersionConflict) as err:
        pbi_update(item=item, actor=None, expected_version=1, title="lost")
    assert err.value.current_version == 2
    item.refresh_from_db()
    assert item.title == "A2"
    assert sorted(item.labels.values_list("name", flat=True)) == ["api", "ux"]


def test_parent_cannot_be_a_descendant():
    nexus = nexus_build()
    parent = pbi_create(nexus=nexus, title="Epic", actor=None)
    child = pbi_create(nexus=nexus, title="Story", actor=None, parent=parent)
    with pytest.raises(DomainError, match="ancestor"):
        pbi_update(item=parent, actor=None, parent=child)


def test_transition_is_logged_in_the_same_transaction():
    nexus = nexus_build()
    user = UserFactory.create()
    item = pbi_create(nexus=nexus, title="A", actor=user)
    result = pbi_transition(item=item, to_column=column(nexus, "In Progress"), actor=user, source="api")
    assert result.item.column.name == "In Progress"
    assert result.item.version == 2
    last = Transition.objects.filter(item=item).latest("id")
    assert (last.from_name, last.to_name, last.actor, last.source) == ("Ready", "In Progress", user, "api")


def test_transition_to_another_nexus_column_is_refused():
    nexus, other = nexus_build(), nexus_build()
    item = pbi_create(nexus=nexus, title="A", actor=None)
    with pytest.raises(DomainError, match="another Nexus"):
        pbi_transition(item=item, to_column=column(other, "Done"), actor=None)


def test_hard_wip_limit_refuses_and_soft_warns():
    nexus = nexus_build()
    col = column(nexus, "In Progress")
    col.wip_limit, col.wip_limit_kind = 1, WipLimitKind.HARD
    col.save()
    a, b = (pbi_create(nexus=nexus, title=t, actor=None) for t in "AB")
    pbi_transition(item=a, to_column=col, actor=None)
    with pytest.raises(WipLimitReached):
        pbi_transition(item=b, to_column=col, actor=None)
    b.refresh_from_db()
    assert b.column.name == "Ready"
    col.wip_limit_kind = WipLimitKind.SOFT
    col.save()
    result = pbi_transition(item=b, to_column=col, actor=None)
    assert result.warnings
    assert "WIP limit" in result.warnings[0]


def test_team_status_change_is_logged():
    nexus = nexus_build()
    item = pbi_create(nexus=nexus, title="A", actor=None, teams=[team(nexus)])
    inv = item.involvements.get()
    involvement_set_status(involvement=inv, status="in_progress", actor=None)
    row = Transition.objects.get(item=item, kind=TransitionKind.TEAM_STATUS)
    assert (row.from_name, row.to_name, row.team) == ("not_started", "in_progress", team(nexus))
    with pytest.raises(DomainError):
        involvement_set_status(involvement=inv, status="half", actor=None)


def test_set_teams_keeps_status_of_kept_teams():
    nexus = nexus_build()
    item = pbi_create(nexus=nexus, title="A", actor=None, teams=[team(nexus, "Team A")])
    involvement_set_status(involvement=item.involvements.get(), status="done", actor=None)
    pbi_set_teams(item=item, teams=[team(nexus, "Team A"), team(nexus, "Team B")], actor=None)
    assert dict(item.involvements.values_list("team__name", "status")) == {
        "Team A": "done",
        "Team B": "not_started",
    }


def test_soft_delete_keeps_log():
    nexus = nexus_build()
    item = pbi_create(nexus=nexus, title="A", actor=None)
    pbi_delete(item=item, actor=None)
    item.refresh_from_db()
    assert item.deleted_at is not None
    assert Transition.objects.filter(item=item).exists()
    assert not ProductBacklogItem.objects.open().exists()


def test_transition_log_is_append_only():
    nexus = nexus_build()
    item = pbi_create(nexus=nexus, title="A", actor=None)
    row = Transition.objects.get(item=item)
    row.to_name = "tampered"
    with pytest.raises(ValueError, match="append-only"):
        row.save()
