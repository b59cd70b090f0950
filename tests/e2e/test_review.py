"""Real browser (Debian Chromium through Playwright): on the Nexus Sprint Review page a Developer records
a stakeholder's feedback (an empty note is refused in the page first), makes it a new PBI in one click
(the form opens in place, prefilled), and the note shows the PBI it became. Screenshot:
test-results/review.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from backlog.models import ProductBacklogItem, Role, ScrumTeam
from backlog.services import goal_create
from backlog.services.items import pbi_product_goal_set
from events.models import NoteOutcome, ReviewNote
from events.services import sprint_update
from tests.events.sprint_helpers import items, sprint_build
from tests.factories import member, nexus_build

SHOTS = Path(__file__).resolve().parents[2] / "test-results"
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_add_a_note_and_make_it_a_pbi(page: Page, live_server):
    nexus = nexus_build(teams=2, slug="review-e2e", items=4)
    team = ScrumTeam.objects.get(nexus=nexus, name="Team A")
    sprint = sprint_build(nexus, planned=items(nexus)[:3], team=team, started=True)
    sprint_update(
        sprint=sprint, actor=None, goal="Customers pay by card", team_goals={team.pk: "The card API"}
    )
    goal = goal_create(nexus=nexus, text="Customers pay online")
    for item in items(nexus)[:3]:
        pbi_product_goal_set(item=item, goal=goal, actor=None)
    member(nexus, Role.DEVELOPER, username="dana", team_obj=team)

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/n/{nexus.slug}/review/")
    page.fill("input[name=username]", "dana")
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Nexus Sprint Review · Sprint 1")).to_be_visible()
    expect(page.get_by_text("Customers pay by card")).to_be_visible()
    expect(page.get_by_text("0 of 3 linked PBIs done")).to_be_visible()

    # An empty note is refused in the page, next to the field.
    page.get_by_role("button", name="Add the note").click()
    expect(page.locator("#review-notes .field-error")).to_be_visible()
    page.fill("#review-notes textarea[name=text]", "Let customers save their card for next time")
    page.fill("#review-notes input[name=stakeholder]", "Head of sales")
    page.get_by_role("button", name="Add the note").click()
    expect(page.get_by_text("Feedback recorded.")).to_be_visible()
    note = page.locator(".note", has_text="save their card")
    expect(note).to_contain_text("Head of sales")

    # One click opens the form in place, prefilled from the note; one more creates the PBI.
    note.get_by_role("button", name="Make a PBI").click()
    title = page.locator(".note-action input[name=title]")
    expect(title).to_have_value("Let customers save their card for next time")
    title.fill("Save the card for the next payment")
    page.get_by_role("button", name="Create the PBI").click()
    expect(page.locator(".note.outcome-new_pbi")).to_contain_text("Save the card for the next payment")
    expect(page.get_by_text("created from the feedback")).to_be_visible()
    page.screenshot(path=str(SHOTS / "review.png"), full_page=True)

    saved = ReviewNote.objects.get(sprint=sprint)
    assert saved.outcome == NoteOutcome.NEW_PBI
    assert saved.item_id is not None
    assert ProductBacklogItem.objects.get(pk=saved.item_id).title == "Save the card for the next payment"
