"""The planning page's candidates: a ready PBI's column is ticked only when the Definition of Workflow
has a ready column; without one no PBI is told ready or not (the demo's Triage was ticked as ready)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from backlog.models import ColumnCategory, Role
from backlog.services import membership_add, nexus_create, pbi_create
from backlog.services.nexus import ColumnSpec
from tests.factories import UserFactory, column

pytestmark = pytest.mark.django_db


def _page(client, *, ready_column: bool) -> str:
    slug = f"mark-{ready_column}".lower()
    nexus = nexus_create(
        name="Marks",
        slug=slug,
        columns=[
            ColumnSpec("Triage", ColumnCategory.NOT_STARTED, is_ready=ready_column),
            ColumnSpec("In Progress", ColumnCategory.IN_PROGRESS, is_start=True),
            ColumnSpec("Done", ColumnCategory.DONE, is_finish=True),
        ],
    )
    po = UserFactory.create(username=f"po-{slug}")
    membership_add(nexus=nexus, user=po, role=Role.PRODUCT_OWNER)
    pbi_create(nexus=nexus, title="Waiting in Triage", actor=None, column=column(nexus, "Triage"))
    client.force_login(po)
    client.post(reverse("events:planning-new", args=[slug]))
    return client.get(reverse("events:planning", args=[slug])).content.decode()


def test_no_ready_column_no_tick(client):
    html = _page(client, ready_column=False)
    assert "Waiting in Triage" in html
    assert 'class="col-name small">Triage<' in html
    assert "is-ready" not in html
    assert 'tag-warn">not ready' not in html
    assert "No column of the Definition of Workflow is marked ready" in html


def test_a_ready_column_ticks_its_pbis(client):
    html = _page(client, ready_column=True)
    assert 'class="col-name small is-ready">Triage<' in html
