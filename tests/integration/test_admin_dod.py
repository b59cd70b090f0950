"""The admin of the Definition of Done and the Integrated Increments (`integration/admin.py`): criteria
written through the services (a new version each, refusals on the field, nothing saved), versions and
increments read-only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from integration.models import DoneCriterion, DoneVersion, IntegratedIncrement
from integration.services_dod import criterion_add
from integration.services_increments import increment_create
from tests.events.sprint_helpers import sprint_build
from tests.factories import UserFactory, nexus_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory.create(username="root", is_superuser=True, is_staff=True))
    return client


def test_criteria_through_the_services(admin_client):
    nx = nexus_build()
    url = reverse("admin:integration_donecriterion_add")
    r = admin_client.post(url, {"nexus": nx.pk, "team": "", "text": "Code reviewed", "position": ""})
    assert r.status_code == 302, r.content.decode()[:2000]
    criterion = DoneCriterion.objects.get(nexus=nx)
    assert DoneVersion.objects.filter(nexus=nx).count() == 1
    r = admin_client.post(url, {"nexus": nx.pk, "team": "", "text": "   ", "position": ""})
    assert r.status_code == 200  # the form again, with the error
    assert DoneCriterion.objects.filter(nexus=nx).count() == 1
    change = reverse("admin:integration_donecriterion_change", args=[criterion.pk])
    assert "readonly" in admin_client.get(change).content.decode()
    r = admin_client.post(change, {"text": "Code reviewed by another team", "position": "0"})
    assert r.status_code == 302
    criterion.refresh_from_db()
    assert criterion.text == "Code reviewed by another team"
    assert DoneVersion.objects.filter(nexus=nx).count() == 2
    r = admin_client.post(
        reverse("admin:integration_donecriterion_delete", args=[criterion.pk]), {"post": "yes"}
    )
    assert r.status_code == 302
    assert not DoneCriterion.objects.filter(pk=criterion.pk).exists()
    assert DoneVersion.objects.filter(nexus=nx).count() == 3


def test_versions_and_increments_are_read_only(admin_client):
    nx = nexus_build()
    criterion_add(nexus=nx, text="Tested", actor=None)
    increment = increment_create(sprint=sprint_build(nx, started=True), actor=None)
    for name in ("doneversion", "integratedincrement"):
        assert admin_client.get(reverse(f"admin:integration_{name}_changelist")).status_code == 200
        assert admin_client.get(reverse(f"admin:integration_{name}_add")).status_code == 403
    page = admin_client.get(reverse("admin:integration_integratedincrement_change", args=[increment.pk]))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    delete = reverse("admin:integration_integratedincrement_delete", args=[increment.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert IntegratedIncrement.objects.filter(pk=increment.pk).exists()
