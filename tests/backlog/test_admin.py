"""The Django admin is a door like the others: deleting a PBI there is the soft delete of the services."""

from __future__ import annotations

import pytest

from backlog.models import ProductBacklogItem, Transition
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
    # Its log is kept, and the deletion is in it (`deleted`, source admin).
    assert Transition.objects.filter(item=item).count() == logged + 1 > 1
    row = Transition.objects.filter(item=item).latest("id")
    assert (row.kind, row.source, row.actor.username) == ("deleted", "admin", "root")
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
