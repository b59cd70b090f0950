"""The suggested dependencies on the Cross-Team Refinement board (events/views_suggestions.py): the list
loaded by htmx or as a page, confirm and dismiss answering the board with the list open, refusals with
their status and message, and the board's queries unchanged by the suggestions (loaded on opening)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

from backlog.models import Dependency, Role, SuggestionDismissal
from backlog.services import pbi_create
from backlog.suggestions import index as suggestion_cache
from tests.factories import member, nexus_build

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_index():
    cache.clear()
    suggestion_cache._local.clear()


def _setup(client, role=Role.PRODUCT_OWNER):
    nexus = nexus_build()
    items = [pbi_create(nexus=nexus, title=f"Invoice PDF export {i}", actor=None) for i in range(3)]
    user = member(nexus, role, username=f"u-{nexus.slug}") if role != Role.PRODUCT_OWNER else None
    client.login(username=user.username if user else f"po-{nexus.slug}", password="pw")
    return nexus, items


def _url(nexus, item, rest=""):
    return reverse("events:refinement-suggestions", args=[nexus.slug, item.pk]) + rest


def test_the_list_as_a_partial_and_as_a_page(client):
    nexus, (a, b, _c) = _setup(client)
    part = client.get(_url(nexus, a), HTTP_HX_REQUEST="true")
    assert part.status_code == 200
    html = part.content.decode()
    assert f'data-suggested="{b.pk}"' in html
    assert "shared terms:" in html
    assert "<html" not in html
    page = client.get(_url(nexus, a))
    assert "<html" in page.content.decode()
    assert "Suggested dependencies of #" in page.content.decode()


def test_confirm_and_dismiss_answer_the_board_with_the_list_open(client):
    nexus, (a, b, c) = _setup(client)
    done = client.post(
        _url(nexus, a, f"{b.pk}/confirm/"), {"confirm_as": "dependent"}, HTTP_HX_REQUEST="true"
    )
    assert done.status_code == 200
    html = done.content.decode()
    assert 'id="refinement"' in html
    assert f'id="suggest-{a.pk}" open' in html
    assert f"Dependency added: #{b.pk} → #{a.pk}." in html
    dep = Dependency.objects.get()
    assert (dep.item_id, dep.depends_on_id, dep.found_at) == (b.pk, a.pk, "refinement")
    client.post(_url(nexus, a, f"{c.pk}/dismiss/"), HTTP_HX_REQUEST="true")
    assert SuggestionDismissal.objects.count() == 1


def test_refusals_show_the_message_with_their_status(client):
    nexus, (a, b, _c) = _setup(client)
    bad = client.post(_url(nexus, a, f"{b.pk}/confirm/"), {"confirm_as": "sideways"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 400
    assert "Confirm as one of" in bad.content.decode()
    client.logout()
    stakeholder = member(nexus, Role.STAKEHOLDER, username="sh-x")
    client.force_login(stakeholder)
    refused = client.post(_url(nexus, a, f"{b.pk}/dismiss/"), HTTP_HX_REQUEST="true")
    assert refused.status_code == 403
    assert not SuggestionDismissal.objects.exists()
    seen = client.get(_url(nexus, a), HTTP_HX_REQUEST="true").content.decode()
    assert "Confirm" not in seen  # read-only for Stakeholders
    assert f'data-suggested="{b.pk}"' in seen


def test_the_board_queries_do_not_depend_on_the_suggestions(client, django_assert_max_num_queries):
    nexus, _items = _setup(client)
    for i in range(20):
        pbi_create(nexus=nexus, title=f"Invoice layout {i}", actor=None)
    url = reverse("events:refinement", args=[nexus.slug])
    client.get(url)
    with django_assert_max_num_queries(14):
        html = client.get(url).content.decode()
    assert html.count('class="suggest"') == 23
