"""The Definition of Done and Integrated Increment pages: rights shown as the services decide, refusals in
the page with their status, constant query counts, the panels of the Nexus home and Sprint Backlog."""

from __future__ import annotations

import pytest
from django.urls import reverse

from backlog.models import TeamStatus
from integration.models import IncrementState
from tests.factories import nexus_build
from tests.integration.helpers import dod_build, increment_build, people

pytestmark = pytest.mark.django_db


@pytest.fixture
def nx():
    return nexus_build(items=8)


def test_dod_page_nit_adds_team_dev_is_refused_for_the_nexus(client, nx):
    p = people(nx)
    dod_build(nx)
    url = reverse("integration:dod", args=[nx.slug])
    client.force_login(p["dev_a"])
    page = client.get(url).content.decode()
    assert "Code reviewed" in page
    assert "Add to the Nexus" not in page  # a Developer adds only to their team
    refused = client.post(reverse("integration:dod-add", args=[nx.slug]), {"text": "Weaker"})
    assert refused.status_code == 403
    assert "never remove or weaken" in refused.content.decode()
    ok = client.post(reverse("integration:dod-add", args=[nx.slug]), {"text": "A11y", "team": p["team_a"].pk})
    assert ok.status_code == 302
    client.force_login(p["nit"])
    page = client.get(url).content.decode()
    assert "A11y" in page
    assert "Add to the Nexus" in page
    assert "Added to Team A: A11y" in page  # the version history


def test_increment_page_confirm_done_release(client, nx):
    p = people(nx)
    dod_build(nx)
    increment, _scope = increment_build(nx, n_items=2)
    url = reverse("integration:increment", args=[nx.slug, increment.number])
    client.force_login(p["po"])
    early = client.post(reverse("integration:increment-done", args=[nx.slug, increment.number]))
    assert early.status_code == 409
    assert "must be confirmed first" in early.content.decode()
    for c in increment.dod_version.criteria:
        r = client.post(
            reverse("integration:increment-confirm", args=[nx.slug, increment.number]), {"criterion": c["id"]}
        )
        assert r.status_code == 302
    twice = client.post(
        reverse("integration:increment-confirm", args=[nx.slug, increment.number]),
        {"criterion": increment.dod_version.criteria[0]["id"]},
    )
    assert twice.status_code == 409
    assert (
        client.post(reverse("integration:increment-done", args=[nx.slug, increment.number])).status_code
        == 302
    )
    increment.refresh_from_db()
    assert increment.state == IncrementState.DONE
    page = client.get(url).content.decode()
    assert "Mark released" in page
    assert f"sq sq-{TeamStatus.DONE}" in page
    bad = client.post(
        reverse("integration:increment-release", args=[nx.slug, increment.number]), {"released_on": "x"}
    )
    assert bad.status_code == 400
    assert (
        client.post(
            reverse("integration:increment-release", args=[nx.slug, increment.number]), {}
        ).status_code
        == 302
    )


def test_stakeholder_sees_no_buttons(client, nx):
    p = people(nx)
    dod_build(nx)
    increment, _ = increment_build(nx, n_items=1)
    client.force_login(p["stake"])
    page = client.get(reverse("integration:increment", args=[nx.slug, increment.number])).content.decode()
    assert "Confirm</button>" not in page
    assert "Mark Done" not in page


def test_increment_page_queries_constant(client, nx, django_assert_max_num_queries):
    p = people(nx)
    dod_build(nx)
    small, _ = increment_build(nx, n_items=1)
    big, _ = increment_build(nx, n_items=6, sprint=small.sprint)
    client.force_login(p["po"])
    client.get(reverse("integration:increment", args=[nx.slug, small.number]))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        client.get(reverse("integration:increment", args=[nx.slug, small.number]))
    with CaptureQueriesContext(connection) as six:
        client.get(reverse("integration:increment", args=[nx.slug, big.number]))
    assert len(six) == len(one)
    with django_assert_max_num_queries(len(one)):
        client.get(reverse("integration:increment", args=[nx.slug, big.number]))


def test_panels_health_and_sprint(client, nx):
    p = people(nx)
    dod_build(nx)
    increment_build(nx, n_items=1)
    client.force_login(p["dev_a"])
    home = client.get(reverse("backlog:nexus-home", args=[nx.slug])).content.decode()
    assert reverse("integration:health-panel", args=[nx.slug]) in home
    health = client.get(reverse("integration:health-panel", args=[nx.slug])).content.decode()
    assert "No Sprint has finished yet" in health
    assert "no Done Integrated Increment yet" in health
    sb = client.get(reverse("events:sprint-backlog", args=[nx.slug])).content.decode()
    assert reverse("integration:sprint-increments-panel", args=[nx.slug]) in sb
    panel = client.get(reverse("integration:sprint-increments-panel", args=[nx.slug])).content.decode()
    assert "Increment 1" in panel


def test_dod_page_and_health_panel_queries_constant(client, nx):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from integration.services_dod import criterion_add

    p = people(nx)
    dod_build(nx)
    client.force_login(p["nit"])
    urls = [reverse("integration:dod", args=[nx.slug]), reverse("integration:health-panel", args=[nx.slug])]
    for url in urls:
        client.get(url)
    with CaptureQueriesContext(connection) as few:
        for url in urls:
            client.get(url)
    for i in range(6):
        criterion_add(nexus=nx, text=f"More {i}", team=p["team_a"] if i % 2 else None, actor=None)
    increment_build(nx, n_items=2)
    with CaptureQueriesContext(connection) as more:
        for url in urls:
            client.get(url)
    assert len(more) == len(few)
