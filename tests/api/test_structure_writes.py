"""Writes of the Nexus's structure through the API (administrators): the Nexus, Scrum Teams,
memberships and the Definition of Workflow. Refusals name their field; refused deletions (409) delete
nothing. Who may do what is in the permission matrix (`test_permissions.py`); tombstones in
`test_tombstones.py`."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.utils import timezone

from backlog.models import (
    Membership,
    Nexus,
    ProductBacklogItem,
    Role,
    ScrumTeam,
    TeamInvolvement,
    WorkflowColumn,
)
from backlog.models_api import Tombstone
from backlog.services import pbi_set_teams
from tests.api.helpers import base, error_fields
from tests.factories import column, team

# --- the Nexus ---------------------------------------------------------------------------------------


def test_an_administrator_changes_a_nexus(nx, api):
    url = base(nx) + "/"
    body = {
        "name": "Payments",
        "description": "One product",
        "time_zone": "Europe/Berlin",
        "sprint_length_days": 10,
        "wip_limit": 20,
    }
    response = api("admin").patch(url, body, format="json")
    assert response.status_code == 200, response.content
    got = response.json()
    assert {k: got[k] for k in body} == body
    assert got["slug"] == nx.slug
    assert api("dev").get(url).json()["time_zone"] == "Europe/Berlin"
    cleared = api("admin").patch(url, {"wip_limit": None}, format="json")
    assert (cleared.json()["wip_limit"], cleared.json()["name"]) == (None, "Payments")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slug": "renamed"}, "slug"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"time_zone": 1}, "time_zone"),
        ({"sprint_length_days": 0}, "sprint_length_days"),
        ({"sprint_length_days": 32}, "sprint_length_days"),
        ({"sprint_length_days": "14"}, "sprint_length_days"),
        ({"wip_limit": 0}, "wip_limit"),
        ({"name": "   "}, "name"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_nexus_change_names_the_field(nx, api, body, field):
    response = api("admin").patch(base(nx) + "/", body, format="json")
    assert response.status_code == 400, response.content
    assert error_fields(response) == [field]
    fresh = Nexus.objects.get(pk=nx.pk)
    assert (fresh.slug, fresh.time_zone, fresh.sprint_length_days) == (nx.slug, "UTC", 14)


def test_a_nexus_is_not_replaced_with_put(nx, api):
    assert api("admin").put(base(nx) + "/", {"name": "X"}, format="json").status_code == 405


# --- Scrum Teams -------------------------------------------------------------------------------------


def test_a_team_is_renamed_and_its_slug_follows(nx, api):
    b = team(nx, "Team B")
    url = f"{base(nx)}/teams/{b.pk}/"
    response = api("admin").patch(url, {"name": "Checkout", "wip_limit": 4}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["name"], response.json()["slug"], response.json()["wip_limit"]) == (
        "Checkout",
        "checkout",
        4,
    )
    assert api("dev").get(url).json()["name"] == "Checkout"
    assert api("admin").patch(url, {"wip_limit": None}, format="json").json()["wip_limit"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Team A"}, "name"),
        ({"name": ""}, "name"),
        ({"wip_limit": 0}, "wip_limit"),
        ({"wip_limit": "3"}, "wip_limit"),
        ({"slug": "b"}, "slug"),
    ],
)
def test_a_bad_team_change_names_the_field(nx, api, body, field):
    b = team(nx, "Team B")
    response = api("admin").patch(f"{base(nx)}/teams/{b.pk}/", body, format="json")
    assert response.status_code == 400, response.content
    assert error_fields(response) == [field]
    assert ScrumTeam.objects.get(pk=b.pk).name == "Team B"


def test_deleting_a_team_takes_its_memberships_along(nx, api, who):
    a = team(nx, "Team A")  # the sm and dev of `who` are in it
    assert Membership.objects.filter(team=a).count() == 2
    assert api("admin").delete(f"{base(nx)}/teams/{a.pk}/").status_code == 204
    assert not ScrumTeam.objects.filter(pk=a.pk).exists()
    assert not Membership.objects.filter(team_id=a.pk).exists()
    assert api("admin").delete(f"{base(nx)}/teams/{a.pk}/").status_code == 404
    # The team's Developer and Scrum Master are no longer members of the Nexus.
    assert api("dev").get(base(nx) + "/teams/").status_code == 404
    assert [t["name"] for t in api("nit").get(base(nx) + "/teams/").json()["results"]] == ["Team B", "Team C"]


def test_a_team_that_worked_on_pbis_is_not_deleted(nx, api, who):
    a = team(nx, "Team A")
    item = ProductBacklogItem.objects.filter(backlog__nexus=nx).earliest("id")
    pbi_set_teams(item=item, teams=[a], actor=None)
    response = api("admin").delete(f"{base(nx)}/teams/{a.pk}/")
    assert response.status_code == 409, response.content
    assert error_fields(response) == ["id"]
    assert "would lose who did that work" in response.json()["message"]
    assert ScrumTeam.objects.filter(pk=a.pk).exists()
    assert Membership.objects.filter(team=a).count() == 2
    assert TeamInvolvement.objects.filter(team=a).count() == 1
    assert not Tombstone.objects.filter(nexus_id=nx.pk).exists()


# --- memberships -------------------------------------------------------------------------------------


def test_a_membership_is_changed_by_removing_it_and_adding_another(nx, api, who):
    mine = Membership.objects.get(nexus=nx, user=who["nit"])
    assert api("admin").delete(f"{base(nx)}/memberships/{mine.pk}/").status_code == 204
    assert not Membership.objects.filter(pk=mine.pk).exists()
    added = api("admin").post(
        base(nx) + "/memberships/",
        {"username": who["nit"].username, "role": "developer", "team": team(nx, "Team C").pk},
        format="json",
    )
    assert added.status_code == 201, added.content
    assert Membership.objects.get(nexus=nx, user=who["nit"]).role == Role.DEVELOPER
    assert api("admin").delete(f"{base(nx)}/memberships/{mine.pk}/").status_code == 404
    assert api("admin").patch(f"{base(nx)}/memberships/{added.json()['id']}/", {}).status_code == 405


def test_another_nexuss_membership_is_not_found(nx, api):
    from tests.factories import nexus_build

    other = nexus_build()
    theirs = Membership.objects.get(nexus=other, role=Role.PRODUCT_OWNER)
    assert api("admin").delete(f"{base(nx)}/memberships/{theirs.pk}/").status_code == 404
    assert Membership.objects.filter(pk=theirs.pk).exists()


# --- the Definition of Workflow ------------------------------------------------------------------------


def _columns(api, nx) -> list[tuple[str, int]]:
    rows = api("dev").get(base(nx) + "/columns/").json()["results"]
    assert [r["position"] for r in rows] == list(range(len(rows)))
    return [(r["name"], r["position"]) for r in rows]


def test_add_a_column(nx, api):
    url = base(nx) + "/columns/"
    created = api("admin").post(
        url,
        {
            "name": "Test",
            "category": "in_progress",
            "wip_limit": 3,
            "wip_limit_kind": "hard",
            "is_ready": False,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["position"], body["is_start"], body["is_finish"], body["wip_limit_kind"]) == (
        3,
        False,
        False,
        "hard",
    )  # an in_progress column goes just before the finished one
    assert [n for n, _p in _columns(api, nx)] == ["Ready", "In Progress", "Review", "Test", "Done"]
    first = api("admin").post(url, {"name": "Inbox", "category": "not_started", "position": 0}, format="json")
    assert first.json()["position"] == 0
    assert [n for n, _p in _columns(api, nx)][:2] == ["Inbox", "Ready"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Review", "category": "in_progress"}, "name"),
        ({"name": "QA"}, "category"),
        ({"name": "QA", "category": "blocked"}, "category"),
        ({"name": "QA", "category": "in_progress", "is_start": True}, "is_start"),
        ({"name": "QA", "category": "in_progress", "is_finish": False}, "is_finish"),
        ({"name": "QA", "category": "in_progress", "position": 5}, "position"),
        ({"name": "QA", "category": "in_progress", "wip_limit": 0}, "wip_limit"),
        ({"name": "QA", "category": "in_progress", "wip_limit_kind": "firm"}, "wip_limit_kind"),
    ],
)
def test_a_bad_new_column_names_the_field(nx, api, body, field):
    response = api("admin").post(base(nx) + "/columns/", body, format="json")
    assert response.status_code == 400, response.content
    assert error_fields(response) == [field]
    assert WorkflowColumn.objects.filter(nexus=nx).count() == 4


def test_change_and_move_a_column(nx, api):
    review = column(nx, "Review")
    url = f"{base(nx)}/columns/{review.pk}/"
    changed = api("admin").patch(
        url,
        {"name": "Code Review", "wip_limit": 2, "wip_limit_kind": "hard", "is_ready": True},
        format="json",
    )
    assert changed.status_code == 200, changed.content
    assert {k: changed.json()[k] for k in ("name", "wip_limit", "wip_limit_kind", "is_ready")} == {
        "name": "Code Review",
        "wip_limit": 2,
        "wip_limit_kind": "hard",
        "is_ready": True,
    }
    moved = api("admin").patch(url, {"position": 0}, format="json")
    assert moved.json()["position"] == 0
    assert _columns(api, nx) == [("Code Review", 0), ("Ready", 1), ("In Progress", 2), ("Done", 3)]


@pytest.mark.parametrize(
    ("name", "body", "field"),
    [
        ("Review", {"category": "done"}, "category"),
        ("Review", {"is_start": True}, "is_start"),
        ("Done", {"is_finish": False}, "is_finish"),
        ("Review", {"name": "Done"}, "name"),
        ("Review", {"position": 4}, "position"),
        ("Done", {"position": 0}, "position"),  # the finished column before the started one
        ("In Progress", {"position": 3}, "position"),
        ("Review", {"wip_limit": -1}, "wip_limit"),
        ("Review", {"is_ready": "yes"}, "is_ready"),
    ],
)
def test_a_bad_column_change_names_the_field(nx, api, name, body, field):
    target = column(nx, name)
    response = api("admin").patch(f"{base(nx)}/columns/{target.pk}/", body, format="json")
    assert response.status_code == 400, response.content
    assert error_fields(response) == [field]
    assert _columns(api, nx) == [("Ready", 0), ("In Progress", 1), ("Review", 2), ("Done", 3)]


def test_a_column_edit_applies_to_the_next_move(nx, api):
    review = column(nx, "Review")
    api("admin").patch(
        f"{base(nx)}/columns/{review.pk}/", {"wip_limit": 1, "wip_limit_kind": "hard"}, format="json"
    )
    first, second = ProductBacklogItem.objects.filter(backlog__nexus=nx).order_by("rank")[:2]
    moves = [
        api("dev").post(f"{base(nx)}/items/{item.pk}/transition/", {"column": review.pk}, format="json")
        for item in (first, second)
    ]
    assert [m.status_code for m in moves] == [200, 409]
    assert error_fields(moves[1]) == ["column"]


def test_delete_a_column(nx, api):
    review = column(nx, "Review")
    assert api("admin").delete(f"{base(nx)}/columns/{review.pk}/").status_code == 204
    assert _columns(api, nx) == [("Ready", 0), ("In Progress", 1), ("Done", 2)]


@pytest.mark.parametrize(
    ("name", "reason"),
    [("Ready", "5 PBI(s) are in 'Ready'"), ("In Progress", "started column"), ("Done", "finished column")],
)
def test_a_column_in_use_is_not_deleted(nx, api, name, reason):
    target = column(nx, name)
    response = api("admin").delete(f"{base(nx)}/columns/{target.pk}/")
    assert response.status_code == 409, response.content
    assert error_fields(response) == ["id"]
    assert reason in response.json()["message"]
    assert WorkflowColumn.objects.filter(nexus=nx).count() == 4
    assert not Tombstone.objects.filter(nexus_id=nx.pk).exists()


def test_another_nexuss_column_is_not_found(nx, api):
    from tests.factories import nexus_build

    other = column(nexus_build(), "Review")
    assert (
        api("admin").patch(f"{base(nx)}/columns/{other.pk}/", {"name": "X"}, format="json").status_code == 404
    )
    assert api("admin").delete(f"{base(nx)}/columns/{other.pk}/").status_code == 404
    assert WorkflowColumn.objects.get(pk=other.pk).name == "Review"


def test_the_product_owner_is_told_why(nx, api):
    """Structure writes are refused for everyone but administrators, with the reason (the matrix checks
    every role)."""
    response = api("po").post(
        base(nx) + "/columns/", {"name": "QA", "category": "in_progress"}, format="json"
    )
    assert response.status_code == 403
    assert "administrator" in response.json()["message"]


# --- sync ------------------------------------------------------------------------------------------------


def test_structure_writes_are_seen_by_updated_since(nx, api):
    """A sync client asking what changed since before a write gets every row the write changed: a
    moved column and the columns it shifted, a renamed team (and its new slug), the Nexus."""
    mark = quote(timezone.now().isoformat())
    review = column(nx, "Review")
    api("admin").patch(f"{base(nx)}/columns/{review.pk}/", {"position": 0}, format="json")
    rows = api("dev").get(f"{base(nx)}/columns/?updated_since={mark}").json()["results"]
    assert sorted((r["name"], r["position"]) for r in rows) == [
        ("In Progress", 2),
        ("Ready", 1),
        ("Review", 0),
    ]
    b = team(nx, "Team B")
    api("admin").patch(f"{base(nx)}/teams/{b.pk}/", {"name": "Checkout"}, format="json")
    rows = api("dev").get(f"{base(nx)}/teams/?updated_since={mark}").json()["results"]
    assert [(r["id"], r["slug"]) for r in rows] == [(b.pk, "checkout")]
    api("admin").patch(base(nx) + "/", {"sprint_length_days": 7}, format="json")
    rows = api("dev").get(f"/api/v1/nexuses/?updated_since={mark}").json()["results"]
    assert [(r["slug"], r["sprint_length_days"]) for r in rows] == [(nx.slug, 7)]
