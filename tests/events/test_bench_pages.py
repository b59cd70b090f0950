"""The bench rows of the Sprint pages run on a small Nexus (the rows of `make bench` are not timed
here) and leave no open Sprint behind."""

from __future__ import annotations

import pytest

from backlog.services import involvement_set_status
from events.bench_pages import planning_row, sprint_backlog_row
from events.models import Sprint, SprintState
from nexus_site import extensions
from nexus_site.bench import BenchContext
from tests.factories import column, nexus_build, squares_fill

pytestmark = pytest.mark.django_db


def test_the_rows_run_on_a_small_nexus_and_leave_no_open_sprint(client):
    from backlog.models import ProductBacklogItem
    from backlog.services import pbi_set_teams, pbi_transition

    nexus = nexus_build(teams=3, items=30, slug="bench-small")
    teams = list(nexus.teams.order_by("name"))
    for i, item in enumerate(ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank")):
        pbi_set_teams(item=item, teams=[teams[i % 3]], actor=None)
        if i % 3 == 1:
            pbi_transition(item=item, to_column=column(nexus, "In Progress"), actor=None)
            involvement_set_status(involvement=item.involvements.get(), status="in_progress", actor=None)
        elif i % 3 == 2:
            squares_fill(item)
            pbi_transition(item=item, to_column=column(nexus, "Done"), actor=None)
    ctx = BenchContext(nexus=nexus)
    from django.contrib.auth.models import User

    client.force_login(User.objects.get(username="po-bench-small"))
    row = sprint_backlog_row(ctx, client, size=12, runs=2)
    assert row.name == "Nexus Sprint Backlog page, Sprint of 12 PBIs"
    assert row.queries is not None
    row = planning_row(ctx, client, shown=5, lanes=3, runs=2)
    assert row.name == "Nexus Sprint Planning page, 5 ready PBIs shown"
    still_open = Sprint.objects.filter(nexus=nexus, state__in=[SprintState.PLANNED, SprintState.ACTIVE])
    assert not still_open.exists()
    assert Sprint.objects.filter(nexus=nexus, state=SprintState.CLOSED).count() == 1


def test_registered_as_a_second_group_of_events_rows():
    names = [b.name for b in extensions.bench_rows()]
    assert "events" in names
    assert "events-pages" in names
