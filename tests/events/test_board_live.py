"""The live Nexus board: the "changed since?" answer (304 while nothing changed, 204 with a new ETag after
any write), the live part served once per change from the shared cache, filters and swimlanes in the URL,
every card of the columns in progress, badges, side panels, the timer and the walk, as-of replay, actions
on a card through the services, bad input a 400 naming the parameter, and constant queries."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.cache import caches
from django.urls import reverse
from django.utils import timezone

from backlog.models import Dependency, ProductBacklogItem, Role, TeamInvolvement, Transition
from backlog.services import pbi_create, pbi_set_teams, pbi_transition, pbi_update
from backlog.services.dependencies import dependency_create
from events.board_panels import walk_order
from events.models import BoardState
from tests.factories import column, member, nexus_build, team

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache():
    caches["default"].clear()


def _started(nexus, n: int, *, teams=None) -> list[ProductBacklogItem]:
    items = []
    for i in range(n):
        item = pbi_create(nexus=nexus, title=f"Work {i}", actor=None)
        pbi_set_teams(item=item, teams=teams or [team(nexus)], actor=None)
        pbi_transition(item=item, to_column=column(nexus, "In Progress"), actor=None)
        items.append(item)
    return items


@pytest.fixture
def nexus():
    return nexus_build(teams=2, items=3)


@pytest.fixture
def dev(client, nexus):
    user = member(nexus, Role.DEVELOPER, username="dev", team_obj=team(nexus))
    client.force_login(user)
    return user


def _cards(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<li class="card[^"]*" data-item="(\d+)"', html)]


def test_version_answers_304_until_something_changes_then_200_with_a_new_etag(client, dev, nexus):
    url = reverse("events:board-version", args=[nexus.slug])
    first = client.get(url)
    assert first.status_code == 200
    etag = first["ETag"]
    seq = first.json()["seq"]
    assert first.json()["etag"] == etag
    unchanged = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert client.get(url, {"since": seq}).status_code == 204  # by counter: nothing changed
    pbi_create(nexus=nexus, title="New", actor=None)
    changed = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert changed.json()["seq"] == seq + 1
    assert client.get(url, {"since": seq}).status_code == 200
    assert "Last-Modified" not in changed


def test_version_is_404_for_a_nexus_the_user_may_not_see_and_when_logged_out(client, nexus):
    url = reverse("events:board-version", args=[nexus.slug])
    assert client.get(url).status_code == 404
    other = nexus_build(slug="elsewhere")
    client.force_login(member(other, Role.STAKEHOLDER, username="outsider"))
    assert client.get(url).status_code == 404


def test_version_costs_one_query_after_the_session(client, dev, nexus, django_assert_max_num_queries):
    url = reverse("events:board-version", args=[nexus.slug])
    client.get(url)
    with django_assert_max_num_queries(1):  # the counter: the session's access is remembered
        assert client.get(url).status_code == 200


def test_the_live_part_is_rendered_once_per_change_and_served_from_the_cache(
    client, dev, nexus, django_assert_max_num_queries
):
    url = reverse("events:board", args=[nexus.slug]) + "?live=1"
    first = client.get(url)
    assert first.status_code == 200
    assert "<html" not in first.content.decode()
    etag = first["ETag"]
    with django_assert_max_num_queries(6):  # session, user, Nexus, counter, time zone: no board query
        again = client.get(url)
    assert again.content == first.content
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    (item,) = _started(nexus, 1)
    fresh = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert fresh.status_code == 200
    assert item.pk in _cards(fresh.content.decode())


def test_every_card_in_progress_is_on_the_board_and_queries_stay_constant(
    client, dev, nexus, django_assert_max_num_queries
):
    url = reverse("events:board", args=[nexus.slug])
    _started(nexus, 3)
    caches["default"].clear()
    with django_assert_max_num_queries(60) as small:
        client.get(url)
    _started(nexus, 70, teams=list(nexus.teams.all()))
    caches["default"].clear()
    with django_assert_max_num_queries(len(small.captured_queries)):
        page = client.get(url).content.decode()
    col = column(nexus, "In Progress")
    section = re.search(rf'data-col="{col.pk}".*?</ol>', page, flags=re.S)
    assert section
    assert len(_cards(section.group(0))) == 73
    assert "data-below" in page


def test_filters_and_swimlanes_are_kept_in_the_url(client, dev, nexus):
    a, b = list(nexus.teams.order_by("name"))
    (ia,) = _started(nexus, 1, teams=[a])
    (ib,) = _started(nexus, 1, teams=[b])
    url = reverse("events:board", args=[nexus.slug])
    page = client.get(url, {"team": b.pk, "lanes": "team"}).content.decode()
    assert ib.pk in _cards(page)
    assert ia.pk not in _cards(page)
    assert f"team={b.pk}" in page
    assert "lanes=team" in page
    assert 'aria-label="Swimlane Team B"' in page
    pbi = client.get(url, {"lanes": "pbi"}).content.decode()
    assert "team squares across" not in pbi or "pbi-lanes" in pbi
    assert '<tr class="' in pbi
    assert f'data-item="{ia.pk}"' in pbi
    cos = client.get(url, {"lanes": "cos"}).content.decode()
    assert "Swimlane Standard" in cos


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"team": "x"}, "team"),
        ({"team": "999999"}, "team"),
        ({"lanes": "sideways"}, "lanes"),
        ({"as_of": "2026-13-01"}, "as_of"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(client, dev, nexus, query, field):
    response = client.get(reverse("events:board", args=[nexus.slug]), query)
    assert response.status_code == 400
    page = response.content.decode()
    assert f"({field})" in page
    assert "The board below is unfiltered." in page  # the page, saying what was wrong
    live = client.get(reverse("events:board", args=[nexus.slug]), {**query, "live": "1"})
    assert live.status_code == 400
    assert f"({field})" in live.content.decode()


def test_stakeholders_read_the_board_but_do_not_change_it(client, nexus):
    (item,) = _started(nexus, 1)
    client.force_login(member(nexus, Role.STAKEHOLDER, username="looker"))
    url = reverse("events:board-card-action", args=[nexus.slug, item.pk, "block"])
    response = client.post(url, {"reason": "mine"})
    assert response.status_code == 403
    assert "Stakeholders see the board" in response.content.decode()
    assert client.post(reverse("events:board-timer", args=[nexus.slug])).status_code == 403


def test_cards_show_blocked_reason_dependency_badges_and_the_panels(client, dev, nexus):
    x, y = _started(nexus, 2)
    pbi_update(item=x, actor=None, is_blocked=True, blocked_reason="Waiting for the API key")
    dependency_create(item=x, depends_on=y, actor=None)
    page = client.get(reverse("events:board", args=[nexus.slug])).content.decode()
    assert "Waiting for the API key" in page
    assert "⇠ 1" in page
    assert "⇢ 1" in page
    assert "Dependencies found since 24 hours ago" in page
    assert f"#{x.pk} Work 0" in page  # in the dependencies panel
    assert "Nexus Sprint Goal" in page
    assert "Aging beyond the SLE" in page


def test_timer_and_walk_are_shared_and_shown_to_every_viewer(client, dev, nexus):
    items = _started(nexus, 3)
    timer = client.post(reverse("events:board-timer", args=[nexus.slug]))
    assert timer.status_code == 204
    state = BoardState.objects.get(nexus=nexus)
    assert state.daily_scrum_started_at is not None
    walk = reverse("events:board-walk", args=[nexus.slug])
    assert client.post(walk, {"step": "next"}).status_code == 204
    order = walk_order(nexus=nexus)
    assert sorted(order) == sorted(i.pk for i in items)
    state.refresh_from_db()
    assert state.walk_item_id == order[0]
    client.post(walk, {"step": "next"})
    state.refresh_from_db()
    assert state.walk_item_id == order[1]
    page = client.get(reverse("events:board", args=[nexus.slug])).content.decode()
    assert f'class="card walk" data-item="{order[1]}"' in page
    assert "Dependencies found since the last Nexus Daily Scrum" in page
    assert client.post(walk, {"step": "sideways"}).status_code == 400
    viewer = member(nexus, Role.STAKEHOLDER, username="watcher")
    client.force_login(viewer)
    assert client.post(walk, {"step": "next"}).status_code == 403


def test_walk_goes_right_to_left_then_oldest_first(nexus):
    (old,) = _started(nexus, 1)
    Transition.objects.filter(item=old).update(at=timezone.now() - timedelta(days=5))
    from flow.services import flow_recompute

    (young,) = _started(nexus, 1)
    review = pbi_create(nexus=nexus, title="In review", actor=None)
    pbi_transition(item=review, to_column=column(nexus, "In Progress"), actor=None)
    pbi_transition(item=review, to_column=column(nexus, "Review"), actor=None)
    flow_recompute(nexus_id=nexus.pk, trust_digests=False)
    assert walk_order(nexus=nexus)[:3] == [review.pk, old.pk, young.pk]


def test_as_of_shows_a_past_day_from_the_log(client, dev, nexus):
    (item,) = _started(nexus, 1)
    Transition.objects.filter(item=item).update(at=timezone.now() - timedelta(days=10))
    pbi_transition(item=item, to_column=column(nexus, "Review"), actor=None)
    pbi_update(item=item, actor=None, is_blocked=True, blocked_reason="now")
    day = (timezone.now() - timedelta(days=5)).date()
    page = client.get(reverse("events:board", args=[nexus.slug]), {"as_of": day.isoformat()}).content.decode()
    assert "rebuilt from the transition log" in page
    assert "Read-only" in page
    section = re.search(rf'data-col="{column(nexus, "In Progress").pk}".*?</ol>', page, flags=re.S)
    assert section
    assert item.pk in _cards(section.group(0))
    assert 'class="card is-blocked' not in page
    assert "Start the Nexus Daily Scrum" not in page  # no action on a past day


def test_actions_from_the_board_go_through_the_services(client, dev, nexus):
    (item,) = _started(nexus, 1)
    url = lambda action: reverse("events:board-card-action", args=[nexus.slug, item.pk, action])  # noqa: E731
    assert client.get(reverse("events:board-card", args=[nexus.slug, item.pk])).status_code == 200
    r = client.post(url("block"), {"reason": "Needs the schema"})
    assert r.status_code == 200
    assert r["HX-Trigger"] == "board-changed"
    item.refresh_from_db()
    assert item.is_blocked
    assert item.blocked_reason == "Needs the schema"
    assert Transition.objects.filter(item=item, kind="blocked", source="board").exists()
    assert client.post(url("block"), {"reason": ""}).status_code == 400
    client.post(url("unblock"))
    item.refresh_from_db()
    assert not item.is_blocked
    assert client.post(url("move"), {"column": column(nexus, "Review").pk}).status_code == 200
    item.refresh_from_db()
    assert item.column == column(nexus, "Review")
    assert client.post(url("move"), {"column": "x"}).status_code == 400
    inv = TeamInvolvement.objects.get(item=item)
    assert client.post(url("square"), {"team": inv.team_id, "status": "in_progress"}).status_code == 200
    inv.refresh_from_db()
    assert inv.status == "in_progress"
    other = pbi_create(nexus=nexus, title="Other", actor=None)
    assert client.post(url("dependency"), {"depends_on": other.pk}).status_code == 200
    dep = Dependency.objects.get(item=item, depends_on=other)
    assert dep.found_at == "daily_scrum"
    assert client.post(url("dependency"), {"depends_on": "nope"}).status_code == 400
    assert client.post(url("fly")).status_code == 404


def test_as_of_shows_imported_teams_with_squares_from_that_days_column(nexus):
    from events.board_asof import board_asof_get

    (item,) = _started(nexus, 1)
    Transition.objects.filter(item=item).update(at=timezone.now() - timedelta(days=10))
    Transition.objects.filter(item=item, kind__in=["team_added", "team_status"]).delete()  # as an import
    board = board_asof_get(nexus=nexus, day=(timezone.now() - timedelta(days=5)).date())
    (card,) = [c for c in board.cards() if c.item.pk == item.pk]
    assert [(sq.name, sq.status) for sq in card.squares] == [("Team A", "in_progress")]
    assert card.age == 6


def test_a_board_is_rendered_once_while_others_wait_for_it(nexus, monkeypatch):
    """The viewers that ask while the board is being rendered wait for that rendering, not render it too."""
    import threading

    from events import board_live
    from events.board_filters import BoardFilters

    calls: list[int] = []

    def render(**kw: object) -> str:
        calls.append(1)
        return "<div>board</div>"

    monkeypatch.setattr(board_live, "board_render", render)
    filters = BoardFilters()
    seq_key = board_live._cache_key(
        nexus, board_live.nexus_change_seq(nexus_id=nexus.pk), board_live.nexus_today(nexus), filters
    )
    cache = caches["default"]
    cache.add(f"{seq_key}:lock", 1, 5)  # another worker is rendering it
    threading.Timer(0.1, lambda: cache.set(seq_key, "<div>theirs</div>", 60)).start()
    html, _etag = board_live.board_html(nexus=nexus, filters=filters)
    assert html == "<div>theirs</div>"
    assert calls == []
    cache.clear()
    html, _etag = board_live.board_html(nexus=nexus, filters=filters)  # nobody rendering: render it
    assert html == "<div>board</div>"
    assert calls == [1]


def test_a_cache_that_is_down_never_makes_the_board_wait(nexus, monkeypatch):
    """The shared cache down (`add` False, `get` None, as `nexus_site.cache` degrades): the board is
    rendered at once, not after waiting for a rendering nobody does."""
    import time

    from events import board_live
    from events.board_filters import BoardFilters

    cache = caches["default"]
    monkeypatch.setattr(cache, "add", lambda *a, **k: False)
    monkeypatch.setattr(cache, "get", lambda *a, **k: None)
    started = time.monotonic()
    html, _etag = board_live.board_html(nexus=nexus, filters=BoardFilters())
    assert time.monotonic() - started < board_live.RENDER_WAIT
    assert 'class="live"' in html
