"""Deletions are visible to sync: `GET .../{resource}/deleted/?since=` lists the tombstones of Scrum
Teams, memberships, Product Goals, columns, labels, webhooks and flow settings, whatever deleted them
(the API, the Django admin, a cascade), with `since` filtering and keyset paging like `items/deleted/`."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

import pytest
from django.utils import timezone

from backlog.models import Label, Membership, ProductGoal, WorkflowColumn
from backlog.models_api import Tombstone
from backlog.services import (
    column_create,
    goal_close,
    goal_create,
    membership_add,
    pbi_create,
    team_create,
    team_delete,
)
from backlog.services.webhooks import webhook_create
from flow.services import flow_settings_set
from tests.api.helpers import base, error_fields
from tests.factories import UserFactory, column, team

RESOURCES = ["teams", "memberships", "goals", "columns", "labels", "webhooks", "flow-settings"]


def _since(mark) -> str:
    return quote(mark.isoformat())


def _all(client, url: str) -> list[dict]:
    """Every row of a list, following `next` (pages of 2, to page too)."""
    sep = "&" if "?" in url else "?"
    url = f"{url}{sep}page_size=2"
    rows: list[dict] = []
    while url:
        page = client.get(url)
        assert page.status_code == 200, page.content
        rows += page.json()["results"]
        url = page.json()["next"]
    return rows


def test_a_deleted_team_and_its_memberships_and_flow_settings_are_listed(nx, api, who):
    a = team(nx, "Team A")
    memberships = sorted(Membership.objects.filter(team=a).values_list("pk", flat=True))
    api("admin").post(base(nx) + "/flow-settings/", {"team": a.pk, "sle_percent": 80}, format="json")
    settings_id = api("nit").get(base(nx) + "/flow-settings/").json()["results"][0]["id"]
    before = timezone.now()
    assert api("admin").delete(f"{base(nx)}/teams/{a.pk}/").status_code == 204
    teams = api("nit").get(base(nx) + "/teams/deleted/").json()
    assert [r["id"] for r in teams["results"]] == [a.pk]
    assert datetime.fromisoformat(teams["results"][0]["deleted_at"].replace("Z", "+00:00")) >= before
    assert teams["next"] is None
    assert sorted(r["id"] for r in _all(api("nit"), base(nx) + "/memberships/deleted/")) == memberships
    assert [r["id"] for r in _all(api("nit"), base(nx) + "/flow-settings/deleted/")] == [settings_id]
    assert set(teams["results"][0]) == {"id", "deleted_at"}


def test_since_filters_and_pages_in_deletion_order(nx, api):
    names = [f"Spare {i}" for i in range(5)]
    ids = [team_create(nexus=nx, name=n).pk for n in names]
    for pk in ids[:2]:
        assert api("admin").delete(f"{base(nx)}/teams/{pk}/").status_code == 204
    mark = timezone.now()
    for pk in ids[2:]:
        assert api("admin").delete(f"{base(nx)}/teams/{pk}/").status_code == 204
    url = base(nx) + "/teams/deleted/"
    everything = _all(api("stakeholder"), url)
    assert [r["id"] for r in everything] == ids  # deleted in this order
    keys = [(r["deleted_at"], r["id"]) for r in everything]
    assert keys == sorted(keys)
    assert [r["id"] for r in _all(api("stakeholder"), f"{url}?since={_since(mark)}")] == ids[2:]
    assert [r["id"] for r in _all(api("stakeholder"), f"{url}?updated_since={_since(mark)}")] == ids[2:]
    assert _all(api("stakeholder"), f"{url}?since={_since(timezone.now())}") == []


@pytest.mark.parametrize("param", ["since", "updated_since"])
def test_a_bad_since_names_it(nx, api, param):
    response = api("dev").get(f"{base(nx)}/columns/deleted/?{param}=yesterday")
    assert response.status_code == 400
    assert error_fields(response) == [param]


def test_a_bad_cursor_is_refused(nx, api):
    response = api("dev").get(f"{base(nx)}/labels/deleted/?cursor=nonsense")
    assert response.status_code == 400
    assert error_fields(response) == ["cursor"]


def test_deleting_in_the_django_admin_leaves_a_tombstone(nx, api, who, client):
    client.force_login(who["admin"])
    spare = team_create(nexus=nx, name="Spare")
    response = client.post(f"/admin/backlog/scrumteam/{spare.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content
    assert [r["id"] for r in api("dev").get(base(nx) + "/teams/deleted/").json()["results"]] == [spare.pk]
    pbi_create(nexus=nx, title="Labelled", labels=["obsolete"], actor=None)
    label = Label.objects.get(nexus=nx, name="obsolete")
    response = client.post(f"/admin/backlog/label/{label.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content
    assert [r["id"] for r in api("dev").get(base(nx) + "/labels/deleted/").json()["results"]] == [label.pk]
    goal = goal_create(nexus=nx, text="Old")
    goal_close(goal=goal, status="abandoned")
    response = client.post(f"/admin/backlog/productgoal/{goal.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content
    assert [r["id"] for r in api("dev").get(base(nx) + "/goals/deleted/").json()["results"]] == [goal.pk]
    assert not ProductGoal.objects.filter(pk=goal.pk).exists()


def test_the_admin_offers_no_deletion_that_would_lose_history(nx, who, client):
    """Teams and columns are deleted through `team_delete`/`column_delete` in the admin too: one with
    history cannot be deleted there either."""
    client.force_login(who["admin"])
    ready = column(nx, "Ready")  # the five PBIs are in it
    assert (
        client.post(f"/admin/backlog/workflowcolumn/{ready.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    review = column(nx, "Review")
    response = client.post(f"/admin/backlog/workflowcolumn/{review.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    names = list(WorkflowColumn.objects.filter(nexus=nx).order_by("position").values_list("name", "position"))
    assert names == [("Ready", 0), ("In Progress", 1), ("Done", 2)]  # positions closed up
    assert Tombstone.objects.filter(nexus_id=nx.pk, kind="column", object_id=review.pk).exists()


def test_a_deleted_webhook_leaves_a_tombstone_for_the_product_owner(nx, api, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    hook = webhook_create(nexus=nx, url="http://127.0.0.1:9/hook", events=["item.created"], actor=None)
    assert api("po").delete(f"{base(nx)}/webhooks/{hook.pk}/").status_code == 204
    assert [r["id"] for r in api("po").get(base(nx) + "/webhooks/deleted/").json()["results"]] == [hook.pk]
    assert api("dev").get(base(nx) + "/webhooks/deleted/").status_code == 403


def test_a_membership_removed_through_the_api_is_listed(nx, api, who):
    mine = Membership.objects.get(nexus=nx, user=who["stakeholder"])
    assert api("admin").delete(f"{base(nx)}/memberships/{mine.pk}/").status_code == 204
    assert [r["id"] for r in api("nit").get(base(nx) + "/memberships/deleted/").json()["results"]] == [
        mine.pk
    ]


def test_another_nexuss_deletions_are_not_listed(nx, api):
    from tests.factories import nexus_build

    other = nexus_build()
    team_delete(team=team_create(nexus=other, name="Spare"))
    for resource in RESOURCES:
        rows = api("po").get(f"{base(nx)}/{resource}/deleted/").json()["results"]
        assert rows == [], resource


def test_deleted_lists_have_constant_queries(nx, api, who, settings, django_assert_max_num_queries):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    client = api("po")
    admin = who["admin"]

    def grow(n: int, start: int) -> None:
        for i in range(start, start + n):
            created = team_create(nexus=nx, name=f"Gone {i}")
            membership_add(nexus=nx, user=UserFactory.create(), role="developer", team=created)
            flow_settings_set(nexus=nx, team=created, actor=admin, sle_percent=80, sle_days=None)
            client_admin = api("admin")
            assert client_admin.delete(f"{base(nx)}/teams/{created.pk}/").status_code == 204
            goal = goal_create(nexus=nx, text=f"Goal {i}")
            goal_close(goal=goal, status="achieved")
            ProductGoal.objects.filter(pk=goal.pk).delete()
            col = column_create(nexus=nx, name=f"Step {i}", category="in_progress")
            assert client_admin.delete(f"{base(nx)}/columns/{col.pk}/").status_code == 204
            pbi_create(nexus=nx, title=f"L{i}", labels=[f"gone-{i}"], actor=None)
            Label.objects.filter(nexus=nx, name=f"gone-{i}").delete()
            hook = webhook_create(
                nexus=nx, url=f"http://127.0.0.1:9/{i}", events=["item.created"], actor=None
            )
            assert client.delete(f"{base(nx)}/webhooks/{hook.pk}/").status_code == 204

    grow(2, 0)
    for resource in RESOURCES:
        with django_assert_max_num_queries(4, info=resource):
            page = client.get(f"{base(nx)}/{resource}/deleted/?since=2000-01-01T00:00:00Z")
        assert len(page.json()["results"]) >= 2, resource
    grow(6, 2)
    for resource in RESOURCES:
        with django_assert_max_num_queries(4, info=resource):
            page = client.get(f"{base(nx)}/{resource}/deleted/?since=2000-01-01T00:00:00Z")
        assert len(page.json()["results"]) >= 8, resource
