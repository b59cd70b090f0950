"""The Product Backlog page and its endpoints: who may do what (403 matrix), bad moves (400 with the
message), answers that keep a stale page true, constant query counts, create, edit with optimistic
concurrency, split, Product Goal, ready buffer."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from backlog.models import GoalStatus, ProductBacklogItem, ProductGoal, Role, Transition, TransitionKind
from backlog.selectors import backlog_token
from backlog.services import goal_create, pbi_create, pbi_set_teams, pbi_split, pbi_transition, pbi_update
from tests.factories import UserFactory, column, items_in_order, member, nexus_build, team

pytestmark = pytest.mark.django_db


def _items(nexus):
    return {i.title: i for i in ProductBacklogItem.objects.filter(backlog__nexus=nexus)}


def _po(nexus):
    return User.objects.get(username=f"po-{nexus.slug}")


def _move_url(nexus, item):
    return reverse("backlog:pbi-move", args=[nexus.slug, item.pk])


def _token(nexus):
    return backlog_token(backlog_id=nexus.backlog.pk)


def _as(client, user):
    client.force_login(user)
    return client


def _user_with(nexus, role, name):
    if role == "superuser":
        return UserFactory.create(username=name, is_superuser=True)
    if role == "outsider":
        return UserFactory.create(username=name)
    team_obj = team(nexus) if role in (Role.DEVELOPER, Role.SCRUM_MASTER) else None
    return member(nexus, role, username=name, team_obj=team_obj)


# --- who may order: the 403 matrix --------------------------------------------------------------------

MATRIX = [
    ("product_owner", 200),
    ("superuser", 200),
    (Role.DEVELOPER, 403),
    (Role.SCRUM_MASTER, 403),
    (Role.NIT_MEMBER, 403),
    (Role.STAKEHOLDER, 403),
    ("outsider", 404),
]


@pytest.mark.parametrize(("role", "status"), MATRIX)
def test_only_the_product_owner_and_admins_move(client, role, status):
    nexus = nexus_build(items=3)
    it = _items(nexus)
    user = _po(nexus) if role == "product_owner" else _user_with(nexus, role, f"u-{role}")
    response = _as(client, user).post(_move_url(nexus, it["Item 3"]), {"position": "1"})
    assert response.status_code == status
    expected = ["Item 3", "Item 1", "Item 2"] if status == 200 else ["Item 1", "Item 2", "Item 3"]
    assert items_in_order(nexus) == expected
    if status == 403:
        assert "Only the Product Owner orders the Product Backlog" in response.content.decode()


@pytest.mark.parametrize(("role", "status"), MATRIX)
def test_split_and_goal_are_the_product_owners_too(client, role, status):
    nexus = nexus_build(items=1)
    item = ProductBacklogItem.objects.get(backlog__nexus=nexus)
    user = _po(nexus) if role == "product_owner" else _user_with(nexus, role, f"u-{role}")
    _as(client, user)
    split = client.post(reverse("backlog:pbi-split", args=[nexus.slug, item.pk]), {"titles": "a\nb"})
    goal = client.post(reverse("backlog:goal-panel", args=[nexus.slug]), {"action": "create", "text": "Win"})
    assert (split.status_code, goal.status_code) == (status, status)
    assert ProductBacklogItem.objects.filter(backlog__nexus=nexus).count() == (3 if status == 200 else 1)


#: Who may add items on the page: `selectors.can_create_items`, the same rule as the API's (every
#: member but Stakeholders; see `tests/api/test_permissions.py`).
CREATE_MATRIX = [
    ("product_owner", 200),
    ("superuser", 200),
    (Role.DEVELOPER, 200),
    (Role.SCRUM_MASTER, 200),
    (Role.NIT_MEMBER, 200),
    (Role.STAKEHOLDER, 403),
    ("outsider", 404),
]


@pytest.mark.parametrize(("role", "status"), CREATE_MATRIX)
def test_every_member_but_stakeholders_adds_items(client, role, status):
    nexus = nexus_build(items=1)
    user = _po(nexus) if role == "product_owner" else _user_with(nexus, role, f"u-{role}")
    _as(client, user)
    create = client.post(reverse("backlog:pbi-create", args=[nexus.slug]), {"title": "New", "where": "top"})
    assert create.status_code == status
    assert ProductBacklogItem.objects.filter(backlog__nexus=nexus).count() == (2 if status == 200 else 1)
    if status == 403:
        assert "Stakeholders see the Product Backlog" in create.content.decode()
    if status != 404:
        page = client.get(reverse("backlog:backlog-list", args=[nexus.slug])).content.decode()
        assert ('name="title"' in page) is (status == 200)  # the inline create form is shown


def test_move_needs_a_login_and_a_post(client):
    nexus = nexus_build(items=2)
    item = _items(nexus)["Item 2"]
    response = client.post(_move_url(nexus, item), {"position": "1"})
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    _as(client, _po(nexus))
    assert client.get(_move_url(nexus, item)).status_code == 405


@pytest.mark.parametrize(("role", "handles"), [("product_owner", True), (Role.DEVELOPER, False)])
def test_page_has_handles_only_for_the_product_owner(client, role, handles):
    nexus = nexus_build(items=2)
    goal_create(nexus=nexus, text="Make integration boring")
    user = _po(nexus) if role == "product_owner" else _user_with(nexus, role, "dev")
    html = _as(client, user).get(reverse("backlog:backlog-list", args=[nexus.slug])).content.decode()
    assert "Make integration boring" in html
    assert "Item 2" in html
    assert ('class="handle"' in html) is handles
    assert ("sortable-1.15.7.min.js" in html) is handles
    assert ("Mark achieved" in html) is handles
    assert 'name="title"' in html  # inline create: every member but Stakeholders adds items
    if not handles:
        assert "Read-only: only the Product Owner orders the Product Backlog." in html


# --- bad moves: 400 with a message, nothing changed ---------------------------------------------------


def test_bad_moves_answer_400_with_a_message_and_change_nothing(client):
    nexus, other = nexus_build(items=3), nexus_build(items=1)
    it = _items(nexus)
    foreign = ProductBacklogItem.objects.get(backlog__nexus=other)
    pbi_transition(item=it["Item 3"], to_column=column(nexus, "Done"), actor=None)
    _as(client, _po(nexus))
    cases = [
        (foreign, {"position": "1"}, "There is no item"),  # an item of another Nexus
        (it["Item 1"], {"before": foreign.pk}, "belongs to another Nexus"),
        (it["Item 3"], {"position": "1"}, "A finished item is no longer ordered"),
        (it["Item 1"], {"after": it["Item 1"].pk}, "cannot be placed next to itself"),
        (it["Item 1"], {"before": 987654}, "does not exist"),
        (it["Item 1"], {}, "Say where the item goes"),
        (it["Item 1"], {"position": "first"}, "A position is a whole number from 1"),
        (it["Item 1"], {"position": "0"}, "A position is a whole number from 1"),
        (it["Item 1"], {"before": "x"}, "Enter a whole number"),
    ]
    before = items_in_order(nexus)
    for item, data, message in cases:
        response = client.post(_move_url(nexus, item), data)
        assert response.status_code == 400, (data, response.content)
        html = response.content.decode()
        assert message in html, (message, html)
        assert 'role="alert"' in html
    assert items_in_order(nexus) == before
    assert not Transition.objects.filter(kind=TransitionKind.RANK).exists()


# --- answers: the moved row when the page was true, the whole list when it was not --------------------


def test_a_current_page_gets_the_moved_row_and_positions(client):
    nexus = nexus_build(items=4)
    it = _items(nexus)
    _as(client, _po(nexus))
    response = client.post(
        _move_url(nexus, it["Item 4"]),
        {"after": it["Item 1"].pk, "before": it["Item 2"].pk, "token": _token(nexus), "loaded": "4"},
    )
    assert response.status_code == 200
    assert response["X-Backlog-Mode"] == "row"
    assert (response["X-Backlog-From"], response["X-Backlog-To"]) == ("4", "2")
    assert response["X-Backlog-Before"] == str(it["Item 2"].pk)
    assert response["X-Backlog-Token"] == _token(nexus)
    html = response.content.decode()
    assert html.count('<li class="pbi') == 1
    assert f'id="pbi-{it["Item 4"].pk}"' in html
    assert 'data-pos="2"' in html
    assert items_in_order(nexus) == ["Item 1", "Item 4", "Item 2", "Item 3"]


def test_a_stale_page_gets_the_whole_list_in_the_true_order(client):
    nexus = nexus_build(items=4)
    it = _items(nexus)
    _as(client, _po(nexus))
    token = _token(nexus)
    pbi_update(item=it["Item 3"], title="Item 3 renamed by someone else", actor=None)
    response = client.post(
        _move_url(nexus, it["Item 4"]), {"before": it["Item 1"].pk, "token": token, "loaded": "4"}
    )
    assert response.status_code == 200
    assert response["X-Backlog-Mode"] == "list"
    html = response.content.decode()
    assert 'id="backlog-list"' in html
    assert f'data-token="{_token(nexus)}"' in html
    assert "Item 3 renamed by someone else" in html
    order = [html.index(t) for t in ("Item 4", "Item 1", "Item 2", "Item 3 renamed")]
    assert order == sorted(order)


def test_neighbours_that_are_no_longer_adjacent_still_place_the_item(client):
    nexus = nexus_build(items=5)
    it = _items(nexus)
    _as(client, _po(nexus))
    response = client.post(
        _move_url(nexus, it["Item 1"]),
        {"after": it["Item 2"].pk, "before": it["Item 4"].pk, "token": "stale", "loaded": "5"},
    )
    assert response.status_code == 200
    assert response["X-Backlog-Mode"] == "list"
    assert items_in_order(nexus) == ["Item 2", "Item 3", "Item 1", "Item 4", "Item 5"]


def test_a_filtered_move_answers_the_filtered_list(client):
    nexus = nexus_build(items=5)
    it = _items(nexus)
    for name in ("Item 1", "Item 3", "Item 5"):
        pbi_update(item=it[name], is_blocked=True, actor=None)
    _as(client, _po(nexus))
    response = client.post(
        _move_url(nexus, it["Item 5"]),
        {"after": it["Item 1"].pk, "before": it["Item 3"].pk, "blocked": "yes", "refresh": "1"},
    )
    assert response["X-Backlog-Mode"] == "list"
    html = response.content.decode()
    assert "Item 2" not in html
    assert html.index("Item 1") < html.index("Item 5") < html.index("Item 3")
    # Between its visible neighbours: directly above Item 3, 3rd of the whole backlog.
    assert f'id="pbi-{it["Item 5"].pk}" data-id="{it["Item 5"].pk}" data-pos="3"' in html
    assert items_in_order(nexus) == ["Item 1", "Item 2", "Item 5", "Item 3", "Item 4"]


def test_moving_a_parent_answers_the_list_with_its_children_under_it(client):
    nexus = nexus_build(items=3)
    it = _items(nexus)
    pbi_split(item=it["Item 1"], titles=["child"], actor=None)
    _as(client, _po(nexus))
    response = client.post(_move_url(nexus, it["Item 1"]), {"position": "bottom", "token": _token(nexus)})
    assert response["X-Backlog-Mode"] == "list"
    assert items_in_order(nexus) == ["Item 2", "Item 3", "Item 1", "child"]
    html = response.content.decode()
    assert 'data-depth="1"' in html
    assert 'class="twisty"' in html


# --- constant query counts ----------------------------------------------------------------------------


def _fill(nexus, n, *, start=0):
    teams = list(nexus.teams.all())
    for i in range(start, start + n):
        item = pbi_create(nexus=nexus, title=f"Item {i}", actor=None, labels=["a", "b"])
        pbi_set_teams(item=item, teams=teams[: 1 + i % 3], actor=None)
        if i % 2:
            pbi_transition(item=item, to_column=column(nexus, "In Progress"), actor=None)
        if i % 5 == 0:
            pbi_split(item=item, titles=[f"Child of {i}"], actor=None)


@pytest.mark.parametrize(
    "url",
    [
        "backlog:backlog-list",
        "backlog:backlog-list?q=Item&label={label}&team={team}&blocked=no&cos=standard",
        "backlog:backlog-rows?offset=2&limit=50",
        "backlog:backlog-rows?wrap=1",
    ],
)
def test_page_queries_do_not_grow_with_the_backlog(client, django_assert_max_num_queries, url):
    name, _, query = url.partition("?")
    nexus = nexus_build()
    goal_create(nexus=nexus, text="Goal")
    _as(client, _po(nexus))
    _fill(nexus, 3)
    query = query.format(label=nexus.labels.get(name="a").pk, team=team(nexus).pk)
    target = reverse(name, args=[nexus.slug]) + (f"?{query}" if query else "")
    with django_assert_max_num_queries(17) as small:  # 16, and one for the page's ETag (change counter)
        assert client.get(target).status_code == 200
    _fill(nexus, 40, start=3)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = client.get(target)
    assert response.status_code == 200
    assert "Item 4" in response.content.decode()


@pytest.mark.parametrize("mode", ["row", "list"])
def test_move_queries_do_not_grow_with_the_backlog(client, django_assert_max_num_queries, mode):
    nexus = nexus_build()
    _as(client, _po(nexus))
    _fill(nexus, 4)

    def move(max_queries):
        last = (
            ProductBacklogItem.objects.open().filter(backlog__nexus=nexus, parent=None).order_by("-rank")[0]
        )
        token = _token(nexus) if mode == "row" else "stale"
        with django_assert_max_num_queries(max_queries) as ctx:
            response = client.post(_move_url(nexus, last), {"position": "2", "token": token, "loaded": "250"})
        assert response.status_code == 200
        assert response["X-Backlog-Mode"] == mode
        return len(ctx.captured_queries)

    small = move(45)
    _fill(nexus, 40, start=4)
    move(small)


# --- inline create ------------------------------------------------------------------------------------


def test_create_at_the_top_bottom_and_under_an_item(client):
    nexus = nexus_build(items=3)
    it = _items(nexus)
    _as(client, _po(nexus))
    url = reverse("backlog:pbi-create", args=[nexus.slug])
    top = client.post(url, {"title": "At the top", "where": "top"})
    assert top.status_code == 200
    assert '"backlog-changed"' in top["HX-Trigger"]
    client.post(url, {"title": "At the bottom", "where": "bottom"})
    client.post(url, {"title": "Under 1", "where": "under", "under": it["Item 1"].pk})
    assert items_in_order(nexus) == ["At the top", "Item 1", "Under 1", "Item 2", "Item 3", "At the bottom"]
    assert Transition.objects.filter(kind=TransitionKind.COLUMN, item__title="Under 1").exists()


def test_create_shows_the_message_next_to_the_field(client):
    nexus = nexus_build(items=1)
    _as(client, _po(nexus))
    url = reverse("backlog:pbi-create", args=[nexus.slug])
    response = client.post(url, {"title": "  ", "where": "top"})
    assert response.status_code == 422
    html = response.content.decode()
    assert 'aria-invalid="true"' in html
    assert "This field is required." in html
    response = client.post(url, {"title": "x", "where": "under", "under": 987654})
    assert response.status_code == 422
    assert "not an open item of this Product Backlog" in response.content.decode()
    assert ProductBacklogItem.objects.filter(backlog__nexus=nexus).count() == 1


# --- the side panel: edit with optimistic concurrency, history ------------------------------------------


def _edit_data(item, **changes):
    data = {
        "title": item.title,
        "description": item.description,
        "acceptance_criteria": "",
        "size": "",
        "class_of_service": item.class_of_service,
        "labels": "",
        "column": item.column_id,
        "version": item.version,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_edit_saves_fields_labels_teams_and_column(client):
    nexus = nexus_build(items=1)
    item = ProductBacklogItem.objects.get(backlog__nexus=nexus)
    dev = _user_with(nexus, Role.DEVELOPER, "dev")
    url = reverse("backlog:pbi-detail", args=[nexus.slug, item.pk])
    data = _edit_data(
        item,
        title="Sharper title",
        size="3",
        labels="ux, api",
        teams=[str(team(nexus, "Team B").pk)],
        column=column(nexus, "In Progress").pk,
        is_blocked="on",
        blocked_reason="Waiting for the API",
    )
    response = _as(client, dev).post(url, data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Saved." in response.content.decode()
    assert "backlog-changed" in response["HX-Trigger"]
    item.refresh_from_db()
    assert (item.title, item.size, item.is_blocked, item.blocked_reason) == (
        "Sharper title",
        3,
        True,
        "Waiting for the API",
    )
    assert sorted(item.labels.values_list("name", flat=True)) == ["api", "ux"]
    assert [t.name for t in item.teams.all()] == ["Team B"]
    assert item.column.name == "In Progress"


def test_edit_of_an_item_saved_meanwhile_shows_both_versions_and_overwrites_nothing(client):
    nexus = nexus_build(items=1)
    item = ProductBacklogItem.objects.get(backlog__nexus=nexus)
    url = reverse("backlog:pbi-detail", args=[nexus.slug, item.pk])
    _as(client, _po(nexus))
    opened = _edit_data(item, title="My title")
    pbi_update(item=item, title="Their title", actor=None)  # someone saves first
    response = client.post(url, opened, HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    html = response.content.decode()
    assert "Someone else saved this item after you opened it; nothing was overwritten." in html
    assert "My title" in html
    assert "Their title" in html
    item.refresh_from_db()
    assert item.title == "Their title"
    # The form now carries the saved version: saving again replaces theirs, knowingly.
    assert f'name="version" value="{item.version}"' in html
    again = client.post(url, _edit_data(item, title="My title"), HTTP_HX_REQUEST="true")
    assert again.status_code == 200
    item.refresh_from_db()
    assert item.title == "My title"


def test_edit_shows_messages_next_to_the_fields(client):
    nexus = nexus_build(items=2)
    it = _items(nexus)
    pbi_update(item=it["Item 2"], external_id="JDT-1", actor=None)
    item = it["Item 1"]
    url = reverse("backlog:pbi-detail", args=[nexus.slug, item.pk])
    _as(client, _po(nexus))
    response = client.post(url, _edit_data(item, title="", size="-1"), HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="id_title_error"' in html
    assert 'id="id_size_error"' in html
    assert "greater than or equal to 0" in html


def test_stakeholders_see_the_panel_but_cannot_save(client):
    nexus = nexus_build(items=1)
    item = ProductBacklogItem.objects.get(backlog__nexus=nexus)
    url = reverse("backlog:pbi-detail", args=[nexus.slug, item.pk])
    _as(client, _user_with(nexus, Role.STAKEHOLDER, "sh"))
    page = client.get(url, HTTP_HX_REQUEST="true")
    assert page.status_code == 200
    assert "Item 1" in page.content.decode()
    assert "<form" not in page.content.decode()
    assert "<form" in client.get(url).content.decode()  # the whole page, with the log-out form
    assert client.post(url, _edit_data(item, title="Nope")).status_code == 403
    other = nexus_build(items=1)
    foreign = ProductBacklogItem.objects.get(backlog__nexus=other)
    assert client.get(reverse("backlog:pbi-detail", args=[nexus.slug, foreign.pk])).status_code == 404


def test_who_moved_this_is_in_the_panel(client):
    nexus = nexus_build(items=3)
    it = _items(nexus)
    _as(client, _po(nexus))
    client.post(_move_url(nexus, it["Item 3"]), {"position": "1"})
    html = client.get(reverse("backlog:pbi-detail", args=[nexus.slug, it["Item 3"].pk])).content.decode()
    assert "Who moved this?" in html
    assert f"po-{nexus.slug}</strong> moved it from position 3 to 1" in html


# --- split, Product Goal, ready buffer -------------------------------------------------------------------


def test_split_from_the_panel(client):
    nexus = nexus_build(items=2)
    it = _items(nexus)
    _as(client, _po(nexus))
    url = reverse("backlog:pbi-split", args=[nexus.slug, it["Item 1"].pk])
    assert "one title per line" in client.get(url, HTTP_HX_REQUEST="true").content.decode()
    empty = client.post(url, {"titles": " \n "}, HTTP_HX_REQUEST="true")
    assert empty.status_code == 422
    response = client.post(url, {"titles": "Part A\nPart B"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Split into 2 children" in response.content.decode()
    assert items_in_order(nexus) == ["Item 1", "Part A", "Part B", "Item 2"]


def test_product_goal_edit_close_and_set_a_new_one(client):
    nexus = nexus_build()
    _as(client, _po(nexus))
    url = reverse("backlog:goal-panel", args=[nexus.slug])
    assert client.post(url, {"action": "create", "text": "First goal"}).status_code == 200
    assert "First goal" in client.get(url + "?edit=1").content.decode()
    response = client.post(url, {"action": "update", "text": "First goal, sharper"})
    assert "First goal, sharper" in response.content.decode()
    invalid = client.post(url, {"action": "update", "text": " "})
    assert invalid.status_code == 422
    assert "This field is required." in invalid.content.decode()
    closed = client.post(url, {"action": "achieved"})
    assert "No active Product Goal." in closed.content.decode()
    assert "Achieved" in closed.content.decode()
    client.post(url, {"action": "create", "text": "Second goal"})
    goals = dict(ProductGoal.objects.values_list("text", "status"))
    assert goals == {"First goal, sharper": GoalStatus.ACHIEVED, "Second goal": GoalStatus.ACTIVE}
    assert client.post(url, {"action": "create", "text": "Third"}).status_code == 422  # one at a time


def test_ready_buffer_counts_ready_items_against_throughput(client):
    from flow.services import flow_recompute

    nexus = nexus_build(items=6)
    it = _items(nexus)
    for name in ("Item 1", "Item 2"):
        pbi_transition(item=it[name], to_column=column(nexus, "In Progress"), actor=None)
        pbi_transition(item=it[name], to_column=column(nexus, "Done"), actor=None)
    flow_recompute(nexus_id=nexus.pk)
    _as(client, _user_with(nexus, Role.DEVELOPER, "dev"))
    html = client.get(reverse("events:ready-buffer", args=[nexus.slug])).content.decode()
    assert "<strong>4</strong> ready" in html  # Items 3 to 6 are in the Ready column
    assert "last 3: 2, 0, 0" in html  # 2 finished in the latest Sprint length
    assert "6.0 Sprints" in html  # 4 ready / (2 / 3 per Sprint)
    assert "more than two Sprints" in html
