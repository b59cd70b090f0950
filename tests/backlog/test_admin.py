"""The Django admin is a door like the others: deleting a PBI there is the soft delete of the services;
a column is added and changed through the workflow services."""

from __future__ import annotations

import pytest

from backlog.models import ProductBacklogItem, Transition, WorkflowColumn
from backlog.signals import items_changed
from tests.factories import UserFactory, nexus_build


@pytest.fixture
def admin_client(client, db):
    client.force_login(UserFactory.create(username="root", is_superuser=True, is_staff=True))
    return client


def _alive(nexus):
    return ProductBacklogItem.objects.filter(backlog__nexus=nexus, deleted_at__isnull=True).order_by("rank")


def test_deleting_an_item_in_the_admin_keeps_it_as_a_tombstone_with_its_log(admin_client):
    nexus = nexus_build(items=3)
    item = _alive(nexus).first()
    logged = Transition.objects.filter(item=item).count()
    url = f"/admin/backlog/productbacklogitem/{item.pk}/delete/"
    page = admin_client.get(url)
    assert page.status_code == 200
    assert "kept as a tombstone" in page.content.decode()
    response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    item.refresh_from_db()  # still there: soft-deleted
    assert item.deleted_at is not None
    assert Transition.objects.filter(item=item).count() == logged > 0
    tombstones = admin_client.get(f"/api/v1/nexuses/{nexus.slug}/items/deleted/").json()["results"]
    assert [t["id"] for t in tombstones] == [item.pk]


def test_the_admins_bulk_delete_is_soft_too(admin_client):
    nexus = nexus_build(items=3)
    ids = list(_alive(nexus).values_list("pk", flat=True)[:2])
    response = admin_client.post(
        "/admin/backlog/productbacklogitem/",
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
    )
    assert response.status_code == 302
    assert ProductBacklogItem.objects.filter(pk__in=ids, deleted_at__isnull=False).count() == 2
    assert _alive(nexus).count() == 1
    deleted = admin_client.get("/admin/backlog/productbacklogitem/?deleted=yes")
    assert deleted.context["cl"].result_count == 2
    assert admin_client.get("/admin/backlog/productbacklogitem/?deleted=no").context["cl"].result_count == 1


# --- Columns: added and changed through the workflow services ------------------------------------------


def _columns(nexus):
    columns = WorkflowColumn.objects.filter(nexus=nexus).order_by("position")
    return list(columns.values_list("name", flat=True))


def _column_form(column, **changes):
    data = {
        "name": column.name,
        "position": column.position,
        "wip_limit": column.wip_limit or "",
        "wip_limit_kind": column.wip_limit_kind,
        "is_ready": "on" if column.is_ready else "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


@pytest.fixture
def recomputes():
    """The Nexus ids `items_changed` is sent for (on commit: a flow recompute is asked for)."""
    sent: list[int] = []

    def receiver(sender, *, nexus_id, **kwargs):
        sent.append(nexus_id)

    items_changed.connect(receiver, dispatch_uid="test-admin-recomputes")
    yield sent
    items_changed.disconnect(dispatch_uid="test-admin-recomputes")


def test_moving_a_column_in_the_admin_shifts_the_others_and_recomputes(
    admin_client, recomputes, django_capture_on_commit_callbacks
):
    nexus = nexus_build()  # Ready | In Progress | Review | Done
    review = WorkflowColumn.objects.get(nexus=nexus, name="Review")
    url = f"/admin/backlog/workflowcolumn/{review.pk}/change/"
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, _column_form(review, position=1, wip_limit=3))
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert _columns(nexus) == ["Ready", "Review", "In Progress", "Done"]
    review.refresh_from_db()
    assert (review.position, review.wip_limit) == (1, 3)
    assert recomputes == [nexus.pk]


def test_the_admin_refuses_what_the_service_refuses_on_the_field(admin_client, recomputes):
    nexus = nexus_build()
    done = WorkflowColumn.objects.get(nexus=nexus, name="Done")
    url = f"/admin/backlog/workflowcolumn/{done.pk}/change/"
    response = admin_client.post(url, _column_form(done, position=0))  # finished before started
    assert response.status_code == 200
    assert "position" in response.context["adminform"].form.errors
    response = admin_client.post(url, _column_form(done, name="Review"))
    assert "name" in response.context["adminform"].form.errors
    assert _columns(nexus) == ["Ready", "In Progress", "Review", "Done"]
    assert recomputes == []


def test_started_and_finished_stay_fixed_in_the_admin(admin_client):
    nexus = nexus_build()
    review = WorkflowColumn.objects.get(nexus=nexus, name="Review")
    url = f"/admin/backlog/workflowcolumn/{review.pk}/change/"
    form = admin_client.get(url).context["adminform"].form
    assert not {"is_start", "is_finish", "category", "nexus"} & set(form.fields)
    admin_client.post(url, _column_form(review, is_start="on", is_finish="on", category="done"))
    review.refresh_from_db()
    assert (review.is_start, review.is_finish, review.category) == (False, False, "in_progress")
    # On the Nexus's page the columns are read-only, each linking to its own page.
    page = admin_client.get(f"/admin/backlog/nexus/{nexus.pk}/change/")
    assert page.status_code == 200
    assert url in page.content.decode()


def test_adding_a_column_in_the_admin_goes_through_column_create(
    admin_client, recomputes, django_capture_on_commit_callbacks
):
    nexus = nexus_build()
    body = {"nexus": nexus.pk, "name": "Test", "category": "in_progress", "wip_limit_kind": "soft"}
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/backlog/workflowcolumn/add/", body)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert _columns(nexus) == ["Ready", "In Progress", "Review", "Test", "Done"]  # before the finished one
    assert recomputes == [nexus.pk]
