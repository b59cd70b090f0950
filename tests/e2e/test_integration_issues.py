"""Real browser (Debian Chromium through Playwright): a Scrum Master raises an integration issue on the
Nexus's integration issues page, a Nexus Integration Team member escalates it to the Nexus and on to the
Executive Action Team, and an Executive Action Team member sees it on the EAT page and records a
decision. Screenshots: test-results/integration-issues.png, integration-issues-refused.png, eat.png."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from backlog.models import Role, ScrumTeam
from integration.models_issues import IntegrationIssue
from integration.services_issues import issue_escalate, issue_raise
from tests.factories import member, nexus_build

SHOTS = Path(__file__).resolve().parents[2] / "test-results"
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _login(page: Page, url: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(url)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")


def test_raise_escalate_to_the_eat_and_record_a_decision(page: Page, live_server):
    nexus = nexus_build(teams=3, slug="issues-e2e", items=4)
    core = ScrumTeam.objects.get(nexus=nexus, name="Team A")
    member(nexus, Role.SCRUM_MASTER, username="sam", team_obj=core)
    member(nexus, Role.NIT_MEMBER, username="nina")
    member(nexus, Role.EAT_MEMBER, username="erin")
    # Some history so the page has ages at each level.
    t0 = timezone.now() - timedelta(days=12)
    old = issue_raise(
        nexus=nexus, actor=None, title="No shared JDK 21 build agent", at=t0, teams=[core]
    ).issue
    issue_escalate(issue=old, actor=None, at=t0 + timedelta(days=4))
    issue_escalate(issue=old, actor=None, at=t0 + timedelta(days=7))
    issue_raise(
        nexus=nexus, actor=None, title="Review environment lags a Sprint", level=2, at=t0 + timedelta(days=8)
    )

    page.set_viewport_size({"width": 1366, "height": 900})
    url = f"{live_server.url}/n/{nexus.slug}/issues/"
    _login(page, url, "sam")
    expect(page.get_by_role("heading", name="Integration issues")).to_be_visible()
    page.get_by_text("Raise an integration issue").click()
    page.fill("#i-title", "Nightly integration build red since the parser change")
    page.fill("#i-desc", "Team A's parser change breaks Team B's formatter tests.")
    page.select_option("#i-team", str(core.pk))
    page.click("form[hx-post$='/issues/raise/'] button[type=submit]")
    expect(page.get_by_text("Issue raised.")).to_be_visible()
    card = page.locator(".issue", has_text="Nightly integration build red")
    expect(card).to_contain_text("L1 0 h")
    # A Scrum Master escalates to the Nexus (level 2).
    card.get_by_role("button", name="Escalate to L2").click()
    expect(page.locator(".issue", has_text="Nightly integration build red")).to_have_attribute(
        "data-level", "2"
    )

    # Nina (Nexus Integration Team) escalates it to the Executive Action Team.
    _login(page, url, "nina")
    card = page.locator(".issue", has_text="Nightly integration build red")
    card.locator("input[name=note]").fill("Needs a second build agent: budget")
    card.get_by_role("button", name="Escalate to L3").click()
    card = page.locator(".issue", has_text="Nightly integration build red")
    expect(card).to_have_attribute("data-level", "3")
    expect(card).to_contain_text("With the Executive Action Team")
    page.screenshot(path=str(SHOTS / "integration-issues.png"), full_page=True)
    # Escalating an issue at the top again is refused in the page (a second tab's stale button).
    page.evaluate(
        """id => htmx.ajax('POST', `/n/issues-e2e/issues/${id}/escalate/`,
                            {target: '#issues-body', swap: 'outerHTML'})""",
        IntegrationIssue.objects.get(title__startswith="Nightly").pk,
    )
    expect(page.get_by_role("alert")).to_contain_text("no level above it")
    page.screenshot(path=str(SHOTS / "integration-issues-refused.png"))

    # Erin (Executive Action Team) sees both level-3 impediments, longest waiting first, and decides.
    _login(page, f"{live_server.url}/eat/", "erin")
    expect(page.get_by_role("heading", name="Executive Action Team")).to_be_visible()
    items = page.locator("#eat-body .issue h3")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text("No shared JDK 21 build agent")  # at level 3 for 5 days already
    target = page.locator(".issue", has_text="Nightly integration build red")
    target.locator("input[name=decision]").fill("Fund a second build agent this month; IT reports Friday.")
    target.get_by_role("button", name="Record decision").click()
    expect(page.get_by_text("Decision recorded on")).to_be_visible()
    expect(page.locator(".issue", has_text="Nightly integration build red")).to_contain_text(
        "Fund a second build agent this month"
    )
    page.screenshot(path=str(SHOTS / "eat.png"), full_page=True)
    issue = IntegrationIssue.objects.get(title__startswith="Nightly")
    assert issue.decision.startswith("Fund a second build agent")
    assert list(issue.history.values_list("kind", flat=True)) == [
        "raised",
        "escalated",
        "escalated",
        "decision",
    ]
