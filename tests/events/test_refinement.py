"""The Cross-Team Refinement board and the Dependency board (events/views_refinement.py,
views_dependencies.py) and their selectors (events/selectors_dependencies.py): toggles, ready, inline
dependencies, split, refusals in the page, judged by flow (late by Sprint, late by SLE), constant queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backlog.models import Dependency, ProductBacklogItem, Role, TeamInvolvement
from backlog.services import pbi_create, pbi_transition
from backlog.services.dependencies import dependency_create
from events.selectors_dependencies import dependencies_judged, dependency_board_get, refinement_get
from flow.services import flow_settings_set
from tests.events.sprint_helpers import items, sprint_build, teams
from tests.factories import column, member, nexus_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def po(client):
    nexus = nexus_build(teams=3, items=6)
    user = nexus.memberships.get(role=Role.PRODUCT_OWNER).user
    client.force_login(user)
    return nexus, user


def _url(name, nexus, *args):
    return reverse(f"events:{name}", args=[nexus.slug, *args])


def test_page_shows_rows_teams_and_counts_with_constant_queries(client, po):
    nexus, _user = po
    url = _url("refinement", nexus)
    client.get(url)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    few = count()
    a, b, c = teams(nexus)
    for i in range(15):
        item = pbi_create(nexus=nexus, title=f"More {i}", actor=None, teams=[a, b] if i % 2 else [c])
        if i:
            dependency_create(item=item, depends_on=items(nexus)[0], actor=None)
    assert count() == few
    page = client.get(url).content.decode()
    assert "Cross-Team Refinement" in page
    assert "needs 2 teams" in page
    assert 'id="ready-several"' in page


def test_toggle_teams_mark_ready_and_the_counts(client, po):
    nexus, _user = po
    first = items(nexus)[0]
    a, b, _c = teams(nexus)
    # Built with items in Ready already: take the first one back to a column before it.
    url = _url("refinement-team", nexus, first.pk, a.pk)
    assert client.post(url, HTTP_HX_REQUEST="true").status_code == 200
    response = client.post(_url("refinement-team", nexus, first.pk, b.pk), HTTP_HX_REQUEST="true")
    assert set(TeamInvolvement.objects.filter(item=first).values_list("team_id", flat=True)) == {a.pk, b.pk}
    assert "needs 2 teams" in response.content.decode()
    board = refinement_get(nexus=nexus)
    assert board.ready_several_teams == 1
    assert board.ready_no_team == 5
    client.post(url, HTTP_HX_REQUEST="true")  # toggled off again
    assert list(TeamInvolvement.objects.filter(item=first).values_list("team_id", flat=True)) == [b.pk]
    assert refinement_get(nexus=nexus).ready_one_team == 1


def test_mark_ready_moves_into_the_ready_column(client):
    from backlog.models import ColumnCategory
    from backlog.services import ColumnSpec, nexus_create, team_create

    nexus = nexus_create(
        name="N",
        slug="with-new",
        columns=[
            ColumnSpec("New", ColumnCategory.NOT_STARTED),
            ColumnSpec("Ready", ColumnCategory.NOT_STARTED, is_ready=True),
            ColumnSpec("Doing", ColumnCategory.IN_PROGRESS, is_start=True),
            ColumnSpec("Done", ColumnCategory.DONE, is_finish=True),
        ],
    )
    team_create(nexus=nexus, name="Team A")
    user = member(nexus, Role.PRODUCT_OWNER, username="po-new")
    client.force_login(user)
    item = pbi_create(nexus=nexus, title="Fresh", actor=None)
    assert not refinement_get(nexus=nexus).rows[0].ready
    response = client.post(_url("refinement-ready", nexus, item.pk), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    item.refresh_from_db()
    assert item.column == column(nexus, "Ready")
    assert "✓ ready" in response.content.decode()


def test_add_a_dependency_inline_and_refusals_in_the_page(client, po):
    nexus, user = po
    first, second = items(nexus)[:2]
    url = _url("refinement-dependency", nexus, first.pk)
    ok = client.post(url, {"depends_on": f"#{second.pk}", "kind": "depends_on"}, HTTP_HX_REQUEST="true")
    assert ok.status_code == 200
    dep = Dependency.objects.get()
    assert (dep.item_id, dep.depends_on_id, dep.found_at, dep.found_by) == (
        first.pk,
        second.pk,
        "refinement",
        user,
    )
    cycle = client.post(
        _url("refinement-dependency", nexus, second.pk), {"depends_on": first.pk}, HTTP_HX_REQUEST="true"
    )
    assert cycle.status_code == 409
    assert "cycle" in cycle.content.decode()
    blank = client.post(url, {"depends_on": ""}, HTTP_HX_REQUEST="true")
    assert blank.status_code == 400
    plain = client.post(url, {"depends_on": "999999"})
    assert plain.status_code == 400
    assert "No PBI #999999" in plain.content.decode()
    resolved = client.post(
        _url("refinement-dependency-status", nexus, dep.pk), {"status": "resolved"}, HTTP_HX_REQUEST="true"
    )
    assert resolved.status_code == 200
    dep.refresh_from_db()
    assert dep.status == "resolved"


def test_split_carries_the_dependency_and_stakeholders_only_read(client, po):
    nexus, _user = po
    first, second = items(nexus)[:2]
    dependency_create(item=first, depends_on=second, actor=None)
    response = client.post(_url("refinement-split", nexus, first.pk), {"titles": "UI part\nCore part"})
    assert response.status_code == 302
    assert Dependency.objects.filter(status="open").count() == 2
    stakeholder = member(nexus, Role.STAKEHOLDER, username="sam")
    client.force_login(stakeholder)
    page = client.get(_url("refinement", nexus)).content.decode()
    assert "Mark ready" not in page
    assert "Read-only" in page
    refused = client.post(
        _url("refinement-team", nexus, first.pk, teams(nexus)[0].pk), HTTP_HX_REQUEST="true"
    )
    assert refused.status_code == 403


def test_split_lets_the_person_choose_the_children_of_each_dependency(client, po):
    nexus, _user = po
    first, second, third = items(nexus)[:3]
    out = dependency_create(item=first, depends_on=second, actor=None)
    inn = dependency_create(item=third, depends_on=first, actor=None)
    page = client.get(_url("refinement", nexus)).content.decode()
    assert f'name="carry-{out.pk}"' in page
    url = _url("refinement-split", nexus, first.pk)
    bad = client.post(url, {"titles": "A\nB", f"carry-{out.pk}": "3"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 400
    assert "1 to 2" in bad.content.decode()
    ok = client.post(
        url, {"titles": "A\nB", f"carry-{out.pk}": "2", f"carry-{inn.pk}": ""}, HTTP_HX_REQUEST="true"
    )
    assert ok.status_code == 200
    a, b = ProductBacklogItem.objects.filter(parent=first).order_by("rank")
    live = set(Dependency.objects.filter(status="open").values_list("item_id", "depends_on_id"))
    assert live == {(b.pk, second.pk), (third.pk, a.pk), (third.pk, b.pk)}


def test_judged_late_by_sprint_and_by_sle(django_capture_on_commit_callbacks):
    nexus = nexus_build(teams=2, items=4)
    a, b, c, d = items(nexus)
    ta, _tb = teams(nexus)
    s1 = sprint_build(nexus, planned=[a], started=True)
    sprint_build(nexus, planned=[b])
    ab = dependency_create(item=a, depends_on=b, actor=None)  # b in the later Sprint: late
    ba_sym = dependency_create(item=b, depends_on=c, actor=None)  # b in Sprint 2, c in none: late
    cd = dependency_create(item=c, depends_on=d, actor=None)  # neither planned: not late
    judged = {j.dependency.pk: j for j in dependencies_judged(nexus=nexus, today=s1.start_date)}
    assert judged[ab.pk].late
    assert "Sprint 2" in judged[ab.pk].reasons[0]
    assert judged[ba_sym.pk].late
    assert not judged[cd.pk].late
    # By the SLE: `c` started long ago (400 days before "today"), the Nexus's SLE is 3 days.
    with django_capture_on_commit_callbacks(execute=True):  # flow records the start
        pbi_transition(item=c, to_column=column(nexus, "In Progress"), actor=None)
    owner = nexus.memberships.get(role=Role.PRODUCT_OWNER).user
    flow_settings_set(nexus=nexus, team=None, actor=owner, sle_percent=85, sle_days=3)
    later = dependencies_judged(nexus=nexus, today=s1.start_date + timedelta(days=400))
    by_id = {j.dependency.pk: j for j in later}
    assert by_id[cd.pk].band == "late"
    assert by_id[cd.pk].late
    assert ta is not None


def test_dependency_board_cells_lines_and_queries(client, po):
    nexus, _user = po
    a, b, c, *_ = items(nexus)
    ta, tb, _tc = teams(nexus)
    sprint_build(nexus, planned=[a], team=ta, started=True)
    sprint_build(nexus, planned=[b, c], team=tb)
    dependency_create(item=a, depends_on=b, actor=None)
    board = dependency_board_get(nexus=nexus)
    assert [s.number for s in board.sprints] == [1, 2]
    assert len(board.lines) == 1
    assert board.lines[0].judged.late
    url = _url("dependencies", nexus)
    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        page = client.get(url).content.decode()
    few = len(ctx.captured_queries)
    assert f'id="dep-card-{a.pk}-{ta.pk}"' in page
    assert '"late": true' in page
    for item in items(nexus)[3:]:
        from events.models import Sprint
        from events.services import sprint_plan

        sprint_plan(sprint=Sprint.objects.get(nexus=nexus, number=2), item=item, teams=[tb], actor=None)
        dependency_create(item=c, depends_on=item, actor=None)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    assert len(ctx.captured_queries) == few
    filtered = client.get(url, {"team": ta.slug}).content.decode()
    assert f'id="dep-card-{b.pk}-{tb.pk}"' not in filtered
    # By default only the PBIs with a dependency have a card; the others of a cell are counted.
    lone = pbi_create(nexus=nexus, title="Alone", actor=None)
    sprint_plan(sprint=Sprint.objects.get(nexus=nexus, number=2), item=lone, teams=[tb], actor=None)
    assert f'id="dep-card-{lone.pk}-{tb.pk}"' not in client.get(url).content.decode()
    assert "+ 1 other PBI without a dependency" in client.get(url).content.decode()
    assert f'id="dep-card-{lone.pk}-{tb.pk}"' in client.get(url, {"all": "1"}).content.decode()
