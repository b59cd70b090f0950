"""What integration registers on the Nexus board of `events` (which never imports it): the open issues
on each card, their side panel (age, level), "Raise an integration issue" on a card (the issues page's
form with the PBI filled in), and a raise shown to an open board at its next poll."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.urls import reverse

from backlog.models import Role
from backlog.services import pbi_create, pbi_set_teams, pbi_transition
from integration.services_issues import issue_raise
from tests.factories import column, member, nexus_build, team

pytestmark = pytest.mark.django_db


def test_open_issues_show_on_cards_in_the_panel_and_a_raise_reaches_open_boards(client):
    caches["default"].clear()
    nexus = nexus_build(teams=2)
    user = member(nexus, Role.DEVELOPER, username="dev-int", team_obj=team(nexus))
    client.force_login(user)
    item = pbi_create(nexus=nexus, title="Payment step", actor=None)
    pbi_set_teams(item=item, teams=[team(nexus)], actor=None)
    pbi_transition(item=item, to_column=column(nexus, "In Progress"), actor=None)
    version = reverse("events:board-version", args=[nexus.slug])
    etag = client.get(version)["ETag"]

    issue_raise(nexus=nexus, actor=user, title="Shared schema breaks the build", items=[item], level=2)
    assert client.get(version, HTTP_IF_NONE_MATCH=etag).status_code == 200  # the boards refetch
    page = client.get(reverse("events:board", args=[nexus.slug])).content.decode()
    assert 'title="1 open integration issues">⚠ 1<' in page
    assert "Open integration issues" in page
    assert "Shared schema breaks the build" in page
    assert "L2 Nexus" in page

    panel = client.get(reverse("events:board-card", args=[nexus.slug, item.pk])).content.decode()
    raise_url = reverse("integration:issues", args=[nexus.slug]) + f"?raise_pbi={item.pk}#raise"
    assert f'href="{raise_url}"' in panel
    form = client.get(raise_url.split("#")[0]).content.decode()
    assert f'value="{item.pk}"' in form
    assert '<details class="panel raise-form" id="raise" open>' in form
    # Without it, the raise form stays folded (the issues list comes first).
    plain = client.get(reverse("integration:issues", args=[nexus.slug])).content.decode()
    assert '<details class="panel raise-form" id="raise" >' in plain
