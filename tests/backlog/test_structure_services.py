"""Services that change the Nexus's structure after its creation: `nexus_update`, `team_update`,
`team_delete`, `membership_remove`. Each refusal names its field; history is never lost."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backlog.errors import Conflict, DomainError, WipLimitReached
from backlog.models import Membership, Nexus, ProductBacklogItem, Role, ScrumTeam, TeamInvolvement
from backlog.services import (
    involvement_set_status,
    membership_add,
    membership_remove,
    nexus_update,
    pbi_create,
    pbi_delete,
    pbi_transition,
    team_create,
    team_delete,
    team_update,
)
from backlog.signals import items_changed
from flow.services import flow_settings_set
from tests.factories import UserFactory, column, nexus_build, team

pytestmark = pytest.mark.django_db


@pytest.fixture
def recomputes(django_capture_on_commit_callbacks) -> Iterator[list[int]]:
    """The Nexus ids for which a flow recompute was requested (`items_changed` with `flow`), as sent on
    commit (the callbacks run at the end of each `with capture():` block of the test)."""
    seen: list[int] = []

    def on_changed(sender, *, nexus_id, flow=True, **kwargs):
        if flow:
            seen.append(nexus_id)

    items_changed.connect(on_changed, dispatch_uid="test-recomputes")
    try:
        yield seen
    finally:
        items_changed.disconnect(dispatch_uid="test-recomputes")


# --- nexus_update -------------------------------------------------------------------------------------


def test_nexus_update_changes_the_fields_given(django_capture_on_commit_callbacks, recomputes):
    nexus = nexus_build()
    before = nexus.updated_at
    with django_capture_on_commit_callbacks(execute=True):
        updated = nexus_update(nexus=nexus, name="  Payments  ", description="One product", wip_limit=12)
    assert (updated.name, updated.description, updated.wip_limit) == ("Payments", "One product", 12)
    nexus.refresh_from_db()
    assert (nexus.name, nexus.slug, nexus.time_zone, nexus.sprint_length_days) == (
        "Payments",
        nexus.slug,
        "UTC",
        14,
    )
    assert nexus.updated_at > before
    assert recomputes == []  # neither time zone nor Sprint length changed
    nexus_update(nexus=nexus, wip_limit=None)
    nexus.refresh_from_db()
    assert nexus.wip_limit is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"time_zone": "Europe/Berlin"}, "time_zone"),
        ({"sprint_length_days": 10}, "sprint_length_days"),
    ],
)
def test_a_new_time_zone_or_sprint_length_asks_for_a_flow_recompute(
    django_capture_on_commit_callbacks, recomputes, change, field
):
    nexus = nexus_build()
    with django_capture_on_commit_callbacks(execute=True):
        nexus_update(nexus=nexus, **change)
    assert recomputes == [nexus.pk]
    nexus.refresh_from_db()
    assert getattr(nexus, field) == change[field]
    recomputes.clear()
    with django_capture_on_commit_callbacks(execute=True):
        nexus_update(nexus=nexus, **change)  # the same value again: nothing to recompute
    assert recomputes == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "  "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"time_zone": ""}, "time_zone"),
        ({"sprint_length_days": 0}, "sprint_length_days"),
        ({"sprint_length_days": 32}, "sprint_length_days"),
        ({"wip_limit": 0}, "wip_limit"),
    ],
)
def test_nexus_update_refuses_bad_values(change, field):
    nexus = nexus_build()
    with pytest.raises(DomainError) as err:
        nexus_update(nexus=nexus, **change)
    assert err.value.field == field
    assert Nexus.objects.get(pk=nexus.pk).name == nexus.name


def test_a_new_nexus_wip_limit_applies_to_the_next_move():
    nexus = nexus_build(items=2)
    first, second = ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank")
    admin = UserFactory.create(is_superuser=True)
    flow_settings_set(
        nexus=nexus, team=None, actor=admin, sle_percent=85, sle_days=None, wip_limit_kind="hard"
    )
    pbi_transition(item=first, to_column=column(nexus, "In Progress"), actor=None)
    nexus_update(nexus=nexus, wip_limit=1)
    with pytest.raises(WipLimitReached):
        pbi_transition(item=second, to_column=column(nexus, "In Progress"), actor=None)


# --- team_update / team_create ---------------------------------------------------------------------------


def test_team_update_renames_with_the_slug_following():
    nexus = nexus_build()
    renamed = team_update(team=team(nexus, "Team B"), name=" Checkout ", wip_limit=4)
    assert (renamed.name, renamed.slug, renamed.wip_limit) == ("Checkout", "checkout", 4)
    kept = team_update(team=renamed, wip_limit=None)
    assert (kept.name, kept.wip_limit) == ("Checkout", None)
    assert team_update(team=kept, name="Checkout").slug == "checkout"  # its own name is not "taken"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "Team A"}, "name"),
        ({"name": "team-a"}, "name"),  # another name with Team A's slug
        ({"name": "x" * 101}, "name"),
        ({"wip_limit": 0}, "wip_limit"),
    ],
)
def test_team_update_refuses(change, field):
    nexus = nexus_build()
    with pytest.raises(DomainError) as err:
        team_update(team=team(nexus, "Team B"), **change)
    assert err.value.field == field
    assert ScrumTeam.objects.filter(nexus=nexus, name="Team B").exists()


def test_team_create_refuses_a_wip_limit_below_one():
    with pytest.raises(DomainError) as err:
        team_create(nexus=nexus_build(), name="Team Z", wip_limit=0)
    assert err.value.field == "wip_limit"


def test_a_new_team_wip_limit_applies_to_the_next_move():
    nexus = nexus_build()
    a = team(nexus)
    first = pbi_create(nexus=nexus, title="one", actor=None, teams=[a])
    second = pbi_create(nexus=nexus, title="two", actor=None, teams=[a])
    pbi_transition(item=first, to_column=column(nexus, "In Progress"), actor=None)
    team_update(team=a, wip_limit=1)
    result = pbi_transition(item=second, to_column=column(nexus, "In Progress"), actor=None)
    assert result.warnings == ["Team A is at its WIP limit (1 of 1 items in progress)."]


# --- team_delete -------------------------------------------------------------------------------------


def test_team_delete_takes_its_memberships_along():
    nexus = nexus_build()
    b = team(nexus, "Team B")
    membership_add(nexus=nexus, user=UserFactory.create(), role=Role.DEVELOPER, team=b)
    team_delete(team=b)
    assert not ScrumTeam.objects.filter(pk=b.pk).exists()
    assert not Membership.objects.filter(team_id=b.pk).exists()
    team_delete(team=b)  # gone already: nothing to do


def test_team_delete_is_refused_while_the_team_is_on_a_pbi():
    nexus = nexus_build()
    a = team(nexus)
    item = pbi_create(nexus=nexus, title="one", actor=None, teams=[a])
    pbi_delete(item=item, actor=None)  # a deleted item's history counts too
    with pytest.raises(Conflict) as err:
        team_delete(team=a)
    assert err.value.status_code == 409
    assert "forecast on 1 PBI" in err.value.message
    assert ScrumTeam.objects.filter(pk=a.pk).exists()


def test_team_delete_is_refused_while_the_transition_log_names_it():
    nexus = nexus_build()
    a = team(nexus)
    item = pbi_create(nexus=nexus, title="one", actor=None, teams=[a])
    involvement_set_status(involvement=TeamInvolvement.objects.get(item=item), status="done", actor=None)
    TeamInvolvement.objects.filter(item=item).delete()  # e.g. the admin; the log still names the team
    with pytest.raises(Conflict) as err:
        team_delete(team=a)
    assert "transition log" in err.value.message
    assert ScrumTeam.objects.filter(pk=a.pk).exists()


# --- membership_remove -------------------------------------------------------------------------------


def test_membership_remove():
    nexus = nexus_build()
    user = UserFactory.create()
    membership = membership_add(nexus=nexus, user=user, role=Role.STAKEHOLDER)
    membership_remove(membership=membership)
    assert not Membership.objects.filter(nexus=nexus, user=user).exists()
    membership_remove(membership=membership)  # gone already: nothing to do
    # Changing a role is remove + add.
    again = membership_add(nexus=nexus, user=user, role=Role.NIT_MEMBER)
    assert again.role == Role.NIT_MEMBER
