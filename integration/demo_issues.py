"""The demo step of integration issues (`load_demo`, order 40, after the Sprints): on the demo Nexus,
open integration issues at every level of the Scrum@Scale ladder with real-looking ages (raised days
ago, escalated days later), one resolved, one Executive Action Team decision; and the Executive Action
Team member `eat` (the demo users' password). Idempotent: a Nexus that has integration issues keeps them
(the user and the membership are made sure of on every run)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from backlog.models import Membership, Nexus, ProductBacklogItem, Role, ScrumTeam
from backlog.services import membership_add
from integration.models_issues import IntegrationIssue, IssueEvent
from integration.services_issues import issue_decide, issue_escalate, issue_raise, issue_resolve
from nexus_site.extensions import DemoContext

#: (title, description, event, raised days ago, [days after raising it reached level 2, level 3]).
ISSUES: list[tuple[str, str, str, int, list[int]]] = [
    (
        "Nightly integration build red since the parser change",
        "Core's new record-pattern parser breaks UI's formatter tests; each team's own build is green.",
        IssueEvent.DAILY_SCRUM,
        9,
        [2, 5],
    ),
    (
        "No shared test machine for the Java 21 toolchain",
        "Two teams wait on the one build agent with JDK 21; requests to IT get no answer.",
        IssueEvent.RETROSPECTIVE,
        23,
        [6, 11],
    ),
    (
        "Text and UI both change the content assist popup API",
        "Overlapping PBIs in the same Sprint; whose change lands first?",
        IssueEvent.REFINEMENT,
        6,
        [1],
    ),
    (
        "Flaky search index tests block merges",
        "Roughly one run in five fails in the search suite under load.",
        IssueEvent.DAILY_SCRUM,
        4,
        [2],
    ),
    (
        "Quick fix tests need a fixture from Core",
        "Waiting for a test fixture Core owns; asked at the Nexus Daily Scrum.",
        IssueEvent.DAILY_SCRUM,
        3,
        [],
    ),
    (
        "Review environment lacks the latest Integrated Increment",
        "Stakeholders saw last Sprint's build at the Nexus Sprint Review.",
        IssueEvent.REVIEW,
        2,
        [],
    ),
]


def _eat_user(nexus: Nexus, password: str) -> User:
    user, created = User.objects.get_or_create(username="eat")
    if created or not user.check_password(password):
        user.set_password(password)
        user.save()
    if not Membership.objects.filter(nexus=nexus, user=user, role=Role.EAT_MEMBER).exists():
        membership_add(nexus=nexus, user=user, role=Role.EAT_MEMBER)
    return user


def demo_step(ctx: DemoContext) -> str:
    """See the module. Returns a console line."""
    nexus = Nexus.objects.filter(slug=ctx.slug).first()
    if nexus is None:
        return ""
    eat = _eat_user(nexus, ctx.password)
    existing = IntegrationIssue.objects.filter(nexus=nexus).count()
    if existing:
        return f"Demo integration issues are loaded already ({existing}); EAT member: eat."
    with transaction.atomic():
        made = _issues(nexus, eat)
    return f"{made} integration issues at every level; Executive Action Team member: eat."


def _issues(nexus: Nexus, eat: User) -> int:
    teams = list(ScrumTeam.objects.filter(nexus=nexus).order_by("name"))
    nit = User.objects.filter(username="nit").first()
    po = User.objects.filter(username="po").first()
    open_items = list(
        ProductBacklogItem.objects.open()
        .filter(backlog__nexus=nexus)
        .order_by("rank")
        .values_list("pk", flat=True)[:12]
    )
    now = timezone.now()
    made = 0
    for n, (title, description, event, days_ago, steps) in enumerate(ISSUES):
        team = teams[n % len(teams)] if teams else None
        dev = User.objects.filter(username=f"dev-{team.slug}").first() if team else None
        raised_at = now - timedelta(days=days_ago, hours=3 + n)
        issue = issue_raise(
            nexus=nexus,
            actor=dev,
            title=title,
            description=description,
            event=event,
            team=team,
            teams=list(teams[n % len(teams) : n % len(teams) + 2]) if teams else [],
            items=open_items[2 * n : 2 * n + 2],
            owner=nit if steps else dev,
            at=raised_at,
        ).issue
        for step in steps:
            issue_escalate(issue=issue, actor=nit or po, at=raised_at + timedelta(days=step, hours=2))
        made += 1
    first = IntegrationIssue.objects.filter(nexus=nexus, level=3).order_by("raised_at").first()
    if first is not None:
        issue_decide(
            issue=first,
            actor=eat,
            decision="Fund a second JDK 21 build agent this month; IT to report by Friday.",
        )
    resolved = issue_raise(
        nexus=nexus,
        actor=nit,
        title="Merge conflicts in the shared build script",
        description="Resolved by giving the build script one owner in the Nexus Integration Team.",
        event=IssueEvent.RETROSPECTIVE,
        level=2,
        at=now - timedelta(days=15),
    ).issue
    issue_resolve(
        issue=resolved, actor=nit, resolution="One owner for the build script; changes by pull request."
    )
    return made + 1
