"""The Nexus Sprint Planning page: candidates (ready first), team lanes, Throughput per Sprint from the
team-level flow (the Nexus columns for a team without team-level history) with its 50th/85th
percentiles, warnings (above the 85th percentile, not ready), the goals form, Start, who may plan (PO
and NIT; others read, a write is a 403), bad input shown in the page (never a 500, nothing saved),
constant queries."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from html import unescape

import pytest
from django.urls import reverse

from backlog.models import ColumnCategory, ProductBacklogItem, Role, ScrumTeam, TeamInvolvement, Transition
from backlog.services import ColumnSpec, membership_add, nexus_create, pbi_create, pbi_transition, team_create
from events.models import Sprint, SprintItem, SprintScopeChange, SprintState
from events.selectors_sprints import planning_get, team_throughput_get
from events.services import sprint_create, sprint_plan, sprint_update
from flow.models import ItemFlow
from tests.factories import UserFactory, column, member, squares_fill

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}

COLUMNS = [
    ColumnSpec("Idea", ColumnCategory.NOT_STARTED),
    ColumnSpec("Ready", ColumnCategory.NOT_STARTED, is_ready=True),
    ColumnSpec("In Progress", ColumnCategory.IN_PROGRESS, is_start=True),
    ColumnSpec("Done", ColumnCategory.DONE, is_finish=True),
]


def _nexus(items: int = 4, slug: str = "plan"):
    """A Nexus with an Idea column left of Ready: `items` PBIs in Ready, then two ideas (not ready)."""
    nexus = nexus_create(name="Planning Nexus", slug=slug, columns=COLUMNS)
    for name in ("Atlas", "Borealis", "Cosmos"):
        team_create(nexus=nexus, name=name)
    membership_add(nexus=nexus, user=UserFactory.create(username=f"po-{slug}"), role=Role.PRODUCT_OWNER)
    ideas = [
        pbi_create(nexus=nexus, title=f"Idea {i}", actor=None, column=column(nexus, "Idea")) for i in (1, 2)
    ]
    ready = [
        pbi_create(nexus=nexus, title=f"Ready {i + 1}", actor=None, column=column(nexus, "Ready"))
        for i in range(items)
    ]
    assert ideas[0].rank < ready[0].rank  # ideas sit higher in the Product Backlog, yet come after
    return nexus


def _teams(nexus) -> list[ScrumTeam]:
    return list(ScrumTeam.objects.filter(nexus=nexus).order_by("name"))


def _items(nexus, prefix: str = "") -> list[ProductBacklogItem]:
    qs = ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank")
    return [i for i in qs if i.title.startswith(prefix)]


@pytest.fixture
def nexus():
    return _nexus()


@pytest.fixture
def po(client, nexus):
    from django.contrib.auth.models import User

    user = User.objects.get(username=f"po-{nexus.slug}")
    client.force_login(user)
    return user


def _url(name: str, nexus, *args) -> str:
    return reverse(f"events:{name}", args=[nexus.slug, *args])


def _lane(html: str, team: str) -> str:
    sections = re.findall(r'<section class="lane[^"]*".*?</section>', html, flags=re.S)
    (found,) = [s for s in sections if f"</span> {team}</h2>" in s]
    return found


def _source(html: str) -> str:
    """The candidates list of the planning page (or of its board part)."""
    found = re.search(r'<ol class="plan-list candidates".*?</ol>', html, flags=re.S)
    assert found
    return found.group(0)


def _cards(fragment: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<li class="plan-card[^"]*" data-item="(\d+)"', fragment)]


def test_no_sprint_offers_to_create_the_next_one(client, po, nexus):
    page = client.get(_url("planning", nexus)).content.decode()
    assert "No Sprint is planned" in page
    assert "Create the next Sprint" in page
    response = client.post(_url("planning-new", nexus), **HX)
    assert response.status_code == 200
    sprint = Sprint.objects.get(nexus=nexus)
    assert (sprint.number, sprint.state) == (1, SprintState.PLANNED)
    body = response.content.decode()
    assert "<html" not in body
    assert "Sprint 1" in body
    assert "Start Sprint 1" in body


def test_candidates_ready_first_then_the_rest_in_order(client, po, nexus):
    sprint_create(nexus=nexus, actor=None)
    page = client.get(_url("planning", nexus)).content.decode()
    source = _source(page)
    titles = [ProductBacklogItem.objects.get(pk=pk).title for pk in _cards(source)]
    assert titles == ["Ready 1", "Ready 2", "Ready 3", "Ready 4", "Idea 1", "Idea 2"]
    assert source.count("not ready") == 2
    # The keyboard way: a team select above the list and a Plan button on every candidate.
    assert source.count('form="plan-kbd" name="item"') == 6
    assert '<form id="plan-kbd"' in page
    assert '<select id="plan-team" name="team">' in page


def test_plan_into_lanes_a_square_per_team_and_take_out(client, po, nexus):
    sprint = sprint_create(nexus=nexus, actor=None)
    atlas, borealis, _cosmos = _teams(nexus)
    first = _items(nexus, "Ready")[0]
    add = _url("planning-add", nexus, sprint.pk)
    response = client.post(add, {"item": first.pk, "team": atlas.pk}, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="plan-board"' in html
    assert "<html" not in html
    assert _cards(_lane(html, "Atlas")) == [first.pk]
    # Dropped into a second lane: a second square, the PBI in both lanes.
    html = client.post(add, {"item": first.pk, "team": borealis.pk}, **HX).content.decode()
    assert _cards(_lane(html, "Atlas")) == [first.pk] == _cards(_lane(html, "Borealis"))
    assert set(TeamInvolvement.objects.filter(item=first).values_list("team__name", flat=True)) == {
        "Atlas",
        "Borealis",
    }
    source = _source(html)
    assert first.pk not in _cards(source)
    # Out of one lane: that square goes, the PBI stays planned for the other team.
    remove = _url("planning-remove", nexus, sprint.pk)
    html = client.post(remove, {"item": first.pk, "team": atlas.pk}, **HX).content.decode()
    assert _cards(_lane(html, "Atlas")) == []
    assert _cards(_lane(html, "Borealis")) == [first.pk]
    assert SprintItem.objects.filter(sprint=sprint, item=first).exists()
    # Out of its last lane (the lane card's button: take=<item>-<team>): out of the Sprint, back among
    # the candidates.
    assert f'name="take" value="{first.pk}-{borealis.pk}"' in html
    html = client.post(remove, {"take": f"{first.pk}-{borealis.pk}"}, **HX).content.decode()
    assert not SprintItem.objects.filter(sprint=sprint).exists()
    assert not TeamInvolvement.objects.filter(item=first).exists()
    source = _source(html)
    assert first.pk in _cards(source)


def test_plain_form_posts_work_without_javascript(client, po, nexus):
    sprint = sprint_create(nexus=nexus, actor=None)
    atlas = _teams(nexus)[0]
    item = _items(nexus, "Ready")[1]
    response = client.post(_url("planning-add", nexus, sprint.pk), {"item": item.pk, "team": atlas.pk})
    assert response.status_code == 302
    # The team chosen stays chosen after the redirect.
    assert response["Location"] == f"{_url('planning', nexus)}?team={atlas.pk}"
    assert SprintItem.objects.filter(sprint=sprint, item=item).exists()
    # The lane card's remove button submits the keyboard form (its select: the team chosen) to the
    # take-out address, so a plain post keeps the chosen team too (the one chosen, not the lane's).
    borealis = _teams(nexus)[1]
    page = client.get(f"{_url('planning', nexus)}?team={borealis.pk}").content.decode()
    assert f'<option value="{borealis.pk}" selected>' in page
    remove = _url("planning-remove", nexus, sprint.pk)
    assert f'form="plan-kbd" formaction="{remove}" name="take" value="{item.pk}-{atlas.pk}"' in page
    response = client.post(remove, {"take": f"{item.pk}-{atlas.pk}", "team": borealis.pk})
    assert response.status_code == 302
    assert response["Location"] == f"{_url('planning', nexus)}?team={borealis.pk}"
    assert not SprintItem.objects.filter(sprint=sprint, item=item).exists()
    # A refused one: the whole page with the message, the status of the error.
    response = client.post(_url("planning-add", nexus, sprint.pk), {"item": "", "team": atlas.pk})
    assert response.status_code == 400
    page = response.content.decode()
    assert "<html" in page
    assert "Choose a Product Backlog Item." in page


def test_not_ready_is_a_warning_not_a_refusal(client, po, nexus):
    sprint = sprint_create(nexus=nexus, actor=None)
    idea = _items(nexus, "Idea")[0]
    response = client.post(
        _url("planning-add", nexus, sprint.pk), {"item": idea.pk, "team": _teams(nexus)[0].pk}, **HX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert SprintItem.objects.filter(sprint=sprint, item=idea).exists()
    assert "1 selected PBI is not ready" in html
    assert 'class="warning"' in html


def _closed_sprints(nexus, counts: list[int], team: ScrumTeam) -> None:
    """Closed Sprints of 14 days before today, the oldest first, each with `counts[i]` PBIs of `team`
    finished within it (the flow engine's finish day set on the items)."""
    today = date.today()
    n = len(counts)
    for i, count in enumerate(counts):
        start = today - timedelta(days=14 * (n - i) + 1)
        end = start + timedelta(days=13)
        Sprint.objects.create(
            nexus=nexus, number=i + 1, start_date=start, end_date=end, state=SprintState.CLOSED
        )
        for k in range(count):
            item = pbi_create(nexus=nexus, title=f"Finished {i}-{k}", actor=None, teams=[team])
            squares_fill(item)
            pbi_transition(item=item, to_column=column(nexus, "Done"), actor=None)
            ItemFlow.objects.update_or_create(
                item=item,
                defaults={"nexus": nexus, "started_on": start, "finished_on": start + timedelta(days=k % 14)},
            )


def test_throughput_per_sprint_from_the_nexus_columns_and_the_85th_percentile_warning(client, po, nexus):
    atlas, borealis, _ = _teams(nexus)
    _closed_sprints(nexus, [1, 3, 2, 2], atlas)
    closed, tp = team_throughput_get(nexus=nexus, teams=_teams(nexus))
    assert [s.number for s in closed] == [4, 3, 2, 1]
    assert tp[atlas.pk].counts == [2, 2, 3, 1]  # the most recent first
    assert (tp[atlas.pk].p50, tp[atlas.pk].p85) == (2, 3)  # nearest rank
    assert tp[borealis.pk].counts == [0, 0, 0, 0]
    sprint = sprint_create(nexus=nexus, actor=None)
    ready = _items(nexus, "Ready")
    for item in ready[:4]:
        sprint_plan(sprint=sprint, item=item, teams=[atlas], actor=None)
    page = client.get(_url("planning", nexus)).content.decode()
    lane = _lane(page, "Atlas")
    assert "lane over" in lane
    assert "Above its 85th percentile (3)" in lane
    assert "Atlas has selected 4 PBIs, above its 85th percentile of 3 per Sprint." in page
    assert "50th <strong>2</strong>" in lane
    assert "85th <strong>3</strong>" in lane
    assert "oldest first: 1, 3, 2, 2" in lane
    assert "from the Nexus columns" in page
    assert "No closed Sprint yet" not in page


def test_throughput_per_sprint_from_the_team_level_flow_and_the_nexus_columns_as_fallback(
    client, po, nexus, django_assert_max_num_queries
):
    """Atlas has team-level history: its Throughput per Sprint counts the PBIs whose Atlas square became
    filled within each Sprint (`ItemTeamFlow`), not when they reached the Nexus's finished column.
    Borealis has none: its counts come from the Nexus columns, labelled as such."""
    from flow.models import FlowSnapshot, ItemTeamFlow
    from flow.services import flow_recompute

    atlas, borealis, _ = _teams(nexus)
    _closed_sprints(nexus, [1, 3, 2, 2], atlas)  # the Nexus columns: 1, 3, 2, 2 (oldest first)
    flow_recompute(nexus_id=nexus.pk)
    _closed_sprints_more(nexus, [2, 0, 1, 0], borealis)
    assert FlowSnapshot.objects.get(nexus=nexus, team=atlas).basis == "team"
    assert FlowSnapshot.objects.get(nexus=nexus, team=borealis).basis == "nexus"
    # Atlas's squares were filled on other days than the Nexus's finish: all in the two latest Sprints;
    # its team-level history began with Sprint 3 (the Sprints before are counted from the Nexus columns,
    # where all its items finished in Sprint 1)
    sprints = list(Sprint.objects.filter(nexus=nexus).order_by("number"))
    for k, row in enumerate(ItemTeamFlow.objects.filter(team=atlas).order_by("item_id")):
        row.finished_on = sprints[2 + k % 2].start_date + timedelta(days=1)
        row.save(update_fields=["finished_on"])
        ItemFlow.objects.filter(item_id=row.item_id).update(finished_on=sprints[0].start_date)
    first_team_row = datetime.combine(sprints[2].start_date, time(12), tzinfo=UTC)
    Transition.objects.filter(team=atlas, kind__in=["team_status", "team_column"]).update(at=first_team_row)
    _closed, tp = team_throughput_get(nexus=nexus, teams=_teams(nexus))
    assert (tp[atlas.pk].basis, tp[borealis.pk].basis) == ("team", "nexus")
    assert tp[atlas.pk].own_since == sprints[2].start_date
    assert tp[atlas.pk].counts == [4, 4, 0, 8]  # the most recent first
    assert [s.basis for s in tp[atlas.pk].sprints] == ["team", "team", "nexus", "nexus"]
    assert (tp[atlas.pk].p50, tp[atlas.pk].p85) == (4, 8)
    assert tp[borealis.pk].counts == [0, 1, 0, 2]  # the Nexus columns
    assert {s.basis for s in tp[borealis.pk].sprints} == {"nexus"}
    teams = _teams(nexus)
    with django_assert_max_num_queries(5):
        team_throughput_get(nexus=nexus, teams=teams)
    sprint_create(nexus=nexus, actor=None)
    page = client.get(_url("planning", nexus)).content.decode()
    atlas_lane, borealis_lane = _lane(page, "Atlas"), _lane(page, "Borealis")
    since = sprints[2].start_date.strftime("%-d %b")
    label = f'Throughput per Sprint <span class="muted">(team\'s own flow; Nexus columns before {since})'
    assert label in atlas_lane
    assert 'data-basis="team"' in atlas_lane
    assert "oldest first: 8, 0, 4, 4" in atlas_lane
    assert "Sprint 1: 8 finished (Nexus columns)" in atlas_lane
    assert "Sprint 4: 4 finished (team's own flow)" in atlas_lane
    assert 'Throughput per Sprint <span class="muted">(Nexus columns)</span>' in borealis_lane
    assert "has no team-level history" in borealis_lane
    assert "oldest first: 2, 0, 1, 0" in borealis_lane


def _closed_sprints_more(nexus, counts: list[int], team: ScrumTeam) -> None:
    """PBIs of `team` finished within the closed Sprints `_closed_sprints` made (no team-level rows:
    the items reach the finished column without their squares)."""
    sprints = list(Sprint.objects.filter(nexus=nexus).order_by("number"))
    for sprint, count in zip(sprints, counts, strict=True):
        for k in range(count):
            item = pbi_create(nexus=nexus, title=f"Other {sprint.number}-{k}", actor=None)
            TeamInvolvement.objects.create(item=item, team=team)
            ItemFlow.objects.update_or_create(
                item=item,
                defaults={"nexus": nexus, "started_on": sprint.start_date, "finished_on": sprint.start_date},
            )


def test_goals_form_saves_and_a_stale_form_shows_the_conflict(client, po, nexus):
    sprint = sprint_create(nexus=nexus, actor=None)
    atlas, borealis, _ = _teams(nexus)
    url = _url("planning-goals", nexus, sprint.pk)
    data = {
        "version": sprint.version,
        "goal": "Customers can pay with a card",
        f"team-{atlas.pk}": "The payment API",
        f"team-{borealis.pk}": "",
    }
    response = client.post(url, data, **HX)
    assert response.status_code == 200
    assert "Goals saved." in response.content.decode()
    sprint.refresh_from_db()
    assert sprint.goal == "Customers can pay with a card"
    assert {g.team_id: g.goal for g in sprint.team_goals.all()} == {atlas.pk: "The payment API"}
    # The same form again (its version is old now): refused in the page, nothing saved.
    data["goal"] = "Something else"
    response = client.post(url, data, **HX)
    assert response.status_code in (409, 412)
    html = response.content.decode()
    assert 'class="errornote"' in html
    assert 'id="goals"' in html
    sprint.refresh_from_db()
    assert sprint.goal == "Customers can pay with a card"
    # Too long: a 400 naming the reason.
    response = client.post(url, {"version": sprint.version, "goal": "x" * 2001}, **HX)
    assert response.status_code == 400
    assert "at most 2000" in response.content.decode()


def test_start_goes_to_the_nexus_sprint_backlog(client, po, nexus):
    sprint = sprint_create(nexus=nexus, actor=None)
    sprint_plan(sprint=sprint, item=_items(nexus, "Ready")[0], teams=[_teams(nexus)[0]], actor=None)
    response = client.post(_url("planning-start", nexus, sprint.pk), **HX)
    assert response.status_code == 204
    assert response["HX-Redirect"] == _url("sprint-backlog", nexus)
    sprint.refresh_from_db()
    assert sprint.state == SprintState.ACTIVE
    # Starting it again: refused with the reason, in the page.
    response = client.post(_url("planning-start", nexus, sprint.pk), **HX)
    assert response.status_code == 409
    assert "only a planned Sprint starts" in response.content.decode()


def test_stakeholders_read(client, nexus):
    sprint = sprint_create(nexus=nexus, actor=None)
    atlas = _teams(nexus)[0]
    client.force_login(member(nexus, Role.STAKEHOLDER, username="u-stakeholder"))
    page = client.get(_url("planning", nexus)).content.decode()
    assert "Read-only" in page
    assert "<select" not in page
    assert "<textarea" not in page
    assert "Start Sprint" not in page
    assert "data-drop" not in page
    item = _items(nexus, "Ready")[0]
    for name, data in [
        ("planning-add", {"item": item.pk, "team": atlas.pk}),
        ("planning-remove", {"item": item.pk, "team": atlas.pk}),
        ("planning-goals", {f"team-{atlas.pk}": "mine"}),
    ]:
        response = client.post(_url(name, nexus, sprint.pk), data, **HX)
        assert response.status_code == 403, name
        assert "Stakeholders read the Sprint" in response.content.decode()
    response = client.post(_url("planning-start", nexus, sprint.pk), **HX)
    assert response.status_code == 403
    assert "create and start Sprints" in response.content.decode()
    assert client.post(_url("planning-new", nexus), **HX).status_code == 403
    sprint.refresh_from_db()
    assert (sprint.state, sprint.goal, sprint.scope.count(), sprint.team_goals.count()) == (
        SprintState.PLANNED,
        "",
        0,
        0,
    )
    assert Sprint.objects.filter(nexus=nexus).count() == 1


@pytest.mark.parametrize("role", [Role.DEVELOPER, Role.SCRUM_MASTER])
def test_a_representative_sees_their_lane_as_a_drop_target_and_the_others_read_only(client, nexus, role):
    sprint = sprint_create(nexus=nexus, actor=None)
    atlas, borealis, cosmos = _teams(nexus)
    first, second = _items(nexus, "Ready")[:2]
    sprint_plan(sprint=sprint, item=first, teams=[atlas], actor=None)
    sprint_plan(sprint=sprint, item=second, teams=[borealis], actor=None)
    client.force_login(member(nexus, role, username=f"rep-{role}", team_obj=atlas))
    page = client.get(_url("planning", nexus)).content.decode()
    assert "You plan for Atlas" in page
    lanes = {t.name: _lane(page, t.name) for t in (atlas, borealis, cosmos)}
    assert 'class="lane droppable"' in lanes["Atlas"]
    assert f'data-lane="{atlas.pk}" data-drop="1"' in lanes["Atlas"]
    assert "your lane" in lanes["Atlas"]
    for name in ("Borealis", "Cosmos"):
        assert 'class="lane read-only"' in lanes[name]
        assert "data-drop" not in lanes[name]
        assert "read-only" in lanes[name]
        assert 'name="take"' not in lanes[name]  # no remove button on another team's cards
    # The remove button on their own lane's card; the keyboard form offers only their own team.
    assert f'name="take" value="{first.pk}-{atlas.pk}"' in lanes["Atlas"]
    select = re.search(r'<select id="plan-team" name="team">(.*?)</select>', page, flags=re.S)
    assert select
    assert re.findall(r'<option value="(\d+)"', select.group(1)) == [str(atlas.pk)]
    assert _source(page).count('form="plan-kbd" name="item"') == len(_cards(_source(page)))
    # Their own team's Sprint Goal to write; the Nexus Sprint Goal and the others' to read; no Start.
    assert f'name="team-{atlas.pk}"' in page
    assert f'name="team-{borealis.pk}"' not in page
    assert 'name="goal"' not in page
    assert "Start Sprint" not in page
    assert "sortable-1.15.7.min.js" in page


def test_a_developer_plans_into_their_own_lane_and_takes_the_card_out(client, nexus):
    sprint = sprint_create(nexus=nexus, actor=None)
    atlas = _teams(nexus)[0]
    dev = member(nexus, Role.DEVELOPER, username="dev-atlas", team_obj=atlas)
    client.force_login(dev)
    item = _items(nexus, "Ready")[0]
    response = client.post(_url("planning-add", nexus, sprint.pk), {"item": item.pk, "team": atlas.pk}, **HX)
    assert response.status_code == 200
    assert _cards(_lane(response.content.decode(), "Atlas")) == [item.pk]
    assert SprintScopeChange.objects.get(sprint=sprint, item=item).actor == dev
    response = client.post(_url("planning-remove", nexus, sprint.pk), {"take": f"{item.pk}-{atlas.pk}"}, **HX)
    assert response.status_code == 200
    assert not SprintItem.objects.filter(sprint=sprint).exists()
    assert item.pk in _cards(_source(response.content.decode()))


def test_another_teams_lane_is_refused_in_the_page_never_a_500(client, nexus):
    sprint = sprint_create(nexus=nexus, actor=None)
    atlas, borealis, _ = _teams(nexus)
    theirs = _items(nexus, "Ready")[1]
    sprint_plan(sprint=sprint, item=theirs, teams=[borealis], actor=None)
    client.force_login(member(nexus, Role.DEVELOPER, username="dev-atlas", team_obj=atlas))
    item = _items(nexus, "Ready")[0]
    add, remove = _url("planning-add", nexus, sprint.pk), _url("planning-remove", nexus, sprint.pk)
    for url, data in [
        (add, {"item": item.pk, "team": borealis.pk}),
        (remove, {"take": f"{theirs.pk}-{borealis.pk}"}),
        (remove, {"item": theirs.pk}),
    ]:
        response = client.post(url, data, **HX)
        assert response.status_code == 403, data
        html = unescape(response.content.decode())
        assert 'id="plan-board"' in html
        assert 'class="errornote" role="alert"' in html
        assert "Borealis's lane" in html
        assert "you represent Atlas" in html
    # A plain form post: the whole page with the message.
    response = client.post(add, {"item": item.pk, "team": borealis.pk})
    assert response.status_code == 403
    assert "<html" in response.content.decode()
    assert "Borealis's lane" in unescape(response.content.decode())
    assert list(SprintItem.objects.filter(sprint=sprint).values_list("item_id", flat=True)) == [theirs.pk]
    assert not TeamInvolvement.objects.filter(item=item).exists()
    assert list(TeamInvolvement.objects.filter(item=theirs).values_list("team_id", flat=True)) == [
        borealis.pk
    ]


def test_a_developer_saves_their_teams_goal_not_the_others(client, nexus):
    atlas, borealis, _ = _teams(nexus)
    sprint = sprint_create(nexus=nexus, actor=None, goal="Pay by card", team_goals={borealis.pk: "Ledger"})
    client.force_login(member(nexus, Role.DEVELOPER, username="dev-atlas", team_obj=atlas))
    url = _url("planning-goals", nexus, sprint.pk)
    response = client.post(url, {"version": sprint.version, f"team-{atlas.pk}": "Card form"}, **HX)
    assert response.status_code == 200
    assert "Goals saved." in response.content.decode()
    sprint.refresh_from_db()
    assert sprint.goal == "Pay by card"
    assert dict(sprint.team_goals.values_list("team_id", "goal")) == {
        atlas.pk: "Card form",
        borealis.pk: "Ledger",
    }
    for data, field_text in [
        ({"goal": "Mine"}, "write the Nexus Sprint Goal"),
        ({f"team-{borealis.pk}": "Rewritten"}, "Borealis's Sprint Goal"),
    ]:
        response = client.post(url, {"version": sprint.version, **data}, **HX)
        assert response.status_code == 403, data
        html = unescape(response.content.decode())
        assert 'id="goals"' in html
        assert field_text in html
    sprint.refresh_from_db()
    assert sprint.goal == "Pay by card"
    assert dict(sprint.team_goals.values_list("team_id", "goal")) == {
        atlas.pk: "Card form",
        borealis.pk: "Ledger",
    }


def test_a_nit_member_plans(client, nexus):
    sprint = sprint_create(nexus=nexus, actor=None)
    client.force_login(member(nexus, Role.NIT_MEMBER, username="nit"))
    item = _items(nexus, "Ready")[0]
    assert (
        client.post(
            _url("planning-add", nexus, sprint.pk), {"item": item.pk, "team": _teams(nexus)[1].pk}, **HX
        ).status_code
        == 200
    )
    assert SprintItem.objects.filter(sprint=sprint, item=item).exists()


def test_bad_input_is_a_400_in_the_page_never_a_500(client, po, nexus):
    sprint = sprint_create(nexus=nexus, actor=None)
    other = _nexus(slug="other")
    item = _items(nexus, "Ready")[0]
    foreign_item = _items(other, "Ready")[0]
    foreign_team = _teams(other)[0]
    add = _url("planning-add", nexus, sprint.pk)
    cases = [
        ({"team": _teams(nexus)[0].pk}, "Choose a Product Backlog Item."),
        ({"item": "abc", "team": _teams(nexus)[0].pk}, "Choose a Product Backlog Item."),
        ({"item": item.pk}, "Choose a Scrum Team."),
        ({"item": item.pk, "team": foreign_team.pk}, "That Scrum Team is not in this Nexus."),
        ({"item": foreign_item.pk, "team": _teams(nexus)[0].pk}, "not in this Nexus"),
    ]
    for data, message in cases:
        response = client.post(add, data, **HX)
        assert response.status_code == 400, data
        html = response.content.decode()
        assert 'class="errornote" role="alert"' in html, data
        assert message in html, data
    assert not SprintItem.objects.exists()
    # Taking out a PBI that is not in the Sprint.
    response = client.post(_url("planning-remove", nexus, sprint.pk), {"item": item.pk}, **HX)
    assert response.status_code == 400
    assert "is not in Sprint 1" in response.content.decode()
    # Another Nexus's Sprint through this Nexus's address: 404.
    other_sprint = sprint_create(nexus=other, actor=None)
    assert (
        client.post(
            _url("planning-add", nexus, other_sprint.pk), {"item": item.pk, "team": _teams(nexus)[0].pk}, **HX
        ).status_code
        == 404
    )
    # Planning into a closed Sprint: a 409 with the reason.
    Sprint.objects.filter(pk=sprint.pk).update(state=SprintState.CLOSED)
    response = client.post(add, {"item": item.pk, "team": _teams(nexus)[0].pk}, **HX)
    assert response.status_code == 409
    assert response["HX-Retarget"] == "#planning"
    html = response.content.decode()
    assert "is closed" in html
    assert "No Sprint is planned" in html


def test_non_members_get_a_404_and_anonymous_a_login(client, nexus):
    url = _url("planning", nexus)
    assert client.get(url).status_code == 302
    client.force_login(member(_nexus(slug="elsewhere"), Role.NIT_MEMBER, username="outsider"))
    assert client.get(url).status_code == 404


def _queries(client, url, django_assert_max_num_queries, n: int) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_constant_queries_with_5_and_50_pbis(client, django_assert_max_num_queries):
    counts = []
    for n in (5, 50):
        nexus = _nexus(items=n, slug=f"q{n}")
        atlas, borealis, _ = _teams(nexus)
        _closed_sprints(nexus, [1, 2], atlas)
        sprint = sprint_create(nexus=nexus, actor=None)
        sprint_update(sprint=sprint, actor=None, goal="G", team_goals={atlas.pk: "A"})
        for i, item in enumerate(_items(nexus, "Ready")[: n // 2]):
            sprint_plan(sprint=sprint, item=item, teams=[atlas] if i % 2 else [atlas, borealis], actor=None)
        from django.contrib.auth.models import User

        client.force_login(User.objects.get(username=f"po-{nexus.slug}"))
        url = _url("planning", nexus)
        client.get(url)
        counts.append(_queries(client, url, django_assert_max_num_queries, n))
        assert len(planning_get(nexus=nexus).candidates) == n - n // 2 + 2 + 0  # ready left + ideas
    assert counts[0] == counts[1], counts
    assert max(counts) <= 17, counts  # the number today: 15 (page and part) and 16 (planning)
    with django_assert_max_num_queries(counts[1]):
        client.get(url)
