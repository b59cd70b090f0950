"""Models of the Sprint (Nexus Guide): a Nexus's Sprints on its cadence, each with the Nexus Sprint Goal and
one Sprint Goal per Scrum Team, its scope (the Product Backlog Items planned into it: the Nexus Sprint
Backlog), the typed append-only log of every change of that scope, and the snapshots frozen when the
Sprint starts (the plan) and closes (done, not done, and where each unfinished PBI went).

All writes go through `events.services`; models hold fields, constraints and small derived properties.
Dates are calendar days in the Nexus's time zone (`Nexus.time_zone`), both ends inclusive; timestamps are
timezone-aware (stored UTC).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from backlog.models_api import UPDATED_AT_HELP


class SprintState(models.TextChoices):
    """A Sprint is planned, then active (started), then closed; never back."""

    PLANNED = "planned", "Planned"
    ACTIVE = "active", "Active"
    CLOSED = "closed", "Closed"


#: States in which a Sprint's scope may still change (an item is in at most one of these at a time).
OPEN_STATES = (SprintState.PLANNED, SprintState.ACTIVE)


class Sprint(models.Model):
    """A Sprint of a Nexus (Nexus Guide: all Scrum Teams of a Nexus share one Sprint cadence).

    `number` counts the Nexus's Sprints from 1. `start_date` and `end_date` are calendar days in the
    Nexus's time zone, both inclusive; the default length is the Nexus's `sprint_length_days` (the one
    cadence). `goal` is the Nexus Sprint Goal. `version` goes up with every write (`ETag`/`If-Match`).
    At most one Sprint per Nexus is active (a partial unique constraint); the dates of a Nexus's Sprints
    never overlap (checked by `events.services` under the Nexus row lock)."""

    nexus = models.ForeignKey("backlog.Nexus", on_delete=models.CASCADE, related_name="sprints")
    number = models.PositiveIntegerField(help_text="The Sprint's number in its Nexus, from 1")
    start_date = models.DateField(help_text="First day (calendar day in the Nexus's time zone)")
    end_date = models.DateField(help_text="Last day, inclusive (calendar day in the Nexus's time zone)")
    state = models.CharField(max_length=8, choices=SprintState.choices, default=SprintState.PLANNED)
    goal = models.TextField(blank=True, help_text="The Nexus Sprint Goal")
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, help_text=UPDATED_AT_HELP)
    started_at = models.DateTimeField(null=True, blank=True, help_text="When the Sprint was started (UTC)")
    closed_at = models.DateTimeField(null=True, blank=True, help_text="When the Sprint was closed (UTC)")

    class Meta:
        ordering = ["nexus", "number"]
        constraints = [
            models.UniqueConstraint(fields=["nexus", "number"], name="sprint_unique_number"),
            models.UniqueConstraint(
                fields=["nexus"], condition=Q(state="active"), name="sprint_one_active_per_nexus"
            ),
            models.CheckConstraint(
                condition=Q(end_date__gte=models.F("start_date")), name="sprint_dates_order"
            ),
        ]
        indexes = [
            # API sync: a Nexus's Sprints by `?updated_since=`, cursor order (updated_at, id).
            models.Index(fields=["nexus", "updated_at", "id"], name="sprint_updated"),
        ]

    def __str__(self) -> str:
        return f"Sprint {self.number}"

    @property
    def is_open(self) -> bool:
        """Planned or active: its scope may still change."""
        return self.state in OPEN_STATES

    @property
    def length_days(self) -> int:
        """Calendar days from the first to the last day, both included."""
        return (self.end_date - self.start_date).days + 1


class SprintTeamGoal(models.Model):
    """A Scrum Team's Sprint Goal in a Sprint: how the team supports the Nexus Sprint Goal."""

    sprint = models.ForeignKey(Sprint, on_delete=models.CASCADE, related_name="team_goals")
    team = models.ForeignKey("backlog.ScrumTeam", on_delete=models.CASCADE, related_name="sprint_goals")
    goal = models.TextField()

    class Meta:
        ordering = ["sprint", "team__name"]
        constraints = [models.UniqueConstraint(fields=["sprint", "team"], name="sprint_team_goal_unique")]

    def __str__(self) -> str:
        return f"{self.team_id}: {self.goal[:60]}"


class SprintItem(models.Model):
    """A Product Backlog Item in a Sprint's scope (the Nexus Sprint Backlog). For a planned or active
    Sprint it is the current scope; a closed Sprint keeps the scope it had when it closed (never changed
    again). An item is in at most one planned or active Sprint at a time (checked by `events.services`
    under the item's and the Nexus's row locks). The teams working on it are the item's
    `TeamInvolvement` rows (its squares)."""

    sprint = models.ForeignKey(Sprint, on_delete=models.CASCADE, related_name="scope")
    item = models.ForeignKey(
        "backlog.ProductBacklogItem", on_delete=models.CASCADE, related_name="sprint_rows"
    )
    added_at = models.DateTimeField(help_text="When the item entered the Sprint's scope (UTC)")

    class Meta:
        ordering = ["sprint", "added_at", "id"]
        constraints = [models.UniqueConstraint(fields=["sprint", "item"], name="sprint_item_unique")]
        indexes = [
            # "Is this item in an open Sprint?": an item's Sprint rows.
            models.Index(fields=["item", "sprint"], name="sprint_item_by_item"),
        ]

    def __str__(self) -> str:
        return f"{self.item_id} in {self.sprint_id}"


class ScopeChangeKind(models.TextChoices):
    """A change of a Sprint's scope."""

    ADDED = "added", "Added (planned into the Sprint)"
    REMOVED = "removed", "Removed (taken out of the Sprint)"
    CARRIED_IN = "carried_in", "Carried in from the previous Sprint"
    CARRIED_OUT = "carried_out", "Carried out to the next Sprint at the close"
    RETURNED = "returned", "Returned to the Product Backlog at the close"


class SprintEvent(models.TextChoices):
    """The Nexus event at which a scope change was made (Nexus Guide)."""

    PLANNING = "planning", "Nexus Sprint Planning"
    DAILY_SCRUM = "daily_scrum", "Nexus Daily Scrum"
    REFINEMENT = "refinement", "Cross-Team Refinement"
    REVIEW = "review", "Nexus Sprint Review"
    OTHER = "other", "Other"


class SprintScopeChange(models.Model):
    """The typed, append-only log of a Sprint's scope: one row per change (who: `actor`, when: `at`, at
    which Nexus event: `event`), written in the transaction of the change. `teams` holds the ids of the
    Scrum Teams forecast on the item at that moment. Rows are never updated or deleted by the
    application."""

    sprint = models.ForeignKey(Sprint, on_delete=models.CASCADE, related_name="scope_changes")
    item = models.ForeignKey(
        "backlog.ProductBacklogItem", on_delete=models.CASCADE, related_name="sprint_scope_changes"
    )
    kind = models.CharField(max_length=12, choices=ScopeChangeKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField()
    event = models.CharField(max_length=12, choices=SprintEvent.choices, default=SprintEvent.PLANNING)
    teams = models.JSONField(default=list, blank=True, help_text="Ids of the Scrum Teams on the item then")

    class Meta:
        ordering = ["sprint", "at", "id"]
        indexes = [
            # The scope log of a Sprint in time order (keyset on (at, id)).
            models.Index(fields=["sprint", "at", "id"], name="sprint_scope_change_at"),
        ]

    def __str__(self) -> str:
        return f"{self.sprint_id} {self.kind} {self.item_id} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("The scope log is append-only: rows are never changed.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class SnapshotKind(models.TextChoices):
    START = "start", "The plan, frozen when the Sprint started"
    CLOSE = "close", "The outcome, frozen when the Sprint closed"


class SprintSnapshot(models.Model):
    """A frozen picture of a Sprint, written once and never rewritten.

    `start` data: `{"items": [{"id", "title", "teams": [team id, ...]}, ...], "goal", "team_goals":
    [{"team", "goal"}]}`. `close` data: `{"done": [item id, ...], "not_done": [{"id", "destination":
    "next" | "backlog", "sprint": next Sprint id or null}], "deleted": [item id, ...] (deleted PBIs of
    the scope, gone nowhere), "goal", "team_goals"}`; done = the item was in the Nexus's finish column
    (`WorkflowColumn.is_finish`) or a column after it when the Sprint closed."""

    sprint = models.ForeignKey(Sprint, on_delete=models.CASCADE, related_name="snapshots")
    kind = models.CharField(max_length=5, choices=SnapshotKind.choices)
    taken_at = models.DateTimeField()
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["sprint", "taken_at"]
        constraints = [models.UniqueConstraint(fields=["sprint", "kind"], name="sprint_snapshot_unique")]

    def __str__(self) -> str:
        return f"{self.sprint_id} {self.kind}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("A Sprint snapshot is never rewritten.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class BoardState(models.Model):
    """The Nexus board's shared state during the Nexus Daily Scrum, one row per Nexus: when its 15-minute
    timebox timer was last started (`daily_scrum_started_at`: the start of the last Nexus Daily Scrum, for
    "dependencies found since the last Nexus Daily Scrum"), by whom, and the card the walk of the board is
    on (`walk_item`, None: no walk; every viewer's board highlights it). Written by
    `events.services.board` (each write advances the Nexus's change counter, so open boards show it)."""

    nexus = models.OneToOneField("backlog.Nexus", on_delete=models.CASCADE, related_name="board_state")
    daily_scrum_started_at = models.DateTimeField(null=True, blank=True, help_text="Timer last started (UTC)")
    daily_scrum_started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    walk_item = models.ForeignKey(
        "backlog.ProductBacklogItem", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"board of {self.nexus_id}"


# The Nexus Sprint Review's stakeholder notes (kept apart to keep this module small).
# The Nexus Sprint Retrospective's items, improvement actions and their history (kept apart to keep this
# module small).
from events.models_retro import (  # noqa: E402
    ActionChangeKind,
    ActionKind,
    ActionStatus,
    ImprovementAction,
    ImprovementActionChange,
    RetroItem,
    RetroPart,
)
from events.models_review import (  # noqa: E402
    NoteOutcome,
    ReviewNote,
    ReviewNoteEntry,
    ReviewNoteEntryKind,
)

__all__ = [
    "OPEN_STATES",
    "ActionChangeKind",
    "ActionKind",
    "ActionStatus",
    "BoardState",
    "ImprovementAction",
    "ImprovementActionChange",
    "NoteOutcome",
    "RetroItem",
    "RetroPart",
    "ReviewNote",
    "ReviewNoteEntry",
    "ReviewNoteEntryKind",
    "ScopeChangeKind",
    "SnapshotKind",
    "Sprint",
    "SprintEvent",
    "SprintItem",
    "SprintScopeChange",
    "SprintSnapshot",
    "SprintState",
    "SprintTeamGoal",
]
