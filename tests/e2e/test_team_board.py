"""Real browser (Debian Chromium through Playwright): a Developer moves the team's work on the team board,
by drag and drop and by keyboard, and sees the team square fill (ready to integrate)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from backlog.models import Role, TeamColumn, TeamInvolvement
from backlog.services import pbi_create
from backlog.services.squares import team_item_move
from backlog.services.tasks import task_create
from backlog.services.team_columns import team_column_create
from events.services import sprint_plan
from tests.events.sprint_helpers import sprint_build
from tests.factories import member, nexus_build, team

SHOTS = Path(__file__).resolve().parents[2] / "test-results"
SHOTS.mkdir(exist_ok=True)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_move_work_on_the_team_board_and_see_the_square_fill(page: Page, live_server):
    nexus = nexus_build(teams=3, slug="team-e2e")
    a, b, c = team(nexus, "Team A"), team(nexus, "Team B"), team(nexus, "Team C")
    ada = member(nexus, Role.DEVELOPER, username="ada", team_obj=a)
    member(nexus, Role.DEVELOPER, username="abe", team_obj=a)
    team_column_create(team=a, name="Review", state="in_progress", actor=None, wip_limit=3)
    sprint = sprint_build(nexus, started=True, goal="Customers pay by invoice")
    planned = {}
    for title, teams in [
        ("Checkout API: invoice payment", [a, b]),
        ("Invoice PDF template", [a]),
        ("Payment reminder e-mails", [a, c]),
        ("Ledger export", [a, b, c]),
    ]:
        item = pbi_create(nexus=nexus, title=title, actor=None)
        sprint_plan(sprint=sprint, item=item, teams=teams, actor=None)
        planned[title] = item
    task_create(
        item=planned["Checkout API: invoice payment"], team=a, title="Endpoint", actor=None, assignee=ada
    )
    task_create(item=planned["Checkout API: invoice payment"], team=a, title="Contract tests", actor=None)

    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/n/{nexus.slug}/teams/team-a/board/")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Team A board")).to_be_visible()

    def column(name: str):
        return page.locator(".team-col", has=page.get_by_role("heading", name=name, exact=True))

    card = page.locator(".team-card", has_text="Checkout API: invoice payment")
    square = card.locator(".sq", has_text="TA")
    expect(square).to_have_class("sq sq-not_started")

    # Drag and drop into "Ready to integrate": the square fills.
    card.drag_to(column("Ready to integrate").locator("ol.cards"))
    moved = column("Ready to integrate").locator(".team-card", has_text="Checkout API: invoice payment")
    expect(moved).to_be_visible()
    expect(moved.locator(".sq", has_text="TA")).to_have_class("sq sq-ready")
    expect(moved.locator(".sq-name", has_text="Team A: ready to integrate")).to_have_count(1)
    square_row = TeamInvolvement.objects.get(item=planned["Checkout API: invoice payment"], team=a)
    assert square_row.status == "ready"

    # By keyboard: focus a card, Shift + Arrow Right moves it one column; the focus stays on it.
    other = page.locator(".team-card", has_text="Invoice PDF template")
    other.focus()
    page.keyboard.press("Shift+ArrowRight")
    in_progress = column("In progress").locator(".team-card", has_text="Invoice PDF template")
    expect(in_progress).to_be_visible()
    expect(in_progress).to_be_focused()
    expect(in_progress.locator(".sq", has_text="TA")).to_have_class("sq sq-in_progress")

    # By button, and a task added on the board.
    third = page.locator(".team-card", has_text="Ledger export")
    third.get_by_role("button", name="Move Ledger export on to In progress").click()
    expect(column("In progress").locator(".team-card", has_text="Ledger export")).to_be_visible()
    ledger = page.locator(".team-card", has_text="Ledger export")
    ledger.get_by_role("link", name="+ Add a task").click()
    dialog = page.get_by_role("dialog", name="Add a task")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Ledger export")
    dialog.get_by_label("Task").fill("Map the ledger fields")
    dialog.get_by_label("Who").select_option(label="abe")
    page.screenshot(path=str(SHOTS / "team-board-add-task.png"))
    dialog.get_by_role("button", name="Add").click()
    expect(dialog).to_be_hidden()
    expect(
        page.locator(".team-card", has_text="Ledger export").get_by_text("Map the ledger fields")
    ).to_be_visible()
    expect(page.locator(".team-card", has_text="Ledger export").locator(".who")).to_have_text("abe")

    page.screenshot(path=str(SHOTS / "team-board.png"), full_page=True)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_move_on_the_team_board_fills_the_square_on_the_sprint_backlog_and_the_board_is_live(
    page: Page, browser: Browser, live_server
):
    """Issue: move a team's work on its board to "ready to integrate" and watch the square fill on the
    Nexus Sprint Backlog open in a second browser context; and the team board itself shows, within 2 s,
    a move made elsewhere (another Developer of the team, here through the service)."""
    nexus = nexus_build(teams=2, slug="live-e2e")
    a, b = team(nexus, "Team A"), team(nexus, "Team B")
    member(nexus, Role.DEVELOPER, username="ada", team_obj=a)
    member(nexus, Role.NIT_MEMBER, username="nina")
    sprint = sprint_build(nexus, started=True, goal="Customers pay by invoice")
    shared = pbi_create(nexus=nexus, title="Checkout API: invoice payment", actor=None)
    alone = pbi_create(nexus=nexus, title="Invoice PDF template", actor=None)
    sprint_plan(sprint=sprint, item=shared, teams=[a, b], actor=None)
    sprint_plan(sprint=sprint, item=alone, teams=[a], actor=None)

    # Nina (Nexus Integration Team) watches the Nexus Sprint Backlog in her own browser context.
    other = browser.new_context(viewport={"width": 1280, "height": 800})
    viewer = other.new_page()
    viewer.goto(f"{live_server.url}/n/{nexus.slug}/sprint-backlog/")
    viewer.fill("input[name=username]", "nina")
    viewer.fill("input[name=password]", "pw")
    viewer.click("button[type=submit]")
    expect(viewer.get_by_role("heading", name="Nexus Sprint Backlog")).to_be_visible()
    square = viewer.locator(".card", has_text="Checkout API: invoice payment").locator(".sq", has_text=a.code)
    expect(square).to_have_class(re.compile(r"\bsq-not_started\b"))

    # Ada moves Team A's work on it to "Ready to integrate" with the card's buttons.
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/n/{nexus.slug}/teams/team-a/board/")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Team A board")).to_be_visible()
    page.get_by_role("button", name="Move Checkout API: invoice payment on to In progress").click()
    page.get_by_role("button", name="Move Checkout API: invoice payment on to Ready to integrate").click()
    expect(
        page.locator(".team-card", has_text="Checkout API: invoice payment").locator(".sq", has_text=a.code)
    ).to_have_class(re.compile(r"\bsq-ready\b"))

    # The square fills on Nina's page without a reload, within 2 s.
    expect(square).to_have_class(re.compile(r"\bsq-ready\b"), timeout=2000)
    expect(square).to_have_attribute("title", "Team A: ready to integrate")
    viewer.screenshot(path=str(SHOTS / "sprint-backlog-after-team-board-move.png"))
    other.close()

    # Another Developer of Team A moves the other PBI (through the service): Ada's board shows it
    # within 2 s, without a reload, and keeps her focus.
    page.locator(".team-card", has_text="Checkout API: invoice payment").focus()
    in_progress = TeamColumn.objects.get(team=a, state="in_progress")
    team_item_move(item=alone, team=a, to_column=in_progress, actor=None)
    moved = page.locator(
        ".team-col", has=page.get_by_role("heading", name="In progress", exact=True)
    ).locator(".team-card", has_text="Invoice PDF template")
    expect(moved).to_be_visible(timeout=2000)
    expect(page.locator(".team-card", has_text="Checkout API: invoice payment")).to_be_focused()
