"""Stored results of the flow computation. Written only by `flow.services`, read by pages and the API.

Definitions: Kanban Guide for Scrum Teams (Work Item Age, Cycle Time, Throughput, WIP), with this
tool's exact conventions documented in `flow.metrics`.
"""

from __future__ import annotations

from django.conf import settings
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
    #: Whether a change since the last full recompute was not applied by the incremental update, so
    #: the next job must be the full recompute rather than a refresh of the summaries (`flow.refresh`).
    full_needed = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"Flow state of {self.nexus_id}"


class FlowPendingItem(models.Model):
    """A changed Product Backlog Item whose incremental update found the Nexus's flow lock taken (a full
    recompute was running: `flow.incremental.BUSY`). The job queued after that recompute applies it
    (`flow.services.recompute_job`) and deletes the row, instead of recomputing in full: a steady stream
    of changes during a full recompute does not make every following job a full one. Applying it twice
    is harmless (the update compares the item's log with its stored row)."""

    nexus = models.ForeignKey("backlog.Nexus", on_delete=models.CASCADE, related_name="+")
    item_id = models.BigIntegerField(help_text="the changed PBI's id")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["nexus", "item_id"], name="flowpendingitem_once")]

    def __str__(self) -> str:
        return f"Flow change of PBI {self.item_id} to apply"


class ItemFlow(models.Model):
    """Per Product Backlog Item: the dates it started and finished (calendar days in the Nexus's time
    zone), as computed from the transition log, with its milestones, first day and Scrum Teams (the
    part of the stored daily rows that is its own, which an incremental update replaces). Work Item
    Age is derived at display time: today - started_on + 1 (calendar days, inclusive), for items
    started and not finished."""

    # No foreign-key constraints in the database: the rows are derived (a recompute rewrites them and
    # deletes those of items it no longer sees), deleted with their item or Nexus by the ORM's cascade,
    # and the check of each row a recompute into an empty store writes cost more than its COPY.
    item = models.OneToOneField(
        "backlog.ProductBacklogItem",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="flow",
        db_constraint=False,
    )
    # no index of its own: the two below lead with it (each index is one more write per row stored)
    nexus = models.ForeignKey(
        "backlog.Nexus", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    started_on = models.DateField(null=True, blank=True)
    finished_on = models.DateField(null=True, blank=True)
    cycle_time = models.PositiveIntegerField(null=True, blank=True, help_text="calendar days, inclusive")
    # What the incremental update (`flow.incremental`) needs to take the item's old part out of the
    # stored daily rows: its milestones, its first mapped event's day and the scopes it counted in.
    milestones = models.JSONField(
        null=True, blank=True, help_text="one date ordinal (or null) per column; null = not yet stored"
    )
    first_day = models.DateField(null=True, blank=True, help_text="day of its first mapped column change")
    teams = models.JSONField(default=list, blank=True, help_text="ids of the Scrum Teams it counted for")

    class Meta:
        indexes = [
            models.Index(fields=["nexus", "finished_on"], name="itemflow_nexus_finished"),
            # the incremental update's search for a scope's first day after its first item left
            models.Index(fields=["nexus", "first_day"], name="itemflow_nexus_first_day"),
        ]

    def __str__(self) -> str:
        return f"{self.item_id}: {self.started_on} → {self.finished_on}"


class ItemTeamFlow(models.Model):
    """Per Product Backlog Item and Scrum Team whose figures have the team basis (`flow.team_level`):
    the item's part in the team's own flow, as `ItemFlow` holds its part in the Nexus's: the days its
    square started and finished (calendar days in the Nexus's time zone), one milestone per square
    state (date ordinals) and the day of its first team-level row. Written by the full recompute,
    replaced item by item by the incremental update (`flow.incremental`)."""

    # item and team: no index of their own, the unique constraint and the index below lead with them
    item = models.ForeignKey(
        "backlog.ProductBacklogItem", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    team = models.ForeignKey("backlog.ScrumTeam", on_delete=models.CASCADE, related_name="+", db_index=False)
    nexus = models.ForeignKey("backlog.Nexus", on_delete=models.CASCADE, related_name="+")
    started_on = models.DateField(null=True, blank=True)
    finished_on = models.DateField(null=True, blank=True)
    cycle_time = models.PositiveIntegerField(null=True, blank=True, help_text="calendar days, inclusive")
    milestones = models.JSONField(default=list, help_text="one date ordinal (or null) per square state")
    first_day = models.DateField(help_text="day of its first team-level row for the team")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "team"], name="itemteamflow_unique")]
        indexes = [models.Index(fields=["team", "first_day"], name="itemteamflow_team_first_day")]

    def __str__(self) -> str:
        return f"{self.item_id}/{self.team_id}: {self.started_on} → {self.finished_on}"


class FlowSnapshot(models.Model):
    """The stored flow figures of one scope: the whole Nexus (`team` empty) or one of its Scrum Teams
    (the items that team is forecast to work on), as of `as_of`, over the days `start..end`.

    Written only by `flow.services.flow_recompute` (all scopes of a Nexus in one transaction, replacing
    the previous ones); read by the flow page, the board and the API, which say when it was computed.

    `figures` holds the headline figures of `flow_report` (no per-day or per-item lists), the short
    tables of the flow page, and what the board needs: the recent Cycle Times behind the Service Level
    Expectation. `detail` is JSON text (see `flow.report.detail_dumps`): the per-item lists for the
    charts (Cycle Time scatterplot points, Aging WIP dots), the Monte Carlo histograms and the daily
    Throughput history they resample; text so that the flow page embeds it without parsing it.
    The daily series is its `FlowSeries` row (`series`).
    """

    nexus = models.ForeignKey("backlog.Nexus", on_delete=models.CASCADE, related_name="flow_snapshots")
    team = models.ForeignKey(
        "backlog.ScrumTeam", on_delete=models.CASCADE, null=True, blank=True, related_name="flow_snapshots"
    )
    as_of = models.DateField(help_text="the day the figures are as of (replay up to its end)")
    start = models.DateField(help_text="first day of the daily series")
    end = models.DateField(help_text="last day of the daily series")
    computed_at = models.DateTimeField()
    basis = models.CharField(
        max_length=5,
        default="nexus",
        help_text='what a team\'s figures come from: "team" = its own team-level transitions (its square '
        'states), "nexus" = the Nexus columns of the items it is forecast on (`flow.team_level`)',
    )
    figures = models.JSONField(default=dict)
    detail = models.TextField(default="{}", help_text="JSON text: per-item lists and histograms")
    # Digests of what the last full recompute stored (`flow.store`): the next one compares digests
    # before any row and skips an unchanged scope. An incremental update that writes a scope's rows
    # (or the items) empties them, so that the next recompute compares those rows one by one.
    days_digest = models.CharField(
        max_length=64, blank=True, default="", help_text="digest of the daily rows last stored in full"
    )
    items_digest = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="the Nexus's snapshot: digest of the per-item rows (ItemFlow) last stored in full",
    )
    # Versions of this scope's rows and of its summaries (`figures`, `detail`): each incremental update
    # that changes the scope's rows (its items, its days) raises `rows_version` by one
    # (`flow.incremental.flow_apply`); a refresh that made the summaries raises `summaries_version` to
    # the rows' version it read before reading the rows (`flow.refresh`, never lowering it); the full
    # recompute makes both equal. Equal: the summaries are those of the stored rows.
    rows_version = models.IntegerField(
        default=0, help_text="raised by one by each incremental update of this scope's rows"
    )
    summaries_version = models.IntegerField(
        default=0, help_text="the rows' version the figures and detail were made from"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["nexus"], condition=models.Q(team__isnull=True), name="flowsnapshot_one_per_nexus"
            ),
            models.UniqueConstraint(
                fields=["nexus", "team"],
                condition=models.Q(team__isnull=False),
                name="flowsnapshot_one_per_team",
            ),
        ]

    def __str__(self) -> str:
        return f"Flow of {self.team_id or 'Nexus'} {self.nexus_id} as of {self.as_of}"


class FlowSeries(models.Model):
    """The daily series of one stored scope (its `FlowSnapshot`), one row per scope: for each calendar day
    from `start` (the snapshot's first day, in the Nexus's time zone) to the snapshot's `end`, WIP
    counting items on their start and finish days, end-of-day WIP, Throughput, and the Cumulative Flow
    Diagram counts (one per column of `snapshot.figures["columns"]`, left to right).

    `data` holds them as one array of little-endian 32-bit ints, `width` rows (3 + the number of
    columns: WIP, end-of-day WIP, Throughput, then each column's CFD count) of one value per day,
    row after row (`flow.series.pack` / `unpack`; `flow.series.days_of` gives one tuple per day). A
    scope's days are always read and written whole: by the full recompute, which compares digests
    first (`FlowSnapshot.days_digest`), by the incremental update (`flow.incremental`) and by the
    readers of the daily rows (the flow page's CSV and API, the team forecasts). One row and one value
    per day, not one table row per day: the JDT Nexus's 53,000 days of its seven scopes are seven rows
    (the full recompute that rewrote them took most of its time storing days)."""

    snapshot = models.OneToOneField(
        FlowSnapshot, on_delete=models.CASCADE, primary_key=True, related_name="series"
    )
    start = models.DateField(help_text="the first day of the series (calendar day in the Nexus's time zone)")
    width = models.PositiveSmallIntegerField(
        help_text="values per day: 3 (WIP, end-of-day WIP, Throughput) + 1 per CFD column"
    )
    data = models.BinaryField(help_text="width x days little-endian int32, row-major (one row per value)")

    class Meta:
        verbose_name_plural = "flow series"

    def __str__(self) -> str:
        return f"Daily series of snapshot {self.snapshot_id} from {self.start}"


#: The tombstone kind a deleted `FlowSettings` row leaves (`backlog.services.tombstones`), which the
#: flow settings resource lists in `flow-settings/deleted/`.
FLOW_SETTINGS_TOMBSTONE = "flow_settings"


class FlowSettings(models.Model):
    """Flow settings of a scope: the whole Nexus (`team` empty) or one Scrum Team.

    Service Level Expectation (Kanban Guide for Scrum Teams): "`sle_percent`% of items finish within
    `sle_days` days". With `sle_days` empty the days default to the `sle_percent`th percentile (nearest
    rank) of the Cycle Times of the items finished in the 90 days up to the as-of date; with no row at
    all the SLE is the 85th percentile of those. Written by `flow.services.flow_settings_set` (Product
    Owner, Nexus Integration Team, admins), which also sets the scope's WIP limit kind: that lives in
    `backlog` (`Nexus.wip_limit_kind`, `ScrumTeam.wip_limit_kind`, part of the Definition of Workflow),
    read here as `wip_limit_kind` (select the `team` and `nexus` with the rows).
    """

    nexus = models.ForeignKey("backlog.Nexus", on_delete=models.CASCADE, related_name="flow_settings")
    team = models.ForeignKey(
        "backlog.ScrumTeam", on_delete=models.CASCADE, null=True, blank=True, related_name="flow_settings"
    )
    sle_percent = models.PositiveSmallIntegerField(default=85, help_text="N in 'N% of items finish within D'")
    sle_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="D in calendar days; empty = the Nth percentile of recent Cycle Times",
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name_plural = "flow settings"
        constraints = [
            models.UniqueConstraint(
                fields=["nexus"], condition=models.Q(team__isnull=True), name="flowsettings_one_per_nexus"
            ),
            models.UniqueConstraint(
                fields=["nexus", "team"],
                condition=models.Q(team__isnull=False),
                name="flowsettings_one_per_team",
            ),
            models.CheckConstraint(
                condition=models.Q(sle_percent__gte=1, sle_percent__lte=100), name="flowsettings_sle_percent"
            ),
            models.CheckConstraint(
                condition=models.Q(sle_days__isnull=True) | models.Q(sle_days__gte=1),
                name="flowsettings_sle_days",
            ),
        ]

    def __str__(self) -> str:
        days = self.sle_days if self.sle_days is not None else "(default)"
        return f"SLE {self.sle_percent}% within {days} days"

    @property
    def wip_limit_kind(self) -> str:
        """The kind (`backlog.models.WipLimitKind`) of the scope's WIP limit: the Scrum Team's, or the
        Nexus's for the Nexus scope."""
        if self.team is not None:
            return str(self.team.wip_limit_kind)
        return str(self.nexus.wip_limit_kind)
