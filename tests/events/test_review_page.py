"""The Nexus Sprint Review page (`events.views_review`): the latest Sprint's redirect, the Sprint's goals
with what was done, the Product Goal's progress and its forecast (or "cannot forecast" with the reason),
integration's panel slot, the notes and their one-click actions through htmx partials with form errors
in the page, who sees which button, and a number of queries that does not grow with the data."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backlog.models import ProductBacklogItem, Role, ScrumTeam
from backlog.services import goal_create
from backlog.services.items import pbi_product_goal_set
from events.models import NoteOutcome, ReviewNote
from events.review_forecast import goal_forecast_compute
from events.services import sprint_close, sprint_update
from events.services.review import review_note_add
from flow.history import nexus_today
from flow.models import ItemFlow
from tests.events.sprint_helpers import finish, items, sprint_build
from tests.factories import member, nexus_build

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()


def _teams(nexus) -> list[ScrumTeam]:
    return list(ScrumTeam.objects.filter(nexus=nexus).order_by("name"))


def _reviewed(nexus, n: int = 4, notes: int = 2):
    """A Sprint of the first `n` PBIs (Team A), half of them finished, with goals and `notes` notes;
    the Product Goal with those PBIs linked."""
    a, b, _c = _teams(nexus)
    scope = items(nexus)[:n]
    sprint = sprint_build(nexus, planned=scope, team=a, started=True)
    sprint_update(
        sprint=sprint, actor=None, goal="Pay by card", team_goals={a.pk: "The API", b.pk: "The form"}
    )
    goal = goal_create(nexus=nexus, text="Customers pay online")
    for item in scope:
        pbi_product_goal_set(item=item, goal=goal, actor=None)
    for item in scope[: n // 2]:
        finish(item)
    for k in range(notes):
        review_note_add(sprint=sprint, text=f"Feedback {k}", stakeholder="Ops", actor=None)
    sprint.refresh_from_db()
    return sprint, goal


def _url(nexus, sprint) -> str:
    return reverse("events:review", args=[nexus.slug, sprint.pk])


def test_latest_goes_to_the_active_sprint_and_without_one_says_so(client):
    nexus = nexus_build(items=3)
    client.force_login(member(nexus, Role.STAKEHOLDER, username="sh"))
    empty = client.get(reverse("events:review-latest", args=[nexus.slug]))
    assert empty.status_code == 200
    assert "No Sprint to review yet" in empty.content.decode()
    sprint, _goal = _reviewed(nexus)
    response = client.get(reverse("events:review-latest", args=[nexus.slug]))
    assert response.status_code == 302
    assert response["Location"] == _url(nexus, sprint)
    planned = sprint_build(nexus)
    assert client.get(_url(nexus, planned)).status_code == 404  # its review comes at its end


def test_the_page_shows_goals_done_progress_panel_and_notes(client):
    nexus = nexus_build(items=6)
    sprint, _goal = _reviewed(nexus)
    client.force_login(member(nexus, Role.DEVELOPER, username="dev", team_obj=_teams(nexus)[0]))
    page = client.get(_url(nexus, sprint)).content.decode()
    assert "Nexus Sprint Review · Sprint 1" in page
    assert "Pay by card" in page
    assert "The API" in page
    assert "The form" in page
    assert "2 done, 2 not done" in page  # Team A
    assert "<strong>2</strong> of 4 linked PBIs done (50 %)" in page
    assert "Cannot forecast.</strong> No Scrum Team finished a PBI" in page  # none finished before today
    assert "Feedback 1" in page
    assert page.count(">Make a PBI</button>") == 2
    # integration's panel, loaded by htmx with the Sprint (this app never names it)
    assert f"increments/review-panel/?sprint={sprint.pk}" in page
    assert "Review</a>" in page  # the nav entry


def test_the_integration_panel_lists_the_sprints_increments(client):
    from integration.services_dod import criterion_add
    from integration.services_increments import increment_create

    nexus = nexus_build(items=3)
    sprint, _goal = _reviewed(nexus, n=2, notes=0)
    criterion_add(nexus=nexus, text="Code reviewed", actor=None)
    increment_create(sprint=sprint, actor=None, name="First")
    client.force_login(member(nexus, Role.STAKEHOLDER, username="sh"))
    panel = client.get(reverse("integration:review-panel", args=[nexus.slug]) + f"?sprint={sprint.pk}")
    body = panel.content.decode()
    assert panel.status_code == 200
    assert "Increment 1: First" in body
    assert "0 of 1 criteria confirmed" in body
    assert (
        client.get(reverse("integration:review-panel", args=[nexus.slug]) + "?sprint=999999").status_code
        == 404
    )


def test_a_closed_sprint_counts_what_its_close_snapshot_says(client):
    nexus = nexus_build(items=4)
    sprint, _goal = _reviewed(nexus, n=4, notes=0)
    sprint_close(sprint=sprint, actor=None, destinations={i.pk: "backlog" for i in items(nexus)[2:4]})
    client.force_login(member(nexus, Role.STAKEHOLDER, username="sh"))
    page = client.get(_url(nexus, sprint)).content.decode()
    assert "Closed · 2 of 4 PBIs done" in page


def test_forecast_with_throughput_and_its_cache(client):
    nexus = nexus_build(items=6)
    sprint, goal = _reviewed(nexus, n=4, notes=0)
    a = _teams(nexus)[0]
    today = nexus_today(nexus)
    # Stored flow figures: Team A finished a PBI every other day over the last 30 days.
    extra = [
        ProductBacklogItem.objects.create(
            backlog=nexus.backlog,
            title=f"Old {k}",
            rank=10_000 + k,
            column=items(nexus)[0].column,
            created_at=sprint.created_at,
            updated_at=sprint.created_at,
        )
        for k in range(15)
    ]
    ItemFlow.objects.bulk_create(
        ItemFlow(item=i, nexus=nexus, finished_on=today - timedelta(days=2 * k + 1), teams=[a.pk])
        for k, i in enumerate(extra)
    )
    fc = goal_forecast_compute(nexus=nexus, goal=goal)
    assert fc.reason is None
    assert fc.remaining == 2
    assert list(fc.dates) == [50, 70, 85, 95]
    d50, d85, d95 = fc.dates[50], fc.dates[85], fc.dates[95]
    assert d50 is not None
    assert d85 is not None
    assert d95 is not None
    assert d50 <= d85 <= d95
    client.force_login(member(nexus, Role.STAKEHOLDER, username="sh"))
    page = client.get(_url(nexus, sprint)).content.decode()
    assert "All 2 remaining PBIs done by" in page
    assert d85.strftime("%-d %b %Y") in page
    with CaptureQueriesContext(connection) as cold:
        client.get(_url(nexus, sprint) + "?x=1")
    # The forecast is cached per change-counter value: no forecast query on the second read.
    assert not any("flow_itemflow" in q["sql"] for q in cold.captured_queries)


def test_no_goal_and_nothing_linked_are_reasons_too():
    nexus = nexus_build(items=2)
    assert goal_forecast_compute(nexus=nexus, goal=None).reason == "The Nexus has no active Product Goal."
    goal = goal_create(nexus=nexus, text="Goal")
    assert "No PBI is linked" in str(goal_forecast_compute(nexus=nexus, goal=goal).reason)


def test_an_unchanged_review_answers_304_and_a_new_note_changes_it(client):
    nexus = nexus_build(items=4)
    sprint, _goal = _reviewed(nexus, notes=1)
    client.force_login(member(nexus, Role.NIT_MEMBER, username="nia"))
    client.get(_url(nexus, sprint))  # the first page sets the CSRF cookie, which the ETag covers
    first = client.get(_url(nexus, sprint))
    assert first.status_code == 200
    tag = first["ETag"]
    assert client.get(_url(nexus, sprint), HTTP_IF_NONE_MATCH=tag).status_code == 304
    review_note_add(sprint=sprint, text="One more", stakeholder="Ops", actor=None)
    again = client.get(_url(nexus, sprint), HTTP_IF_NONE_MATCH=tag)
    assert again.status_code == 200
    assert "One more" in again.content.decode()


def test_add_a_note_and_errors_in_the_page(client):
    nexus = nexus_build(items=4)
    sprint, _goal = _reviewed(nexus, notes=0)
    client.force_login(member(nexus, Role.STAKEHOLDER, username="sh"))
    add = reverse("events:review-note-add", args=[nexus.slug, sprint.pk])
    bad = client.post(add, {"text": "   "}, **HX)
    assert bad.status_code == 422
    assert 'id="review-notes"' in bad.content.decode()
    assert "This field is required." in bad.content.decode()
    ok = client.post(add, {"text": "Love it", "stakeholder": "CFO"}, **HX)
    assert ok.status_code == 200
    body = ok.content.decode()
    assert "Feedback recorded." in body
    assert "Love it" in body
    assert "<html" not in body  # the `notes` part alone
    assert ">Make a PBI</button>" not in body  # a Stakeholder does not create PBIs
    plain = client.post(add, {"text": "Without htmx"})
    assert plain.status_code == 302


def test_make_a_pbi_and_the_rule_on_who_creates(client):
    nexus = nexus_build(items=4)
    sprint, _goal = _reviewed(nexus, notes=1)
    note = ReviewNote.objects.get(sprint=sprint)
    url = reverse("events:review-note-pbi", args=[nexus.slug, sprint.pk, note.pk])
    client.force_login(member(nexus, Role.STAKEHOLDER, username="sh"))
    refused = client.post(url, {"title": "Mine", "description": "", "version": 1}, **HX)
    assert refused.status_code == 403
    assert "the Nexus&#x27;s other members add items" in refused.content.decode()
    client.force_login(member(nexus, Role.DEVELOPER, username="dev", team_obj=_teams(nexus)[0]))
    form = client.get(url, **HX).content.decode()
    assert 'value="Feedback 0"' in form  # the title prefilled from the note
    bad = client.post(url, {"title": "", "version": 1}, **HX)
    assert bad.status_code == 422
    done = client.post(url, {"title": "A real PBI", "description": "From review", "version": 1}, **HX)
    assert done.status_code == 200
    note.refresh_from_db()
    assert note.outcome == NoteOutcome.NEW_PBI
    assert note.item is not None
    assert note.item.title == "A real PBI"
    assert f"PBI {note.item_id} created from the feedback." in done.content.decode()
    again = client.post(url, {"title": "Twice", "version": 2}, **HX)
    assert again.status_code == 409  # history now: the message in the form


def test_link_to_a_pbi_prefills_and_saves_it(client):
    nexus = nexus_build(items=4)
    sprint, _goal = _reviewed(nexus, notes=1)
    note = ReviewNote.objects.get(sprint=sprint)
    target = items(nexus)[3]
    url = reverse("events:review-note-link", args=[nexus.slug, sprint.pk, note.pk])
    client.force_login(member(nexus, Role.DEVELOPER, username="dev", team_obj=_teams(nexus)[0]))
    form = client.get(url + f"?item={target.pk}", **HX).content.decode()
    assert f'value="{target.title}"' in form
    missing = client.post(url, {"item": 999999, "title": "x", "version": 1}, **HX)
    assert missing.status_code == 422
    assert "No Product Backlog Item 999999" in missing.content.decode()
    ok = client.post(
        url,
        {
            "item": target.pk,
            "title": "Wider",
            "description": "And records",
            "version": 1,
            "item_version": target.version,
        },
        **HX,
    )
    assert ok.status_code == 200, ok.content.decode()[:500]
    target.refresh_from_db()
    assert (target.title, target.description) == ("Wider", "And records")
    note.refresh_from_db()
    assert (note.outcome, note.item_id) == ("changed_pbi", target.pk)


def test_constant_queries_with_small_and_large_reviews(client, django_assert_max_num_queries):
    counts = []
    for n, notes in ((2, 1), (24, 30)):
        nexus = nexus_build(teams=3, items=n + 2, slug=f"rvq{n}")
        sprint, _goal = _reviewed(nexus, n=n, notes=notes)
        ReviewNote.objects.filter(sprint=sprint).update(outcome=NoteOutcome.OPEN)
        client.force_login(member(nexus, Role.DEVELOPER, username=f"dev{n}", team_obj=_teams(nexus)[0]))
        url = _url(nexus, sprint)
        cache.clear()
        with CaptureQueriesContext(connection) as cold:
            client.get(url)
        with CaptureQueriesContext(connection) as warm:
            client.get(url)
        with CaptureQueriesContext(connection) as part:
            client.get(url, **HX)
        counts.append((len(cold.captured_queries), len(warm.captured_queries), len(part.captured_queries)))
    assert counts[0] == counts[1], counts
    assert max(max(c) for c in counts) <= 22, counts  # today: 16 cold (forecast read), 14 warm, 13 the part
    with django_assert_max_num_queries(counts[0][1]):
        client.get(url)


def test_latest_is_the_closed_sprint_until_the_active_one_ends():
    from events.selectors_review import review_sprint_latest

    nexus = nexus_build(items=4)
    first = sprint_build(nexus, planned=items(nexus)[:1], started=True)
    sprint_close(sprint=first, actor=None, destinations={items(nexus)[0].pk: "backlog"})
    today = nexus_today(nexus)
    current = sprint_build(nexus, start=today, started=True)
    assert review_sprint_latest(nexus=nexus) == first  # day 1 of the active Sprint: last Sprint's review
    review_note_add(sprint=current, text="Early feedback", actor=None)
    assert review_sprint_latest(nexus=nexus) == current  # it has notes: its review is under way
