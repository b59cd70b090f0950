"""Models of each Scrum Team's own work inside the Nexus: the team's Definition of Workflow (its ordered
columns, each mapped onto one of the four states of a team square) and the tasks of its Sprint Backlog.

The Kanban Guide for Scrum Teams leaves each team its own Definition of Workflow; inside a Nexus, the
team's columns refine the team square of a PBI (Yeret, "Scaling Scrum with Nexus and Kanban"): empty =
not started, half-filled = in progress, filled = ready to integrate, filled with a tick = Done. Writes go
through `backlog.services.team_columns` (columns), `backlog.services.squares` (moves) and
`backlog.services.tasks` (tasks).
Imported at the end of `backlog.models`; kept apart to keep that module small.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

# `backlog.models` imports this module at its end, once these are defined.
from backlog.models import TeamStatus, WipLimitKind
from backlog.models_api import UPDATED_AT_HELP


class TeamColumn(models.Model):
    """One column of a Scrum Team's Definition of Workflow, left to right by `position` (0..n-1).

    `state` is the team square's state while the team's work on a PBI is in this column (one of
    `TeamStatus`): along the positions the states never go back (not started, in progress, ready to
    integrate, Done), and every state has at least one column (`backlog.services.team_columns`). `wip_limit`
    caps the PBIs the team has in the column (optional); `wip_limit_kind` says whether a move past it is
    refused (hard) or warned (soft). `sle_days` is the team's own Service Level Expectation for the
    column's work, in calendar days (optional). `nexus` is the team's, kept on the row for the API's
    lists and tombstones. `version` goes up on every change (`ETag` / `If-Match`)."""

    nexus = models.ForeignKey("backlog.Nexus", on_delete=models.CASCADE, related_name="team_columns")
    team = models.ForeignKey("backlog.ScrumTeam", on_delete=models.CASCADE, related_name="columns")
    name = models.CharField(max_length=60)
    position = models.PositiveSmallIntegerField()
    state = models.CharField(
        max_length=12,
        choices=TeamStatus.choices,
        help_text="The team square's state while the team's work is in this column",
    )
    wip_limit = models.PositiveIntegerField(null=True, blank=True)
    wip_limit_kind = models.CharField(
        max_length=4,
        choices=WipLimitKind.choices,
        default=WipLimitKind.SOFT,
    )
    sle_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The team's Service Level Expectation, in calendar days (optional)"
    )
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True, help_text=UPDATED_AT_HELP)

    class Meta:
        ordering = ["team", "position"]
        constraints = [
            models.UniqueConstraint(fields=["team", "position"], name="team_column_unique_position"),
            models.UniqueConstraint(fields=["team", "name"], name="team_column_unique_name"),
            models.CheckConstraint(
                condition=Q(state__in=TeamStatus.values),
                name="team_column_state_known",
            ),
        ]
        indexes = [
            # API sync: a Nexus's team columns by `?updated_since=`, cursor order (updated_at, id).
            models.Index(fields=["nexus", "updated_at", "id"], name="team_column_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.team_id}: {self.name}"


class Task(models.Model):
    """A task of a Scrum Team's Sprint Backlog: a step of its work on one PBI (title, done or not, who).

    Under a PBI and a team (the team forecast on it: its square), not under a Sprint: a PBI carried
    over to the next Sprint keeps its tasks. `assignee` is the Developer who took it (optional).
    `version` goes up with every change (the API's `ETag` / `If-Match`)."""

    item = models.ForeignKey("backlog.ProductBacklogItem", on_delete=models.CASCADE, related_name="tasks")
    team = models.ForeignKey("backlog.ScrumTeam", on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=200)
    done = models.BooleanField(default=False)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, help_text=UPDATED_AT_HELP)

    class Meta:
        ordering = ["item", "id"]
        indexes = [
            # Team board: the tasks of the team's PBIs.
            models.Index(fields=["team", "item"], name="task_team_item"),
        ]

    def __str__(self) -> str:
        return self.title
