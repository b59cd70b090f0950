"""Real browser (Debian Chromium through Playwright): the Product Owner orders the Product Backlog with the
mouse and the keyboard, the order survives a reload; a Developer sees it read-only and cannot move;
the side panel edits, splits and says who moved an item; far positions are reached past "load more".
Screenshots go to test-results/backlog*.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from backlog import views_backlog
from backlog.models import ProductBacklogItem, Role
from backlog.services import goal_create, pbi_set_teams, pbi_transition, pbi_update
from tests.factories import column, items_in_order, member, nexus_build, squares_fill, team

SHOTS = Path(__file__).resolve().parents[2] / "test-results"
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _nexus(items: int = 6):
    nexus = nexus_build(teams=3, slug="demo-backlog", items=items)
    goal_create(nexus=nexus, text="Release the integrated checkout")
    teams = list(nexus.teams.all())
    for i, item in enumerate(ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank")):
        pbi_set_teams(item=item, teams=teams[: 1 + i % 3], actor=None)
        if i % 3 == 1:
            pbi_update(item=item, labels=["checkout"], size=3, actor=None)
        if i == 2:
            pbi_update(item=item, is_blocked=True, blocked_reason="Waiting for the payment API", actor=None)
            pbi_transition(item=item, to_column=column(nexus, "In Progress"), actor=None)
    return nexus


def _login(page: Page, live_server, username: str, slug: str, *, height: int = 900) -> None:
    page.set_viewport_size({"width": 1440, "height": height})
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/n/{slug}/backlog/")
    expect(page.get_by_role("heading", name="Product Backlog")).to_be_visible()


def _titles(page: Page) -> list[str]:
    return page.locator("#backlog-list li.pbi .pbi-link").all_inner_texts()


def _shot(page: Page, name: str) -> None:
    expect(page.locator("#ready-buffer-body")).to_be_visible()
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


def test_product_owner_drags_an_item_to_the_top(page: Page, live_server):
    nexus = _nexus()
    _login(page, live_server, f"po-{nexus.slug}", nexus.slug)
    rows = page.locator("#backlog-list li.pbi")
    expect(rows).to_have_count(6)
    assert _titles(page)[:3] == ["Item 1", "Item 2", "Item 3"]
    rows.nth(4).locator(".handle").drag_to(rows.nth(0), target_position={"x": 400, "y": 2})
    expect(rows.nth(0).locator(".pbi-link")).to_have_text("Item 5")
    expect(page.locator("#backlog-status")).to_contain_text("to position 1 of 6")
    expect(rows.nth(0).locator(".c-pos")).to_have_text("1")
    expect(rows.nth(1).locator(".c-pos")).to_have_text("2")
    assert items_in_order(nexus)[0] == "Item 5"
    page.reload()
    assert _titles(page) == ["Item 5", "Item 1", "Item 2", "Item 3", "Item 4", "Item 6"]
    _shot(page, "backlog.png")


def test_product_owner_moves_items_with_the_keyboard(page: Page, live_server):
    nexus = _nexus()
    _login(page, live_server, f"po-{nexus.slug}", nexus.slug)
    handle = page.locator("#pbi-{} .handle".format(ProductBacklogItem.objects.get(title="Item 4").pk))
    handle.focus()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    expect(page.locator("#backlog-status")).to_contain_text("“Item 4” to position 2 of 6")
    assert _titles(page)[:4] == ["Item 1", "Item 4", "Item 2", "Item 3"]
    focused = page.evaluate("document.activeElement.closest('li') && document.activeElement.closest('li').id")
    assert focused == handle.evaluate("el => el.closest('li').id")  # focus stays on the moved item
    page.keyboard.press("End")
    expect(page.locator("#backlog-status")).to_contain_text("to position 6 of 6")
    page.keyboard.press("Home")
    expect(page.locator("#backlog-status")).to_contain_text("to position 1 of 6")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#backlog-status")).to_contain_text("to position 2 of 6")
    # The actions menu: move to a position.
    page.locator("#backlog-list li.pbi").nth(0).locator(".menu-btn").click()
    expect(page.locator("#row-menu")).to_be_visible()
    page.get_by_role("menuitem", name="Move to position…").click()
    page.fill("#move-pos", "5")
    page.click("#move-dialog button[type=submit]")
    expect(page.locator("#backlog-status")).to_contain_text("“Item 1” to position 5 of 6")
    page.reload()
    assert _titles(page) == ["Item 4", "Item 2", "Item 3", "Item 5", "Item 1", "Item 6"]
    assert items_in_order(nexus) == _titles(page)


def test_a_developer_sees_the_backlog_read_only_and_cannot_move(page: Page, live_server):
    nexus = _nexus()
    member(nexus, Role.DEVELOPER, username="dev-e2e", team_obj=team(nexus))
    _login(page, live_server, "dev-e2e", nexus.slug)
    expect(page.locator("#backlog-list li.pbi")).to_have_count(6)
    expect(page.locator(".handle")).to_have_count(0)
    expect(page.locator(".menu-btn")).to_have_count(0)
    expect(page.get_by_text("Read-only: only the Product Owner orders the Product Backlog.")).to_be_visible()
    item = ProductBacklogItem.objects.get(title="Item 6")
    status = page.evaluate(
        """async (url) => {
            const token = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken'];
            const r = await fetch(url, {method: 'POST', headers: {'X-CSRFToken': token},
                                        body: new URLSearchParams({position: '1'})});
            return r.status;
        }""",
        f"{live_server.url}/n/{nexus.slug}/backlog/items/{item.pk}/move/",
    )
    assert status == 403
    assert items_in_order(nexus)[0] == "Item 1"
    # A drag attempt on a row moves nothing either (no handle, no Sortable).
    rows = page.locator("#backlog-list li.pbi")
    rows.nth(5).drag_to(rows.nth(0))
    page.reload()
    assert _titles(page)[0] == "Item 1"
    _shot(page, "backlog-developer.png")


def test_side_panel_edit_conflict_split_and_who_moved(page: Page, live_server):
    nexus = _nexus(items=4)
    po = f"po-{nexus.slug}"
    _login(page, live_server, po, nexus.slug)
    rows = page.locator("#backlog-list li.pbi")
    rows.nth(3).locator(".handle").focus()
    page.keyboard.press("Home")
    expect(page.locator("#backlog-status")).to_contain_text("to position 1 of 4")
    rows.nth(0).locator(".pbi-link").click()
    panel = page.locator("#side-panel")
    expect(panel.get_by_role("heading", name="Item 4")).to_be_visible()
    expect(panel.locator(".history")).to_contain_text(f"{po} moved it from position 4 to 1")
    # Someone else saves the item while the panel is open: the save shows both versions.
    pbi_update(item=ProductBacklogItem.objects.get(title="Item 4"), title="Item 4 (their edit)", actor=None)
    panel.get_by_label("Title").fill("Item 4 (my edit)")
    panel.get_by_role("button", name="Save").click()
    expect(panel.locator(".conflict")).to_contain_text("nothing was overwritten")
    expect(panel.locator(".conflict-table .mine")).to_contain_text("Item 4 (my edit)")
    expect(panel.locator(".conflict-table .theirs")).to_contain_text("Item 4 (their edit)")
    _shot(page, "backlog-conflict.png")
    # Invalid input: the message is next to the field.
    panel.get_by_label("Size").fill("-2")
    panel.get_by_role("button", name="Save").click()
    expect(panel.locator("#id_size_error")).to_contain_text("greater than or equal to 0")
    panel.get_by_label("Size").fill("5")
    panel.get_by_role("button", name="Save").click()
    expect(panel.get_by_role("status")).to_have_text("Saved.")
    expect(rows.nth(0).locator(".pbi-link")).to_have_text("Item 4 (my edit)")
    expect(rows.nth(0).locator(".c-size")).to_have_text("5")
    # Split into children: they appear under the parent, and collapse.
    panel.get_by_role("button", name="Split into children…").click()
    panel.get_by_label("Children, one title per line").fill("Card payments\nInvoices")
    panel.get_by_role("button", name="Split", exact=True).click()
    expect(panel.locator(".msg")).to_contain_text("Split into 2 children")
    expect(rows).to_have_count(6)
    assert _titles(page)[:3] == ["Item 4 (my edit)", "Card payments", "Invoices"]
    expect(rows.nth(1)).to_have_class("pbi depth-1")
    panel.locator(".sp-close").click()
    expect(panel).to_be_hidden()
    _shot(page, "backlog-children.png")
    rows.nth(0).locator(".twisty").click()
    expect(rows.nth(1)).to_be_hidden()
    expect(rows.nth(2)).to_be_hidden()


def test_create_inline_and_reach_far_positions_past_load_more(page: Page, live_server, monkeypatch):
    monkeypatch.setattr(views_backlog, "PAGE_SIZE", 4)
    nexus = _nexus(items=10)
    _login(page, live_server, f"po-{nexus.slug}", nexus.slug, height=300)
    # A window whose bottom edge is just above "load more" (so it is not revealed yet).
    more_top = page.locator("#backlog-more").bounding_box()["y"]  # type: ignore[index]
    page.set_viewport_size({"width": 1440, "height": int(more_top) - 4})
    page.reload()
    rows = page.locator("#backlog-list li.pbi")
    expect(rows).to_have_count(4)
    expect(page.locator("#backlog-more")).to_contain_text("Showing 4 of 10")
    # Drag the last shown item down: the page scrolls, "load more" holds still and takes the drop,
    # which asks for the position.
    box = rows.nth(3).locator(".handle").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 5, box["y"] + 5)
    page.mouse.down()
    page.mouse.move(box["x"] + 20, box["y"] + 25, steps=5)
    page.mouse.move(300, int(more_top) - 8, steps=10)  # the bottom edge: Sortable scrolls the page
    page.wait_for_timeout(1000)
    expect(rows).to_have_count(4)
    more = page.locator("#backlog-more").bounding_box()
    assert more is not None
    page.mouse.move(more["x"] + 300, more["y"] + more["height"] / 2, steps=10)
    page.mouse.up()
    expect(page.locator("#move-dialog")).to_be_visible()
    expect(page.locator("#move-dialog-what")).to_contain_text("“Item 4” is at position 4 of 10.")
    page.fill("#move-pos", "9")
    page.click("#move-dialog button[type=submit]")
    expect(page.locator("#backlog-status")).to_contain_text("“Item 4” to position 9 of 10")
    assert items_in_order(nexus).index("Item 4") == 8
    # Scrolling reveals the rest (the load held back during the drag happens now).
    for _ in range(4):
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        page.wait_for_timeout(250)
    expect(rows).to_have_count(10)
    assert _titles(page)[8] == "Item 4"
    expect(page.locator("#backlog-more")).to_have_count(0)
    # Inline create at the top and under an item.
    page.get_by_placeholder("Add an item at the top…").fill("Urgent fix")
    page.get_by_placeholder("Add an item at the top…").press("Enter")
    expect(rows.nth(0).locator(".pbi-link")).to_have_text("Urgent fix")
    rows.nth(1).locator(".menu-btn").click()
    page.get_by_role("menuitem", name="Add an item below").click()
    page.get_by_placeholder("Title of the item to add below…").fill("Follow-up")
    page.get_by_placeholder("Title of the item to add below…").press("Enter")
    expect(rows.nth(2).locator(".pbi-link")).to_have_text("Follow-up")
    assert items_in_order(nexus)[:3] == ["Urgent fix", "Item 1", "Follow-up"]


def test_filters_keep_backlog_order_and_a_drag_lands_between_visible_neighbours(page: Page, live_server):
    nexus = _nexus(items=6)  # Items 2 and 5 carry the label "checkout"
    pbi_update(item=ProductBacklogItem.objects.get(title="Item 6"), labels=["checkout"], actor=None)
    _login(page, live_server, f"po-{nexus.slug}", nexus.slug)
    page.select_option("#f-label", label="checkout")
    rows = page.locator("#backlog-list li.pbi")
    expect(rows).to_have_count(3)
    assert _titles(page) == ["Item 2", "Item 5", "Item 6"]
    expect(rows.nth(1).locator(".c-pos")).to_have_text("5")  # positions are the whole backlog's
    rows.nth(2).locator(".handle").drag_to(rows.nth(1), target_position={"x": 400, "y": 2})
    expect(page.locator("#backlog-status")).to_contain_text("“Item 6” to position 5 of 6")
    assert _titles(page) == ["Item 2", "Item 6", "Item 5"]
    assert items_in_order(nexus) == ["Item 1", "Item 2", "Item 3", "Item 4", "Item 6", "Item 5"]
    _shot(page, "backlog-filtered.png")
    page.reload()  # the filter is in the URL
    assert _titles(page) == ["Item 2", "Item 6", "Item 5"]


def test_a_refused_move_says_why_in_the_page_and_shows_the_truth(page: Page, live_server):
    nexus = _nexus(items=4)
    _login(page, live_server, f"po-{nexus.slug}", nexus.slug)
    rows = page.locator("#backlog-list li.pbi")
    expect(rows).to_have_count(4)
    # Meanwhile a team finishes Item 4: the page still shows it.
    item = ProductBacklogItem.objects.get(title="Item 4")
    pbi_transition(item=item, to_column=column(nexus, "In Progress"), actor=None)
    squares_fill(item)
    pbi_transition(item=item, to_column=column(nexus, "Done"), actor=None)
    rows.nth(3).locator(".handle").focus()
    page.keyboard.press("Home")
    alert = page.locator("#backlog-alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("A finished item is no longer ordered in the Product Backlog.")
    expect(rows).to_have_count(3)  # the list was re-rendered from the server
    assert _titles(page) == ["Item 1", "Item 2", "Item 3"]
    _shot(page, "backlog-refused.png")
