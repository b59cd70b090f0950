"""The team squares and the Scrum Teams' boards through the API: `team-columns/` (keyset lists,
`updated_since`, tombstones, ETag/If-Match, Idempotency-Key), `involvements/{id}/move/`, and the rules of
the squares at this door (403 for another team's Developer, 409 for an unfinished PBI entering Done, the
WIP limits)."""

from __future__ import annotations

import pytest

from backlog.models import (
    ProductBacklogItem,
    ScrumTeam,
    TeamColumn,
    TeamInvolvement,
    Transition,
    WorkflowColumn,
)
from backlog.services import column_update, pbi_set_teams
from tests.api.helpers import base, error_fields

pytestmark = pytest.mark.django_db


def _team(nx, name="Team A"):
    return ScrumTeam.objects.get(nexus=nx, name=name)


def _square(nx, name="Team A"):
    item = ProductBacklogItem.objects.filter(backlog__nexus=nx).earliest("id")
    pbi_set_teams(item=item, teams=[_team(nx, "Team A"), _team(nx, "Team B")], actor=None)
    return TeamInvolvement.objects.get(item=item, team__name=name)


def test_list_one_teams_board_and_sync(nx, api):
    a = _team(nx)
    rows = api("stakeholder").get(f"{base(nx)}/team-columns/?team={a.pk}").json()["results"]
    assert [(r["name"], r["position"], r["state"]) for r in rows] == [
        ("Not started", 0, "not_started"),
        ("In progress", 1, "in_progress"),
        ("Ready to integrate", 2, "ready"),
        ("Done", 3, "done"),
    ]
    assert len(api("dev").get(f"{base(nx)}/team-columns/?page_size=5").json()["results"]) == 5
    assert api("dev").get(f"{base(nx)}/team-columns/?updated_since=2999-01-01").json()["results"] == []
    bad = api("dev").get(f"{base(nx)}/team-columns/?team=999999")
    assert bad.status_code == 400
    assert error_fields(bad) == ["team"]


def test_create_patch_with_etag_and_if_match_then_delete_with_a_tombstone(nx, api):
    a = _team(nx)
    created = api("dev").post(
        f"{base(nx)}/team-columns/",
        {"team": a.pk, "name": "Code review", "state": "in_progress", "wip_limit": 2},
        format="json",
        HTTP_IDEMPOTENCY_KEY="review-1",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["position"], body["version"], created["ETag"]) == (2, 1, '"1"')
    again = api("dev").post(
        f"{base(nx)}/team-columns/",
        {"team": a.pk, "name": "Code review", "state": "in_progress", "wip_limit": 2},
        format="json",
        HTTP_IDEMPOTENCY_KEY="review-1",
    )
    assert again.status_code == 201
    assert TeamColumn.objects.filter(team=a, name="Code review").count() == 1
    url = f"{base(nx)}/team-columns/{body['id']}/"
    got = api("dev").get(url)
    assert got["ETag"] == '"1"'
    assert api("dev").get(url, HTTP_IF_NONE_MATCH='"1"').status_code == 304
    patched = api("dev").patch(url, {"sle_days": 3}, format="json", HTTP_IF_MATCH='"1"')
    assert patched.status_code == 200, patched.content
    assert (patched.json()["sle_days"], patched["ETag"]) == (3, '"2"')
    stale = api("dev").patch(url, {"name": "Review"}, format="json", HTTP_IF_MATCH='"1"')
    assert stale.status_code == 412
    assert error_fields(stale) == ["If-Match"]
    assert api("dev").delete(url, HTTP_IF_MATCH='"1"').status_code == 412
    assert api("dev").delete(url, HTTP_IF_MATCH='"2"').status_code == 204
    deleted = api("dev").get(f"{base(nx)}/team-columns/deleted/").json()["results"]
    assert [d["id"] for d in deleted] == [body["id"]]


def test_bad_input_names_the_field(nx, api):
    a = _team(nx)
    url = f"{base(nx)}/team-columns/"
    cases = [
        ({"team": a.pk, "name": "Late", "state": "not_started", "position": 3}, "position"),
        ({"team": a.pk, "name": "Done", "state": "done"}, "name"),
        ({"team": a.pk, "name": "X", "state": "half"}, "state"),
        ({"team": a.pk, "name": "X", "state": "ready", "wip_limit": 0}, "wip_limit"),
        ({"team": a.pk, "name": "X", "state": "ready", "sle_days": 400}, "sle_days"),
        ({"team": "a", "name": "X", "state": "ready"}, "team"),
    ]
    for body, field in cases:
        response = api("dev").post(url, body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert error_fields(response) == [field], body
    last_ready = TeamColumn.objects.get(team=a, state="ready")
    refused = api("dev").delete(f"{url}{last_ready.pk}/")
    assert refused.status_code == 400
    assert error_fields(refused) == ["state"]


def test_move_a_square_on_the_board_and_the_nexus_column_follows(nx, api, who):
    square = _square(nx)
    review = (
        api("dev")
        .post(
            f"{base(nx)}/team-columns/",
            {"team": square.team_id, "name": "Review", "state": "in_progress"},
            format="json",
        )
        .json()
    )
    item = square.item
    response = api("dev").post(
        f"{base(nx)}/involvements/{square.pk}/move/",
        {"column": review["id"]},
        format="json",
        HTTP_IF_MATCH=f'"{item.version}"',
    )
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["team_column"]) == ("in_progress", review["id"])
    item.refresh_from_db()
    assert item.column.name == "In Progress"
    log = api("stakeholder").get(f"{base(nx)}/items/{item.pk}/transitions/").json()["results"]
    team_move = next(r for r in log if r["kind"] == "team_column")
    assert (team_move["to_name"], team_move["team_status"], team_move["to_team_column"]) == (
        "Review",
        "in_progress",
        review["id"],
    )
    started = next(r for r in log if r["kind"] == "column" and r["to_name"] == "In Progress")
    assert (started["source"], started["actor"]) == ("system", who["dev"].username)
    stale = api("dev").post(
        f"{base(nx)}/involvements/{square.pk}/move/",
        {"column": review["id"]},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    assert stale.status_code == 412
    other_team = TeamColumn.objects.get(team__name="Team B", state="ready")
    wrong = api("dev").post(
        f"{base(nx)}/involvements/{square.pk}/move/", {"column": other_team.pk}, format="json"
    )
    assert wrong.status_code == 400
    assert error_fields(wrong) == ["column"]


def test_another_teams_developer_gets_403_at_every_door_of_the_api(nx, api):
    square = _square(nx)
    ready = TeamColumn.objects.get(team=square.team, state="ready")
    for response in (
        api("dev_other").patch(f"{base(nx)}/involvements/{square.pk}/", {"status": "ready"}, format="json"),
        api("dev_other").post(
            f"{base(nx)}/involvements/{square.pk}/move/", {"column": ready.pk}, format="json"
        ),
        api("dev_other").patch(f"{base(nx)}/team-columns/{ready.pk}/", {"wip_limit": 1}, format="json"),
    ):
        assert response.status_code == 403, response.content
        assert error_fields(response) == ["team"]
        assert "Team A" in response.json()["message"]
    square.refresh_from_db()
    assert square.status == "not_started"


def test_a_pbi_enters_done_only_with_every_square_filled_through_the_api(nx, api):
    square = _square(nx)
    item = square.item
    done = WorkflowColumn.objects.get(nexus=nx, name="Done")
    api("dev").patch(f"{base(nx)}/involvements/{square.pk}/", {"status": "ready"}, format="json")
    refused = api("po").post(f"{base(nx)}/items/{item.pk}/transition/", {"column": done.pk}, format="json")
    assert refused.status_code == 409
    assert error_fields(refused) == ["column"]
    assert "Team B (not started)" in refused.json()["message"]
    patch = api("po").patch(f"{base(nx)}/items/{item.pk}/", {"column": done.pk}, format="json")
    assert patch.status_code == 409
    other = TeamInvolvement.objects.get(item=item, team__name="Team B")
    api("dev_other").patch(f"{base(nx)}/involvements/{other.pk}/", {"status": "done"}, format="json")
    assert (
        api("po")
        .post(f"{base(nx)}/items/{item.pk}/transition/", {"column": done.pk}, format="json")
        .status_code
        == 200
    )


def test_wip_limits_at_the_square_door(nx, api):
    in_progress = WorkflowColumn.objects.get(nexus=nx, name="In Progress")
    column_update(column=in_progress, wip_limit=1)
    items = list(ProductBacklogItem.objects.filter(backlog__nexus=nx).order_by("id")[:2])
    a = _team(nx)
    squares = []
    for item in items:
        pbi_set_teams(item=item, teams=[a], actor=None)
        squares.append(TeamInvolvement.objects.get(item=item))
    api("dev").patch(f"{base(nx)}/involvements/{squares[0].pk}/", {"status": "in_progress"}, format="json")
    soft = api("dev").patch(
        f"{base(nx)}/involvements/{squares[1].pk}/", {"status": "in_progress"}, format="json"
    )
    assert soft.status_code == 200
    assert "WIP limit (1 of 1)" in soft["X-Nexus-Warning"]
    column_update(column=in_progress, wip_limit=1, wip_limit_kind="hard")
    third = ProductBacklogItem.objects.filter(backlog__nexus=nx).order_by("id")[2]
    pbi_set_teams(item=third, teams=[a], actor=None)
    hard = api("dev").patch(
        f"{base(nx)}/involvements/{TeamInvolvement.objects.get(item=third).pk}/",
        {"status": "ready"},
        format="json",
    )
    assert hard.status_code == 409
    assert error_fields(hard) == ["status"]
    assert "'In Progress' is at its WIP limit" in hard.json()["message"]
    assert not Transition.objects.filter(item=third, kind="team_status").exists()
