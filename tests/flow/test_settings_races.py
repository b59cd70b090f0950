"""Flow settings written while the structure changes (PostgreSQL, each side in its own thread and
connection): a Scrum Team deleted meanwhile is a refusal naming `team`, and two first writes of the
same scope both succeed on one row. Without the Nexus lock the first failed at commit (the deferred
foreign key) and the second on the partial unique constraint: IntegrityErrors, 500s."""

from __future__ import annotations

import pytest
from django.db import connection

from backlog.errors import DomainError
from backlog.models import Role, ScrumTeam
from backlog.services import team_delete
from flow.models import FlowSettings
from flow.services import flow_settings_set
from tests.backlog.test_structure_races import _first_holds_then_second
from tests.factories import UserFactory, member, nexus_build, team

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


def _po(nexus):
    return UserFactory.create(username=f"po-{nexus.slug}")


def test_settings_of_a_team_being_deleted_are_refused_naming_the_team():
    nexus = nexus_build(teams=2)
    doomed = team(nexus, "Team B")
    refused = _first_holds_then_second(
        lambda: team_delete(team=ScrumTeam.objects.get(pk=doomed.pk)),
        lambda: flow_settings_set(nexus=nexus, team=doomed, actor=_po(nexus), sle_percent=85, sle_days=10),
    )
    assert isinstance(refused, DomainError), repr(refused)
    assert refused.field == "team"
    assert not ScrumTeam.objects.filter(pk=doomed.pk).exists()
    assert not FlowSettings.objects.filter(nexus=nexus).exists()


@pytest.mark.parametrize("scope", ["nexus", "team"])
def test_two_first_writes_of_a_scope_both_succeed_on_one_row(scope):
    nexus = nexus_build(teams=1)
    nit = member(nexus, Role.NIT_MEMBER, username=f"nit-{nexus.slug}")
    the_team = team(nexus) if scope == "team" else None
    failed = _first_holds_then_second(
        lambda: flow_settings_set(nexus=nexus, team=the_team, actor=_po(nexus), sle_percent=80, sle_days=9),
        lambda: flow_settings_set(nexus=nexus, team=the_team, actor=nit, sle_percent=70, sle_days=None),
    )
    assert failed is None, repr(failed)
    row = FlowSettings.objects.get(nexus=nexus, team=the_team)
    assert (row.sle_percent, row.sle_days, row.updated_by) == (70, None, nit)
