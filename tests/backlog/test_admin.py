"""The Django admin is a door like the others: deleting a PBI there is the soft delete of the services."""

from __future__ import annotations

from typing import Any

import pytest

from backlog.models import ProductBacklogItem, TeamInvolvement, Transition
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
    assert (row.kind, row.source, str(row.actor)) == ("deleted", "admin", "root")
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


# --- Team squares and fields go through the services ---------------------------------------------------


@pytest.fixture
def heard():
    """The `items_changed` and `item_event` signals sent (on commit), as (signal, payload) pairs."""
    from backlog.signals import item_event, items_changed

    got: list[tuple[str, object]] = []

    def on_changed(sender, nexus_id, flow, **kwargs):
        got.append(("items_changed", nexus_id))

    def on_event(sender, nexus_id, item_id, event, **kwargs):
        got.append(("item_event", (item_id, event)))

    items_changed.connect(on_changed, weak=False)
    item_event.connect(on_event, weak=False)
    yield got
    items_changed.disconnect(on_changed)
    item_event.disconnect(on_event)


def _item_form(page, **changes):
    """The POST body of the PBI change page as shown (the item form and its team squares inline)."""
    form = page.context["adminform"].form
    data: dict[str, Any] = {}
    for name in form.fields:
        value = form.initial.get(name)
        if value is None or value is False:
            continue
        if name == "labels":
            data[name] = [label.pk for label in value]
        else:
            data[name] = getattr(value, "pk", value)
    (inline,) = page.context["inline_admin_formsets"]
    formset = inline.formset
    prefix = formset.prefix
    data.update(
        {
            f"{prefix}-TOTAL_FORMS": len(formset.forms),
            f"{prefix}-INITIAL_FORMS": formset.initial_form_count(),
            f"{prefix}-MIN_NUM_FORMS": 0,
            f"{prefix}-MAX_NUM_FORMS": 1000,
        }
    )
    for i, sub in enumerate(formset.forms):
        if sub.instance.pk is not None:
            data.update(
                {
                    f"{prefix}-{i}-id": sub.instance.pk,
                    f"{prefix}-{i}-item": sub.instance.item_id,
                    f"{prefix}-{i}-team": sub.instance.team_id,
                    f"{prefix}-{i}-status": sub.instance.status,
                }
            )
    data.update(changes)
    return data


def test_team_squares_edited_in_the_item_page_are_logged_and_heard(
    admin_client, heard, django_capture_on_commit_callbacks
):
    from backlog.services import pbi_create
    from tests.factories import team

    nexus = nexus_build()
    a, b, c = team(nexus, "Team A"), team(nexus, "Team B"), team(nexus, "Team C")
    item = pbi_create(nexus=nexus, title="Squares", actor=None, teams=[a, b])
    url = f"/admin/backlog/productbacklogitem/{item.pk}/change/"
    page = admin_client.get(url)
    prefix = page.context["inline_admin_formsets"][0].formset.prefix
    squares = {s.instance.team_id: i for i, s in enumerate(page.context["inline_admin_formsets"][0].formset)}
    data = _item_form(
        page,
        **{
            f"{prefix}-{squares[a.pk]}-status": "in_progress",  # a status change
            f"{prefix}-{squares[b.pk]}-DELETE": "on",  # a team taken off
            f"{prefix}-TOTAL_FORMS": len(squares) + 1,
            f"{prefix}-{len(squares)}-item": item.pk,  # a team added
            f"{prefix}-{len(squares)}-team": c.pk,
            f"{prefix}-{len(squares)}-status": "not_started",
            "is_blocked": "on",
            "blocked_reason": "Waiting for the bank",
        },
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    rows = Transition.objects.filter(item=item, source="admin").order_by("id")
    assert sorted((r.kind, r.team_id) for r in rows) == sorted(
        [("blocked", None), ("team_status", a.pk), ("team_removed", b.pk), ("team_added", c.pk)]
    )
    assert {str(r.actor) for r in rows} == {"root"}
    assert set(TeamInvolvement.objects.filter(item=item).values_list("team_id", "status")) == {
        (a.pk, "in_progress"),
        (c.pk, "not_started"),
    }
    assert ("items_changed", nexus.pk) in heard
    assert ("item_event", (item.pk, "updated")) in heard
    item.refresh_from_db()
    assert item.version > 1


def test_a_team_square_edited_on_its_own_page_is_logged_and_heard(
    admin_client, heard, django_capture_on_commit_callbacks
):
    from backlog.services import pbi_create
    from tests.factories import team

    nexus = nexus_build()
    a = team(nexus, "Team A")
    item = pbi_create(nexus=nexus, title="Square", actor=None, teams=[a])
    square = TeamInvolvement.objects.get(item=item)
    url = f"/admin/backlog/teaminvolvement/{square.pk}/change/"
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"status": "done"})
    assert response.status_code == 302
    row = Transition.objects.get(item=item, kind="team_status")
    assert (row.from_name, row.to_name, row.source, str(row.actor)) == (
        "not_started",
        "done",
        "admin",
        "root",
    )
    assert ("items_changed", nexus.pk) in heard
    assert ("item_event", (item.pk, "updated")) in heard

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/backlog/teaminvolvement/{square.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    row = Transition.objects.get(item=item, kind="team_removed")
    assert (row.team_id, row.from_name, row.source) == (a.pk, "done", "admin")


def test_the_admin_refuses_a_square_on_a_deleted_item(admin_client):
    from backlog.services import pbi_create, pbi_delete
    from tests.factories import team

    nexus = nexus_build()
    item = pbi_create(nexus=nexus, title="Gone", actor=None)
    pbi_delete(item=item, actor=None)
    response = admin_client.post(
        "/admin/backlog/teaminvolvement/add/",
        {"item": item.pk, "team": team(nexus, "Team A").pk, "status": "not_started"},
    )
    assert response.status_code == 200  # the form again, with the error
    assert "This item has been deleted." in response.content.decode()
    assert not TeamInvolvement.objects.filter(item=item).exists()


def test_the_restore_action_brings_a_deleted_item_back_and_logs_it(admin_client):
    nexus = nexus_build(items=2)
    item = _alive(nexus).first()
    from backlog.services import pbi_delete

    pbi_delete(item=item, actor=None)
    response = admin_client.post(
        "/admin/backlog/productbacklogitem/?deleted=yes",
        {"action": "restore", "_selected_action": [item.pk]},
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.deleted_at is None
    row = Transition.objects.filter(item=item).latest("id")
    assert (row.kind, row.source, str(row.actor)) == ("restored", "admin", "root")
