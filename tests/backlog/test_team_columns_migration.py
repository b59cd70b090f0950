"""Migration backlog/0013: every Scrum Team that existed before gets the four default columns, and its
work on each PBI is placed in the column of its square's state."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from backlog.models import TeamColumn, TeamInvolvement
from backlog.services import pbi_create
from tests.factories import nexus_build, team

pytestmark = pytest.mark.django_db


def test_existing_teams_get_the_four_states_and_their_work_is_placed():
    migration = importlib.import_module("backlog.migrations.0013_team_columns_tasks")
    nexus = nexus_build(teams=2)
    a, b = team(nexus, "Team A"), team(nexus, "Team B")
    item = pbi_create(nexus=nexus, title="Old work", actor=None, teams=[a, b])
    # As before the migration: no team columns, squares set by hand (e.g. imported).
    TeamInvolvement.objects.filter(item=item, team=a).update(status="ready", team_column=None)
    TeamInvolvement.objects.filter(item=item, team=b).update(team_column=None)
    TeamColumn.objects.all().delete()

    migration.default_team_columns(apps, None)

    for t in (a, b):
        assert list(TeamColumn.objects.filter(team=t).order_by("position").values_list("name", "state")) == [
            ("Not started", "not_started"),
            ("In progress", "in_progress"),
            ("Ready to integrate", "ready"),
            ("Done", "done"),
        ]
    placed = dict(TeamInvolvement.objects.filter(item=item).values_list("team_id", "team_column__state"))
    assert placed == {a.pk: "ready", b.pk: "not_started"}
    for inv in TeamInvolvement.objects.filter(item=item).select_related("team_column"):
        assert inv.team_column is not None
        assert inv.team_column.team_id == inv.team_id
