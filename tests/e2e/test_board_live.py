"""Real browser, two browser contexts: a move, a block and a square change made on the board in one appear
in the other within 2 seconds, while the other keeps its filter and its column's scroll position; wall
mode and walking the board (screenshots); the as-of replay shows a past day."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from backlog.models import Role, Transition
from backlog.services import pbi_create, pbi_set_teams, pbi_transition
from tests.factories import column, member, nexus_build, team

SHOTS = Path("/tmp")
LIVE = 2000  # ms: a change on one board shows on every other within 2 seconds


def _log_in(browser: Browser, url: str, username: str, width: int = 1440, height: int = 900) -> Page:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(url)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Nexus board")).to_be_visible()
    return page


@pytest.fixture
def board_nexus(transactional_db):
    nexus = nexus_build(teams=2, slug="live-e2e")
    a, b = list(nexus.teams.order_by("name"))
    member(nexus, Role.DEVELOPER, username="dev-a", team_obj=a)
    member(nexus, Role.NIT_MEMBER, username="nit-live")
    items = []
    for i in range(30):
        item = pbi_create(nexus=nexus, title=f"Checkout step {i:02d}", actor=None)
        pbi_set_teams(item=item, teams=[a] if i % 3 else [a, b], actor=None)
        pbi_transition(item=item, to_column=column(nexus, "In Progress"), actor=None)
        items.append(item)
    for n, item in enumerate(items):  # ages 1 to 30 days: the walk goes oldest first
        Transition.objects.filter(item=item).update(at=timezone.now() - timedelta(days=30 - n))
    from flow.services import flow_recompute

    flow_recompute(nexus_id=nexus.pk, trust_digests=False)
    return nexus, items


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_changes_in_one_browser_show_in_the_other_keeping_scroll_and_filter(
    browser: Browser, live_server, board_nexus
):
    nexus, items = board_nexus
    a = team(nexus, "Team A")
    in_progress = column(nexus, "In Progress")
    watcher = _log_in(browser, f"{live_server.url}/n/{nexus.slug}/board/?team={a.pk}", "nit-live")
    actor = _log_in(browser, f"{live_server.url}/n/{nexus.slug}/board/", "dev-a")
    col = watcher.locator(f'ol.cards[data-col="{in_progress.pk}"]')
    expect(col.locator(".card")).to_have_count(30)
    expect(
        watcher.locator(".board-col", has=watcher.locator(f'[data-col="{in_progress.pk}"]')).locator(
            "[data-below]"
        )
    ).to_contain_text("more below")
    col.evaluate("el => { el.scrollTop = 600; }")
    watcher.wait_for_timeout(300)
    target = items[-1]  # the newest: its card is near the top of the column, shown on both boards

    # Block it from the other browser: the watcher sees the reason within 2 s.
    actor.locator(f"#card-{target.pk}").click()
    actor.fill("#card-panel input[name=reason]", "Waiting for the tax service")
    actor.get_by_role("button", name="Block").click()
    expect(actor.locator("#card-panel .done")).to_have_text("Blocked.")
    expect(watcher.locator(f"#card-{target.pk} .blocked-reason")).to_contain_text(
        "Waiting for the tax service", timeout=LIVE
    )

    # A square change.
    square = actor.locator("#card-panel form", has=actor.get_by_text("Team A's square"))
    square.locator("select").select_option("in_progress")
    square.get_by_role("button", name="Set").click()
    expect(actor.locator("#card-panel .done")).to_contain_text("square changed")
    expect(watcher.locator(f"#card-{target.pk} .sq-in_progress")).to_have_count(1, timeout=LIVE)

    # A move to Review.
    actor.select_option("#card-panel select[name=column]", label="Review")
    actor.get_by_role("button", name="Move", exact=True).click()
    expect(actor.locator("#card-panel .done")).to_have_text("Moved to Review.")
    review = watcher.locator(".board-col", has=watcher.get_by_role("heading", name="Review", exact=True))
    expect(review.locator(f"#card-{target.pk}")).to_have_count(1, timeout=LIVE)

    # The watcher kept its filter and its column's scroll position through the three refreshes.
    assert f"team={a.pk}" in watcher.url
    assert watcher.locator("select[name=team]").input_value() == str(a.pk)
    assert abs(col.evaluate("el => el.scrollTop") - 600) <= 2
    watcher.screenshot(path=str(SHOTS / "board-e2e-watcher.png"))


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_wall_mode_timer_and_walk_are_shared(browser: Browser, live_server, board_nexus):
    nexus, items = board_nexus
    url = f"{live_server.url}/n/{nexus.slug}/board/?wall=1"
    wall = _log_in(browser, url, "nit-live", 1920, 1080)
    remote = _log_in(browser, url, "dev-a", 1280, 800)
    expect(wall.locator(".topbar")).to_be_hidden()  # no chrome
    wall.get_by_role("button", name="Start the Nexus Daily Scrum").click()
    expect(wall.locator(".timer")).to_contain_text("left", timeout=LIVE)
    expect(remote.locator(".timer")).to_contain_text("left", timeout=LIVE)
    wall.keyboard.press("j")
    oldest = items[0]  # right to left (one column in progress), oldest first
    expect(wall.locator(f"#card-{oldest.pk}.walk")).to_have_count(1, timeout=LIVE)
    expect(remote.locator(f"#card-{oldest.pk}.walk")).to_have_count(1, timeout=LIVE)
    wall.keyboard.press("j")
    expect(remote.locator(f"#card-{items[1].pk}.walk")).to_have_count(1, timeout=LIVE)
    wall.keyboard.press("k")
    expect(remote.locator(f"#card-{oldest.pk}.walk")).to_have_count(1, timeout=LIVE)
    wall.screenshot(path=str(SHOTS / "board-e2e-wall-walk.png"))
    remote.screenshot(path=str(SHOTS / "board-e2e-remote-walk.png"))


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_as_of_shows_a_past_day(browser: Browser, live_server, board_nexus):
    nexus, _items = board_nexus
    day = (timezone.now() - timedelta(days=20)).date()
    page = _log_in(browser, f"{live_server.url}/n/{nexus.slug}/board/?as_of={day.isoformat()}", "nit-live")
    expect(page.locator(".asof-banner")).to_contain_text("rebuilt from the transition log")
    in_progress = page.locator(f'ol.cards[data-col="{column(nexus, "In Progress").pk}"]')
    expect(in_progress.locator(".card")).to_have_count(11)  # started 30 to 20 days ago
    expect(page.get_by_role("button", name="Start the Nexus Daily Scrum")).to_have_count(0)
    page.screenshot(path=str(SHOTS / "board-e2e-asof.png"))
