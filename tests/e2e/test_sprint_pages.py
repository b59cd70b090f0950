"""Real browser (Debian Chromium through Playwright): the Product Owner plans a Sprint by dragging two
PBIs into two team lanes and starts it; the Nexus Sprint Backlog, open in a second browser context,
shows a square changed through the service within two seconds, keeping its filter and scroll position;
keyboard-only planning; a Developer drags a PBI into their own team's lane. Screenshots:
test-results/sprint-planning.png, sprint-planning-developer.png, sprint-backlog.png,
sprint-backlog-none.png."""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from backlog.models import (
    ColumnCategory,
    ProductBacklogItem,
    Role,
    ScrumTeam,
    TeamInvolvement,
    TeamStatus,
    Transition,
)
from backlog.services import (
    ColumnSpec,
    goal_create,
    involvement_set_status,
    membership_add,
    nexus_create,
    pbi_create,
    pbi_transition,
    team_create,
)
from events.models import Sprint, SprintItem, SprintState
from events.services import sprint_create, sprint_plan, sprint_update
from flow.history import nexus_today
from flow.services import flow_recompute
from nexus_site.bench import tasks_queued
from tests.factories import UserFactory, column, squares_fill

SHOTS = Path(__file__).resolve().parents[2] / "test-results"
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

COLUMNS = [
    ColumnSpec("Refinement", ColumnCategory.NOT_STARTED),
    ColumnSpec("Ready", ColumnCategory.NOT_STARTED, is_ready=True),
    ColumnSpec("In Progress", ColumnCategory.IN_PROGRESS, is_start=True),
    ColumnSpec("Review", ColumnCategory.IN_PROGRESS),
    ColumnSpec("Done", ColumnCategory.DONE, is_finish=True),
]
TEAMS = ["Checkout", "Payments", "Search", "Mobile App"]
READY = [
    ("SHOP-412", "Pay with a saved card in one click"),
    ("SHOP-418", "Show delivery date on the basket page"),
    ("SHOP-420", "Refund a single line of an order"),
    ("SHOP-421", "Search suggestions while typing"),
    ("SHOP-425", "Apple Pay on the mobile app"),
    ("SHOP-430", "Filter search results by price range"),
    ("SHOP-433", "Email receipt with VAT breakdown"),
    ("SHOP-436", "Retry a failed card payment"),
    ("SHOP-440", "Basket survives logging in on another device"),
    ("SHOP-441", "Push notification when the order ships"),
]
REFINEMENT = [
    ("SHOP-450", "Gift cards: buy and redeem"),
    ("SHOP-452", "Spelling tolerance in search"),
    ("SHOP-455", "Split a payment across two cards"),
]


def _finished(nexus, title: str, team, day) -> None:
    """A PBI that really went through the Nexus columns in the past: started on `day`, finished two
    days later (the transition log's times; the creation row is dated the day before it started)."""
    tz = zoneinfo.ZoneInfo(nexus.time_zone)
    at = datetime.combine(day, time(10), tzinfo=tz)
    item = pbi_create(nexus=nexus, title=title, actor=None, column=column(nexus, "Ready"), teams=[team])
    Transition.objects.filter(item=item).update(at=at - timedelta(days=1))
    pbi_transition(item=item, to_column=column(nexus, "In Progress"), actor=None, at=at)
    squares_fill(item)
    pbi_transition(item=item, to_column=column(nexus, "Done"), actor=None, at=at + timedelta(days=2))


def _demo_nexus():
    """A web shop Nexus: four Scrum Teams, a Product Goal, four closed Sprints with what each team
    finished in them, ten ready PBIs and three in refinement, a planned Sprint 5 with a few PBIs.
    Built with Celery tasks queued (not a flow recompute after each of its hundreds of writes), then
    computed once."""
    with tasks_queued():
        built = _demo_build()
    flow_recompute(nexus_id=built[0].pk)
    return built


def _demo_build():
    nexus = nexus_create(name="Web Shop", slug="webshop", columns=COLUMNS)
    teams = [team_create(nexus=nexus, name=name) for name in TEAMS]
    membership_add(nexus=nexus, user=UserFactory.create(username="po-e2e"), role=Role.PRODUCT_OWNER)
    membership_add(nexus=nexus, user=UserFactory.create(username="nit-e2e"), role=Role.NIT_MEMBER)
    goal_create(nexus=nexus, text="Checkout that converts on every device")
    today = nexus_today(nexus)
    finished = {
        "Checkout": [5, 7, 4, 6],
        "Payments": [3, 4, 2, 3],
        "Search": [6, 5, 8, 6],
        "Mobile App": [2, 3, 3, 1],
    }
    n = 4
    for i in range(n):
        start = today - timedelta(days=14 * (n - i))
        end = start + timedelta(days=13)
        Sprint.objects.create(
            nexus=nexus,
            number=i + 1,
            start_date=start,
            end_date=end,
            state=SprintState.CLOSED,
            goal=f"Sprint {i + 1}",
        )
        for team in teams:
            for k in range(finished[team.name][i]):
                _finished(
                    nexus, f"{team.name} work {i + 1}-{k + 1}", team, start + timedelta(days=(3 * k) % 12)
                )
    for ext, title in READY:
        pbi_create(nexus=nexus, title=title, external_id=ext, actor=None, column=column(nexus, "Ready"))
    for ext, title in REFINEMENT:
        pbi_create(nexus=nexus, title=title, external_id=ext, actor=None, column=column(nexus, "Refinement"))
    sprint = sprint_create(nexus=nexus, actor=None, start_date=today)
    by = {t.name: t for t in teams}
    sprint_update(
        sprint=sprint,
        actor=None,
        goal="A customer pays for the basket with a saved card, on the web and in the app",
        team_goals={
            by["Checkout"].pk: "One-click checkout with a saved card",
            by["Payments"].pk: "Saved cards and retries behind the checkout",
            by["Mobile App"].pk: "The same checkout in the app, with Apple Pay",
        },
    )
    plan = [
        ("SHOP-412", ["Checkout", "Payments"]),
        ("SHOP-436", ["Payments"]),
        ("SHOP-433", ["Checkout"]),
        ("SHOP-450", ["Search"]),
    ]
    for ext, names in plan:
        item = ProductBacklogItem.objects.get(backlog__nexus=nexus, external_id=ext)
        sprint_plan(sprint=sprint, item=item, teams=[by[n] for n in names], actor=None)
    return nexus, sprint


def _login(page: Page, live_server, username: str, path: str) -> None:
    page.set_viewport_size({"width": 1440, "height": 1000})
    page.goto(f"{live_server.url}{path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")


#: What htmx marks while something is in flight: a request, a swap or a settle.
HTMX_BUSY = ".htmx-request, .htmx-swapping, .htmx-settling"


def _htmx_idle(page: Page) -> None:
    """Wait until htmx has nothing in flight. A locator, not `wait_for_function`: the page's Content
    Security Policy (no 'unsafe-eval') refuses the string predicate Playwright evaluates while polling."""
    expect(page.locator(HTMX_BUSY)).to_have_count(0)


def _drag(page: Page, source, target) -> None:
    """A mouse drag in small steps (what Sortable needs to see a drag start and a list change), once
    the previous drop's swap has settled (boxes measured mid-swap move under the mouse)."""
    _htmx_idle(page)
    source.scroll_into_view_if_needed()
    box = source.bounding_box()
    dest = target.bounding_box()
    assert box
    assert dest
    page.mouse.move(box["x"] + 30, box["y"] + 10)
    page.mouse.down()
    page.mouse.move(box["x"] + 40, box["y"] + 20, steps=5)
    page.wait_for_selector(".plan-chosen", timeout=5000)  # Sortable took the card
    cx, cy = dest["x"] + dest["width"] / 2, dest["y"] + dest["height"] / 2
    page.mouse.move(cx, cy, steps=15)
    # Over the target list until Sortable shows the card's place there (a loaded machine can drop the
    # pointer events of one pass), as a person moves the mouse a little until the place shows.
    for wiggle in (2, 8, -8, 14, -14, 20):
        page.mouse.move(cx + wiggle, cy + wiggle, steps=4)
        if target.locator(".plan-ghost").count():
            break
        page.wait_for_timeout(100)
    page.mouse.up()


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


def _item(nexus, ext: str) -> ProductBacklogItem:
    return ProductBacklogItem.objects.get(backlog__nexus=nexus, external_id=ext)


def test_plan_by_dragging_start_and_watch_the_sprint_backlog_update(
    page: Page, browser: Browser, live_server
):
    nexus, sprint = _demo_nexus()
    _login(page, live_server, "po-e2e", f"/n/{nexus.slug}/planning/")
    expect(page.get_by_role("heading", name="Nexus Sprint Planning")).to_be_visible()
    expect(page.get_by_role("link", name="Planning")).to_have_attribute("aria-current", "page")
    lane = {
        name: page.locator(f'.lane-list[data-lane="{ScrumTeam.objects.get(nexus=nexus, name=name).pk}"]')
        for name in TEAMS
    }
    source = page.locator(".candidates")
    expect(source.locator(".plan-card").first).to_contain_text("SHOP-418")  # ready first

    # Drag SHOP-418 into Checkout, then SHOP-421 into Search.
    _drag(page, source.locator('.plan-card:has-text("SHOP-418")'), lane["Checkout"])
    expect(lane["Checkout"].locator('.plan-card:has-text("SHOP-418")')).to_be_visible()
    _drag(page, source.locator('.plan-card:has-text("SHOP-421")'), lane["Search"])
    expect(lane["Search"].locator('.plan-card:has-text("SHOP-421")')).to_be_visible()
    # A PBI already in a lane dragged into a second lane: a second square.
    _drag(page, lane["Checkout"].locator('.plan-card:has-text("SHOP-418")'), lane["Mobile App"])
    expect(lane["Mobile App"].locator('.plan-card:has-text("SHOP-418")')).to_be_visible()
    expect(lane["Checkout"].locator('.plan-card:has-text("SHOP-418")')).to_be_visible()
    item418, item421 = _item(nexus, "SHOP-418"), _item(nexus, "SHOP-421")
    assert set(SprintItem.objects.filter(sprint=sprint).values_list("item_id", flat=True)) >= {
        item418.pk,
        item421.pk,
    }
    assert set(TeamInvolvement.objects.filter(item=item418).values_list("team__name", flat=True)) == {
        "Checkout",
        "Mobile App",
    }
    assert list(TeamInvolvement.objects.filter(item=item421).values_list("team__name", flat=True)) == [
        "Search"
    ]
    # The PBI in refinement planned into Search is flagged, not refused.
    expect(page.locator(".plan-warnings")).to_contain_text("not ready (SHOP-450)")
    page.mouse.move(0, 0)
    page.evaluate("window.scrollTo(0, 0)")
    _shot(page, "sprint-planning.png")

    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name=f"Start Sprint {sprint.number}").click()
    expect(page.get_by_role("heading", name="Nexus Sprint Backlog")).to_be_visible()
    sprint.refresh_from_db()
    assert sprint.state == SprintState.ACTIVE

    # Some work done meanwhile, so the page shows every group.
    checkout = ScrumTeam.objects.get(nexus=nexus, name="Checkout")
    payments = ScrumTeam.objects.get(nexus=nexus, name="Payments")
    item412, item436 = _item(nexus, "SHOP-412"), _item(nexus, "SHOP-436")
    pbi_transition(item=item412, to_column=column(nexus, "In Progress"), actor=None)
    involvement_set_status(
        involvement=TeamInvolvement.objects.get(item=item412, team=checkout),
        status=TeamStatus.READY_TO_INTEGRATE,
        actor=None,
    )
    involvement_set_status(
        involvement=TeamInvolvement.objects.get(item=item412, team=payments),
        status=TeamStatus.IN_PROGRESS,
        actor=None,
    )
    pbi_transition(item=item436, to_column=column(nexus, "Review"), actor=None)
    involvement_set_status(
        involvement=TeamInvolvement.objects.get(item=item436, team=payments),
        status=TeamStatus.READY_TO_INTEGRATE,
        actor=None,
    )
    item433 = _item(nexus, "SHOP-433")
    pbi_transition(item=item433, to_column=column(nexus, "In Progress"), actor=None)
    involvement_set_status(
        involvement=TeamInvolvement.objects.get(item=item433, team=checkout),
        status=TeamStatus.DONE,
        actor=None,
    )
    squares_fill(item433)
    pbi_transition(item=item433, to_column=column(nexus, "Done"), actor=None)
    flow_recompute(nexus_id=nexus.pk)

    # The Nexus Sprint Backlog in a second browser context (another person), filtered to Checkout.
    other = browser.new_context(viewport={"width": 1440, "height": 700})
    viewer = other.new_page()
    viewer.goto(f"{live_server.url}/n/{nexus.slug}/sprint-backlog/")
    viewer.fill("input[name=username]", "nit-e2e")
    viewer.fill("input[name=password]", "pw")
    viewer.click("button[type=submit]")
    expect(viewer.get_by_role("heading", name="Nexus Sprint Backlog")).to_be_visible()
    expect(viewer.get_by_text("A customer pays for the basket with a saved card")).to_be_visible()
    started = viewer.locator(".sb-group.g-started")
    ready = viewer.locator(".sb-group.g-ready")
    expect(started.locator('.card:has-text("SHOP-412")')).to_be_visible()
    expect(ready.locator('.card:has-text("SHOP-436")')).to_be_visible()
    _shot(viewer, "sprint-backlog.png")

    viewer.select_option("#sb-team", label="Checkout")
    expect(viewer.locator(".sb-count")).to_contain_text("filtered")
    _htmx_idle(viewer)  # the filter's swap settled: it restores the scroll it saw
    viewer.evaluate("window.scrollTo(0, 120)")
    scroll = viewer.evaluate("window.scrollY")
    square = viewer.locator('.card:has-text("SHOP-418") .sq', has_text=checkout.code)
    expect(square).to_have_attribute("title", "Checkout: not started")
    expect(square).to_have_class(re.compile(r"\bsq-not_started\b"))
    # A Developer of Checkout starts its part (through the service): the square changes within 2 s.
    involvement_set_status(
        involvement=TeamInvolvement.objects.get(item=item418, team=checkout),
        status=TeamStatus.IN_PROGRESS,
        actor=None,
    )
    expect(square).to_have_attribute("title", "Checkout: in progress", timeout=2000)
    expect(square).to_have_class(re.compile(r"\bsq-in_progress\b"))
    expect(started.locator('.card:has-text("SHOP-418")')).to_be_visible()
    assert viewer.locator("#sb-team").input_value() == str(checkout.pk)  # the filter stays
    assert viewer.evaluate("window.scrollY") == scroll  # and so does the scroll position
    other.close()


def test_a_developer_drags_a_pbi_into_their_own_teams_lane(page: Page, live_server):
    """A Developer of Search (a team's representative) plans by dragging into Search's lane: the PBI
    appears there with Search's square; the other lanes are read-only (no drop, no remove button)."""
    nexus, sprint = _demo_nexus()
    search = ScrumTeam.objects.get(nexus=nexus, name="Search")
    checkout = ScrumTeam.objects.get(nexus=nexus, name="Checkout")
    membership_add(nexus=nexus, user=UserFactory.create(username="dev-e2e"), role=Role.DEVELOPER, team=search)
    _login(page, live_server, "dev-e2e", f"/n/{nexus.slug}/planning/")
    # Wide enough for the four lanes in one row: a drag crosses only the lanes between the Product
    # Backlog and its target (Search's is the last one, Checkout's the first).
    page.set_viewport_size({"width": 1800, "height": 1000})
    expect(page.get_by_text("You plan for Search")).to_be_visible()
    lane = page.locator(f'.lane-list[data-lane="{search.pk}"]')
    other = page.locator(f'.lane-list[data-lane="{checkout.pk}"]')
    expect(lane).to_have_attribute("data-drop", "1")
    expect(other).not_to_have_attribute("data-drop", "1")
    expect(page.locator(".lane.read-only")).to_have_count(len(TEAMS) - 1)
    expect(other.locator("button")).to_have_count(0)
    source = page.locator(".candidates")

    _drag(page, source.locator('.plan-card:has-text("SHOP-418")'), lane)
    card = lane.locator('.plan-card:has-text("SHOP-418")')
    expect(card).to_be_visible()
    square = card.locator(".sq", has_text=search.code)
    expect(square).to_have_attribute("title", "Search: Not started")
    expect(square).to_have_class(re.compile(r"\bsq-not_started\b"))
    expect(card.get_by_role("button", name="Take SHOP-418 out of Search's lane")).to_be_visible()
    item418 = _item(nexus, "SHOP-418")
    assert SprintItem.objects.filter(sprint=sprint, item=item418).exists()
    assert list(TeamInvolvement.objects.filter(item=item418).values_list("team__name", flat=True)) == [
        "Search"
    ]
    # Another team's lane takes no drop: nothing is asked of the server, nothing planned.
    _drag(page, source.locator('.plan-card:has-text("SHOP-421")'), other)
    _htmx_idle(page)
    expect(source.locator('.plan-card:has-text("SHOP-421")')).to_be_visible()
    expect(other.locator('.plan-card:has-text("SHOP-421")')).to_have_count(0)
    assert not SprintItem.objects.filter(sprint=sprint, item=_item(nexus, "SHOP-421")).exists()
    page.mouse.move(0, 0)
    page.evaluate("window.scrollTo(0, 0)")
    _shot(page, "sprint-planning-developer.png")


def test_keyboard_only_planning(page: Page, live_server):
    nexus, sprint = _demo_nexus()
    _login(page, live_server, "nit-e2e", f"/n/{nexus.slug}/planning/")
    select = page.locator("#plan-team")
    select.focus()
    page.keyboard.press("End")  # the last team (Search, by name)
    search = ScrumTeam.objects.get(nexus=nexus, name="Search")
    expect(select).to_have_value(str(search.pk))
    page.locator('.candidates .plan-card:has-text("SHOP-430") .plan-btn').focus()
    page.keyboard.press("Enter")
    search_lane = page.locator(
        f'.lane-list[data-lane="{ScrumTeam.objects.get(nexus=nexus, name="Search").pk}"]'
    )
    expect(search_lane.locator('.plan-card:has-text("SHOP-430")')).to_be_visible()
    # And out again with its remove button, once htmx has settled the swapped board (pressed while it
    # was still settling, the chosen team was lost once in a CI run).
    _htmx_idle(page)
    search_lane.locator('.plan-card:has-text("SHOP-430") button').focus()
    page.keyboard.press("Enter")
    expect(page.locator('.candidates .plan-card:has-text("SHOP-430")')).to_be_visible()
    assert not SprintItem.objects.filter(sprint=sprint, item=_item(nexus, "SHOP-430")).exists()
    # The team chosen stays chosen (the next PBI goes to the same team).
    expect(page.locator("#plan-team")).to_have_value(str(search.pk))


def test_no_active_sprint_page(page: Page, live_server):
    nexus, _sprint = _demo_nexus()
    _login(page, live_server, "nit-e2e", f"/n/{nexus.slug}/sprint-backlog/")
    expect(page.get_by_role("heading", name="No active Sprint")).to_be_visible()
    page.get_by_role("link", name="Go to Nexus Sprint Planning").click()
    expect(page.get_by_role("heading", name="Nexus Sprint Planning")).to_be_visible()
    page.go_back()
    _shot(page, "sprint-backlog-none.png")
