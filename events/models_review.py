"""The Nexus Sprint Review's stakeholder feedback (Nexus Guide: the Nexus Sprint Review replaces the
individual Scrum Team Sprint Reviews; the stakeholders' feedback may change the Product Backlog).

A `ReviewNote` is one piece of feedback given at a Sprint's review: what was said (`text`), by whom
(`stakeholder`, a name as said in the room, and `author`, the member who wrote it down), when (`at`),
and what became of it (`outcome`): still `open`, a `new_pbi` created from it, or an existing PBI
`changed` because of it; `item` is that PBI. Its history is the typed, append-only `ReviewNoteEntry`
log (added, edited with the texts before and after, made into a PBI, linked to a PBI). A note that has
an outcome is history: it is not edited again.

All writes go through `events.services.review`. Timestamps are timezone-aware (stored UTC).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from backlog.models_api import UPDATED_AT_HELP

__all__ = ["NoteOutcome", "ReviewNote", "ReviewNoteEntry", "ReviewNoteEntryKind"]


class NoteOutcome(models.TextChoices):
    """What became of a piece of feedback."""

    OPEN = "open", "Open"
    NEW_PBI = "new_pbi", "Made into a new PBI"
    CHANGED_PBI = "changed_pbi", "Changed an existing PBI"


class ReviewNote(models.Model):
    """Stakeholder feedback recorded at a Sprint's Nexus Sprint Review. `nexus` is the Sprint's (kept on
    the row for the API's scope and sync index). `item` is the PBI it became or changed (null while
    `open`, or when that PBI was deleted for good). `version` goes up with every write
    (`ETag`/`If-Match`)."""

    nexus = models.ForeignKey("backlog.Nexus", on_delete=models.CASCADE, related_name="review_notes")
    sprint = models.ForeignKey("events.Sprint", on_delete=models.CASCADE, related_name="review_notes")
    text = models.TextField(help_text="The feedback, as given")
    stakeholder = models.CharField(
        max_length=150, blank=True, help_text="Who gave it (a name or role as said in the room)"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(help_text="When it was given (UTC)")
    outcome = models.CharField(max_length=12, choices=NoteOutcome.choices, default=NoteOutcome.OPEN)
    item = models.ForeignKey(
        "backlog.ProductBacklogItem",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="review_notes",
        help_text="The PBI it became (new_pbi) or changed (changed_pbi)",
    )
    acted_at = models.DateTimeField(null=True, blank=True, help_text="When it got its outcome (UTC)")
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True, help_text=UPDATED_AT_HELP)

    class Meta:
        ordering = ["sprint", "at", "id"]
        indexes = [
            # API sync: a Nexus's notes by `?updated_since=`, cursor order (updated_at, id).
            models.Index(fields=["nexus", "updated_at", "id"], name="review_note_updated"),
            # The review page: a Sprint's notes in time order.
            models.Index(fields=["sprint", "at", "id"], name="review_note_sprint_at"),
        ]

    def __str__(self) -> str:
        return self.text[:80]


class ReviewNoteEntryKind(models.TextChoices):
    ADDED = "added", "Added"
    EDITED = "edited", "Edited"
    NEW_PBI = "new_pbi", "Made into a new PBI"
    LINKED = "linked", "Linked to a PBI (and changed it)"


class ReviewNoteEntry(models.Model):
    """The typed, append-only history of a review note: one row per write (who: `actor`, when: `at`).
    `data`: `{"text": [before, after], "stakeholder": [before, after]}` for `edited` (only what
    changed); `{"item": id, "fields": [...]}` for `new_pbi` and `linked` (the PBI's fields changed in
    the same step). Rows are never updated or deleted by the application."""

    note = models.ForeignKey(ReviewNote, on_delete=models.CASCADE, related_name="history")
    kind = models.CharField(max_length=8, choices=ReviewNoteEntryKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["note", "at", "id"]
        indexes = [models.Index(fields=["note", "at", "id"], name="review_entry_at")]

    def __str__(self) -> str:
        return f"{self.note_id} {self.kind} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("The review note history is append-only: rows are never changed.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]
