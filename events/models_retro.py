"""Models of the Nexus Sprint Retrospective (Nexus Guide), in three parts per Sprint:

1. representatives of the Scrum Teams record **cross-team issues** (`RetroItem`, `part="cross_team"`);
2. each Scrum Team records its **own retrospective items** (`RetroItem`, `part="team"`, with `team`),
   each optionally linked to one cross-team issue of the same Sprint (`cross_team_issue`);
3. the representatives agree on **Nexus improvement actions** (`ImprovementAction`): each has an owner and
   either becomes a Product Backlog Item (`kind="pbi"`, `item`) or is a tracked action (`kind="action"`)
   with a status (open, done, dropped), followed across Sprints until done. Every change of an action's
   status is a row of its typed, append-only history (`ImprovementActionChange`).

All writes go through `events.services_retro`. Timestamps are timezone-aware (stored UTC).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from backlog.models_api import UPDATED_AT_HELP

__all__ = [
    "ActionChangeKind",
    "ActionKind",
    "ActionStatus",
    "ImprovementAction",
    "ImprovementActionChange",
    "RetroItem",
    "RetroPart",
]


class RetroPart(models.TextChoices):
    """The part of the Nexus Sprint Retrospective an item was recorded in (Nexus Guide)."""

    CROSS_TEAM = "cross_team", "Cross-team issue"
    TEAM = "team", "Scrum Team item"


class RetroItem(models.Model):
    """An item of a Sprint's Nexus Sprint Retrospective: a cross-team issue recorded by representatives
    (part 1: `team` empty) or a Scrum Team's own item (part 2: `team` set), which may name the cross-team
    issue of the same Sprint it relates to (`cross_team_issue`). `author` recorded it; `version` goes up
    with every write (`ETag`/`If-Match`)."""

    nexus = models.ForeignKey("backlog.Nexus", on_delete=models.CASCADE, related_name="retro_items")
    sprint = models.ForeignKey("events.Sprint", on_delete=models.CASCADE, related_name="retro_items")
    part = models.CharField(max_length=10, choices=RetroPart.choices)
    team = models.ForeignKey(
        "backlog.ScrumTeam", on_delete=models.CASCADE, null=True, blank=True, related_name="retro_items"
    )
    text = models.CharField(max_length=500, help_text="What was observed, in a sentence or two")
    cross_team_issue = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="team_items",
        help_text="The cross-team issue of the same Sprint this team item relates to",
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True, help_text=UPDATED_AT_HELP)

    class Meta:
        ordering = ["sprint", "part", "created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(part="cross_team", team__isnull=True, cross_team_issue__isnull=True)
                | Q(part="team", team__isnull=False),
                name="retro_item_part_team",
            ),
        ]
        indexes = [
            # API sync: a Nexus's items by `?updated_since=`, cursor order (updated_at, id).
            models.Index(fields=["nexus", "updated_at", "id"], name="retro_item_updated"),
            # The retrospective page: a Sprint's items by part.
            models.Index(fields=["sprint", "part", "created_at"], name="retro_item_sprint"),
        ]

    def __str__(self) -> str:
        return self.text[:80]


class ActionKind(models.TextChoices):
    """What an improvement action became when it was agreed."""

    PBI = "pbi", "A Product Backlog Item"
    ACTION = "action", "A tracked action"


class ActionStatus(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"
    DROPPED = "dropped", "Dropped"


class ImprovementAction(models.Model):
    """A Nexus improvement action agreed at the Nexus Sprint Retrospective of `sprint` (part 3).

    `owner` (a member) sees it through. `kind="pbi"`: it became the Product Backlog Item `item` (created
    through `backlog.services.pbi_create`, so the Product Owner orders it with the rest); `kind="action"`:
    it is tracked here with `status` (open, done, dropped; `closed_at` and `closed_sprint`, the Sprint
    whose retrospective closed it, when not open). `cross_team_issue` is the issue it addresses (optional,
    of the same Sprint). `version` goes up with every write (`ETag`/`If-Match`)."""

    nexus = models.ForeignKey("backlog.Nexus", on_delete=models.CASCADE, related_name="improvement_actions")
    sprint = models.ForeignKey("events.Sprint", on_delete=models.CASCADE, related_name="improvement_actions")
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=6, choices=ActionKind.choices, default=ActionKind.ACTION)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    cross_team_issue = models.ForeignKey(
        RetroItem, on_delete=models.SET_NULL, null=True, blank=True, related_name="actions"
    )
    item = models.ForeignKey(
        "backlog.ProductBacklogItem",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="improvement_actions",
        help_text="The PBI it became (kind pbi)",
    )
    status = models.CharField(max_length=7, choices=ActionStatus.choices, default=ActionStatus.OPEN)
    agreed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    agreed_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True, help_text="When it was done or dropped (UTC)")
    closed_sprint = models.ForeignKey(
        "events.Sprint",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The Sprint whose retrospective marked it done or dropped",
    )
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True, help_text=UPDATED_AT_HELP)

    class Meta:
        ordering = ["nexus", "agreed_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="open", closed_at__isnull=True)
                | (~Q(status="open") & Q(closed_at__isnull=False)),
                name="improvement_closed_iff_not_open",
            ),
        ]
        indexes = [
            models.Index(fields=["nexus", "updated_at", "id"], name="improvement_updated"),
            # The retrospective page: the Nexus's open actions from earlier Sprints, oldest first.
            models.Index(fields=["nexus", "status", "agreed_at"], name="improvement_open"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status == ActionStatus.OPEN


class ActionChangeKind(models.TextChoices):
    AGREED = "agreed", "Agreed"
    STATUS = "status", "Status changed"
    OWNER = "owner", "Owner changed"


class ImprovementActionChange(models.Model):
    """The typed, append-only history of an improvement action: one row per write (who: `actor`, when:
    `at`, at the retrospective of which Sprint: `sprint`, when known). `kind="status"` rows carry
    `from_status` and `to_status`; `owner` rows the usernames in `note`. Rows are never updated or
    deleted by the application."""

    action = models.ForeignKey(ImprovementAction, on_delete=models.CASCADE, related_name="history")
    kind = models.CharField(max_length=6, choices=ActionChangeKind.choices)
    from_status = models.CharField(max_length=7, choices=ActionStatus.choices, blank=True)
    to_status = models.CharField(max_length=7, choices=ActionStatus.choices)
    sprint = models.ForeignKey(
        "events.Sprint", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField()
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["action", "at", "id"]
        indexes = [models.Index(fields=["action", "at", "id"], name="improvement_change_at")]

    def __str__(self) -> str:
        return f"{self.action_id} {self.kind} {self.from_status}→{self.to_status} at {self.at:%Y-%m-%d}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("The improvement action history is append-only: rows are never changed.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]
