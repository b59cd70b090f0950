"""The Django admin is a door like the others for Sprints: planning, changing and deleting a Sprint go
through the Sprint services (dates that never overlap, a closed Sprint kept as it was, only a planned
Sprint deleted, a tombstone for sync); the scope log and the snapshots are read-only history."""

from __future__ import annotations

from datetime import date

import pytest

from backlog.services import pbi_create
from events.models import Sprint, SprintScopeChange, SprintState
from tests.events.sprint_helpers import sprint_build
from tests.factories import UserFactory, nexus_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory.create(username="root", is_superuser=True, is_staff=True))
    return client


def _form(sprint: Sprint | None = None, **values: object) -> dict[str, object]:
    data: dict[str, object] = {
        "goal": "",
        "start_date": "",
        "end_date": "",
        "team_goals-TOTAL_FORMS": "0",
        "team_goals-INITIAL_FORMS": "0",
        "scope-TOTAL_FORMS": "0",
        "scope-INITIAL_FORMS": "0",
    }
    if sprint is not None:
        data["team_goals-INITIAL_FORMS"] = str(sprint.team_goals.count())
        data["team_goals-TOTAL_FORMS"] = data["team_goals-INITIAL_FORMS"]
        data["scope-INITIAL_FORMS"] = str(sprint.scope.count())
        data["scope-TOTAL_FORMS"] = data["scope-INITIAL_FORMS"]
    data.update(values)
    return data


def test_a_sprint_planned_in_the_admin_gets_the_next_number_and_the_cadence(admin_client):
    nexus = nexus_build()
    first = sprint_build(nexus, started=False, goal="One")
    response = admin_client.post(
        "/admin/events/sprint/add/", _form(nexus=nexus.pk, goal="Customers pay by invoice")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    made = Sprint.objects.get(nexus=nexus, number=2)
    assert made.goal == "Customers pay by invoice"
    assert made.start_date == first.end_date.fromordinal(first.end_date.toordinal() + 1)
    assert (made.end_date - made.start_date).days == nexus.sprint_length_days - 1
    assert made.state == SprintState.PLANNED


def test_overlapping_dates_are_a_form_error_and_nothing_is_saved(admin_client):
    nexus = nexus_build()
    first = sprint_build(nexus, started=False, goal="One")
    response = admin_client.post(
        "/admin/events/sprint/add/",
        _form(nexus=nexus.pk, start_date=first.start_date.isoformat(), end_date=first.end_date.isoformat()),
    )
    assert response.status_code == 200  # the page again, with the reason on the field
    assert "overlap" in response.content.decode()
    assert Sprint.objects.filter(nexus=nexus).count() == 1


def test_a_change_goes_through_the_service_and_a_closed_sprint_is_refused(admin_client):
    nexus = nexus_build()
    sprint = sprint_build(nexus, started=True, goal="Old goal")
    url = f"/admin/events/sprint/{sprint.pk}/change/"
    version = sprint.version
    response = admin_client.post(url, _form(sprint, goal="New goal", end_date=sprint.end_date.isoformat()))
    assert response.status_code == 302, response.content.decode()[:2000]
    sprint.refresh_from_db()
    assert (sprint.goal, sprint.version) == ("New goal", version + 1)
    Sprint.objects.filter(pk=sprint.pk).update(state=SprintState.CLOSED)
    refused = admin_client.post(url, _form(sprint, goal="Rewritten", end_date=sprint.end_date.isoformat()))
    assert refused.status_code == 200
    sprint.refresh_from_db()
    assert sprint.goal == "New goal"


def test_only_a_planned_sprint_is_deleted_and_it_leaves_a_tombstone(admin_client):
    nexus = nexus_build()
    active = sprint_build(nexus, started=True)
    planned = sprint_build(nexus, started=False, start=date(2030, 1, 1))
    assert admin_client.get(f"/admin/events/sprint/{active.pk}/delete/").status_code == 403
    assert admin_client.post(f"/admin/events/sprint/{planned.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Sprint.objects.filter(pk=planned.pk).exists()
    tombstones = admin_client.get(f"/api/v1/nexuses/{nexus.slug}/sprints/deleted/").json()["results"]
    assert [t["id"] for t in tombstones] == [planned.pk]


def test_the_scope_log_is_read_only(admin_client):
    nexus = nexus_build()
    item = pbi_create(nexus=nexus, title="Planned", actor=None)
    sprint_build(nexus, started=True, planned=[item])
    assert SprintScopeChange.objects.exists()
    assert admin_client.get("/admin/events/sprintscopechange/").status_code == 200
    assert admin_client.get("/admin/events/sprintscopechange/add/").status_code == 403
    assert admin_client.get("/admin/events/sprintsnapshot/").status_code == 200
