"""Real browser (Debian Chromium through Playwright): log in, open the board, see cards with team squares."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from backlog.models import ProductBacklogItem, Role
from backlog.services import goal_create, pbi_create, pbi_set_teams, pbi_transition
from tests.factories import column, member, nexus_build, team

SHOTS = Path(__file__).resolve().parents[2] / "test-results"


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_log_in_and_see_the_board(page: Page, live_server):
    nexus = nexus_build(teams=3, slug="demo-e2e")
    goal_create(nexus=nexus, text="Release the integrated checkout")
    member(nexus, Role.NIT_MEMBER, username="nit-e2e")
    for i, title in enumerate(["Checkout API", "Payment form", "Order e-mails", "Fraud checks", "Receipts"]):
        item = pbi_create(nexus=nexus, title=title, actor=None)
        pbi_set_teams(item=item, teams=list(nexus.teams.all())[: 1 + i % 3], actor=None)
        if i % 2 == 0:
            pbi_transition(item=item, to_column=column(nexus, "In Progress"), actor=None)

    page.goto(f"{live_server.url}/")
    page.fill("input[name=username]", "nit-e2e")
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name=nexus.name)).to_be_visible()
    expect(page.get_by_text("Release the integrated checkout")).to_be_visible()

    page.get_by_role("link", name="Board").click()
    expect(page.get_by_role("heading", name="Nexus board")).to_be_visible()
    cards = page.locator(".card")
    expect(cards).to_have_count(5)
    expect(page.locator(".card .sq").first).to_be_visible()
    in_progress = page.locator(".board-col", has=page.get_by_role("heading", name="In Progress"))
    expect(in_progress.locator(".card")).to_have_count(3)
    expect(in_progress.locator(".age").first).to_have_text("1d")
    assert team(nexus).name in (page.locator(".card .sq").first.get_attribute("title") or "")
    SHOTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.screenshot(path=str(SHOTS / "board.png"), full_page=True)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_demo_board_with_real_history(page: Page, live_server, tmp_path, settings):
    """The demo Nexus (a slice of the real JDT history) on the board: the README's screenshot."""
    import gzip
    import itertools

    from django.core.management import call_command

    from backlog.demo import DATA_DIR

    sliced = tmp_path / "slice.csv"
    with gzip.open(DATA_DIR / "transitions.csv.gz", "rt", encoding="utf-8") as src:
        sliced.write_text("".join(itertools.islice(src, 6001)), encoding="utf-8")
    call_command("load_demo", "--file", str(sliced))

    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/n/eclipse-jdt/board/")
    page.fill("input[name=username]", "nit")
    page.fill("input[name=password]", settings.DEMO_PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Nexus board")).to_be_visible()
    to_do = page.locator(".board-col", has=page.get_by_role("heading", name="To Do", exact=True))
    expect(to_do.locator(".card").first).to_be_visible()
    expect(to_do.locator(".card .sq").first).to_be_visible()
    expect(to_do.locator(".card .age").first).to_have_text(re.compile(r"^\d+d$"))
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "board-demo.png"))


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_show_more_cards_of_a_column(page: Page, live_server):
    """A column longer than a page: "Show more" by keyboard adds the next cards in order after the
    ones shown, keeps the focus on the control, and at the end of the column leaves no control."""
    from events.selectors import CARD_PAGE

    total = 2 * CARD_PAGE + 7
    nexus = nexus_build(teams=2, slug="long-e2e", items=total)
    member(nexus, Role.NIT_MEMBER, username="nit-long")
    first = ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank")[0]
    pbi_transition(item=first, to_column=column(nexus, "In Progress"), actor=None)
    ready_total = total - 1

    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/n/{nexus.slug}/board/")
    page.fill("input[name=username]", "nit-long")
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    ready = page.locator(".board-col", has=page.get_by_role("heading", name="Ready", exact=True))
    cards = ready.locator(".card")
    expect(cards).to_have_count(CARD_PAGE)
    expect(ready.locator(".col-head .count")).to_have_text(f"{ready_total}")
    more = ready.get_by_role("button", name=re.compile(r"^Show \d+ more"))
    expect(more).to_have_text(f"Show {CARD_PAGE} more (of {ready_total})")
    more.focus()
    page.keyboard.press("Enter")
    expect(cards).to_have_count(2 * CARD_PAGE)
    expect(more).to_have_text(f"Show {ready_total - 2 * CARD_PAGE} more (of {ready_total})")
    expect(more).to_be_focused()  # the next control takes the focus: Enter again goes on
    expect(ready.get_by_text(f"{2 * CARD_PAGE} of {ready_total} shown")).to_be_visible()
    SHOTS.mkdir(exist_ok=True)
    more.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "board-show-more.png"), full_page=True)
    page.keyboard.press("Enter")
    expect(cards).to_have_count(ready_total)
    expect(more).to_have_count(0)
    end = ready.locator(".more-cards.end")
    expect(end).to_have_text(f"End of the column: {ready_total} shown.")
    expect(end).to_be_focused()
    titles = cards.locator(".card-title").all_inner_texts()
    expected = list(
        ProductBacklogItem.objects.filter(backlog__nexus=nexus, column=column(nexus, "Ready"))
        .order_by("rank")
        .values_list("title", flat=True)
    )
    # Each title follows the PBI's id (`#12`), which the walk of the board and the panels name.
    assert [re.sub(r"^#\d+\s*", "", t.strip()) for t in titles] == expected  # in order, none twice
    expect(ready.locator(".col-head .count")).to_have_text(f"{ready_total}")  # the header keeps the total
    in_progress = page.locator(".board-col", has=page.get_by_role("heading", name="In Progress"))
    expect(in_progress.locator(".card")).to_have_count(1)
    expect(in_progress.get_by_role("button")).to_have_count(0)
    end.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "board-show-more-end.png"), full_page=True)
