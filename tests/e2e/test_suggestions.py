"""Real browser (Debian Chromium through Playwright): on the Cross-Team Refinement board a Developer opens a
PBI's suggested dependencies (loaded by htmx), confirms one (a dependency found at Cross-Team Refinement)
and dismisses another (never suggested again). Screenshot: test-results/suggestions.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.cache import cache
from playwright.sync_api import Page, expect

from backlog.models import Dependency, FoundAt, Role, SuggestionDismissal
from backlog.services import pbi_create
from backlog.suggestions import index as suggestion_cache
from tests.factories import member, nexus_build, team

SHOTS = Path(__file__).resolve().parents[2] / "test-results"
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_confirm_and_dismiss_a_suggested_dependency(page: Page, live_server):
    cache.clear()
    suggestion_cache._local.clear()
    nexus = nexus_build(teams=2, slug="suggest-e2e")
    member(nexus, Role.DEVELOPER, username="dana", team_obj=team(nexus))
    a = pbi_create(nexus=nexus, title="Invoice PDF export", description="Invoice as PDF", actor=None)
    b = pbi_create(nexus=nexus, title="Invoice PDF template", description="PDF layout", actor=None)
    c = pbi_create(nexus=nexus, title="Invoice numbering", description="Invoice numbers", actor=None)
    pbi_create(nexus=nexus, title="Ledger sync", actor=None)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/n/{nexus.slug}/refinement/")
    page.fill("input[name=username]", "dana")
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    row = page.locator(f"#refine-{a.pk}")
    row.locator("summary", has_text="Suggested dependencies").click()
    suggested = row.locator(f"li[data-suggested='{b.pk}']")
    expect(suggested).to_contain_text("shared terms:")
    expect(row.locator(f"li[data-suggested='{c.pk}']")).to_be_visible()
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "suggestions.png"), full_page=True)

    suggested.get_by_role("button", name=f"Confirm #{b.pk} as a dependency of #{a.pk}").click()
    expect(page.locator(f"#refine-{a.pk} .suggest-done")).to_have_text(
        f"Dependency added: #{a.pk} → #{b.pk}."
    )
    expect(page.locator(f"#refine-{a.pk} li.dep[data-dependency]")).to_contain_text(f"#{b.pk}")
    dep = Dependency.objects.get()
    assert (dep.item_id, dep.depends_on_id, dep.found_at) == (a.pk, b.pk, FoundAt.REFINEMENT)
    assert dep.found_by is not None
    assert dep.found_by.username == "dana"
    expect(page.locator(f"#refine-{a.pk} li[data-suggested='{b.pk}']")).to_have_count(0)

    page.locator(f"#refine-{a.pk} li[data-suggested='{c.pk}']").get_by_role(
        "button", name=f"Dismiss #{c.pk}"
    ).click()
    expect(page.locator(f"#refine-{a.pk} .suggest-done")).to_contain_text("will not be suggested")
    expect(page.locator(f"#refine-{a.pk} li[data-suggested='{c.pk}']")).to_have_count(0)
    assert SuggestionDismissal.objects.filter(item_low=a, item_high=c).exists()
    page.screenshot(path=str(SHOTS / "suggestions-after.png"), full_page=True)
