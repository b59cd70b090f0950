"""Integration issues (`integration.services_issues`): raising, escalating along the Scrum@Scale ladder
(with when and who, and the age at each level), decisions of the Executive Action Team, resolving; each
refusal naming its reason; the typed append-only history; the WIP limit on open issues (hard refuses,
soft warns); the change counter and the webhook events of every write; races on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections
from django.utils import timezone

from backlog.errors import Conflict, DomainError, NotAllowed, PreconditionFailed, WipLimitReached
from backlog.models import NexusChangeCounter, ProductBacklogItem, Role, ScrumTeam
from backlog.models_api import WebhookDelivery
from backlog.selectors import can_create_items, can_edit_items
from backlog.services.webhooks import webhook_create
from integration.models_issues import IntegrationIssue, IntegrationIssueEntry, IssueStatus
from integration.selectors_issues import eat_issues, level_ages
from integration.services_issues import (
    issue_decide,
    issue_delete,
    issue_escalate,
    issue_raise,
    issue_resolve,
    issue_update,
    issue_wip_limit_set,
)
from tests.factories import member, nexus_build

pytestmark = pytest.mark.django_db


def _seq(nexus):
    return NexusChangeCounter.objects.filter(nexus=nexus).values_list("seq", flat=True).first() or 0


@pytest.fixture
def nx():
    return nexus_build(items=3)


@pytest.fixture
def people(nx):
    team = ScrumTeam.objects.filter(nexus=nx).earliest("name")
    return {
        "dev": member(nx, Role.DEVELOPER, username="i-dev", team_obj=team),
        "nit": member(nx, Role.NIT_MEMBER, username="i-nit"),
        "eat": member(nx, Role.EAT_MEMBER, username="i-eat"),
        "sh": member(nx, Role.STAKEHOLDER, username="i-sh"),
    }


def _raise(nx, people, **kw):
    kw.setdefault("title", "Nightly build red")
    return issue_raise(nexus=nx, actor=people["dev"], **kw).issue


def test_raise_with_everything_and_history(nx, people):
    team = ScrumTeam.objects.filter(nexus=nx).earliest("name")
    item = ProductBacklogItem.objects.filter(backlog__nexus=nx).earliest("id")
    before = _seq(nx)
    issue = _raise(
        nx,
        people,
        description="Parser change",
        event="daily_scrum",
        team=team,
        teams=[team.pk],
        items=[item],
        owner=people["nit"],
    )
    assert (issue.level, issue.status, issue.raised_by, issue.raised_by_team) == (
        1,
        "open",
        people["dev"],
        team,
    )
    assert list(issue.teams.all()) == [team]
    assert list(issue.items.all()) == [item]
    assert _seq(nx) == before + 1
    assert list(issue.history.values_list("kind", "level", "actor__username")) == [("raised", 1, "i-dev")]


def test_escalate_to_the_top_records_when_who_and_ages(nx, people):
    t0 = timezone.now() - timedelta(days=10)
    issue = _raise(nx, people, at=t0)
    issue_escalate(issue=issue, actor=people["nit"], note="Needs Core", at=t0 + timedelta(days=3))
    issue_escalate(issue=issue, actor=people["nit"], at=t0 + timedelta(days=7))
    issue.refresh_from_db()
    assert issue.level == 3
    assert issue.level_2_at == t0 + timedelta(days=3)
    ages = level_ages(issue, now=t0 + timedelta(days=10))
    assert [(a.level, a.days, a.current) for a in ages] == [(1, 3, False), (2, 4, False), (3, 3, True)]
    esc = list(issue.history.filter(kind="escalated").values_list("actor__username", "data", "note"))
    assert esc == [("i-nit", {"from": 1, "to": 2}, "Needs Core"), ("i-nit", {"from": 2, "to": 3}, "")]
    with pytest.raises(Conflict) as exc:
        issue_escalate(issue=issue, actor=people["nit"])
    assert exc.value.field == "level"
    assert "no level above" in exc.value.message
    assert issue.history.count() == 3  # nothing half-saved


def test_a_closed_issue_is_not_escalated_or_changed(nx, people):
    issue = _raise(nx, people)
    issue_resolve(issue=issue, actor=people["dev"], resolution="Fixed the fixture")
    for call in (
        lambda: issue_escalate(issue=issue, actor=people["nit"]),
        lambda: issue_update(issue=issue, actor=people["dev"], title="x"),
        lambda: issue_resolve(issue=issue, actor=people["dev"], resolution="again"),
    ):
        with pytest.raises(Conflict) as exc:
            call()
        assert exc.value.field == "status"
    issue.refresh_from_db()
    assert issue.status == IssueStatus.RESOLVED
    assert issue.closed_at is not None
    assert level_ages(issue)[-1].current


def test_bad_input_names_the_field(nx, people):
    other = nexus_build()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"title": "  "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"event": "party"}, "event"),
        ({"level": 3}, "level"),
        ({"teams": [ScrumTeam.objects.filter(nexus=other).earliest("name").pk]}, "teams"),
        ({"items": [999_999]}, "items"),
    ]
    for kw, field in cases:
        with pytest.raises(DomainError) as exc:
            issue_raise(nexus=nx, actor=people["dev"], **{"title": "ok", **kw})
        assert exc.value.field == field, kw
    assert not IntegrationIssue.objects.exists()
    issue = _raise(nx, people)
    with pytest.raises(DomainError) as exc:
        issue_resolve(issue=issue, actor=people["dev"], resolution=" ")
    assert exc.value.field == "resolution"
    with pytest.raises(PreconditionFailed):
        issue_update(issue=issue, actor=people["dev"], expected_version=99, title="New")


def test_the_executive_action_team_decides_and_alone_closes_level_3(nx, people):
    issue = _raise(nx, people)
    with pytest.raises(Conflict) as exc:
        issue_decide(issue=issue, actor=people["eat"], decision="Buy a runner")
    assert exc.value.field == "level"
    issue_escalate(issue=issue, actor=people["nit"])
    issue_escalate(issue=issue, actor=people["nit"])
    with pytest.raises(NotAllowed):
        issue_decide(issue=issue, actor=people["nit"], decision="Mine")
    with pytest.raises(NotAllowed):
        issue_resolve(issue=issue, actor=people["dev"], resolution="Done")
    issue_decide(issue=issue, actor=people["eat"], decision="Buy a runner")
    issue_resolve(issue=issue, actor=people["eat"], resolution="Runner bought", status="wont_fix")
    issue.refresh_from_db()
    assert (issue.decision, issue.status) == ("Buy a runner", "wont_fix")
    kinds = list(issue.history.values_list("kind", flat=True))
    assert kinds == ["raised", "escalated", "escalated", "decision", "wont_fix"]


def test_history_is_append_only(nx, people):
    entry = _raise(nx, people).history.get()
    entry.note = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        entry.save()


def test_update_logs_changed_fields_only(nx, people):
    issue = _raise(nx, people)
    issue_update(issue=issue, actor=people["dev"], title="Nightly build red")  # unchanged
    assert issue.history.count() == 1
    team = ScrumTeam.objects.filter(nexus=nx).earliest("name")
    issue_update(issue=issue, actor=people["dev"], title="Build red", teams=[team])
    assert issue.history.last().data == {"fields": ["title", "teams"]}
    assert issue.version == 2


def test_wip_limit_hard_refuses_soft_warns(nx, people):
    issue_wip_limit_set(nexus=nx, actor=people["nit"], limit=1, kind="hard")
    _raise(nx, people)
    with pytest.raises(WipLimitReached) as full:
        _raise(nx, people, title="Second")
    assert full.value.field == "limit"
    assert full.value.status_code == 409
    assert IntegrationIssue.objects.count() == 1
    issue_wip_limit_set(nexus=nx, actor=people["nit"], limit=1, kind="soft")
    raised = issue_raise(nexus=nx, actor=people["dev"], title="Second")
    assert raised.warnings
    assert "1 of 1" in raised.warnings[0]
    with pytest.raises(NotAllowed):
        issue_wip_limit_set(nexus=nx, actor=people["dev"], limit=3)
    with pytest.raises(DomainError) as exc:
        issue_wip_limit_set(nexus=nx, actor=people["nit"], limit=0)
    assert exc.value.field == "limit"


def test_webhook_events_of_every_transition(nx, people, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    webhook_create(
        nexus=nx,
        url="http://127.0.0.1:9/hook",
        events=["integration_issue.raised", "integration_issue.escalated", "integration_issue.resolved"],
        actor=None,
    )
    issue = _raise(nx, people)
    issue_escalate(issue=issue, actor=people["nit"])
    issue_resolve(issue=issue, actor=people["nit"], resolution="Gone")
    rows = list(WebhookDelivery.objects.order_by("id").values_list("event", "payload"))
    assert [e for e, _ in rows] == [
        "integration_issue.raised",
        "integration_issue.escalated",
        "integration_issue.resolved",
    ]
    assert rows[1][1]["from_level"] == 1
    assert rows[1][1]["integration_issue"]["level"] == 2
    assert rows[2][1]["integration_issue"]["status"] == "resolved"


def test_delete_leaves_a_tombstone(nx, people):
    from backlog.models_api import Tombstone

    issue = _raise(nx, people)
    pk = issue.pk
    issue_delete(issue=issue, actor=people["nit"])
    assert Tombstone.objects.filter(nexus_id=nx.pk, kind="integration_issue", object_id=pk).exists()
    assert not IntegrationIssueEntry.objects.exists()


def test_eat_member_reads_like_a_stakeholder(nx, people):
    assert not can_edit_items(user=people["eat"], nexus=nx)
    assert not can_create_items(user=people["eat"], nexus=nx)


def test_eat_issues_lists_only_my_nexuses_longest_waiting_first(nx, people):
    other = nexus_build()
    member(other, Role.NIT_MEMBER, username="o-nit")
    t0 = timezone.now() - timedelta(days=20)
    a = _raise(nx, people, title="A", at=t0)
    b = _raise(nx, people, title="B", at=t0)
    for issue, days in ((a, 5), (b, 2)):
        issue_escalate(issue=issue, actor=people["nit"], at=t0 + timedelta(days=1))
        issue_escalate(issue=issue, actor=people["nit"], at=t0 + timedelta(days=days))
    hidden = issue_raise(nexus=other, actor=None, title="Elsewhere", level=2).issue
    issue_escalate(issue=hidden, actor=None)
    assert [i.title for i in eat_issues(user=people["eat"])] == ["B", "A"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_two_concurrent_raises_under_a_hard_limit_one_wins():
    nexus = nexus_build()
    issue_wip_limit_set(nexus=nexus, actor=None, limit=1, kind="hard")
    barrier = threading.Barrier(2)
    refused: list[DomainError] = []
    made: list[int] = []

    def work(title):
        try:
            barrier.wait(timeout=10)
            made.append(issue_raise(nexus=nexus, actor=None, title=title).issue.pk)
        except DomainError as exc:
            refused.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(f"T{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(made) == 1
    assert len(refused) == 1
    assert refused[0].field == "limit"
    assert IntegrationIssue.objects.filter(nexus=nexus).count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_two_concurrent_escalations_from_level_2_one_wins():
    nexus = nexus_build()
    issue = issue_raise(nexus=nexus, actor=None, title="Race", level=2).issue
    barrier = threading.Barrier(2)
    refused: list[DomainError] = []

    def work():
        try:
            barrier.wait(timeout=10)
            issue_escalate(issue=IntegrationIssue.objects.get(pk=issue.pk), actor=None)
        except DomainError as exc:
            refused.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(refused) == 1
    assert refused[0].field == "level"
    assert IntegrationIssueEntry.objects.filter(issue=issue, kind="escalated").count() == 1
