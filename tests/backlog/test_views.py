"""Pages: log-in required, other Nexuses invisible, constant query counts."""

from __future__ import annotations

import pytest
from django.urls import reverse

from backlog.models import Role
from backlog.services import goal_create, pbi_create, pbi_set_teams, pbi_transition
from tests.factories import column, member, nexus_build, team

pytestmark = pytest.mark.django_db


def _login(client, nexus, username="dev"):
    user = member(nexus, Role.DEVELOPER, username=username, team_obj=team(nexus))
    client.force_login(user)
    return user


def _fill(nexus, n):
    from flow.services import flow_recompute

    for i in range(n):
        item = pbi_create(nexus=nexus, title=f"Item {i}", actor=None, labels=["a", "b"])
        pbi_set_teams(item=item, teams=list(nexus.teams.all()), actor=None)
        if i % 2:
            pbi_transition(item=item, to_column=column(nexus, "In Progress"), actor=None)
    flow_recompute(nexus_id=nexus.pk)


@pytest.mark.parametrize("name", ["backlog:nexus-home", "backlog:backlog-list", "events:board"])
def test_pages_need_login(client, nexus, name):
    response = client.get(reverse(name, args=[nexus.slug]))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_root_leads_to_the_nexus(client, nexus):
    _login(client, nexus)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("backlog:nexus-home", args=[nexus.slug])


@pytest.mark.parametrize("name", ["backlog:nexus-home", "backlog:backlog-list", "events:board"])
def test_other_nexus_is_invisible(client, nexus, name):
    other = nexus_build()
    _login(client, nexus)
    assert client.get(reverse(name, args=[other.slug])).status_code == 404


def test_home_shows_goal_teams_and_warning(client):
    nexus = nexus_build(teams=2)
    goal_create(nexus=nexus, text="Make integration boring")
    _login(client, nexus)
    html = client.get(reverse("backlog:nexus-home", args=[nexus.slug])).content.decode()
    assert "Make integration boring" in html
    assert "Team A" in html
    assert "approximately three to nine Scrum Teams" in html


@pytest.mark.parametrize("name", ["backlog:nexus-home", "backlog:backlog-list", "events:board"])
def test_query_count_does_not_grow_with_items(client, django_assert_max_num_queries, name):
    nexus = nexus_build()
    _login(client, nexus)
    url = reverse(name, args=[nexus.slug])
    _fill(nexus, 3)
    # 14, and one for a page's ETag (change counter); the board's ETag also reads the flow figures' stamp.
    # The live board (issue 16) reads more: its state, badges, side panels and filters (25).
    with django_assert_max_num_queries(25 if name == "events:board" else 15) as small:
        assert client.get(url).status_code == 200
    _fill(nexus, 30)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = client.get(url)
    assert response.status_code == 200
    if name != "backlog:nexus-home":
        assert "Item 29" in response.content.decode()


def test_board_shows_squares_and_age(client):
    nexus = nexus_build()
    _login(client, nexus)
    _fill(nexus, 2)
    html = client.get(reverse("events:board", args=[nexus.slug])).content.decode()
    assert 'class="sq sq-not_started"' in html
    assert "1d" in html  # started today: Work Item Age 1 calendar day


def test_login_page_is_styled(client):
    html = client.get(reverse("login")).content.decode()
    assert "css/app.css" in html
    assert 'name="username"' in html


@pytest.mark.parametrize("url", ["/accounts/login/", "/accounts/password_reset/"])
def test_auth_pages_use_the_site_layout(client, url):
    response = client.get(url)
    assert response.status_code == 200
    assert "css/app.css" in response.content.decode()


def test_password_change_page_is_styled(client, nexus):
    _login(client, nexus)
    html = client.get("/accounts/password_change/").content.decode()
    assert "Change your password" in html
    assert "css/app.css" in html


def test_logout_leads_back_to_the_login_page(client, nexus):
    _login(client, nexus)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"


def test_home_counts_members_and_open_items_per_team_without_multiplying_rows(
    client, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from backlog.selectors import nexus_home_get
    from backlog.services import involvement_set_status, pbi_delete

    nexus = nexus_build(teams=2)
    a, b = team(nexus, "Team A"), team(nexus, "Team B")
    _login(client, nexus)  # a Developer of Team A
    url = reverse("backlog:nexus-home", args=[nexus.slug])

    def grow(n):
        for i in range(n):
            member(nexus, Role.DEVELOPER, username=f"dev-{n}-{i}", team_obj=a)
            pbi_create(nexus=nexus, title=f"Open {n}-{i}", actor=None, teams=[a])
        done = pbi_create(nexus=nexus, title=f"Done {n}", actor=None, teams=[a, b])
        for square in done.involvements.all():  # a PBI is finished once every square is filled
            involvement_set_status(involvement=square, status="done", actor=None)
        pbi_transition(item=done, to_column=column(nexus, "Done"), actor=None)
        gone = pbi_create(nexus=nexus, title=f"Gone {n}", actor=None, teams=[a])
        pbi_delete(item=gone, actor=None)

    grow(2)
    with django_assert_max_num_queries(14) as small:
        assert client.get(url).status_code == 200
    grow(10)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert client.get(url).status_code == 200

    with CaptureQueriesContext(connection) as queries:
        counts = {t.name: (t.members, t.open_items) for t in nexus_home_get(nexus=nexus).teams}
    assert counts == {"Team A": (13, 12), "Team B": (0, 0)}  # 1 + 2 + 10 members; done and deleted left out
    team_sql = [q["sql"] for q in queries.captured_queries if 'FROM "backlog_scrumteam"' in q["sql"]]
    assert team_sql
    assert not any('JOIN "backlog_membership"' in sql for sql in team_sql)  # a subquery per count
