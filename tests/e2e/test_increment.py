"""Real browser (Debian Chromium through Playwright): the Product Owner opens the Integrated Increment
page from the Nexus Sprint Backlog, integrates the ready PBIs, a Developer confirms the Definition of
Done's criteria (one with an evidence link), marking Done is refused while one is missing, then the PBIs
show their squares ticked in the finished column. Screenshots: test-results/increment-open.png,
increment-done.png, dod.png, nexus-home-health.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from backlog.models import ColumnCategory, ProductBacklogItem, Role, TeamStatus
from backlog.services import ColumnSpec, membership_add, nexus_create, pbi_create, team_create
from events.services import sprint_create, sprint_plan, sprint_start
from integration.services_dod import criterion_add
from tests.factories import UserFactory, squares_fill

SHOTS = Path(__file__).resolve().parents[2] / "test-results"
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

COLUMNS = [
    ColumnSpec("Ready", ColumnCategory.NOT_STARTED, is_ready=True),
    ColumnSpec("In Progress", ColumnCategory.IN_PROGRESS, is_start=True),
    ColumnSpec("Integrating", ColumnCategory.IN_PROGRESS),
    ColumnSpec("Done", ColumnCategory.DONE, is_finish=True),
]
PBIS = [
    ("SHOP-412", "Pay with a saved card in one click", ["Checkout", "Payments"]),
    ("SHOP-418", "Show delivery date on the basket page", ["Checkout"]),
    ("SHOP-421", "Search suggestions while typing", ["Search"]),
    ("SHOP-436", "Retry a failed card payment", ["Payments"]),
]


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


def _login(page: Page, live_server, username: str, path: str) -> None:
    page.set_viewport_size({"width": 1440, "height": 1000})
    page.context.clear_cookies()
    page.goto(f"{live_server.url}{path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")


def _nexus():
    nexus = nexus_create(name="Webshop", slug="webshop", columns=COLUMNS)
    teams = {name: team_create(nexus=nexus, name=name) for name in ("Checkout", "Payments", "Search")}
    membership_add(nexus=nexus, user=UserFactory.create(username="po-e2e"), role=Role.PRODUCT_OWNER)
    membership_add(nexus=nexus, user=UserFactory.create(username="nit-e2e"), role=Role.NIT_MEMBER)
    membership_add(
        nexus=nexus, user=UserFactory.create(username="dev-e2e"), role=Role.DEVELOPER, team=teams["Checkout"]
    )
    for text in (
        "Code reviewed by another Developer",
        "Integration tests green on main",
        "Deployed to staging",
    ):
        criterion_add(nexus=nexus, text=text, actor=None)
    criterion_add(
        nexus=nexus, text="Checkout flows screen-reader checked", team=teams["Checkout"], actor=None
    )
    sprint = sprint_create(nexus=nexus, actor=None, goal="Customers pay faster")
    for ext, title, names in PBIS:
        item = pbi_create(nexus=nexus, title=title, external_id=ext, actor=None)
        sprint_plan(sprint=sprint, item=item, teams=[teams[n] for n in names], actor=None)
    sprint_start(sprint=sprint, actor=None)
    for ext, *_ in PBIS[:3]:  # the fourth is still in progress
        squares_fill(ProductBacklogItem.objects.get(external_id=ext))
    return nexus, sprint


def test_confirm_criteria_mark_done_and_see_the_pbis_done(page: Page, live_server):
    nexus, _sprint = _nexus()
    _login(page, live_server, "po-e2e", f"/n/{nexus.slug}/sprint-backlog/")
    panel = page.locator("#increments")
    expect(panel).to_contain_text("None yet.")
    panel.get_by_role("link", name="Every increment of Sprint 1").click()
    page.get_by_label("Name (optional)").fill("One-click payments")
    page.get_by_role("button", name="Start an Integrated Increment").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Integrated Increment 1: One-click payments")
    cands = page.locator(".cand-list li")
    expect(cands).to_have_count(3)  # SHOP-436 is not ready to integrate
    page.get_by_role("button", name="Integrate the chosen PBIs").click()
    expect(page.locator(".inc-items tbody tr")).to_have_count(3)
    _shot(page, "increment-open.png")

    # Marking Done with criteria unconfirmed is refused, in the page.
    page.get_by_role("button", name="Mark Done").click()
    expect(page.locator("#inc-error")).to_contain_text("must be confirmed first")

    # A Checkout Developer confirms every criterion (the team's own too), one with evidence.
    _login(page, live_server, "dev-e2e", f"/n/{nexus.slug}/increments/1/")
    expect(page.get_by_role("button", name="Mark Done")).to_have_count(0)
    first = page.locator(".criterion").first
    first.locator("input[type=url]").fill("https://ci.example.com/runs/981")
    first.get_by_role("button", name="Confirm").click()
    expect(page.locator(".criterion").first).to_contain_text("Confirmed by dev-e2e")
    for _ in range(3):
        page.locator(".confirm-form").first.get_by_role("button", name="Confirm").click()
        page.wait_for_load_state()
    expect(page.locator(".criterion.is-confirmed")).to_have_count(4)
    expect(page.locator(".criterion").first.get_by_role("link", name="evidence")).to_be_visible()

    _login(page, live_server, "po-e2e", f"/n/{nexus.slug}/increments/1/")
    page.get_by_role("button", name="Mark Done").click()
    expect(page.locator(".inc-done-badge")).to_contain_text("Done")
    rows = page.locator(".inc-items tbody tr")
    for i in range(3):
        expect(rows.nth(i).locator("td").nth(2)).to_have_text("Done")
        expect(rows.nth(i).locator(f".sq-{TeamStatus.DONE}").first).to_be_visible()
    expect(rows.locator(".sq-ready")).to_have_count(0)
    page.get_by_role("button", name="Mark released").click()
    expect(page.get_by_text("to stakeholders on")).to_be_visible()
    _shot(page, "increment-done.png")

    page.goto(f"{live_server.url}/n/{nexus.slug}/definition-of-done/")
    expect(page.locator(".team-dod").first).to_contain_text("Checkout flows screen-reader checked")
    _shot(page, "dod.png")
    page.goto(f"{live_server.url}/n/{nexus.slug}/")
    expect(page.locator("#increment-health-body")).to_contain_text(
        "Sprint 1 (active): a Done Integrated Increment already"
    )
    _shot(page, "nexus-home-health.png")
