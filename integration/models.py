"""Models of the Definition of Done and the Integrated Increment (Nexus Guide).

- `DoneCriterion`: one criterion of a Nexus's Definition of Done (`team` null: the Nexus's own, owned by
  the Nexus Integration Team) or a stricter criterion a Scrum Team adds for itself (`team` set). A
  team's Definition of Done is the Nexus's criteria plus its own.
- `DoneVersion`: each change of a Nexus's Definition of Done makes a new version, numbered from 1 per
  Nexus, kept for ever with who made it and when (`criteria` is the whole Definition of Done then).
- `IntegratedIncrement`: an Integrated Increment of a Sprint (several per Sprint are allowed), with the
  Definition of Done version in force when it was created, its PBIs (`IncrementItem`) and each
  criterion's confirmation (`CriterionConfirmation`). `state` open, then done; `released_on` when it
  was released to stakeholders.
- `IncrementEvent`: the typed, append-only history of an increment (created, integrated, confirmed,
  done, released).

All writes go through `integration.services_dod` and `integration.services_increments`. Integration
issues and their escalation: `integration.models_issues` (imported at the end). Timestamps are
timezone-aware (stored UTC); `released_on` is a calendar day in the Nexus's time zone.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from backlog.models_api import UPDATED_AT_HELP


class DoneCriterion(models.Model):
    """A criterion of the Definition of Done. `team` null: the Nexus's own (Nexus Integration Team);
    else a Scrum Team's stricter addition. `position` orders the criteria of one owner (0..n-1)."""

    nexus = models.ForeignKey("backlog.Nexus", on_delete=models.CASCADE, related_name="done_criteria")
    team = models.ForeignKey(
        "backlog.ScrumTeam",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="done_criteria",
        help_text="The Scrum Team that added this stricter criterion; null for the Nexus's own",
    )
    text = models.CharField(max_length=500, help_text="What must be true of the Increment")
    position = models.PositiveIntegerField(
        default=0, help_text="Order among the same owner's criteria, from 0"
    )
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, help_text=UPDATED_AT_HELP)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["nexus", "updated_at", "id"], name="done_criterion_updated")]

    def __str__(self) -> str:
        return self.text[:60]


class DoneVersion(models.Model):
    """A version of a Nexus's Definition of Done, written once, never changed. `criteria` is the whole
    Definition of Done at that version: `[{"id": criterion id, "text", "team": team id or null,
    "team_name": str or ""}]`, the Nexus's first (by position), then each team's by team name."""

    nexus = models.ForeignKey("backlog.Nexus", on_delete=models.CASCADE, related_name="done_versions")
    number = models.PositiveIntegerField(help_text="The version's number in its Nexus, from 1")
    criteria = models.JSONField(default=list)
    note = models.CharField(max_length=200, blank=True, help_text="What changed, for people")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["nexus", "-number"]
        constraints = [models.UniqueConstraint(fields=["nexus", "number"], name="done_version_unique")]

    def __str__(self) -> str:
        return f"DoD v{self.number}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("A Definition of Done version is never rewritten.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class IncrementState(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"


class IntegratedIncrement(models.Model):
    """An Integrated Increment of a Sprint (Nexus Guide: at least one Done Integrated Increment every
    Sprint; it may be delivered before the Sprint ends). `number` counts the Nexus's increments from 1.
    `version` goes up with every write (`ETag`/`If-Match`)."""

    nexus = models.ForeignKey("backlog.Nexus", on_delete=models.CASCADE, related_name="increments")
    sprint = models.ForeignKey("events.Sprint", on_delete=models.CASCADE, related_name="increments")
    number = models.PositiveIntegerField(help_text="The increment's number in its Nexus, from 1")
    name = models.CharField(max_length=200, blank=True)
    dod_version = models.ForeignKey(
        DoneVersion,
        on_delete=models.PROTECT,
        related_name="increments",
        help_text="The Definition of Done version in force when the increment was created",
    )
    state = models.CharField(max_length=4, choices=IncrementState.choices, default=IncrementState.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True, help_text="When it was marked Done (UTC)")
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    released_on = models.DateField(
        null=True, blank=True, help_text="Released to stakeholders on (calendar day, Nexus time zone)"
    )
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True, help_text=UPDATED_AT_HELP)

    class Meta:
        ordering = ["nexus", "number"]
        constraints = [models.UniqueConstraint(fields=["nexus", "number"], name="increment_unique_number")]
        indexes = [
            models.Index(fields=["nexus", "updated_at", "id"], name="increment_updated"),
            models.Index(fields=["sprint", "state"], name="increment_sprint_state"),
        ]

    def __str__(self) -> str:
        return f"Increment {self.number}"


class IncrementItem(models.Model):
    """A PBI integrated into an increment (a PBI is integrated into one increment only)."""

    increment = models.ForeignKey(IntegratedIncrement, on_delete=models.CASCADE, related_name="items")
    item = models.OneToOneField(
        "backlog.ProductBacklogItem", on_delete=models.CASCADE, related_name="increment_row"
    )
    integrated_at = models.DateTimeField()
    integrated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["increment", "integrated_at", "id"]

    def __str__(self) -> str:
        return f"{self.item_id} in {self.increment_id}"


class CriterionConfirmation(models.Model):
    """A criterion of the increment's Definition of Done version confirmed: `criterion` is the id in
    the version's `criteria` (the criterion row may have changed or gone since)."""

    increment = models.ForeignKey(IntegratedIncrement, on_delete=models.CASCADE, related_name="confirmations")
    criterion = models.PositiveIntegerField(help_text="The criterion's id in the increment's DoD version")
    text = models.CharField(max_length=500, help_text="The criterion's text at that version")
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    confirmed_at = models.DateTimeField()
    evidence_url = models.URLField(max_length=500, blank=True, help_text="A CI run, a test report (optional)")

    class Meta:
        ordering = ["increment", "confirmed_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["increment", "criterion"], name="confirmation_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.increment_id}: {self.criterion}"


class IncrementEventKind(models.TextChoices):
    CREATED = "created", "Created"
    INTEGRATED = "integrated", "PBI integrated"
    CONFIRMED = "confirmed", "Criterion confirmed"
    DONE = "done", "Marked Done"
    RELEASED = "released", "Released"


class IncrementEvent(models.Model):
    """The typed, append-only history of an increment: one row per write (who, when, what). `item`
    for `integrated`, `criterion` for `confirmed`. Rows are never updated or deleted by the app."""

    increment = models.ForeignKey(IntegratedIncrement, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=10, choices=IncrementEventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField()
    item = models.ForeignKey(
        "backlog.ProductBacklogItem", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    criterion = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["increment", "at", "id"]

    def __str__(self) -> str:
        return f"{self.increment_id} {self.kind}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("The increment history is append-only.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]


# Integration issues, their history and WIP limit (kept apart to keep this module small).
from integration.models_issues import (  # noqa: E402
    IntegrationIssue,
    IntegrationIssueEntry,
    IntegrationIssueWipLimit,
    IssueEntryKind,
    IssueEvent,
    IssueLevel,
    IssueStatus,
)

__all__ = [
    "CriterionConfirmation",
    "DoneCriterion",
    "DoneVersion",
    "IncrementEvent",
    "IncrementEventKind",
    "IncrementItem",
    "IncrementState",
    "IntegratedIncrement",
    "IntegrationIssue",
    "IntegrationIssueEntry",
    "IntegrationIssueWipLimit",
    "IssueEntryKind",
    "IssueEvent",
    "IssueLevel",
    "IssueStatus",
]
