"""The tasks of the Scrum Teams' Sprint Backlogs through the API (`tasks/`): keyset lists with filters and
`updated_since`, create with `Idempotency-Key`, `ETag`/`If-Match`, the squares' rule at this door (403 for
a Developer of another team and a Stakeholder, naming `team`), and bad input naming the field with nothing
half-saved."""

from __future__ import annotations

import pytest

from backlog.models import ProductBacklogItem, ScrumTeam, Task
from backlog.services import pbi_set_teams
from tests.api.helpers import base, error_fields

pytestmark = pytest.mark.django_db


def _team(nx, name="Team A"):
    return ScrumTeam.objects.get(nexus=nx, name=name)


def _item(nx):
    item = ProductBacklogItem.objects.filter(backlog__nexus=nx).earliest("id")
    pbi_set_teams(item=item, teams=[_team(nx, "Team A")], actor=None)
    return item


def test_create_list_get_patch_with_etag_and_if_match(nx, api):
    item, a = _item(nx), _team(nx)
    url = f"{base(nx)}/tasks/"
    created = api("dev").post(
        url,
        {"item": item.pk, "team": a.pk, "title": "Regression test", "assignee": f"dev-{nx.slug}"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="task-1",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["title"], body["done"], body["assignee"], body["version"]) == (
        "Regression test",
        False,
        f"dev-{nx.slug}",
        1,
    )
    assert created["ETag"] == '"1"'
    again = api("dev").post(
        url,
        {"item": item.pk, "team": a.pk, "title": "Regression test", "assignee": f"dev-{nx.slug}"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="task-1",
    )
    assert again.json()["id"] == body["id"]
    assert Task.objects.filter(item=item).count() == 1  # the retried POST created nothing
    one = f"{url}{body['id']}/"
    assert api("stakeholder").get(one)["ETag"] == '"1"'
    assert api("stakeholder").get(one, HTTP_IF_NONE_MATCH='"1"').status_code == 304

    done = api("sm").patch(one, {"done": True, "assignee": None}, format="json", HTTP_IF_MATCH='"1"')
    assert done.status_code == 200, done.content
    assert (done.json()["done"], done.json()["assignee"], done["ETag"]) == (True, None, '"2"')
    stale = api("dev").patch(one, {"title": "Renamed"}, format="json", HTTP_IF_MATCH='"1"')
    assert stale.status_code == 412
    assert Task.objects.get(pk=body["id"]).title == "Regression test"

    rows = api("stakeholder").get(f"{url}?item={item.pk}&done=true").json()["results"]
    assert [r["id"] for r in rows] == [body["id"]]
    assert api("dev").get(f"{url}?done=false").json()["results"] == []
    assert api("dev").get(f"{url}?updated_since=2999-01-01").json()["results"] == []
    assert [r["id"] for r in api("dev").get(f"{url}?updated_since=2000-01-01").json()["results"]] == [
        body["id"]
    ]


def test_keyset_pages(nx, api):
    item, a = _item(nx), _team(nx)
    for i in range(5):
        assert (
            api("dev")
            .post(f"{base(nx)}/tasks/", {"item": item.pk, "team": a.pk, "title": f"Step {i}"}, format="json")
            .status_code
            == 201
        )
    first = api("dev").get(f"{base(nx)}/tasks/?page_size=2").json()
    assert [r["title"] for r in first["results"]] == ["Step 0", "Step 1"]
    second = api("dev").get(first["next"]).json()
    assert [r["title"] for r in second["results"]] == ["Step 2", "Step 3"]


def test_another_teams_developer_and_a_stakeholder_are_refused(nx, api):
    item, a = _item(nx), _team(nx)
    body = {"item": item.pk, "team": a.pk, "title": "Not mine"}
    refused = api("dev_other").post(f"{base(nx)}/tasks/", body, format="json")
    assert refused.status_code == 403
    assert error_fields(refused) == ["team"]
    assert api("stakeholder").post(f"{base(nx)}/tasks/", body, format="json").status_code == 403
    task = api("dev").post(f"{base(nx)}/tasks/", body, format="json").json()
    patch = api("dev_other").patch(f"{base(nx)}/tasks/{task['id']}/", {"done": True}, format="json")
    assert patch.status_code == 403
    assert error_fields(patch) == ["team"]
    assert not Task.objects.get(pk=task["id"]).done
    assert Task.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"team": "A", "title": "x"}, "team"),
        ({"title": "x"}, "item"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "x", "assignee": "nobody-here"}, "assignee"),
        ({"title": "x", "extra": 1}, "extra"),
    ],
)
def test_bad_create_bodies_name_the_field(nx, api, body, field):
    item, a = _item(nx), _team(nx)
    full = {"item": item.pk, "team": a.pk, **body}
    if field == "item":
        full.pop("item")
    response = api("dev").post(f"{base(nx)}/tasks/", full, format="json")
    assert response.status_code == 400, response.content
    assert field in error_fields(response)
    assert not Task.objects.exists()


def test_a_team_not_forecast_on_the_pbi_and_an_assignee_outside_the_nexus(nx, api):
    from tests.factories import UserFactory

    item = _item(nx)
    b = _team(nx, "Team B")
    response = api("po").post(
        f"{base(nx)}/tasks/", {"item": item.pk, "team": b.pk, "title": "x"}, format="json"
    )
    assert (response.status_code, error_fields(response)) == (400, ["team"])
    UserFactory.create(username="stranger")
    response = api("po").post(
        f"{base(nx)}/tasks/",
        {"item": item.pk, "team": _team(nx).pk, "title": "x", "assignee": "stranger"},
        format="json",
    )
    assert (response.status_code, error_fields(response)) == (400, ["assignee"])
    assert not Task.objects.exists()
