"""The team board (per Scrum Team and Sprint): its cards are the Sprint's PBIs the team has a square on, in
the team's own columns; moves and tasks go through the services (permission, log), whatever the door;
the number of queries does not grow with the cards."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from backlog.models import Role, Source, Task, TeamColumn, TeamInvolvement, Transition, TransitionKind
from backlog.services import pbi_create
from backlog.services.team_columns import team_column_create
from events.services import sprint_plan
from tests.events.sprint_helpers import sprint_build
from tests.factories import member, nexus_build, team

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def setup() -> dict[str, Any]:
    nexus = nexus_build(teams=3)
    a, b = team(nexus, "Team A"), team(nexus, "Team B")
    sprint = sprint_build(nexus, started=True, goal="Checkout in one step")
    shared = pbi_create(nexus=nexus, title="Shared checkout", actor=None)
    sprint_plan(sprint=sprint, item=shared, teams=[a, b], actor=None)
    only_b = pbi_create(nexus=nexus, title="Only B", actor=None)
    sprint_plan(sprint=sprint, item=only_b, teams=[b], actor=None)
    pbi_create(nexus=nexus, title="Not in the Sprint", actor=None, teams=[a])
    return {
        "nexus": nexus,
        "sprint": sprint,
        "a": a,
        "b": b,
        "shared": shared,
        "ada": member(nexus, Role.DEVELOPER, username="ada", team_obj=a),
        "bea": member(nexus, Role.DEVELOPER, username="bea", team_obj=b),
        "stu": member(nexus, Role.STAKEHOLDER, username="stu"),
    }


def _url(s: dict[str, Any], name: str = "events:team-board", team_obj: Any = None, **kw: Any) -> str:
    t = team_obj or s["a"]
    return reverse(
        name, kwargs={"slug": s["nexus"].slug, "sprint_id": s["sprint"].pk, "team_slug": t.slug, **kw}
    )


def _col(t: Any, state: str) -> TeamColumn:
    return TeamColumn.objects.filter(team=t, state=state).earliest("position")


def test_the_board_shows_the_teams_sprint_items_in_its_columns(client, setup):
    client.force_login(setup["ada"])
    current = client.get(
        reverse("events:team-board-current", kwargs={"slug": setup["nexus"].slug, "team_slug": "team-a"})
    )
    assert current.status_code == 302
    assert current["Location"] == _url(setup)
    html = client.get(_url(setup)).content.decode()
    assert "Team A board" in html
    assert "Shared checkout" in html
    assert "Only B" not in html
    assert "Not in the Sprint" not in html
    assert 'class="sq sq-not_started"' in html
    assert "Team B: not started" in html  # the other team's square, in words
    assert "Checkout in one step" in html
    assert "Shift + ←" in html  # the keyboard help for a Developer of the team


def test_a_move_on_the_board_fills_the_square_and_logs_it(client, setup):
    client.force_login(setup["ada"])
    ready = _col(setup["a"], "ready")
    response = client.post(
        _url(setup, "events:team-board-move"),
        {"item": setup["shared"].pk, "column": ready.pk},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert 'id="team-board"' in response.content.decode()
    square = TeamInvolvement.objects.get(item=setup["shared"], team=setup["a"])
    assert (square.status, square.team_column) == ("ready", ready)
    row = Transition.objects.get(item=setup["shared"], kind=TransitionKind.TEAM_COLUMN)
    assert (row.source, row.actor, row.to_name, row.team_status) == (
        Source.BOARD,
        setup["ada"],
        "Ready to integrate",
        "ready",
    )
    assert 'class="sq sq-ready" title="Team A: ready to integrate"' in response.content.decode()


@pytest.mark.parametrize("who", ["bea", "stu"])
def test_another_teams_developer_or_a_stakeholder_is_refused_with_403(client, setup, who):
    client.force_login(setup[who])
    page = client.get(_url(setup)).content.decode()
    assert "move-right" not in page  # no controls they could not use
    response = client.post(
        _url(setup, "events:team-board-move"),
        {"item": setup["shared"].pk, "column": _col(setup["a"], "ready").pk},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 403
    assert 'role="alert"' in response.content.decode()
    assert TeamInvolvement.objects.get(item=setup["shared"], team=setup["a"]).status == "not_started"
    added = client.post(
        _url(setup, "events:team-board-task-add"),
        {"item": setup["shared"].pk, "title": "Sneaky"},
        HTTP_HX_REQUEST="true",
    )
    assert added.status_code == 403
    assert not Task.objects.exists()


def test_a_stale_version_and_a_column_of_another_team_are_refused(client, setup):
    client.force_login(setup["ada"])
    stale = client.post(
        _url(setup, "events:team-board-move"),
        {"item": setup["shared"].pk, "column": _col(setup["a"], "ready").pk, "version": "1"},
        HTTP_HX_REQUEST="true",
    )
    assert stale.status_code == 412
    other = client.post(
        _url(setup, "events:team-board-move"),
        {"item": setup["shared"].pk, "column": _col(setup["b"], "ready").pk},
        HTTP_HX_REQUEST="true",
    )
    assert other.status_code == 400


def test_tasks_are_added_and_ticked_off_on_the_board(client, setup):
    client.force_login(setup["ada"])
    response = client.post(
        _url(setup, "events:team-board-task-add"),
        {"item": setup["shared"].pk, "title": "Write the API client", "assignee": setup["ada"].pk},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    task = Task.objects.get()
    assert (task.item, task.team, task.title, task.done, task.assignee) == (
        setup["shared"],
        setup["a"],
        "Write the API client",
        False,
        setup["ada"],
    )
    assert "Write the API client" in response.content.decode()
    toggled = client.post(
        _url(setup, "events:team-board-task-toggle", task_id=task.pk), {"done": "1"}, HTTP_HX_REQUEST="true"
    )
    assert toggled.status_code == 200
    task.refresh_from_db()
    assert task.done
    assert "1/1 tasks" in toggled.content.decode()
    empty = client.post(
        _url(setup, "events:team-board-task-add"),
        {"item": setup["shared"].pk, "title": " "},
        HTTP_HX_REQUEST="true",
    )
    assert empty.status_code == 400
    # Without JavaScript: a plain form post redirects back to the board.
    plain = client.post(
        _url(setup, "events:team-board-task-add"), {"item": setup["shared"].pk, "title": "Docs"}
    )
    assert plain.status_code == 302


def test_without_javascript_a_cards_link_opens_its_own_task_form(client, setup):
    """With JavaScript, "+ Add a task" opens the board's one dialog; without it, the link reloads the
    board with that card's own form (`?add_task=<id>`), which posts like the dialog does."""
    client.force_login(setup["ada"])
    page = client.get(_url(setup)).content.decode()
    assert f'href="?add_task={setup["shared"].pk}#tcard-{setup["shared"].pk}"' in page
    assert page.count('class="add-task"') == 0
    assert page.count('id="task-dialog"') == 1
    opened = client.get(_url(setup) + f"?add_task={setup['shared'].pk}").content.decode()
    assert opened.count('<form class="add-task"') == 1
    form = opened[opened.index('<form class="add-task"') :]
    assert f'name="item" value="{setup["shared"].pk}"' in form[: form.index("</form>")]
    # A stakeholder reads the board: no dialog, no link, whatever the query.
    client.force_login(setup["stu"])
    read = client.get(_url(setup) + f"?add_task={setup['shared'].pk}").content.decode()
    assert "add-task" not in read
    assert "task-dialog" not in read


def test_the_board_costs_the_same_queries_for_2_or_30_cards(client, setup, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from backlog.services.tasks import task_create

    client.force_login(setup["ada"])
    team_column_create(team=setup["a"], name="Review", state="in_progress", actor=None)

    def grow(n: int) -> None:
        for i in range(n):
            item = pbi_create(nexus=setup["nexus"], title=f"More {n}-{i}", actor=None)
            sprint_plan(sprint=setup["sprint"], item=item, teams=[setup["a"], setup["b"]], actor=None)
            task_create(item=item, team=setup["a"], title=f"Task {i}", actor=None, assignee=setup["ada"])

    grow(1)
    with CaptureQueriesContext(connection) as small:
        assert client.get(_url(setup)).status_code == 200
    grow(28)
    with django_assert_max_num_queries(len(small.captured_queries)):
        html = client.get(_url(setup)).content.decode()
    assert html.count('class="card team-card') == 30


def test_the_navigation_opens_my_teams_board(client, setup):
    client.force_login(setup["bea"])
    mine = client.get(reverse("events:team-board-mine", kwargs={"slug": setup["nexus"].slug}))
    assert mine["Location"].endswith("/teams/team-b/board/")
    client.force_login(setup["stu"])
    theirs = client.get(reverse("events:team-board-mine", kwargs={"slug": setup["nexus"].slug}))
    assert theirs["Location"].endswith("/teams/team-a/board/")
    page = client.get(_url(setup)).content.decode()
    assert ">Teams<" in page  # in the top navigation


def test_cards_show_their_work_item_age_against_the_sle(client, setup):
    """A card in progress shows its Work Item Age (calendar days, today counted) from the team's own flow
    (else from the Nexus columns), coloured against the SLE; a card not started shows none."""
    from datetime import timedelta

    from django.db.models import F

    from backlog.services.squares import square_set
    from flow.services import flow_recompute

    square = TeamInvolvement.objects.get(item=setup["shared"], team=setup["a"])
    square_set(involvement=square, status="in_progress", actor=None)
    # the PBI's history four days older (test set-up), its figures recomputed from it
    Transition.objects.filter(item=setup["shared"]).update(at=F("at") - timedelta(days=4))
    flow_recompute(nexus_id=setup["nexus"].pk)
    client.force_login(setup["ada"])
    html = client.get(_url(setup)).content.decode()
    assert 'title="Work Item Age: 5 calendar days' in html  # four days ago and today
    assert ">5d</span>" in html
    # Team B has no flow of its own: its board shows the age from the Nexus columns (the PBI entered the
    # started column with Team A's square); "Only B" has not started and shows none
    html_b = client.get(_url(setup, team_obj=setup["b"])).content.decode()
    assert html_b.count("Work Item Age:") == 1
    assert 'title="Work Item Age: 5 calendar days' in html_b
