"""The integration issues page and the Executive Action Team page (`integration.views_issues`): who sees
which forms, raising/escalating/resolving through the forms (htmx partial and plain), refusals shown in
the page with their status and nothing saved, and SQL query counts that do not grow with the data."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from backlog.models import Role, ScrumTeam
from integration.bench_issues import eat_fixture
from integration.models_issues import IntegrationIssue
from integration.services_issues import issue_escalate, issue_raise, issue_wip_limit_set
from tests.factories import member, nexus_build

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def nx():
    return nexus_build(items=3)


def _login(client, nexus, role, name, team=None):
    user = member(nexus, role, username=name, team_obj=team)
    client.force_login(user)
    return user


def test_page_shows_issues_with_ages_and_forms_by_role(client, nx):
    t0 = timezone.now() - timedelta(days=9)
    issue = issue_raise(nexus=nx, actor=None, title="Nightly build red", at=t0).issue
    issue_escalate(issue=issue, actor=None, at=t0 + timedelta(days=4))
    _login(client, nx, Role.STAKEHOLDER, "sh")
    html = client.get(reverse("integration:issues", args=[nx.slug])).content.decode()
    assert "Nightly build red" in html
    assert "L1 4 d" in html
    assert "L2 5 d" in html
    assert "Raise an integration issue" not in html
    assert "Escalate to L3" not in html
    _login(client, nx, Role.NIT_MEMBER, "nit")
    html = client.get(reverse("integration:issues", args=[nx.slug])).content.decode()
    assert "Raise an integration issue" in html
    assert "Escalate to L3" in html


def test_raise_escalate_resolve_through_the_forms(client, nx):
    team = ScrumTeam.objects.filter(nexus=nx).earliest("name")
    _login(client, nx, Role.SCRUM_MASTER, "sm", team)
    r = client.post(
        reverse("integration:issue-raise", args=[nx.slug]),
        {
            "title": "Flaky search tests",
            "event": "daily_scrum",
            "level": "1",
            "team": team.pk,
            "teams": [team.pk],
        },
        HTTP_HX_REQUEST="true",
    )
    assert r.status_code == 200
    assert "Issue raised." in r.content.decode()
    assert 'id="issues-body"' in r.content.decode()
    assert "<html" not in r.content.decode()
    issue = IntegrationIssue.objects.get()
    r = client.post(reverse("integration:issue-escalate", args=[nx.slug, issue.pk]), {"note": "Needs Core"})
    assert r.status_code == 200
    assert "<html" in r.content.decode()
    issue.refresh_from_db()
    assert issue.level == 2
    r = client.post(reverse("integration:issue-resolve", args=[nx.slug, issue.pk]), {"resolution": ""})
    assert r.status_code == 400
    assert "resolution" in r.content.decode()
    r = client.post(reverse("integration:issue-resolve", args=[nx.slug, issue.pk]), {"resolution": "Fixed"})
    issue.refresh_from_db()
    assert issue.status == "resolved"


def test_refusals_are_shown_with_their_status(client, nx):
    _login(client, nx, Role.NIT_MEMBER, "nit")
    issue = issue_raise(nexus=nx, actor=None, title="Top", level=2).issue
    issue_escalate(issue=issue, actor=None)
    r = client.post(reverse("integration:issue-escalate", args=[nx.slug, issue.pk]), HTTP_HX_REQUEST="true")
    assert r.status_code == 409
    assert "no level above" in r.content.decode()
    r = client.post(
        reverse("integration:issue-raise", args=[nx.slug]), {"title": " "}, HTTP_HX_REQUEST="true"
    )
    assert r.status_code == 400
    assert 'data-field="title"' in r.content.decode()
    issue_wip_limit_set(nexus=nx, actor=None, limit=1, kind="hard")
    r = client.post(
        reverse("integration:issue-raise", args=[nx.slug]), {"title": "More"}, HTTP_HX_REQUEST="true"
    )
    assert r.status_code == 409
    assert "WIP limit" in r.content.decode()
    assert IntegrationIssue.objects.count() == 1
    _login(client, nx, Role.STAKEHOLDER, "sh")
    r = client.post(reverse("integration:issue-raise", args=[nx.slug]), {"title": "Mine"})
    assert r.status_code == 403
    assert IntegrationIssue.objects.count() == 1


def test_eat_page_lists_my_nexuses_and_records_decisions(client, nx):
    other = nexus_build()
    mine = issue_raise(nexus=nx, actor=None, title="Needs budget", level=2).issue
    issue_escalate(issue=mine, actor=None)
    theirs = issue_raise(nexus=other, actor=None, title="Not yours", level=2).issue
    issue_escalate(issue=theirs, actor=None)
    _login(client, nx, Role.EAT_MEMBER, "eat")
    html = client.get(reverse("integration:eat")).content.decode()
    assert "Needs budget" in html
    assert "Not yours" not in html
    r = client.post(
        reverse("integration:eat-decide", args=[mine.pk]), {"decision": "Fund it"}, HTTP_HX_REQUEST="true"
    )
    assert r.status_code == 200
    assert "Fund it" in r.content.decode()
    assert (
        client.post(reverse("integration:eat-decide", args=[theirs.pk]), {"decision": "x"}).status_code == 404
    )
    r = client.post(reverse("integration:eat-decide", args=[mine.pk]), {"decision": "Done", "close": "1"})
    mine.refresh_from_db()
    assert mine.status == "resolved"
    assert mine.resolution == "Done"


def _queries(client, url):
    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_eat_page_queries_do_not_grow_with_issues_or_nexuses(client):
    user = eat_fixture(nexuses=1, per_nexus=2, prefix="q-small")
    client.force_login(user)
    few = _queries(client, reverse("integration:eat"))
    user = eat_fixture(nexuses=4, per_nexus=30, prefix="q-big")
    client.force_login(user)
    assert _queries(client, reverse("integration:eat")) == few


def test_issues_page_queries_do_not_grow(client, nx):
    team = ScrumTeam.objects.filter(nexus=nx).earliest("name")
    _login(client, nx, Role.NIT_MEMBER, "nit")
    issue_raise(nexus=nx, actor=None, title="One", teams=[team])
    url = reverse("integration:issues", args=[nx.slug])
    few = _queries(client, url)
    for i in range(25):
        issue = issue_raise(nexus=nx, actor=None, title=f"More {i}", teams=[team], team=team).issue
        if i % 3:
            issue_escalate(issue=issue, actor=None)
    assert _queries(client, url) == few


def test_demo_step_issues_at_every_level_and_the_eat_user(tmp_path, client):
    """`load_demo` on a slice of the real history: open issues at levels 1, 2 and 3 with ages of days, a
    resolved one, a decision, and the `eat` user (the demo password) who sees the level-3 ones; twice
    changes nothing."""
    import gzip
    import itertools

    from django.core.management import call_command

    from backlog.demo import DATA_DIR
    from backlog.models import Nexus

    with gzip.open(DATA_DIR / "transitions.csv.gz", "rt", encoding="utf-8") as src:
        lines = list(itertools.islice(src, 0, 1501))
    path = tmp_path / "log.csv"
    path.write_text("".join(lines), encoding="utf-8")
    call_command("load_demo", "--file", str(path), "--slug", "demo-i")
    call_command("load_demo", "--file", str(path), "--slug", "demo-i")
    nexus = Nexus.objects.get(slug="demo-i")
    rows = IntegrationIssue.objects.filter(nexus=nexus)
    assert rows.count() == 7
    assert set(rows.filter(status="open").values_list("level", flat=True)) == {1, 2, 3}
    assert rows.filter(status="resolved").count() == 1
    assert rows.exclude(decision="").count() == 1
    oldest = rows.order_by("raised_at").first()
    assert oldest is not None
    assert (timezone.now() - oldest.raised_at).days >= 20
    assert client.login(username="eat", password="demo")
    html = client.get(reverse("integration:eat")).content.decode()
    assert "No shared test machine for the Java 21 toolchain" in html


def test_admin_lists_issues_read_only_and_deletes_through_the_service(client, nx):
    from django.contrib.auth.models import User

    from backlog.models_api import Tombstone

    issue = issue_raise(nexus=nx, actor=None, title="Admin sees me").issue
    client.force_login(User.objects.create_superuser("root", password="pw"))
    listing = client.get(reverse("admin:integration_integrationissue_changelist"))
    assert listing.status_code == 200
    assert "Admin sees me" in listing.content.decode()
    page = client.get(reverse("admin:integration_integrationissue_change", args=[issue.pk]))
    assert page.status_code == 200
    assert "raised" in page.content.decode()
    client.post(reverse("admin:integration_integrationissue_delete", args=[issue.pk]), {"post": "yes"})
    assert not IntegrationIssue.objects.exists()
    assert Tombstone.objects.filter(nexus_id=nx.pk, kind="integration_issue").count() == 1
