"""The flow settings resource (`flow/api_settings.py`): Service Level Expectations and WIP limit kinds
of the Nexus and its Scrum Teams, set through the same service as the flow settings page, with the
API's conventions (upsert by scope, errors naming the field, sync by `updated_since`)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from backlog.errors import WipLimitReached
from backlog.models import ScrumTeam
from backlog.services import pbi_transition, team_delete
from flow.models import FlowSettings
from tests.api.helpers import base, error_fields
from tests.factories import column, team


def test_set_then_change_a_team_scope_and_the_nexus_scope(nx, api, who):
    url = base(nx) + "/flow-settings/"
    assert api("stakeholder").get(url).json()["results"] == []  # defaults: no rows
    core = team(nx, "Team A")
    body = {"team": core.pk, "sle_percent": 85, "sle_days": 14, "wip_limit_kind": "hard"}
    created = api("nit").post(url, body, format="json")
    assert created.status_code == 201, created.content
    row = created.json()
    assert (row["team"], row["sle_percent"], row["sle_days"], row["wip_limit_kind"], row["updated_by"]) == (
        core.pk,
        85,
        14,
        "hard",
        who["nit"].username,
    )
    again = api("po").post(url, {**body, "sle_days": None, "wip_limit_kind": "soft"}, format="json")
    assert again.status_code == 200
    assert (again.json()["id"], again.json()["sle_days"], again.json()["updated_by"]) == (
        row["id"],
        None,
        who["po"].username,
    )
    nexus_scope = api("po").post(url, {"team": None, "sle_percent": 70}, format="json")
    assert nexus_scope.status_code == 201
    assert (nexus_scope.json()["team"], nexus_scope.json()["wip_limit_kind"]) == (None, "soft")
    listed = api("stakeholder").get(url).json()["results"]
    assert {(r["team"], r["sle_percent"]) for r in listed} == {(core.pk, 85), (None, 70)}
    assert api("dev").get(f"{url}{row['id']}/").json()["sle_percent"] == 85
    assert FlowSettings.objects.filter(nexus=nx).count() == 2


def test_a_hard_kind_set_through_the_api_refuses_moves(nx, api):
    """The same service as the page: a Nexus-level hard WIP limit refuses the move past it."""
    nx.wip_limit = 1
    nx.save()
    api("po").post(
        base(nx) + "/flow-settings/",
        {"team": None, "sle_percent": 85, "wip_limit_kind": "hard"},
        format="json",
    )
    items = list(nx.backlog.items.order_by("rank"))
    pbi_transition(item=items[0], to_column=column(nx, "In Progress"), actor=None)
    try:
        pbi_transition(item=items[1], to_column=column(nx, "In Progress"), actor=None)
    except WipLimitReached:
        pass
    else:  # pragma: no cover - the assertion below reports it
        raise AssertionError("a hard Nexus WIP limit let a second item in")


def test_bad_input_names_the_field(nx, api):
    url = base(nx) + "/flow-settings/"
    other = team(nx, "Team B")
    cases = [
        ({"team": None, "sle_percent": 0}, "sle_percent"),
        ({"team": None, "sle_percent": 101}, "sle_percent"),
        ({"team": None, "sle_percent": "85"}, "sle_percent"),
        ({"team": None, "sle_percent": 85, "sle_days": 0}, "sle_days"),
        ({"team": None, "sle_percent": 85, "sle_days": 3651}, "sle_days"),
        ({"team": None, "sle_percent": 85, "wip_limit_kind": "firm"}, "wip_limit_kind"),
        ({"team": 999999, "sle_percent": 85}, "team"),
        ({"team": str(other.pk), "sle_percent": 85}, "team"),
        ({"sle_percent": 85}, "team"),
        ({"team": None, "sle_percent": 85, "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        response = api("po").post(url, body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert error_fields(response) == [field], body
    assert not FlowSettings.objects.filter(nexus=nx).exists()


def test_another_nexus_team_is_not_there(nx, api):
    from tests.factories import nexus_build

    elsewhere = nexus_build(slug="elsewhere")
    response = api("po").post(
        base(nx) + "/flow-settings/", {"team": team(elsewhere, "Team A").pk, "sle_percent": 85}, format="json"
    )
    assert response.status_code == 400
    assert error_fields(response) == ["team"]


def test_sync_sees_what_changed(nx, api):
    url = base(nx) + "/flow-settings/"
    api("po").post(url, {"team": None, "sle_percent": 85}, format="json")
    mark = timezone.now()
    changed = api("dev").get(url, {"updated_since": mark.isoformat()}).json()["results"]
    assert changed == []
    api("po").post(url, {"team": team(nx, "Team C").pk, "sle_percent": 95}, format="json")
    changed = api("dev").get(url, {"updated_since": mark.isoformat()}).json()["results"]
    assert [r["sle_percent"] for r in changed] == [95]


def test_list_queries_are_constant(nx, api, django_assert_max_num_queries):
    url = base(nx) + "/flow-settings/"
    client = api("dev")
    with django_assert_max_num_queries(4):
        assert client.get(url).status_code == 200
    for name in ("Team A", "Team B", "Team C"):
        api("nit").post(url, {"team": team(nx, name).pk, "sle_percent": 85}, format="json")
    with django_assert_max_num_queries(4):
        assert len(client.get(url).json()["results"]) == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_a_team_deleted_after_the_body_was_read_is_a_400_naming_it(nx, api, monkeypatch):
    """The team is deleted (and committed, by another connection) between the check of the body and the
    service: a 400 naming `team`, never a 500 (the foreign key failing at commit)."""
    from flow import api_settings

    doomed = team(nx, "Team C")
    real = api_settings.flow_settings_set

    def delete_first(**kwargs):
        worker = threading.Thread(target=_delete_team, args=(doomed.pk,))
        worker.start()
        worker.join(timeout=10)
        return real(**kwargs)

    monkeypatch.setattr(api_settings, "flow_settings_set", delete_first)
    body = {"team": doomed.pk, "sle_percent": 85}
    response = api("po").post(base(nx) + "/flow-settings/", body, format="json")
    assert response.status_code == 400, response.content
    assert error_fields(response) == ["team"]
    assert not FlowSettings.objects.filter(nexus=nx).exists()


def _delete_team(pk: int) -> None:
    try:
        team_delete(team=ScrumTeam.objects.get(pk=pk))
    finally:
        connections.close_all()
