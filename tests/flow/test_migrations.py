"""The data migration that moves the kinds of the Nexus's and the Scrum Teams' WIP limits from
`FlowSettings` to `backlog` (flow 0003, after backlog 0011), forwards and backwards."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("backlog", "0009_tombstones"), ("flow", "0002_snapshots_settings")]
AFTER = [("flow", "0003_wip_limit_kind_to_backlog")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


def test_the_kinds_move_to_backlog_and_back():
    try:
        old = _migrate(BEFORE)
        nexus = old.get_model("backlog", "Nexus").objects.create(name="N", slug="n-migration")
        teams = old.get_model("backlog", "ScrumTeam")
        hard = teams.objects.create(nexus=nexus, name="Hard", slug="hard")
        soft = teams.objects.create(nexus=nexus, name="Soft", slug="soft")
        teams.objects.create(nexus=nexus, name="None", slug="none")
        settings = old.get_model("flow", "FlowSettings")
        settings.objects.create(nexus=nexus, team=None, sle_percent=80, wip_limit_kind="hard")
        settings.objects.create(nexus=nexus, team=hard, sle_percent=85, wip_limit_kind="hard")
        settings.objects.create(nexus=nexus, team=soft, sle_percent=85, wip_limit_kind="soft")

        new = _migrate(AFTER)
        assert new.get_model("backlog", "Nexus").objects.get(pk=nexus.pk).wip_limit_kind == "hard"
        kinds = dict(new.get_model("backlog", "ScrumTeam").objects.values_list("name", "wip_limit_kind"))
        assert kinds == {"Hard": "hard", "Soft": "soft", "None": "soft"}
        assert new.get_model("flow", "FlowSettings").objects.count() == 3  # the SLEs stay

        back = _migrate(BEFORE)
        rows = back.get_model("flow", "FlowSettings").objects.values_list("team__name", "wip_limit_kind")
        assert sorted(rows, key=str) == sorted([(None, "hard"), ("Hard", "hard"), ("Soft", "soft")], key=str)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
