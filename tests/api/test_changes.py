"""`GET /api/v1/nexuses/{slug}/changes/?since=N`, the Nexus's `change_seq`, and the pages' poll
`GET /n/{slug}/changes/?since=N`."""

from __future__ import annotations

import pytest
from django.urls import reverse

from backlog.models import ProductBacklogItem
from backlog.selectors import nexus_change_seq
from backlog.services import pbi_update, team_update
from tests.api.helpers import base, error_fields
from tests.factories import team

pytestmark = pytest.mark.django_db


def _item(nx):
    return ProductBacklogItem.objects.filter(backlog__nexus=nx).order_by("rank").first()


def test_changes_says_whether_anything_changed_since_n(nx, api):
    url = f"{base(nx)}/changes/"
    body = api("stakeholder").get(url, {"since": 0}).json()
    seq = body["seq"]
    assert body == {"seq": seq, "changed": True}
    assert seq == nexus_change_seq(nexus_id=nx.pk) > 0
    assert api("dev").get(url, {"since": seq}).json() == {"seq": seq, "changed": False}
    team_update(team=team(nx), wip_limit=3)  # not an item: the newest updated_at of items missed it
    assert api("dev").get(url, {"since": seq}).json() == {"seq": seq + 1, "changed": True}
    assert api("dev").get(url).json()["changed"] is True  # since defaults to 0


def test_the_nexus_shows_its_change_seq(nx, api):
    seq = nexus_change_seq(nexus_id=nx.pk)
    assert api("dev").get(f"{base(nx)}/").json()["change_seq"] == seq
    pbi_update(item=_item(nx), title="Renamed", actor=None)
    listed = api("admin").get("/api/v1/nexuses/").json()["results"]
    assert [n["change_seq"] for n in listed if n["slug"] == nx.slug] == [seq + 1]


def test_a_write_through_the_api_advances_it(nx, api):
    seq = nexus_change_seq(nexus_id=nx.pk)
    response = api("dev").patch(f"{base(nx)}/items/{_item(nx).pk}/", {"title": "Via API"}, format="json")
    assert response.status_code == 200
    assert api("dev").get(f"{base(nx)}/changes/", {"since": seq}).json()["changed"] is True


@pytest.mark.parametrize("since", ["-1", "abc", "1.5", "", "99999999999999999999", "\u0661"])
def test_a_bad_since_is_a_400_naming_it(nx, api, since):
    response = api("dev").get(f"{base(nx)}/changes/", {"since": since})
    assert response.status_code == 400
    assert error_fields(response) == ["since"]


def test_changes_takes_no_other_parameter_and_hides_other_nexuses(nx, api):
    response = api("dev").get(f"{base(nx)}/changes/", {"since": 0, "after": 1})
    assert response.status_code == 400
    assert error_fields(response) == ["after"]
    assert api("outsider").get(f"{base(nx)}/changes/").status_code == 404


def test_the_page_poll_answers_204_until_something_changes(nx, who, client):
    client.force_login(who["stakeholder"])
    url = reverse("backlog:nexus-changes", args=[nx.slug])
    seq = nexus_change_seq(nexus_id=nx.pk)
    assert client.get(url, {"since": seq}).status_code == 204
    pbi_update(item=_item(nx), title="Renamed", actor=None)
    response = client.get(url, {"since": seq})
    assert response.status_code == 200
    assert response.json() == {"seq": seq + 1}
    assert client.get(url, {"since": "x"}).status_code == 400
    client.force_login(who["outsider"])
    assert client.get(url, {"since": seq}).status_code == 404
