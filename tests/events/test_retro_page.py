"""The Nexus Sprint Retrospective page (`events.views_retro`): the parts and forms by role, writes through
the htmx partials (and plain posts), refusals shown in the part with their status and nothing saved, open
actions of earlier retrospectives first, the Definition of Workflow changed by the Nexus Integration Team
through the workflow services, integration's panel of the Sprint's issues, and SQL query counts that do
not grow with the data."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from backlog.models import Role, WorkflowColumn
from events.models import ImprovementAction, RetroItem
from events.services import sprint_close
from events.services.retro import action_agree, retro_item_add
from integration.services_issues import issue_raise, issue_resolve
from tests.events.sprint_helpers import sprint_build
from tests.factories import member, nexus_build, team

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def nx():
    return nexus_build(items=3)


@pytest.fixture
def sprint(nx):
    return sprint_build(nx, started=True)


def _url(nx, sprint, name="events:retrospective", *args):
    return reverse(name, args=[nx.slug, sprint.pk, *args])


def _login(client, nx, role, name, team_obj=None):
    user = member(nx, role, username=name, team_obj=team_obj)
    client.force_login(user)
    return user


def test_page_shows_the_parts_and_forms_by_role(client, nx, sprint):
    retro_item_add(sprint=sprint, actor=None, text="Build red for days")
    _login(client, nx, Role.STAKEHOLDER, "sh")
    html = client.get(_url(nx, sprint)).content.decode()
    for text in (
        "Cross-team issues",
        "Scrum Team retrospectives",
        "Nexus improvement actions",
        "Build red for days",
    ):
        assert text in html
    assert 'id="ct-text"' not in html  # no forms for Stakeholders
    assert 'name="wip_limit"' not in html
    assert "Throughput" in html
    assert "Definition of Workflow" in html
    _login(client, nx, Role.DEVELOPER, "dev-b", team(nx, "Team B"))
    html = client.get(_url(nx, sprint)).content.decode()
    assert 'id="ct-text"' in html
    assert '<option value="{}" selected>Team B</option>'.format(team(nx, "Team B").pk) in html
    assert ">Team A</option>" not in html.split('id="ti-team"')[1].split("</select>")[0]
    assert 'id="cn-' not in html  # Developers do not change the Definition of Workflow


def test_latest_opens_the_last_closed_sprint_and_the_nav_entry(client, nx, sprint):
    sprint_close(sprint=sprint, actor=None)
    sprint_build(nx, start=timezone.localdate(), started=True)  # the active one is far from its end
    _login(client, nx, Role.STAKEHOLDER, "sh")
    response = client.get(reverse("events:retrospective-latest", args=[nx.slug]))
    assert response.status_code == 302
    assert response["Location"] == _url(nx, sprint)
    html = client.get(response["Location"]).content.decode()
    assert f'href="/n/{nx.slug}/retrospective/"' in html  # "Retrospective" in the navigation
    planned = sprint_build(nx)
    assert client.get(_url(nx, planned)).status_code == 404


def test_record_each_part_through_htmx(client, nx, sprint):
    user = _login(client, nx, Role.NIT_MEMBER, "nit")
    r = client.post(_url(nx, sprint, "events:retro-issue-add"), {"text": "Nightly build red"}, **HX)
    assert r.status_code == 200
    html = r.content.decode()
    assert html.lstrip().startswith('<section class="panel retro-part" id="retro-part1"')
    assert "Nightly build red" in html
    assert "Cross-team issue recorded." in html
    issue = RetroItem.objects.get(sprint=sprint)
    r = client.post(
        _url(nx, sprint, "events:retro-team-item-add"),
        {"team": team(nx).pk, "text": "We merged late", "cross_team_issue": issue.pk},
        **HX,
    )
    assert r.status_code == 200
    assert 'id="retro-part2"' in r.content.decode()
    assert RetroItem.objects.get(sprint=sprint, team=team(nx)).cross_team_issue_id == issue.pk
    r = client.post(
        _url(nx, sprint, "events:retro-action-agree"),
        {
            "title": "Build every merge",
            "owner": user.username,
            "kind": "action",
            "cross_team_issue": issue.pk,
        },
        **HX,
    )
    assert r.status_code == 200
    assert "Build every merge" in r.content.decode()
    action = ImprovementAction.objects.get(sprint=sprint)
    r = client.post(_url(nx, sprint, "events:retro-action-status", action.pk), {"status": "done"}, **HX)
    assert r.status_code == 200
    assert 'id="retro-part3"' in r.content.decode()
    action.refresh_from_db()
    assert action.status == "done"
    # Without htmx: the whole page.
    r = client.post(_url(nx, sprint, "events:retro-issue-add"), {"text": "Second"})
    assert r.status_code == 200
    assert "<html" in r.content.decode()


def test_refusals_are_shown_in_the_part_with_their_status(client, nx, sprint):
    _login(client, nx, Role.DEVELOPER, "dev-b", team(nx, "Team B"))
    r = client.post(_url(nx, sprint, "events:retro-issue-add"), {"text": "   "}, **HX)
    assert r.status_code == 400
    assert 'data-field="text"' in r.content.decode()
    r = client.post(
        _url(nx, sprint, "events:retro-team-item-add"),
        {"team": team(nx, "Team A").pk, "text": "Not ours"},
        **HX,
    )
    assert r.status_code == 403
    html = r.content.decode()
    assert "Only Team A&#x27;s Developers" in html
    assert 'value="Not ours"' in html
    r = client.post(_url(nx, sprint, "events:retro-action-agree"), {"title": "No owner", "owner": ""}, **HX)
    assert r.status_code == 400
    assert 'data-field="owner"' in r.content.decode()
    assert not RetroItem.objects.exists()
    assert not ImprovementAction.objects.exists()


def test_open_actions_of_earlier_retrospectives_come_first(client, nx, sprint):
    nit = _login(client, nx, Role.NIT_MEMBER, "nit")
    old = action_agree(
        sprint=sprint,
        actor=None,
        title="Merge by the second-to-last day",
        owner=nit,
        at=timezone.now() - timedelta(days=20),
    )
    sprint_close(sprint=sprint, actor=None)
    later = sprint_build(nx, started=True)
    action_agree(sprint=later, actor=None, title="Run the build on every merge", owner=nit)
    html = client.get(_url(nx, later)).content.decode()
    carried = html.index('id="retro-carried"')
    assert carried < html.index('id="retro-part1"')
    assert html.index("Merge by the second-to-last day") < html.index('id="retro-part1"')
    assert "open for 20 days" in html
    assert "agreed in" in html
    r = client.post(
        _url(nx, later, "events:retro-action-status", old.pk),
        {"status": "done", "note": "Green builds"},
        **HX,
    )
    assert r.status_code == 200
    html = r.content.decode()
    assert 'id="retro-carried"' in html
    assert "Closed at this retrospective" in html
    old.refresh_from_db()
    assert (old.status, old.closed_sprint_id) == ("done", later.pk)


def test_nit_changes_the_definition_of_workflow_through_the_services(client, nx, sprint):
    review = WorkflowColumn.objects.get(nexus=nx, name="Review")
    _login(client, nx, Role.DEVELOPER, "dev-a", team(nx))
    r = client.post(_url(nx, sprint, "events:retro-column-update", review.pk), {"name": "Peer review"}, **HX)
    assert r.status_code == 403
    assert "Nexus Integration Team" in r.content.decode()
    _login(client, nx, Role.NIT_MEMBER, "nit")
    r = client.post(
        _url(nx, sprint, "events:retro-column-update", review.pk),
        {"name": "Peer review", "wip_limit": "4", "wip_limit_kind": "hard"},
        **HX,
    )
    assert r.status_code == 200, r.content
    review.refresh_from_db()
    assert (review.name, review.wip_limit, review.wip_limit_kind) == ("Peer review", 4, "hard")
    r = client.post(_url(nx, sprint, "events:retro-column-update", review.pk), {"wip_limit": "0"}, **HX)
    assert r.status_code == 400
    assert 'data-field="wip_limit"' in r.content.decode()
    r = client.post(
        _url(nx, sprint, "events:retro-column-add"), {"name": "QA", "category": "in_progress"}, **HX
    )
    assert r.status_code == 200
    qa = WorkflowColumn.objects.get(nexus=nx, name="QA")
    start = WorkflowColumn.objects.get(nexus=nx, is_start=True)
    r = client.post(_url(nx, sprint, "events:retro-column-delete", start.pk), **HX)
    assert r.status_code == 409
    assert "started column" in r.content.decode()
    r = client.post(_url(nx, sprint, "events:retro-column-delete", qa.pk), **HX)
    assert r.status_code == 200
    assert not WorkflowColumn.objects.filter(pk=qa.pk).exists()


def test_integration_panel_counts_the_sprints_issues(client, nx):
    sprint = sprint_build(nx, start=timezone.localdate() - timedelta(days=3), started=True)
    before = issue_raise(
        nexus=nx, actor=None, title="Old and open", at=timezone.now() - timedelta(days=30)
    ).issue
    raised = issue_raise(nexus=nx, actor=None, title="New one").issue
    fixed = issue_raise(nexus=nx, actor=None, title="Fixed", level=2).issue
    issue_resolve(issue=fixed, actor=None, resolution="ok")
    assert before
    assert raised
    _login(client, nx, Role.STAKEHOLDER, "sh")
    html = client.get(_url(nx, sprint)).content.decode()
    panel_url = reverse("integration:retro-issues-panel", args=[nx.slug]) + f"?sprint={sprint.pk}"
    assert f'hx-get="{panel_url}"' in html
    panel = client.get(panel_url).content.decode()
    assert "Integration issues in Sprint 1" in panel
    assert "<dt>Raised</dt><dd>2" in panel
    assert '<dt>Escaped</dt><dd class="late">2' in panel  # the old one and the new one, still open
    assert "Old and open" in panel


def _fill(nx, sprint, n):
    nit = member(nx, Role.NIT_MEMBER, username=f"nit-{n}")
    for i in range(n):
        issue = retro_item_add(sprint=sprint, actor=None, text=f"Issue {i}")
        retro_item_add(sprint=sprint, actor=None, text=f"Team {i}", team=team(nx), cross_team_issue=issue)
        action_agree(
            sprint=sprint, actor=None, title=f"Action {i}", owner=nit, kind="pbi" if i % 2 else "action"
        )


def test_page_queries_do_not_grow(client, nx):
    first = sprint_build(nx, started=True)
    _fill(nx, first, 1)
    sprint_close(sprint=first, actor=None)
    sprint = sprint_build(nx, started=True)
    _fill(nx, sprint, 1)
    client.force_login(nx.memberships.get(role=Role.PRODUCT_OWNER).user)
    with CaptureQueriesContext(connection) as small:
        assert client.get(_url(nx, sprint)).status_code == 200
    _fill(nx, first, 12)
    _fill(nx, sprint, 15)
    with CaptureQueriesContext(connection) as large:
        assert client.get(_url(nx, sprint)).status_code == 200
    assert len(large) == len(small), [q["sql"][:120] for q in large.captured_queries]
    assert len(small) <= 25


def test_admin_reads_items_and_actions_and_deletes_items_through_the_service(client, nx, sprint):
    from backlog.models_api import Tombstone
    from tests.factories import UserFactory

    item = retro_item_add(sprint=sprint, actor=None, text="Build red")
    action = action_agree(
        sprint=sprint, actor=None, title="Build every merge", owner=nx.memberships.first().user
    )
    client.force_login(UserFactory.create(username="root", is_superuser=True, is_staff=True))
    assert client.get(reverse("admin:events_retroitem_changelist")).status_code == 200
    page = client.get(reverse("admin:events_improvementaction_change", args=[action.pk]))
    assert page.status_code == 200
    assert "agreed" in page.content.decode().lower()
    assert (
        client.post(
            reverse("admin:events_improvementaction_delete", args=[action.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    r = client.post(reverse("admin:events_retroitem_delete", args=[item.pk]), {"post": "yes"})
    assert r.status_code == 302
    assert Tombstone.objects.filter(kind="retro_item", object_id=item.pk).exists()
