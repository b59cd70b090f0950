"""Real browser (Debian Chromium through Playwright): at a Sprint's Nexus Sprint Retrospective, a Nexus
Integration Team member closes an action carried from the previous retrospective, records a cross-team
issue (part 1), a Scrum Team item linked to it (part 2) and agrees an improvement action (part 3), with the
keyboard for part 1; a refusal shows in its part; then renames a column of the Definition of Workflow.
Screenshots: test-results/retrospective.png and /tmp/retro-e2e.png."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from backlog.models import Role, WorkflowColumn
from events.models import ImprovementAction, RetroItem
from events.services import sprint_close
from events.services.retro import action_agree
from tests.events.sprint_helpers import sprint_build
from tests.factories import member, nexus_build, team

SHOTS = Path(__file__).resolve().parents[2] / "test-results"
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_record_each_part_and_agree_an_action(page: Page, live_server):
    nexus = nexus_build(teams=3, slug="retro-e2e", items=4)
    nina = member(nexus, Role.NIT_MEMBER, username="nina")
    member(nexus, Role.DEVELOPER, username="dana", team_obj=team(nexus, "Team A"))
    first = sprint_build(nexus, started=True)
    action_agree(
        sprint=first,
        actor=nina,
        title="Merge by the Sprint's second-to-last day",
        owner=nina,
        at=timezone.now() - timedelta(days=16),
    )
    sprint_close(sprint=first, actor=None)
    sprint = sprint_build(nexus, started=True)

    page.set_viewport_size({"width": 1440, "height": 1000})
    page.goto(f"{live_server.url}/n/{nexus.slug}/retrospective/")
    page.fill("input[name=username]", "nina")
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    expect(
        page.get_by_role("heading", name=f"Nexus Sprint Retrospective · Sprint {sprint.number}")
    ).to_be_visible()

    # The carried action comes first; it is marked done at this retrospective.
    carried = page.locator("#retro-carried")
    expect(carried).to_contain_text("Merge by the Sprint's second-to-last day")
    expect(carried).to_contain_text("open for 16 days")
    carried.locator("select[name=status]").select_option("done")
    carried.get_by_role("button", name="Set").click()
    expect(page.locator("#retro-carried")).to_contain_text("Closed at this retrospective")

    # Part 1 with the keyboard: type, Enter submits.
    page.locator("#ct-text").focus()
    page.keyboard.type("Nightly build red for three days after a late merge")
    page.keyboard.press("Enter")
    expect(page.locator("#retro-part1")).to_contain_text("Cross-team issue recorded.")
    expect(page.locator("#retro-part1")).to_contain_text("Nightly build red for three days")

    # Part 2: Team A's item, linked to the new cross-team issue (parts 2 and 3 reloaded themselves).
    expect(page.locator("#ti-ct")).to_contain_text("Nightly build red for three days")
    page.select_option("#ti-team", str(team(nexus, "Team A").pk))
    page.fill("#ti-text", "We merged the parser change on the last day")
    page.select_option("#ti-ct", str(RetroItem.objects.get(part="cross_team").pk))
    page.locator("#retro-part2").get_by_role("button", name="Record").click()
    expect(page.locator("#retro-part2")).to_contain_text("Team item recorded.")
    expect(page.locator(f"#team-{team(nexus, 'Team A').pk}")).to_contain_text("cross-team issue")
    expect(page.locator("#retro-part1")).to_contain_text("1 team item linked: Team A")  # part 1 reloaded

    # Part 3: an action with its owner, tracked until done.
    page.fill("#ac-title", "Run the integration build on every merge")
    page.select_option("#ac-owner", "nina")
    page.locator("#retro-part3").get_by_role("button", name="Agree").click()
    part3 = page.locator("#retro-part3")
    expect(part3).to_contain_text("Improvement action agreed.")
    expect(part3).to_contain_text("Run the integration build on every merge")
    assert ImprovementAction.objects.filter(sprint=sprint, owner=nina, status="open").exists()
    page.locator("#ct-text").fill(" ")
    page.locator("#retro-part1").get_by_role("button", name="Record").click()
    expect(page.locator("#retro-part1 .msg-error")).to_contain_text("Give the retrospective item a text")

    # The Definition of Workflow, changed by the Nexus Integration Team from this page.
    review = WorkflowColumn.objects.get(nexus=nexus, name="Review")
    page.fill(f"#cn-{review.pk}", "Peer review")
    page.fill(f"#cw-{review.pk}", "3")
    page.get_by_role("button", name="Save column Review").click()
    expect(page.locator("#retro-workflow")).to_contain_text("Column “Peer review” saved.")
    review.refresh_from_db()
    assert (review.name, review.wip_limit) == ("Peer review", 3)

    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "retrospective.png"), full_page=True)
    page.screenshot(path="/tmp/retro-e2e.png", full_page=True)
