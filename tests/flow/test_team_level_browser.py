"""Real browser (Debian Chromium through Playwright): the flow page of a Scrum Team at both levels, its own
flow (the default with team-level history, CFD bands = the square states) and the Nexus columns of its
items, switched by the level buttons (kept in the URL), and the fallback of a team without team-level
history. Screenshots go to test-results/flow-team-level*.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from backlog.models import Role, ScrumTeam, TeamInvolvement, TeamStatus
from backlog.services import involvement_set_status, pbi_create
from flow.services import flow_recompute
from tests.factories import member, nexus_build

SHOTS = Path(__file__).resolve().parents[2] / "test-results"


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_flow_page_switches_between_the_two_levels_of_a_team(page: Page, live_server):
    nexus = nexus_build(teams=2, slug="levels")
    team_a, team_b = ScrumTeam.objects.filter(nexus=nexus).order_by("name")
    for i in range(6):
        item = pbi_create(nexus=nexus, title=f"Work {i}", actor=None, teams=[team_a, team_b])
        square = TeamInvolvement.objects.get(item=item, team=team_a)
        involvement_set_status(involvement=square, status=TeamStatus.IN_PROGRESS, actor=None)
        if i % 2:
            involvement_set_status(involvement=square, status=TeamStatus.READY_TO_INTEGRATE, actor=None)
    member(nexus, Role.STAKEHOLDER, username="watcher")
    flow_recompute(nexus_id=nexus.pk)
    SHOTS.mkdir(exist_ok=True)

    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "watcher")
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")

    page.goto(f"{live_server.url}/n/levels/flow/?team={team_a.slug}")
    expect(page.locator("#level-note")).to_contain_text("Team level:")
    expect(page.locator(".level-switch [aria-current=true]")).to_have_text("Team's own flow")
    expect(page.locator("#t-wip")).to_have_text("6")  # started today: finished ones count on their day
    page.screenshot(path=str(SHOTS / "flow-team-level-own.png"), full_page=False)

    page.get_by_role("link", name="Nexus columns of its items").click()
    expect(page.locator("#level-note")).to_contain_text("Nexus level:")
    assert "level=nexus" in page.url
    # the level is kept when the filters are applied
    page.fill("#f-mcd", "7")
    page.click("button:has-text('Show')")
    expect(page.locator("#level-note")).to_contain_text("Nexus level:")
    assert "level=nexus" in page.url
    page.screenshot(path=str(SHOTS / "flow-team-level-nexus.png"), full_page=False)

    page.goto(f"{live_server.url}/n/levels/flow/?team={team_b.slug}")
    expect(page.locator("#level-note")).to_contain_text(f"No team-level history for {team_b.name}")
    expect(page.locator(".level-switch [aria-disabled=true]")).to_have_text("Team's own flow")
