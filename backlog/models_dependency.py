"""Models of the dependencies between Product Backlog Items, and their append-only log.

The Nexus Guide: Cross-Team Refinement decomposes the Product Backlog so that dependencies become
transparent, are identified across teams, and are removed or minimised. A dependency is between two PBIs
of one Nexus: "A depends on B" (directed: A cannot be finished before B) or "A and B must integrate
together" (symmetric). Writes go through `backlog.services.dependencies`; every change is a typed row of
`DependencyChange`. Imported at the end of `backlog.models`; kept apart to keep that module small.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from backlog.models_api import UPDATED_AT_HELP


class DependencyKind(models.TextChoices):
    """`depends_on`: the item cannot be finished before the item it depends on (directed; these edges
    never form a cycle). `integrates_with`: the two must integrate together (symmetric; stored with
    the smaller id as `item`)."""

    DEPENDS_ON = "depends_on", "Depends on"
    INTEGRATES_WITH = "integrates_with", "Integrates with"


class DependencyStatus(models.TextChoices):
    """`open`: still there; `resolved`: what was waited on was delivered (or integrated); `removed`:
    gone without being delivered: re-sliced away, a PBI deleted, or entered by mistake."""

    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"
    REMOVED = "removed", "Removed (re-sliced, deleted or a mistake)"


class FoundAt(models.TextChoices):
    """The Nexus event at which a dependency was found (Nexus Guide)."""

    REFINEMENT = "refinement", "Cross-Team Refinement"
    PLANNING = "planning", "Nexus Sprint Planning"
    DAILY_SCRUM = "daily_scrum", "Nexus Daily Scrum"
    REVIEW = "review", "Nexus Sprint Review"
    OTHER = "other", "Other"


class Dependency(models.Model):
    """A dependency between two PBIs of one Nexus (`item` and `depends_on`, never the same PBI).

    `kind` is a `DependencyKind`, `status` a `DependencyStatus`. `found_by` is the person who found it
    (None for the system); `found_by_name` how to show the finder when there is no person (e.g. "demo
    loader"); `found_at` the Nexus event (`FoundAt`); `found_on` when (UTC). `resolved_at` and
    `removed_at` are the last time it was resolved or removed (UTC; cleared when reopened). At most one
    live (open or resolved) dependency of a kind per pair of PBIs. `version` goes up on every change
    (`ETag`/`If-Match`)."""

    nexus = models.ForeignKey("backlog.Nexus", on_delete=models.CASCADE, related_name="dependencies")
    item = models.ForeignKey(
        "backlog.ProductBacklogItem", on_delete=models.CASCADE, related_name="dependencies"
    )
    depends_on = models.ForeignKey(
        "backlog.ProductBacklogItem", on_delete=models.CASCADE, related_name="dependents"
    )
    kind = models.CharField(max_length=16, choices=DependencyKind.choices, default=DependencyKind.DEPENDS_ON)
    status = models.CharField(max_length=8, choices=DependencyStatus.choices, default=DependencyStatus.OPEN)
    found_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    found_by_name = models.CharField(
        max_length=100, blank=True, help_text="Who found it when not a person (e.g. 'demo loader')"
    )
    found_at = models.CharField(max_length=12, choices=FoundAt.choices, default=FoundAt.REFINEMENT)
    found_on = models.DateTimeField(help_text="When it was found (UTC)")
    note = models.CharField(max_length=300, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, help_text=UPDATED_AT_HELP)

    class Meta:
        ordering = ["nexus", "id"]
        verbose_name_plural = "dependencies"
        constraints = [
            models.CheckConstraint(condition=~Q(item=F("depends_on")), name="dependency_not_on_itself"),
            models.UniqueConstraint(
                fields=["item", "depends_on", "kind"],
                condition=~Q(status="removed"),
                name="dependency_unique_live",
            ),
            models.CheckConstraint(
                condition=~Q(kind="integrates_with") | Q(item__lt=F("depends_on")),
                name="dependency_symmetric_ordered",
            ),
        ]
        indexes = [
            # API sync: a Nexus's dependencies by `?updated_since=`, cursor order (updated_at, id).
            models.Index(fields=["nexus", "updated_at", "id"], name="dependency_updated"),
            # Boards and the cycle check: the open edges of a Nexus.
            models.Index(fields=["nexus", "status"], name="dependency_nexus_status"),
            models.Index(fields=["depends_on"], name="dependency_depends_on"),
        ]

    def __str__(self) -> str:
        arrow = "→" if self.kind == DependencyKind.DEPENDS_ON else "↔"
        return f"{self.item_id} {arrow} {self.depends_on_id} ({self.status})"


class DependencyChangeKind(models.TextChoices):
    CREATED = "created", "Created"
    RESOLVED = "resolved", "Resolved"
    REMOVED = "removed", "Removed"
    REOPENED = "reopened", "Reopened"
    CARRIED = "carried", "Carried to a child by a split"


class DependencyChange(models.Model):
    """The append-only log of the dependencies: one row per change, written in the transaction of the
    change: `created`, `resolved`, `removed`, `reopened`, and `carried` (on the new dependency a split
    gave a child: `origin` is the parent's dependency it came from). `from_status`/`to_status` are
    `DependencyStatus` values (empty `from_status` on creation); `event` the Nexus event (`FoundAt`)
    when known; `reason` why (e.g. "PBI deleted"); `item`/`depends_on` the PBI ids at the time. `at` is
    UTC. The dependency matrix's trend reads it. Rows are never updated or deleted by the application."""

    dependency = models.ForeignKey(Dependency, on_delete=models.CASCADE, related_name="changes")
    nexus_id = models.BigIntegerField(help_text="The dependency's Nexus (for the log of a whole Nexus)")
    kind = models.CharField(max_length=10, choices=DependencyChangeKind.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=8)
    event = models.CharField(max_length=12, blank=True)
    from_status = models.CharField(max_length=8, blank=True)
    to_status = models.CharField(max_length=8)
    item_id_then = models.BigIntegerField()
    depends_on_id_then = models.BigIntegerField()
    origin = models.ForeignKey(Dependency, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["nexus_id", "at", "id"], name="dependency_change_log")]

    def __str__(self) -> str:
        return f"{self.dependency_id} {self.kind} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("The dependency log is append-only: rows are never changed.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class SuggestionDismissal(models.Model):
    """A pair of PBIs a person said do not depend on each other: never suggested again
    (`backlog.suggestions.selectors`). Unordered: stored with the smaller id as `item_low`. `dismissed_by`
    is the person (None for the system, or once the account is gone); `dismissed_at` when (UTC).
    Written by `backlog.services.suggestions.suggestion_dismiss` only; deleting either PBI deletes it."""

    nexus = models.ForeignKey("backlog.Nexus", on_delete=models.CASCADE, related_name="+")
    item_low = models.ForeignKey("backlog.ProductBacklogItem", on_delete=models.CASCADE, related_name="+")
    item_high = models.ForeignKey("backlog.ProductBacklogItem", on_delete=models.CASCADE, related_name="+")
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    dismissed_at = models.DateTimeField()

    class Meta:
        ordering = ["nexus", "id"]
        constraints = [
            models.UniqueConstraint(fields=["item_low", "item_high"], name="suggestion_dismissal_unique"),
            models.CheckConstraint(
                condition=Q(item_low__lt=F("item_high")), name="suggestion_dismissal_ordered"
            ),
        ]
        # The suggestions of one PBI read the pairs on either side: `item_low` is the unique constraint's
        # leading column; this one serves `item_high`.
        indexes = [models.Index(fields=["item_high"], name="suggestion_dismissal_high")]

    def __str__(self) -> str:
        return f"{self.item_low_id} / {self.item_high_id} dismissed"
