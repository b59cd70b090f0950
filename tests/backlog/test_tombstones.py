"""Tombstones (`backlog.services.tombstones`): every path that deletes a synced row leaves one (services,
cascades, plain `.delete()` as the admin does), none when the deletion rolls back, and a deleted Nexus
takes its tombstones along."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from backlog.models import Label, Membership, ProductBacklog, ProductGoal, Role, TeamColumn, WorkflowColumn
from backlog.models_api import Tombstone, TombstoneKind
from backlog.services import (
    column_create,
    column_delete,
    goal_close,
    goal_create,
    membership_add,
    pbi_create,
    team_delete,
)
from flow.models import FLOW_SETTINGS_TOMBSTONE, FlowSettings
from flow.services import flow_settings_set
from nexus_site.extensions import Extension, TombstoneSpec, extension_register
from tests.factories import UserFactory, nexus_build, team

pytestmark = pytest.mark.django_db


def _tombstones(nexus_id: int) -> set[tuple[str, int]]:
    return set(Tombstone.objects.filter(nexus_id=nexus_id).values_list("kind", "object_id"))


def test_a_deleted_team_leaves_tombstones_for_itself_its_memberships_and_flow_settings():
    nexus = nexus_build()
    b = team(nexus, "Team B")
    member = membership_add(nexus=nexus, user=UserFactory.create(), role=Role.DEVELOPER, team=b)
    admin = UserFactory.create(is_superuser=True)
    settings_row = flow_settings_set(nexus=nexus, team=b, actor=admin, sle_percent=80, sle_days=10)
    columns = list(TeamColumn.objects.filter(team=b).values_list("pk", flat=True))  # its own board
    team_delete(team=b)
    assert _tombstones(nexus.pk) == {
        (TombstoneKind.TEAM, b.pk),
        (TombstoneKind.MEMBERSHIP, member.pk),
        (FLOW_SETTINGS_TOMBSTONE, settings_row.pk),
        *((TombstoneKind.TEAM_COLUMN, pk) for pk in columns),
    }
    assert not FlowSettings.objects.filter(pk=settings_row.pk).exists()


def test_plain_deletes_and_cascades_leave_tombstones():
    """What the admin does (`obj.delete()`, `queryset.delete()`), and cascades from outside the Nexus (a
    deleted user's memberships)."""
    nexus = nexus_build()
    pbi_create(nexus=nexus, title="Labelled", actor=None, labels=["a", "b"])
    labels = list(Label.objects.filter(nexus=nexus).values_list("pk", flat=True))
    Label.objects.filter(nexus=nexus).delete()
    user = UserFactory.create()
    membership = membership_add(nexus=nexus, user=user, role=Role.STAKEHOLDER)
    User.objects.filter(pk=user.pk).delete()
    goal = goal_create(nexus=nexus, text="Old")
    goal_close(goal=goal, status="achieved")
    ProductGoal.objects.get(pk=goal.pk).delete()
    assert _tombstones(nexus.pk) == {
        *((TombstoneKind.LABEL, pk) for pk in labels),
        (TombstoneKind.MEMBERSHIP, membership.pk),
        (TombstoneKind.GOAL, goal.pk),
    }


def test_goals_deleted_with_their_backlog_know_their_nexus():
    nexus = nexus_build()
    goal = goal_create(nexus=nexus, text="Goal")
    ProductBacklog.objects.filter(nexus=nexus).delete()  # the admin deletes a Product Backlog
    assert (TombstoneKind.GOAL, goal.pk) in _tombstones(nexus.pk)


def test_a_rolled_back_deletion_leaves_no_tombstone():
    nexus = nexus_build()
    column_create(nexus=nexus, name="Test", category="in_progress")
    spare = WorkflowColumn.objects.get(nexus=nexus, name="Test")

    def delete_then_fail() -> None:
        with transaction.atomic():
            column_delete(column=spare)
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        delete_then_fail()
    assert _tombstones(nexus.pk) == set()
    column_delete(column=spare)
    assert _tombstones(nexus.pk) == {(TombstoneKind.COLUMN, spare.pk)}


def test_a_deleted_nexus_takes_its_tombstones_along():
    nexus = nexus_build()
    other = nexus_build()
    goal_create(nexus=nexus, text="Goal")
    team_delete(team=team(nexus, "Team C"))
    other_team = team(other, "Team C")
    columns = list(TeamColumn.objects.filter(team=other_team).values_list("pk", flat=True))
    team_delete(team=other_team)
    assert _tombstones(nexus.pk)
    nexus_id = nexus.pk
    nexus.delete()  # cascades write tombstones for its rows: removed with it
    assert _tombstones(nexus_id) == set()
    assert _tombstones(other.pk) == {
        (TombstoneKind.TEAM, other_team.pk),
        *((TombstoneKind.TEAM_COLUMN, pk) for pk in columns),
    }
    assert not Membership.objects.filter(nexus_id=nexus_id).exists()


def tombstones_register(model, kind, nexus_id_of):
    """What an app's `AppConfig.ready()` does for a model whose deletions leave tombstones."""
    extension_register(Extension(app="events", tombstones=(TombstoneSpec(model, kind, nexus_id_of),)))


def test_register_refuses_a_malformed_kind_or_a_taken_one(extension_registry):
    for malformed in ("Sprint", "sprint-review", "", "a" * 21):
        with pytest.raises(ValueError, match="lower-case name"):
            tombstones_register(Label, malformed, lambda row: row.nexus_id)
    with pytest.raises(ValueError, match="registered for"):
        tombstones_register(Membership, TombstoneKind.LABEL, lambda row: row.nexus_id)
