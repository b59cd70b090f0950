"""Bench rows of integration issues (`make bench`, `--only integration-issues`): the Executive Action Team
page of a member of 5 Nexuses with 500 open impediments at level 3 (100 each), bulk-inserted."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backlog.models import ColumnCategory, Nexus, Role
from backlog.services import membership_add
from backlog.services.nexus import ColumnSpec, nexus_create
from integration.models_issues import IntegrationIssue, IntegrationIssueEntry, IssueEntryKind, IssueLevel
from nexus_site.bench import BenchContext, Row, measure

NEXUSES = 5
PER_NEXUS = 100
COLUMNS = [
    ColumnSpec("Ready", ColumnCategory.NOT_STARTED, is_ready=True),
    ColumnSpec("Doing", ColumnCategory.IN_PROGRESS, is_start=True),
    ColumnSpec("Done", ColumnCategory.DONE, is_finish=True),
]


def eat_fixture(*, nexuses: int = NEXUSES, per_nexus: int = PER_NEXUS, prefix: str = "bench-eat") -> User:
    """An Executive Action Team member of `nexuses` new Nexuses with `per_nexus` open level-3 issues each
    (bulk-inserted with their history rows, ages spread over 60 days). Returns the member."""
    user, _ = User.objects.get_or_create(username=f"{prefix}-member")
    now = timezone.now()
    for n in range(nexuses):
        slug = f"{prefix}-{n}"
        nexus = Nexus.objects.filter(slug=slug).first() or nexus_create(
            name=f"EAT bench {n}", slug=slug, columns=COLUMNS
        )
        membership_add(nexus=nexus, user=user, role=Role.EAT_MEMBER)
        if IntegrationIssue.objects.filter(nexus=nexus).exists():
            continue
        rows = []
        for i in range(per_nexus):
            raised = now - timedelta(days=5 + (i * 7 + n) % 60, hours=i % 24)
            rows.append(
                IntegrationIssue(
                    nexus=nexus,
                    title=f"Impediment {i + 1} of {nexus.name}",
                    description="Needs a decision beyond the Nexus: budget, people or another department.",
                    level=IssueLevel.EAT,
                    raised_at=raised,
                    level_2_at=raised + timedelta(days=1),
                    level_3_at=raised + timedelta(days=3),
                    decision="Funded." if i % 3 == 0 else "",
                )
            )
        issues = IntegrationIssue.objects.bulk_create(rows)
        IntegrationIssueEntry.objects.bulk_create(
            IntegrationIssueEntry(issue=issue, kind=IssueEntryKind.RAISED, at=issue.raised_at, level=1)
            for issue in issues
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {IntegrationIssue._meta.db_table}")
    return user


def run(ctx: BenchContext) -> list[Row]:
    user = eat_fixture()
    client = Client()
    client.force_login(user)
    url = reverse("integration:eat")
    sizes: list[int] = []

    def get(_i: int) -> object:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        sizes.append(len(response.content))
        return response

    row = measure(f"EAT page ({NEXUSES * PER_NEXUS} impediments across {NEXUSES} Nexuses)", get, runs=30)
    row.note = f"{url} ({max(sizes) // 1024} KB); target p95 < 100 ms"
    return [row]
