"""Sync of every list besides the PBIs': `?updated_since=` on Nexuses, Scrum Teams, memberships, Product
Goals, the Definition of Workflow and webhooks returns exactly what changed, in the order (updated_at,
id); and every write path, including those that bypass `auto_now` (`update_fields`, `.update()`, the
admin), moves `updated_at` forward."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from django.contrib import admin as django_admin
from django.test import RequestFactory
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from backlog.api.urls import router
from backlog.models import (
    Membership,
    Nexus,
    ProductBacklogItem,
    ProductGoal,
    ScrumTeam,
    TeamInvolvement,
    WorkflowColumn,
)
from backlog.models_api import Webhook
from backlog.services import goal_close, goal_create, goal_update, pbi_create
from backlog.services.webhooks import webhook_create
from nexus_site.api.base import ApiViewSet
from tests.api.helpers import base
from tests.factories import UserFactory, column, team

LISTS = ["/teams/", "/memberships/", "/goals/", "/columns/", "/webhooks/", "/labels/"]


def _since(mark: datetime) -> str:
    return quote(mark.isoformat())


def _changed(client, url: str, mark: datetime) -> list[dict]:
    """Every row of `url` changed at or after `mark`, following `next` (pages of 2, to page too)."""
    sep = "&" if "?" in url else "?"
    url = f"{url}{sep}updated_since={_since(mark)}&page_size=2"
    rows: list[dict] = []
    while url:
        page = client.get(url)
        assert page.status_code == 200, page.content
        rows += page.json()["results"]
        url = page.json()["next"]
    return rows


@pytest.fixture
def hooks(nx, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    for i in range(3):
        webhook_create(nexus=nx, url=f"http://127.0.0.1:9/{i}", events=["item.created"], actor=None)
    goal_close(goal=goal_create(nexus=nx, text="Earlier goal"), status="achieved")
    goal_create(nexus=nx, text="Current goal")
    pbi_create(nexus=nx, title="Labelled", labels=["blocker", "editor", "java21"], actor=None)


def test_every_list_has_a_modification_time():
    """No list answers every row to `updated_since` any more: each viewset names its sync field."""
    for _prefix, viewset, _basename in router.registry:
        assert issubclass(viewset, ApiViewSet)
        assert isinstance(getattr(viewset, "sync_field", None), str), viewset


def test_the_schema_documents_updated_at_and_updated_since():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for name in ["Nexus", "ScrumTeam", "Membership", "ProductGoal", "WorkflowColumn", "Webhook", "Label"]:
        field = schema["components"]["schemas"][name]["properties"]["updated_at"]
        assert (field["type"], field["format"], field["readOnly"]) == ("string", "date-time", True), name
        assert "UTC, ISO-8601" in field["description"], name
    lists = [p for p in schema["paths"] if p.endswith("s/") and "{id}" not in p]
    for path in lists:
        params = {p["name"]: p for p in schema["paths"][path]["get"].get("parameters", [])}
        if "updated_since" not in params:
            continue
        text = params["updated_since"]["description"]
        assert "every row" not in text, path
        assert "changed at or after" in text, path
    involvements = schema["paths"]["/api/v1/nexuses/{nexus_slug}/involvements/"]["get"]["parameters"]
    (param,) = [p for p in involvements if p["name"] == "updated_since"]
    assert "the item's `updated_at`" in param["description"]


@pytest.mark.usefixtures("hooks")
@pytest.mark.parametrize("path", LISTS)
def test_updated_since_in_the_past_lists_everything_in_sync_order(nx, api, path):
    everything = _changed(api("po"), base(nx) + path, datetime(2000, 1, 1, tzinfo=UTC))
    assert everything
    keys = [(r["updated_at"], r["id"]) for r in everything]
    assert keys == sorted(keys)
    assert len({r["id"] for r in everything}) == len(everything)
    assert _changed(api("po"), base(nx) + path, timezone.now()) == []


def test_nexuses(nx, api, who):
    mark = timezone.now()
    assert _changed(api("admin"), "/api/v1/nexuses/", mark) == []
    created = api("admin").post(
        "/api/v1/nexuses/",
        {"name": "Second", "slug": "second", "columns": [{"name": "W", "is_start": True, "is_finish": True}]},
        format="json",
    )
    assert created.status_code == 201, created.content
    rows = _changed(api("admin"), "/api/v1/nexuses/", mark)
    assert [r["slug"] for r in rows] == ["second"]
    assert rows[0]["updated_at"] == created.json()["updated_at"]
    assert _changed(api("dev"), "/api/v1/nexuses/", mark) == []  # not a member of "second"
    mark = timezone.now()
    nx.description = "Edited in the admin"
    nx.save()  # what the admin does
    assert [r["slug"] for r in _changed(api("dev"), "/api/v1/nexuses/", mark)] == [nx.slug]


def test_teams(nx, api, who, client):
    url = base(nx) + "/teams/"
    mark = timezone.now()
    assert _changed(api("dev"), url, mark) == []
    created = api("admin").post(url, {"name": "Team D"}, format="json").json()
    assert [r["id"] for r in _changed(api("dev"), url, mark)] == [created["id"]]
    mark = timezone.now()
    renamed = team(nx, "Team B")
    client.force_login(who["admin"])
    response = client.post(
        f"/admin/backlog/scrumteam/{renamed.pk}/change/",
        {"nexus": nx.pk, "name": "Team Bee", "slug": renamed.slug, "wip_limit": "3"},
    )
    assert response.status_code == 302, response.content
    rows = _changed(api("dev"), url, mark)
    assert [(r["id"], r["name"], r["wip_limit"]) for r in rows] == [(renamed.pk, "Team Bee", 3)]


def test_memberships(nx, api, who):
    url = base(nx) + "/memberships/"
    mark = timezone.now()
    assert _changed(api("dev"), url, mark) == []
    UserFactory.create(username="late")
    created = api("admin").post(url, {"username": "late", "role": "stakeholder"}, format="json").json()
    assert [r["id"] for r in _changed(api("dev"), url, mark)] == [created["id"]]
    mark = timezone.now()
    changed = Membership.objects.get(pk=created["id"])
    changed.role = "nit_member"
    changed.save()  # the admin's write
    assert [(r["id"], r["role"]) for r in _changed(api("dev"), url, mark)] == [(changed.pk, "nit_member")]


@pytest.mark.usefixtures("hooks")
def test_product_goals_edited_and_closed(nx, api):
    url = base(nx) + "/goals/"
    active = ProductGoal.objects.get(backlog__nexus=nx, status="active")
    mark = timezone.now()
    assert _changed(api("dev"), url, mark) == []
    assert api("po").patch(f"{url}{active.pk}/", {"text": "Sharper"}, format="json").status_code == 200
    rows = _changed(api("dev"), url, mark)
    assert [(r["id"], r["text"]) for r in rows] == [(active.pk, "Sharper")]
    mark = timezone.now()
    closed = api("po").post(f"{url}{active.pk}/close/", {"status": "achieved"}, format="json").json()
    rows = _changed(api("dev"), url, mark)
    assert [(r["id"], r["status"]) for r in rows] == [(active.pk, "achieved")]
    assert rows[0]["updated_at"] == closed["updated_at"]


def test_goal_services_bump_updated_at_despite_update_fields(nx):
    """`save(update_fields=...)` writes an `auto_now` field only when it is listed."""
    goal = goal_create(nexus=nx, text="First")
    before = ProductGoal.objects.get(pk=goal.pk).updated_at
    goal_update(goal=goal, text="Second")
    edited = ProductGoal.objects.get(pk=goal.pk).updated_at
    assert edited > before
    goal_close(goal=goal, status="abandoned")
    assert ProductGoal.objects.get(pk=goal.pk).updated_at > edited


def test_definition_of_workflow(nx, api, who, client):
    url = base(nx) + "/columns/"
    in_progress = column(nx, "In Progress")
    assert [r["name"] for r in api("dev").get(url).json()["results"]][:2] == ["Ready", "In Progress"]
    mark = timezone.now()
    assert _changed(api("dev"), url, mark) == []
    client.force_login(who["admin"])
    data = {
        "nexus": nx.pk,
        "name": in_progress.name,
        "position": in_progress.position,
        "category": in_progress.category,
        "wip_limit": "2",
        "wip_limit_kind": "hard",
        "is_start": "on" if in_progress.is_start else "",
        "is_finish": "on" if in_progress.is_finish else "",
        "is_ready": "on" if in_progress.is_ready else "",
    }
    response = client.post(f"/admin/backlog/workflowcolumn/{in_progress.pk}/change/", data)
    assert response.status_code == 302, response.content
    rows = _changed(api("dev"), url, mark)
    assert [(r["id"], r["wip_limit"], r["wip_limit_kind"]) for r in rows] == [(in_progress.pk, 2, "hard")]


@pytest.mark.usefixtures("hooks")
def test_webhooks(nx, api):
    url = base(nx) + "/webhooks/"
    hook = Webhook.objects.filter(nexus=nx).earliest("id")
    mark = timezone.now()
    assert _changed(api("po"), url, mark) == []
    assert api("po").patch(f"{url}{hook.pk}/", {"description": "CI"}, format="json").status_code == 200
    assert [(r["id"], r["description"]) for r in _changed(api("po"), url, mark)] == [(hook.pk, "CI")]
    mark = timezone.now()
    assert api("po").post(f"{url}{hook.pk}/rotate-secret/").status_code == 200
    assert [r["id"] for r in _changed(api("po"), url, mark)] == [hook.pk]


def test_deleting_a_parent_changes_its_children(nx, api):
    """`pbi_delete` detaches the children with `.update()`: they get a new `updated_at` and version."""
    parent = ProductBacklogItem.objects.filter(backlog__nexus=nx).earliest("id")
    child = pbi_create(nexus=nx, title="Child", actor=None, parent=parent)
    mark = timezone.now()
    assert api("dev").delete(f"{base(nx)}/items/{parent.pk}/").status_code == 204
    rows = _changed(api("dev"), base(nx) + "/items/", mark)
    assert [(r["id"], r["parent"], r["version"]) for r in rows] == [(child.pk, None, child.version + 1)]


def test_admin_edits_of_an_item_and_of_its_teams_move_the_item(nx, who):
    item = ProductBacklogItem.objects.filter(backlog__nexus=nx).earliest("id")
    request = RequestFactory().post("/admin/")
    request.user = who["admin"]
    item_admin = django_admin.site._registry[ProductBacklogItem]
    item.title = "Edited in the admin"
    before = (item.updated_at, item.version)
    form = SimpleNamespace(changed_data=["title"], cleaned_data={"title": "Edited in the admin"})
    item_admin.save_model(request, item, form, change=True)
    item.refresh_from_db()
    assert item.title == "Edited in the admin"
    assert item.updated_at > before[0]
    assert item.version == before[1] + 1

    involvement = TeamInvolvement.objects.create(item=item, team=team(nx, "Team A"))
    involvement_admin = django_admin.site._registry[TeamInvolvement]
    involvement.status = "in_progress"  # a square changed (a save that changes nothing is no change)
    for write in (
        lambda: involvement_admin.save_model(request, involvement, None, change=True),
        lambda: involvement_admin.delete_queryset(request, TeamInvolvement.objects.filter(pk=involvement.pk)),
    ):
        before = (item.updated_at, item.version)
        write()
        item.refresh_from_db()
        assert item.updated_at > before[0]
        assert item.version == before[1] + 1


def test_labels(nx, api):
    url = base(nx) + "/labels/"
    pbi_create(nexus=nx, title="First", labels=["editor"], actor=None)
    mark = timezone.now()
    assert _changed(api("stakeholder"), url, mark) == []
    item = pbi_create(nexus=nx, title="Second", labels=["editor", "java21"], actor=None)
    assert [r["name"] for r in _changed(api("stakeholder"), url, mark)] == ["java21"]  # only the new one
    listed = api("stakeholder").get(url).json()["results"]
    assert [r["name"] for r in listed] == ["editor", "java21"]  # in the order first used
    assert api("stakeholder").get(f"{url}{listed[1]['id']}/").json()["name"] == "java21"
    assert sorted(api("stakeholder").get(f"{base(nx)}/items/{item.pk}/").json()["labels"]) == [
        "editor",
        "java21",
    ]
    assert api("po").post(url, {"name": "x"}, format="json").status_code == 405  # read-only


def test_a_webhooks_deliveries_sync_on_their_changes(nx, api, settings):
    """A delivery changes after it is created (attempts, outcome, a redelivery): `updated_since` on
    the delivery log returns those changed since, in the sync order."""
    from backlog.models_api import WebhookDelivery
    from backlog.services.webhooks import webhook_redeliver

    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    hook = webhook_create(nexus=nx, url="http://127.0.0.1:9/hook", events=["item.created"], actor=None)
    for i in range(3):
        WebhookDelivery.objects.create(
            webhook=hook, event="item.created", payload={"n": i}, created_at=timezone.now()
        )
    url = f"{base(nx)}/webhooks/{hook.pk}/deliveries/"
    newest_first = [r["id"] for r in api("po").get(url).json()["results"]]
    assert newest_first == sorted(newest_first, reverse=True)
    mark = timezone.now()
    assert _changed(api("po"), url, mark) == []
    middle = WebhookDelivery.objects.get(pk=newest_first[1])
    webhook_redeliver(delivery=middle)  # queued: the worker is not running in this test
    rows = _changed(api("po"), url, mark)
    assert [(r["id"], r["status"]) for r in rows] == [(middle.pk, "pending")]
    assert api("po").get(url, {"updated_since": "yesterday"}).status_code == 400


def test_an_items_transitions_sync_on_when_they_were_recorded(nx, api):
    from datetime import timedelta

    from backlog.services import pbi_transition

    item = ProductBacklogItem.objects.filter(backlog__nexus=nx).earliest("id")
    url = f"{base(nx)}/items/{item.pk}/transitions/"
    mark = timezone.now()
    assert _changed(api("dev"), url, mark) == []
    long_ago = timezone.now() - timedelta(days=900)
    pbi_transition(item=item, to_column=column(nx, "In Progress"), actor=None, at=long_ago)
    rows = _changed(api("dev"), url, mark)
    assert [r["to_name"] for r in rows] == ["In Progress"]
    in_time_order = [r["to_name"] for r in api("dev").get(url).json()["results"]]
    assert in_time_order == ["In Progress", "Ready"]  # its `at` is 900 days ago


@pytest.mark.usefixtures("hooks")
def test_sync_lists_have_constant_queries(nx, api, django_assert_max_num_queries):
    client = api("po")
    since = "updated_since=2000-01-01T00:00:00Z"
    for path in [*LISTS, "/involvements/", "/transitions/"]:
        with django_assert_max_num_queries(4, info=path):
            assert client.get(f"{base(nx)}{path}?{since}").status_code == 200
    with django_assert_max_num_queries(4):
        assert client.get(f"/api/v1/nexuses/?{since}").status_code == 200
    for i in range(5):
        ScrumTeam.objects.create(nexus=nx, name=f"More {i}", slug=f"more-{i}")
        WorkflowColumn.objects.create(nexus=nx, name=f"Extra {i}", position=50 + i, category="in_progress")
        Nexus.objects.create(name=f"Other {i}", slug=f"other-{i}")
    for path in [*LISTS, "/involvements/", "/transitions/"]:
        with django_assert_max_num_queries(4, info=path):
            assert client.get(f"{base(nx)}{path}?{since}").status_code == 200
