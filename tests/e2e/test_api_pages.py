"""Real browser: the API tokens page (create: shown once; revoke), a Nexus's webhooks with their
delivery log, and the API docs, which render from vendored assets (offline)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from backlog.models_api import WebhookDelivery
from backlog.services import pbi_create
from tests.api.receiver import receiver
from tests.factories import nexus_build

SHOTS = Path(__file__).resolve().parents[2] / "test-results"


def _log_in(page: Page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_tokens_webhooks_and_docs(page: Page, live_server, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    nexus = nexus_build(slug="api-e2e", items=3)
    SHOTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    _log_in(page, live_server, "po-api-e2e")

    page.get_by_role("link", name="API", exact=True).click()
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    page.fill("input[name=name]", "Jira sync on build-01")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").inner_text()
    assert token.startswith("nxf_")
    page.screenshot(path=str(SHOTS / "api-tokens.png"), full_page=True)
    page.reload()
    expect(page.locator("#new-token")).to_have_count(0)
    expect(page.get_by_role("cell", name="Jira sync on build-01", exact=True)).to_be_visible()

    page.get_by_role("link", name=nexus.name).click()
    expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
    with receiver([500]) as r:
        page.fill("input[name=url]", r.url)
        page.get_by_role("button", name="Register webhook").click()
        expect(page.locator("#webhook-secret")).to_be_visible()
        pbi_create(nexus=nexus, title="Hooked item", actor=None)
        pbi_create(nexus=nexus, title="Second hooked item", actor=None)
        assert WebhookDelivery.objects.count() == 2
        page.goto(f"{live_server.url}/n/{nexus.slug}/webhooks/")
        page.screenshot(path=str(SHOTS / "api-webhooks.png"), full_page=True)
        page.get_by_role("link", name="Delivery log").click()
        expect(page.get_by_text("HTTP 500")).to_be_visible()
        expect(page.locator(".st-succeeded")).to_have_count(1)
        page.screenshot(path=str(SHOTS / "api-webhook-log.png"), full_page=True)
        page.locator("tr", has_text="HTTP 500").get_by_role("button").click()
        expect(page.locator(".st-succeeded")).to_have_count(2)

    page.goto(f"{live_server.url}/api/docs/")
    expect(page.get_by_text("Nexus Flow API")).to_be_visible()
    expect(page.locator(".opblock").first).to_be_visible()
    page.screenshot(path=str(SHOTS / "api-docs.png"))
