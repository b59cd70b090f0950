"""The Nexus's structure through the API: Scrum Teams, memberships, Product Goals, the Definition of
Workflow, team involvement and the transition log."""

from __future__ import annotations

from backlog.models import (
    GoalStatus,
    Membership,
    ProductBacklogItem,
    Role,
    TeamInvolvement,
    Transition,
    TransitionKind,
    WorkflowColumn,
)
from backlog.services import pbi_transition
from tests.api.helpers import base, error_fields
from tests.factories import UserFactory, column


def test_nexus_detail(nx, api):
    body = api("stakeholder").get(base(nx) + "/").json()
    assert (body["slug"], body["time_zone"], body["sprint_length_days"]) == (nx.slug, "UTC", 14)


def test_teams(nx, api):
    names = [t["name"] for t in api("dev").get(base(nx) + "/teams/").json()["results"]]
    assert names == ["Team A", "Team B", "Team C"]
    created = api("admin").post(base(nx) + "/teams/", {"name": "Team D", "wip_limit": 4}, format="json")
    assert created.status_code == 201
    assert created.json()["slug"] == "team-d"
    assert api("dev").get(f"{base(nx)}/teams/{created.json()['id']}/").json()["wip_limit"] == 4
    taken = api("admin").post(base(nx) + "/teams/", {"name": "Team D"}, format="json")
    assert taken.status_code == 400
    assert error_fields(taken) == ["name"]


def test_memberships(nx, api, who):
    rows = api("dev").get(base(nx) + "/memberships/").json()["results"]
    assert {(r["username"], r["role"]) for r in rows} >= {(who["po"].username, "product_owner")}
    person = UserFactory.create(username="newdev")
    team = nx.teams.first()
    created = api("admin").post(
        base(nx) + "/memberships/",
        {"username": "newdev", "role": "developer", "team": team.pk},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert Membership.objects.filter(user=person, role=Role.DEVELOPER, team=team).exists()
    no_team = api("admin").post(
        base(nx) + "/memberships/", {"username": "newdev", "role": "developer"}, format="json"
    )
    assert no_team.status_code == 400
    assert error_fields(no_team) == ["team"]
    second_po = api("admin").post(
        base(nx) + "/memberships/", {"username": "newdev", "role": "product_owner"}, format="json"
    )
    assert second_po.status_code == 409  # valid, but the Nexus has its Product Owner
    assert error_fields(second_po) == ["role"]


def test_product_goals(nx, api):
    created = api("po").post(base(nx) + "/goals/", {"text": "Checkout in one step"}, format="json")
    assert created.status_code == 201
    goal = created.json()
    assert goal["status"] == GoalStatus.ACTIVE
    second = api("po").post(base(nx) + "/goals/", {"text": "Another"}, format="json")
    assert second.status_code == 409  # valid, but the state conflicts: one active Product Goal
    assert error_fields(second) == ["text"]
    edited = api("po").patch(
        f"{base(nx)}/goals/{goal['id']}/", {"text": "Checkout in one click"}, format="json"
    )
    assert edited.json()["text"] == "Checkout in one click"
    closed = api("po").post(f"{base(nx)}/goals/{goal['id']}/close/", {"status": "achieved"}, format="json")
    assert (closed.json()["status"], closed.json()["closed_at"] is not None) == ("achieved", True)
    again = api("po").post(f"{base(nx)}/goals/{goal['id']}/close/", {"status": "abandoned"}, format="json")
    assert again.status_code == 409
    assert error_fields(again) == ["status"]
    late_edit = api("po").patch(f"{base(nx)}/goals/{goal['id']}/", {"text": "Too late"}, format="json")
    assert late_edit.status_code == 409
    assert api("po").post(base(nx) + "/goals/", {"text": "Next"}, format="json").status_code == 201
    assert len(api("stakeholder").get(base(nx) + "/goals/").json()["results"]) == 2


def test_definition_of_workflow(nx, api):
    rows = api("dev").get(base(nx) + "/columns/").json()["results"]
    assert [(c["name"], c["position"], c["is_start"], c["is_finish"]) for c in rows] == [
        ("Ready", 0, False, False),
        ("In Progress", 1, True, False),
        ("Review", 2, False, False),
        ("Done", 3, False, True),
    ]
    # Changing the Definition of Workflow is for administrators (tests/api/test_structure_writes.py).
    refused = api("dev").post(base(nx) + "/columns/", {"name": "x"}, format="json")
    assert refused.status_code == 403
    assert "Definition of Workflow" in refused.json()["message"]
    assert WorkflowColumn.objects.filter(nexus=nx).count() == 4


def test_team_involvement(nx, api):
    item = ProductBacklogItem.objects.filter(backlog__nexus=nx).earliest("id")
    team_a, team_b = list(nx.teams.all()[:2])
    created = api("dev").post(
        base(nx) + "/involvements/",
        {"item": item.pk, "team": team_a.pk, "status": "in_progress"},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["status"] == "in_progress"
    api("dev").post(base(nx) + "/involvements/", {"item": item.pk, "team": team_b.pk}, format="json")
    twice = api("dev").post(base(nx) + "/involvements/", {"item": item.pk, "team": team_b.pk}, format="json")
    assert twice.status_code == 400
    assert error_fields(twice) == ["team"]
    rows = api("dev").get(f"{base(nx)}/involvements/?item={item.pk}").json()["results"]
    assert {(r["team"], r["status"]) for r in rows} == {
        (team_a.pk, "in_progress"),
        (team_b.pk, "not_started"),
    }
    url = f"{base(nx)}/involvements/{created.json()['id']}/"
    assert api("dev").patch(url, {"status": "done"}, format="json").json()["status"] == "done"
    assert Transition.objects.filter(item=item, kind=TransitionKind.TEAM_STATUS).count() == 2
    assert api("dev").delete(url).status_code == 204
    assert list(TeamInvolvement.objects.filter(item=item).values_list("team_id", flat=True)) == [team_b.pk]


def test_involvement_sync_follows_the_item(nx, api):
    item = ProductBacklogItem.objects.filter(backlog__nexus=nx).earliest("id")
    team = nx.teams.first()
    api("dev").post(base(nx) + "/involvements/", {"item": item.pk, "team": team.pk}, format="json")
    item.refresh_from_db()
    since = item.updated_at.isoformat().replace("+", "%2B")
    rows = api("dev").get(f"{base(nx)}/involvements/?updated_since={since}").json()["results"]
    assert [r["item"] for r in rows] == [item.pk]
    # The list says when (the item's updated_at), so a client knows where to start next time.
    assert rows[0]["changed_at"] == api("dev").get(f"{base(nx)}/items/{item.pk}/").json()["updated_at"]
    assert api("dev").get(f"{base(nx)}/involvements/?updated_since=2999-01-01").json()["results"] == []


def test_transition_log_of_the_nexus(nx, api):
    item = ProductBacklogItem.objects.filter(backlog__nexus=nx).earliest("id")
    pbi_transition(item=item, to_column=column(nx, "In Progress"), actor=None)
    rows = api("dev").get(f"{base(nx)}/transitions/?item={item.pk}").json()["results"]
    assert [r["to_name"] for r in rows] == ["Ready", "In Progress"]
    assert len(api("dev").get(f"{base(nx)}/transitions/").json()["results"]) == 6
    since = rows[-1]["recorded_at"].replace("+", "%2B")
    assert len(api("dev").get(f"{base(nx)}/transitions/?updated_since={since}").json()["results"]) == 1
    one = api("dev").get(f"{base(nx)}/transitions/{rows[0]['id']}/").json()
    assert one["kind"] == "column"
    assert api("dev").post(f"{base(nx)}/transitions/", {}, format="json").status_code == 405


def test_history_recorded_now_is_seen_by_sync_whatever_its_time(nx, api):
    """A change recorded today with an old `at` (imported history) is in the next sync: the log syncs
    on `recorded_at`, and lists in the order of `at` otherwise."""
    from datetime import UTC, datetime

    from django.utils import timezone

    item = ProductBacklogItem.objects.filter(backlog__nexus=nx).earliest("id")
    mark = timezone.now().isoformat().replace("+", "%2B")
    old = datetime(2001, 5, 4, 12, 0, tzinfo=UTC)
    pbi_transition(item=item, to_column=column(nx, "In Progress"), actor=None, at=old)
    rows = api("dev").get(f"{base(nx)}/transitions/?updated_since={mark}").json()["results"]
    assert [(r["to_name"], r["at"][:10]) for r in rows] == [("In Progress", "2001-05-04")]
    assert rows[0]["recorded_at"] > rows[0]["at"]
    in_time_order = api("dev").get(f"{base(nx)}/transitions/?item={item.pk}").json()["results"]
    assert [r["to_name"] for r in in_time_order] == ["In Progress", "Ready"]  # 2001 first


def test_structure_lists_have_constant_queries(nx, api, django_assert_max_num_queries, settings):
    from backlog.services import goal_close, goal_create, pbi_create, pbi_delete, team_create
    from backlog.services.webhooks import webhook_create
    from tests.factories import member

    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    client = api("po")
    paths = ["/teams/", "/memberships/", "/goals/", "/columns/", "/webhooks/", "/items/deleted/"]
    for path in paths:
        client.get(base(nx) + path)

    def grow(n, start):
        for i in range(start, start + n):
            team_create(nexus=nx, name=f"Extra {i}")
            member(nx, "stakeholder", username=f"extra-{nx.slug}-{i}")
            goal_close(goal=goal_create(nexus=nx, text=f"Goal {i}"), status="achieved")
            webhook_create(nexus=nx, url=f"http://127.0.0.1:9/{i}", events=["item.created"], actor=None)
            pbi_delete(item=ProductBacklogItem.objects.filter(backlog__nexus=nx).earliest("id"), actor=None)
            pbi_create(nexus=nx, title=f"Spare {i}", actor=None)

    grow(2, 0)
    for path in paths:
        with django_assert_max_num_queries(4, info=path):
            assert client.get(base(nx) + path).status_code == 200
    grow(6, 2)
    for path in paths:
        with django_assert_max_num_queries(4, info=path):
            assert client.get(base(nx) + path).status_code == 200
