"""The Django admin is a door like the others: deleting a PBI there is the soft delete of the services;
a column is added and changed through the workflow services."""

from __future__ import annotations

import html
from typing import Any

import pytest

from backlog.models import ProductBacklogItem, TeamInvolvement, Transition, WorkflowColumn
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
        [
            ("blocked", None),
            ("team_status", a.pk),
            ("team_column", a.pk),  # the team's work moved on its board too
            ("team_removed", b.pk),
            ("team_added", c.pk),
        ]
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


def test_a_staff_developer_of_another_team_is_refused_with_a_message_never_a_500(client, db):
    """The admin is a door like the others: a staff member who is a Developer of Team B may not change
    or take off Team A's started square there either (the message of the 403 elsewhere); nothing
    changes."""
    from django.contrib.auth.models import Permission

    from backlog.models import Role
    from backlog.services import involvement_set_status, pbi_create
    from tests.factories import member, team

    nexus = nexus_build()
    a, b = team(nexus, "Team A"), team(nexus, "Team B")
    bea = member(nexus, Role.DEVELOPER, username="bea", team_obj=b)
    bea.is_staff = True
    bea.save()
    bea.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_teaminvolvement", "change_teaminvolvement", "delete_teaminvolvement"]
        )
    )
    item = pbi_create(nexus=nexus, title="Square", actor=None, teams=[a])
    square = TeamInvolvement.objects.get(item=item)
    involvement_set_status(involvement=square, status="in_progress", actor=None)
    client.force_login(bea)
    url = f"/admin/backlog/teaminvolvement/{square.pk}/change/"
    response = client.post(url, {"status": "done"}, follow=True)
    assert response.status_code == 200
    assert "Only Team A's Developers change Team A's squares" in html.unescape(response.content.decode())
    response = client.post(
        f"/admin/backlog/teaminvolvement/{square.pk}/delete/", {"post": "yes"}, follow=True
    )
    assert response.status_code == 200
    assert "Only Team A's Developers change Team A's squares" in html.unescape(response.content.decode())
    square.refresh_from_db()
    assert square.status == "in_progress"
    assert not Transition.objects.filter(item=item, kind__in=["team_removed"]).exists()
    assert Transition.objects.filter(item=item, kind="team_status", actor=bea).count() == 0
