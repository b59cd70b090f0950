"""The dependency matrix (events.selectors_matrix) and the pages of the matrix and the forecast
(events/views_dependency_reads.py): counts per pair of teams now and at the end of each Sprint, read
from the dependency log; the page's queries do not grow with the dependencies; the forecast page for a
Sprint and for one PBI, and its refusals."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from backlog.models import DependencyKind
from backlog.services import pbi_create
from backlog.services.dependencies import dependency_create, dependency_resolve
from events.selectors_matrix import dependency_matrix_get
from events.services import sprint_close, sprint_start
from tests.events.sprint_helpers import sprint_build
from tests.factories import nexus_build, team

pytestmark = pytest.mark.django_db


def _at(day):
    return timezone.make_aware(datetime.combine(day, time(12)))


def test_counts_per_pair_now_and_at_the_end_of_each_sprint():
    nexus = nexus_build(teams=3)
    a, b, c = team(nexus, "Team A"), team(nexus, "Team B"), team(nexus, "Team C")
    today = timezone.localdate()
    first = sprint_build(nexus, start=today - timedelta(days=20), end_date=today - timedelta(days=8))
    sprint_start(sprint=first, actor=None)
    pa = pbi_create(nexus=nexus, title="A", teams=[a], actor=None)
    pb = pbi_create(nexus=nexus, title="B", teams=[b], actor=None)
    pab = pbi_create(nexus=nexus, title="A and C", teams=[a, c], actor=None)
    alone = pbi_create(nexus=nexus, title="No team", actor=None)
    with mock.patch("django.utils.timezone.now", return_value=_at(today - timedelta(days=15))):
        d1 = dependency_create(item=pa, depends_on=pb, actor=None)
        d2 = dependency_create(item=pab, depends_on=pb, actor=None)
        dependency_create(item=pa, depends_on=alone, actor=None)
    sprint_close(sprint=first, actor=None)
    second = sprint_build(nexus, start=today - timedelta(days=7), end_date=today + timedelta(days=6))
    sprint_start(sprint=second, actor=None)
    with mock.patch("django.utils.timezone.now", return_value=_at(today - timedelta(days=3))):
        dependency_resolve(dependency=d2, actor=None)
        dependency_create(item=pb, depends_on=pa, kind=DependencyKind.INTEGRATES_WITH, actor=None)
    matrix = dependency_matrix_get(nexus=nexus)
    assert matrix.now.open_total == 3
    assert matrix.count(a.pk, b.pk) == 2  # d1, and the integration both ways
    assert matrix.count(b.pk, a.pk) == 1
    assert matrix.count(c.pk, b.pk) == 0  # d2 resolved
    assert matrix.open_without_teams == 1
    assert [p.sprint.number for p in matrix.trend] == [first.number, second.number]  # type: ignore[union-attr]
    then = matrix.trend[0]
    assert then.open_total == 3
    assert then.counts == {(a.pk, b.pk): 2, (c.pk, b.pk): 1}  # d1 and d2 (pab has A and C)
    assert matrix.trend[1].counts == matrix.now.counts
    assert d1.pk  # still open
    assert matrix.pairs[0] == (a.pk, b.pk)


def _deps(nexus, n):
    a, b = team(nexus, "Team A"), team(nexus, "Team B")
    items = [
        pbi_create(nexus=nexus, title=f"PBI {i}", teams=[a if i % 2 else b], actor=None) for i in range(n + 1)
    ]
    for i in range(1, n + 1):
        dependency_create(item=items[i], depends_on=items[i - 1], actor=None)
    return items


def test_the_matrix_page_queries_do_not_grow(client, django_assert_max_num_queries):
    small, large = nexus_build(slug="mx-small"), nexus_build(slug="mx-large")
    _deps(small, 1)
    _deps(large, 30)
    for nexus in (small, large):
        for start in (timezone.localdate() - timedelta(days=30), timezone.localdate() - timedelta(days=10)):
            sprint = sprint_build(nexus, start=start, end_date=start + timedelta(days=9))
            sprint_start(sprint=sprint, actor=None)
            sprint_close(sprint=sprint, actor=None)
    client.login(username="po-mx-small", password="pw")
    url = reverse("events:dependency-matrix", args=["mx-small"])
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    client.login(username="po-mx-large", password="pw")
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(reverse("events:dependency-matrix", args=["mx-large"]))
    html = page.content.decode()
    assert 'id="dep-matrix"' in html
    assert 'id="dep-trend"' in html
    assert "Team A" in html


def test_the_forecast_page_for_a_pbi_a_sprint_and_bad_input(client):
    nexus = nexus_build(slug="fc-page")
    items = _deps(nexus, 3)
    client.login(username="po-fc-page", password="pw")
    url = reverse("events:dependency-forecast", args=["fc-page"])
    none_active = client.get(url)
    assert none_active.status_code == 200
    assert "No Sprint is active" in none_active.content.decode()
    one = client.get(url, {"item": items[-1].pk}).content.decode()
    assert "Cannot forecast" in one
    assert "has no Throughput history yet" in one
    sprint = sprint_build(nexus, planned=items[:2], started=True)
    whole = client.get(url).content.decode()
    assert f"Sprint {sprint.number}: 2 planned PBIs" in whole
    bad = client.get(url, {"item": "abc"})
    assert bad.status_code == 400
    assert "Enter a whole number." in bad.content.decode()
    assert client.get(url, {"sprint": "99"}).status_code == 400
