"""Stored results of the flow computation. Written only by `flow.services`, read by pages and the API.

Definitions: Kanban Guide for Scrum Teams (Work Item Age, Cycle Time, Throughput, WIP), with this
tool's exact conventions documented in `flow.metrics`.
"""

from __future__ import annotations

from django.db import models


class FlowState(models.Model):
    """Per Nexus: when the figures were computed, whether a recompute is pending, and the summary.

    `pending_since` is set by a change and cleared when a job starts; `enqueued_at` is set when a job
    was handed to the broker (a failed hand-off leaves it empty, so the next change tries again).
    `summary` holds the figures of `flow_report` as of `computed_on` (JSON).
    """

    nexus = models.OneToOneField("backlog.Nexus", on_delete=models.CASCADE, related_name="flow_state")
    computed_at = models.DateTimeField(null=True, blank=True)
    computed_on = models.DateField(null=True, blank=True, help_text="as-of date of the stored figures")
    pending_since = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    summary = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"Flow state of {self.nexus_id}"


class ItemFlow(models.Model):
    """Per Product Backlog Item: the dates it started and finished (calendar days in the Nexus's time
    zone), as computed from the transition log. Work Item Age is derived at display time:
    today - started_on + 1 (calendar days, inclusive), for items started and not finished."""

    item = models.OneToOneField(
        "backlog.ProductBacklogItem", on_delete=models.CASCADE, primary_key=True, related_name="flow"
    )
    nexus = models.ForeignKey("backlog.Nexus", on_delete=models.CASCADE, related_name="+")
    started_on = models.DateField(null=True, blank=True)
    finished_on = models.DateField(null=True, blank=True)
    cycle_time = models.PositiveIntegerField(null=True, blank=True, help_text="calendar days, inclusive")

    class Meta:
        indexes = [models.Index(fields=["nexus", "finished_on"], name="itemflow_nexus_finished")]

    def __str__(self) -> str:
        return f"{self.item_id}: {self.started_on} → {self.finished_on}"
