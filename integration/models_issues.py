"""Integration issues and impediments, escalated along the Scrum@Scale ladder (Nexus Guide: the Nexus
Integration Team raises transparency of integration issues; Scrum@Scale Guide: impediments a Scrum
Team cannot remove go to the Scrum of Scrums, and from there to the Executive Action Team).

An issue is raised at level 1 (its Scrum Team) or 2 (the Nexus: Nexus Integration Team, Scrum of Scrums)
and may be escalated one level at a time up to 3 (the Executive Action Team). The time it reached each
level is kept on the row (`level_2_at`, `level_3_at`; level 1 starts at `raised_at`) so that its age at
each level is read without its history; the history itself is the typed, append-only
`IntegrationIssueEntry` log. A Nexus may put a WIP limit on its open integration issues
(`IntegrationIssueWipLimit`, hard or soft like the other WIP limits of `backlog.models.WipLimitKind`).

All writes go through `integration.services_issues`. Timestamps are timezone-aware (stored UTC).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from backlog.models import WipLimitKind
from backlog.models_api import UPDATED_AT_HELP

__all__ = [
    "TOP_LEVEL",
    "IntegrationIssue",
    "IntegrationIssueEntry",
    "IntegrationIssueWipLimit",
    "IssueEntryKind",
    "IssueEvent",
    "IssueLevel",
    "IssueStatus",
]


class IssueLevel(models.IntegerChoices):
    """Where an impediment is being worked on (Scrum@Scale's escalation ladder)."""

    TEAM = 1, "Scrum Team"
    NEXUS = 2, "Nexus"  # the Nexus Integration Team, the Scrum of Scrums
    EAT = 3, "Executive Action Team"


#: The highest level: an issue there cannot be escalated further.
TOP_LEVEL = IssueLevel.EAT


class IssueStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"
    WONT_FIX = "wont_fix", "Won't fix"


class IssueEvent(models.TextChoices):
    """The Nexus event at which the issue was raised (Nexus Guide)."""

    REFINEMENT = "refinement", "Cross-Team Refinement"
    PLANNING = "planning", "Nexus Sprint Planning"
    DAILY_SCRUM = "daily_scrum", "Nexus Daily Scrum"
    REVIEW = "review", "Nexus Sprint Review"
    RETROSPECTIVE = "retrospective", "Nexus Sprint Retrospective"
    OTHER = "other", "Other"


class IntegrationIssue(models.Model):
    """An integration issue or impediment of a Nexus.

    `raised_by` (person) and `raised_by_team` (their Scrum Team, optional) raised it at `event`;
    `items` and `teams` are the Product Backlog Items and Scrum Teams it concerns; `owner` works on it.
    `level` is the current `IssueLevel`; `level_2_at`/`level_3_at` when it reached levels 2 and 3 (null:
    never; an issue raised at level 2 has `level_2_at = raised_at`). `status` is open until resolved or
    closed as won't fix (`closed_at`, `resolution`). `decision` is the latest decision recorded by the
    Executive Action Team (every decision is also an `IntegrationIssueEntry`). `version` goes up with
    every write (`ETag`/`If-Match`)."""

    nexus = models.ForeignKey("backlog.Nexus", on_delete=models.CASCADE, related_name="integration_issues")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    raised_by_team = models.ForeignKey(
        "backlog.ScrumTeam", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    event = models.CharField(max_length=14, choices=IssueEvent.choices, default=IssueEvent.OTHER)
    items = models.ManyToManyField(
        "backlog.ProductBacklogItem", blank=True, related_name="integration_issues"
    )
    teams = models.ManyToManyField("backlog.ScrumTeam", blank=True, related_name="integration_issues")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=8, choices=IssueStatus.choices, default=IssueStatus.OPEN)
    level = models.PositiveSmallIntegerField(choices=IssueLevel.choices, default=IssueLevel.TEAM)
    resolution = models.TextField(blank=True, help_text="How it was resolved, or why it won't be fixed")
    decision = models.TextField(blank=True, help_text="The latest decision of the Executive Action Team")
    raised_at = models.DateTimeField(help_text="When it was raised (UTC)")
    level_2_at = models.DateTimeField(null=True, blank=True, help_text="When it reached level 2 (UTC)")
    level_3_at = models.DateTimeField(null=True, blank=True, help_text="When it reached level 3 (UTC)")
    closed_at = models.DateTimeField(null=True, blank=True, help_text="When it was resolved or closed (UTC)")
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True, help_text=UPDATED_AT_HELP)

    class Meta:
        ordering = ["nexus", "-level", "raised_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(level__gte=1, level__lte=3), name="issue_level_range"),
            models.CheckConstraint(
                condition=Q(status="open", closed_at__isnull=True)
                | (~Q(status="open") & Q(closed_at__isnull=False)),
                name="issue_closed_iff_not_open",
            ),
        ]
        indexes = [
            models.Index(fields=["nexus", "updated_at", "id"], name="issue_updated"),
            # The Executive Action Team page and the WIP count: a Nexus's open issues by level.
            models.Index(fields=["nexus", "status", "level"], name="issue_open_level"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status == IssueStatus.OPEN


class IssueEntryKind(models.TextChoices):
    RAISED = "raised", "Raised"
    CHANGED = "changed", "Changed"
    ESCALATED = "escalated", "Escalated"
    DECISION = "decision", "Decision recorded"
    RESOLVED = "resolved", "Resolved"
    WONT_FIX = "wont_fix", "Closed as won't fix"


class IntegrationIssueEntry(models.Model):
    """The typed, append-only history of an integration issue: one row per write (who: `actor`, when:
    `at`), at the `level` the issue had after it. `note` is the decision or resolution text; `data`
    what changed (`{"fields": [...]}` for `changed`, `{"from": 1, "to": 2}` for `escalated`). Rows are
    never updated or deleted by the application."""

    issue = models.ForeignKey(IntegrationIssue, on_delete=models.CASCADE, related_name="history")
    kind = models.CharField(max_length=10, choices=IssueEntryKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField()
    level = models.PositiveSmallIntegerField(choices=IssueLevel.choices)
    note = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["issue", "at", "id"]
        indexes = [models.Index(fields=["issue", "at", "id"], name="issue_entry_at")]

    def __str__(self) -> str:
        return f"{self.issue_id} {self.kind} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("The integration issue history is append-only: rows are never changed.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class IntegrationIssueWipLimit(models.Model):
    """The Nexus's WIP limit on open integration issues: raising one more when `limit` are open is
    refused (`hard`) or warned about (`soft`). One row per Nexus; no row: no limit."""

    nexus = models.OneToOneField("backlog.Nexus", on_delete=models.CASCADE, related_name="issue_wip_limit")
    limit = models.PositiveIntegerField()
    kind = models.CharField(max_length=4, choices=WipLimitKind.choices, default=WipLimitKind.SOFT)

    def __str__(self) -> str:
        return f"{self.nexus_id}: {self.limit} ({self.kind})"
