"""Real browser (Debian Chromium through Playwright): on the Cross-Team Refinement board the Product
Owner marks a PBI for two Scrum Teams and adds a dependency; on the Dependency board the SVG line of each
dependency is drawn and a late one is red. Screenshots: test-results/refinement.png, dependencies.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from backlog.models import Dependency, Role, TeamInvolvement
from backlog.services import pbi_create
from backlog.services.dependencies import dependency_create
from tests.events.sprint_helpers import sprint_build
from tests.factories import member, nexus_build, team

SHOTS = Path(__file__).resolve().parents[2] / "test-results"
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TITLES = [
    "Checkout API: invoice payment",
    "Invoice PDF template",
    "Payment reminder e-mails",
    "Ledger export for accounting",
    "Customer credit limit check",
]


def _login(page: Page, url: str, username: str) -> None:
    page.goto(url)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")


def test_mark_a_pbi_for_two_teams_and_add_a_dependency(page: Page, live_server):
    nexus = nexus_build(teams=3, slug="refine-e2e")
    member(nexus, Role.NIT_MEMBER, username="nia")
    items = [pbi_create(nexus=nexus, title=t, actor=None) for t in TITLES]
    first, second = items[0], items[1]
    page.set_viewport_size({"width": 1440, "height": 900})
    _login(page, f"{live_server.url}/n/{nexus.slug}/refinement/", "nia")
    expect(page.get_by_role("heading", name="Cross-Team Refinement")).to_be_visible()
    row = page.locator(f"#refine-{first.pk}")
    row.get_by_role("button", name=f"Team A needed for #{first.pk}").click()
    expect(
        page.locator(f"#refine-{first.pk}").get_by_role("button", name=f"Team A needed for #{first.pk}")
    ).to_have_attribute("aria-pressed", "true")
    page.locator(f"#refine-{first.pk}").get_by_role("button", name=f"Team B needed for #{first.pk}").click()
    expect(page.locator(f"#refine-{first.pk} .flag")).to_have_text("needs 2 teams")
    expect(page.locator("#ready-several")).to_have_text("1")
    assert set(TeamInvolvement.objects.filter(item=first).values_list("team__name", flat=True)) == {
        "Team A",
        "Team B",
    }

    row = page.locator(f"#refine-{first.pk}")
    row.locator("input[name=depends_on]").fill(str(second.pk))
    row.get_by_role("button", name="Add").click()
    expect(page.locator(f"#refine-{first.pk} .deps .dep")).to_contain_text(f"#{second.pk}")
    expect(page.locator(f"#refine-{second.pk} .deps .dependent")).to_contain_text(f"#{first.pk}")
    dep = Dependency.objects.get()
    assert (dep.item_id, dep.depends_on_id, dep.found_at) == (first.pk, second.pk, "refinement")

    # The reverse would close a cycle: refused in the row, with the reason.
    back = page.locator(f"#refine-{second.pk}")
    back.locator("input[name=depends_on]").fill(str(first.pk))
    back.get_by_role("button", name="Add").click()
    expect(page.locator(f"#refine-{second.pk} [role=alert]")).to_contain_text("cycle")
    page.screenshot(path=str(SHOTS / "refinement.png"), full_page=True)


def test_dependency_board_draws_lines_and_a_late_one_is_red(page: Page, live_server):
    nexus = nexus_build(teams=3, slug="depboard-e2e")
    a, b, c = team(nexus, "Team A"), team(nexus, "Team B"), team(nexus, "Team C")
    member(nexus, Role.DEVELOPER, username="ada", team_obj=a)
    items = [pbi_create(nexus=nexus, title=t, actor=None) for t in TITLES]
    s1 = sprint_build(nexus, started=True)
    s2 = sprint_build(nexus)
    from events.services import sprint_plan

    sprint_plan(sprint=s1, item=items[0], teams=[a], actor=None)
    sprint_plan(sprint=s1, item=items[1], teams=[b], actor=None)
    sprint_plan(sprint=s1, item=items[2], teams=[c], actor=None)
    sprint_plan(sprint=s2, item=items[3], teams=[b, c], actor=None)
    on_time = dependency_create(item=items[0], depends_on=items[1], actor=None)  # same Sprint: on time
    late = dependency_create(item=items[2], depends_on=items[3], actor=None)  # waits on Sprint 2: late
    page.set_viewport_size({"width": 1440, "height": 900})
    _login(page, f"{live_server.url}/n/{nexus.slug}/dependencies/", "ada")
    expect(page.get_by_role("heading", name="Dependency board")).to_be_visible()
    lines = page.locator("#dep-lines path[data-dependency]")
    expect(lines).to_have_count(2)
    red = page.locator(f'#dep-lines path[data-dependency="{late.pk}"]')
    expect(red).to_have_class("late")
    assert red.evaluate("p => getComputedStyle(p).stroke") == "rgb(211, 47, 47)"
    blue = page.locator(f'#dep-lines path[data-dependency="{on_time.pk}"]')
    assert blue.evaluate("p => getComputedStyle(p).stroke") != "rgb(211, 47, 47)"
    assert len(blue.get_attribute("d") or "") > 10
    expect(page.locator(".dep-list li.late")).to_have_count(1)
    # Keyboard: focusing a card highlights its chain.
    page.locator(f"#dep-card-{items[0].pk}-{a.pk}").focus()
    expect(page.locator(f"#dep-card-{items[1].pk}-{b.pk}")).to_have_class("dep-card chain")
    page.screenshot(path=str(SHOTS / "dependencies.png"), full_page=True)
    # Filter by team: Team C's row only.
    page.select_option("#dep-team", "team-c")
    expect(page.locator("#depboard tbody tr")).to_have_count(1)
