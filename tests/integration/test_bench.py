"""The bench rows of `integration` run on a small Nexus (not timed here) and leave no open Sprint; the
group is declared through the extensions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from backlog.models import ProductBacklogItem, TeamInvolvement, TeamStatus
from backlog.services import pbi_set_teams, pbi_transition
from events.models import Sprint, SprintState
from integration import bench
from integration.models import IncrementState, IntegratedIncrement
from nexus_site import extensions
from nexus_site.bench import BenchContext
from tests.factories import column, nexus_build

pytestmark = pytest.mark.django_db


def test_rows_run_on_a_small_nexus(client):
    nexus = nexus_build(teams=3, items=12, slug="bench-inc")
    teams = list(nexus.teams.order_by("name"))
    for i, item in enumerate(ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank")):
        pbi_set_teams(item=item, teams=[teams[i % 3]], actor=None)
        pbi_transition(item=item, to_column=column(nexus, "In Progress"), actor=None)
    client.force_login(User.objects.get(username="po-bench-inc"))
    ctx = BenchContext(nexus=nexus, extra={"po_client": client})
    page, done = bench.run(ctx, size=8, runs=2)
    assert page.name == "Integrated Increment page, 8 PBIs"
    assert page.queries is not None
    assert done.name == "Mark an Integrated Increment of 8 PBIs Done"
    increment = IntegratedIncrement.objects.get(nexus=nexus)
    assert increment.state == IncrementState.DONE
    items = ProductBacklogItem.objects.filter(increment_row__increment=increment)
    assert set(items.values_list("column__name", flat=True)) == {"Done"}
    assert set(TeamInvolvement.objects.filter(item__in=items).values_list("status", flat=True)) == {
        TeamStatus.DONE
    }
    assert not Sprint.objects.filter(
        nexus=nexus, state__in=[SprintState.PLANNED, SprintState.ACTIVE]
    ).exists()


def test_declared_as_a_group():
    assert "increments" in [b.name for b in extensions.bench_rows()]
