"""Reads of Sprints (`events.selectors`): the active or next Sprint, the Nexus Sprint Backlog's rows and
groups (queries fixed whatever the size), and the Throughput of closed Sprints from their snapshots."""

from __future__ import annotations

import pytest

from backlog.models import TeamInvolvement, TeamStatus
from backlog.services import involvement_set_status, pbi_create
from events.selectors import sprint_active, sprint_current_or_next, sprint_items, sprint_outcomes
from events.services import sprint_close, sprint_plan
from tests.events.sprint_helpers import finish, items, sprint_build, teams
from tests.factories import nexus_build

pytestmark = pytest.mark.django_db


def test_active_and_current_or_next():
    nexus = nexus_build()
    assert sprint_active(nexus=nexus) is None
    assert sprint_current_or_next(nexus=nexus) is None
    first = sprint_build(nexus)
    second = sprint_build(nexus)
    assert sprint_current_or_next(nexus=nexus) == first
    from events.services import sprint_start

    sprint_start(sprint=second, actor=None)
    assert sprint_active(nexus=nexus) == second
    assert sprint_current_or_next(nexus=nexus) == second


def test_rows_and_groups():
    nexus = nexus_build(items=4)
    a, b, _c = teams(nexus)
    one, two, three, four = items(nexus)
    sprint = sprint_build(nexus)
    for item in (one, two, three, four):
        sprint_plan(sprint=sprint, item=item, teams=[a, b], actor=None)

    def square(item, team, status):
        inv = TeamInvolvement.objects.get(item=item, team=team)
        involvement_set_status(involvement=inv, status=status, actor=None)

    square(two, a, TeamStatus.IN_PROGRESS)
    square(three, a, TeamStatus.READY_TO_INTEGRATE)
    square(three, b, TeamStatus.READY_TO_INTEGRATE)
    finish(four)
    rows = sprint_items(sprint=sprint)
    assert [(r.item.title, r.group) for r in rows] == [
        ("Item 1", "not_started"),
        ("Item 2", "started"),
        ("Item 3", "ready"),
        ("Item 4", "done"),
    ]
    assert [sq.name for sq in rows[1].squares] == ["Team A", "Team B"]
    assert rows[1].squares[0].status == TeamStatus.IN_PROGRESS


def test_rows_take_a_fixed_number_of_queries(django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count(n):
        nexus = nexus_build()
        sprint = sprint_build(nexus)
        for i in range(n):
            item = pbi_create(nexus=nexus, title=f"P{i}", actor=None)
            sprint_plan(sprint=sprint, item=item, teams=teams(nexus)[:2], actor=None)
        sprint.refresh_from_db()
        with CaptureQueriesContext(connection) as ctx:
            rows = sprint_items(sprint=sprint)
        assert len(rows) == n
        return len(ctx.captured_queries)

    small, large = count(2), count(30)
    assert small == large
    with django_assert_max_num_queries(10):
        pass


def test_outcomes_count_throughput_per_sprint_and_team():
    nexus = nexus_build(items=3)
    a, b, _c = teams(nexus)
    one, two, three = items(nexus)
    sprint = sprint_build(nexus)
    sprint_plan(sprint=sprint, item=one, teams=[a, b], actor=None)
    sprint_plan(sprint=sprint, item=two, teams=[a], actor=None)
    sprint_plan(sprint=sprint, item=three, teams=[b], actor=None)
    from events.services import sprint_start

    sprint_start(sprint=sprint, actor=None)
    sprint_build(nexus)
    finish(one)
    finish(two)
    sprint_close(sprint=sprint, actor=None)
    (outcome,) = sprint_outcomes(nexus=nexus)
    assert (outcome.done, outcome.not_done, outcome.carried) == (2, 1, 1)
    assert outcome.done_by_team == {a.pk: 2, b.pk: 1}
