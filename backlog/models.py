"""Models of the Nexus and its single Product Backlog.

Vocabulary from the Nexus Guide (Nexus, Scrum Team, Nexus Integration Team, Product Backlog, Product
Goal) and the Kanban Guide for Scrum Teams (Definition of Workflow, WIP limits, Work Item Age). All
writes go through `backlog.services`; models hold fields, constraints and small derived properties only.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from backlog.models_api import UPDATED_AT_HELP

#: Distance between two neighbouring ranks after a renumbering (sparse ranks, as in Jira's LexoRank):
#: about 20 moves into the same gap before the backlog must be renumbered.
RANK_GAP = 1 << 20


class WipLimitKind(models.TextChoices):
    """Whether a WIP limit of the Definition of Workflow (Kanban Guide for Scrum Teams) refuses a move
    past it (hard) or only warns (soft): of a column, of a Scrum Team and of the whole Nexus."""

    HARD = "hard", "Hard: moves into a full column are refused"
    SOFT = "soft", "Soft: moves into a full column are warned"


class Nexus(models.Model):
    """A Nexus: approximately three to nine Scrum Teams working on one product from one Product Backlog
    (Nexus Guide). `time_zone` is the IANA name in which flow metrics count calendar days. `wip_limit`
    caps the items in progress across all teams (optional); `wip_limit_kind` says whether it refuses
    or warns, and changes only through `nexus_update` (under the Nexus lock, like the WIP checks)."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    time_zone = models.CharField(max_length=64, default="UTC", help_text="IANA time zone, e.g. Europe/Berlin")
    sprint_length_days = models.PositiveSmallIntegerField(
        default=14, help_text="Sprint length in calendar days"
    )
    wip_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Nexus-level WIP limit: items in progress across all teams"
    )
    wip_limit_kind = models.CharField(
        max_length=4,
        choices=WipLimitKind.choices,
        default=WipLimitKind.SOFT,
        help_text="Whether the Nexus-level WIP limit refuses a move past it (hard) or warns (soft)",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, help_text=UPDATED_AT_HELP)

    class Meta:
        verbose_name_plural = "nexuses"
        ordering = ["name"]
        indexes = [
            # API sync: `?updated_since=` on the Nexus list, cursor order (updated_at, id).
            models.Index(fields=["updated_at", "id"], name="nexus_updated"),
        ]

    def __str__(self) -> str:
        return self.name


class NexusChangeCounter(models.Model):
    """The change counter of a Nexus: `seq` goes up by one with every write to the Nexus's data (its
    items, order, columns, teams, memberships, goals, labels, webhooks, settings), in the transaction of
    that write. "Has anything changed since N" is `seq > N`; pages use it in their ETag and sync
    clients poll it (`GET /api/v1/nexuses/{slug}/changes/?since=N`).

    A row of its own (not a field of `Nexus`), so that `nexus.save()` of a stale instance can never
    roll it back. Only `backlog.services.common.nexus_changed` writes it (one `INSERT ... ON CONFLICT
    DO UPDATE SET seq = seq + 1 RETURNING seq`); a missing row reads as 0. The row lock of that
    statement is held until commit, so the order of the numbers is the order of the commits."""

    nexus = models.OneToOneField(
        Nexus, on_delete=models.CASCADE, primary_key=True, related_name="change_counter"
    )
    seq = models.BigIntegerField(default=0, help_text="Writes to the Nexus's data so far (monotonic)")

    def __str__(self) -> str:
        return f"Change counter of {self.nexus_id}: {self.seq}"


class ScrumTeam(models.Model):
    """A Scrum Team of the Nexus. `wip_limit` caps the PBIs the team has in progress (optional);
    `wip_limit_kind` says whether it refuses or warns, and changes only through `team_update` (under
    the Nexus lock, like the WIP checks)."""

    nexus = models.ForeignKey(Nexus, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=80)
    wip_limit = models.PositiveIntegerField(null=True, blank=True)
    wip_limit_kind = models.CharField(max_length=4, choices=WipLimitKind.choices, default=WipLimitKind.SOFT)
    updated_at = models.DateTimeField(auto_now=True, help_text=UPDATED_AT_HELP)

    class Meta:
        ordering = ["nexus", "name"]
        constraints = [
            models.UniqueConstraint(fields=["nexus", "slug"], name="team_unique_slug_per_nexus"),
            models.UniqueConstraint(fields=["nexus", "name"], name="team_unique_name_per_nexus"),
        ]
        indexes = [
            # API sync: a Nexus's teams by `?updated_since=`, cursor order (updated_at, id).
            models.Index(fields=["nexus", "updated_at", "id"], name="team_updated"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def code(self) -> str:
        """Two-letter code shown in a team square: initials of a multi-word name ("Team A" -> "TA"),
        else the name's first two letters ("Core" -> "CO", "UI" -> "UI")."""
        words = self.name.split()
        code = "".join(w[0] for w in words[:2]) if len(words) > 1 else self.name[:2]
        return code.upper()


class Role(models.TextChoices):
    PRODUCT_OWNER = "product_owner", "Product Owner"
    SCRUM_MASTER = "scrum_master", "Scrum Master"
    DEVELOPER = "developer", "Developer"
    NIT_MEMBER = "nit_member", "Nexus Integration Team member"
    STAKEHOLDER = "stakeholder", "Stakeholder"
    # Scrum@Scale: decides the impediments escalated past the Nexus (the `integration` app's Executive
    # Action Team page); otherwise reads the Nexus like a Stakeholder (`READ_ONLY_ROLES`).
    EAT_MEMBER = "eat_member", "Executive Action Team member"


#: Roles that read a Nexus's Product Backlog but never change it (`backlog.selectors.backlog_rights`).
READ_ONLY_ROLES = frozenset({Role.STAKEHOLDER, Role.EAT_MEMBER})


class Membership(models.Model):
    """A person's role in a Nexus. Developers and Scrum Masters name their Scrum Team; a person may
    hold several memberships (e.g. a Developer of Core who is also in the Nexus Integration Team)."""

    nexus = models.ForeignKey(Nexus, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="nexus_memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    team = models.ForeignKey(
        ScrumTeam, on_delete=models.CASCADE, null=True, blank=True, related_name="memberships"
    )
    updated_at = models.DateTimeField(auto_now=True, help_text=UPDATED_AT_HELP)

    class Meta:
        ordering = ["nexus", "role", "user"]
        constraints = [
            # "Exactly one Product Owner per Nexus": at most one here; the Nexus home warns when none.
            models.UniqueConstraint(
                fields=["nexus"], condition=Q(role="product_owner"), name="membership_one_product_owner"
            ),
            models.UniqueConstraint(
                fields=["nexus", "user", "role", "team"], name="membership_unique", nulls_distinct=False
            ),
            models.CheckConstraint(
                condition=Q(role__in=["developer", "scrum_master"], team__isnull=False)
                | (~Q(role__in=["developer", "scrum_master"]) & Q(team__isnull=True)),
                name="membership_team_iff_team_role",
            ),
        ]
        indexes = [
            # API sync: a Nexus's memberships by `?updated_since=`, cursor order (updated_at, id).
            models.Index(fields=["nexus", "updated_at", "id"], name="membership_updated"),
        ]

    def __str__(self) -> str:
        team = f" ({self.team})" if self.team_id else ""
        return f"{self.user} — {self.get_role_display()}{team}"


class ProductBacklog(models.Model):
    """The single Product Backlog of a Nexus. Its row is the lock that serialises reorders."""

    nexus = models.OneToOneField(Nexus, on_delete=models.CASCADE, related_name="backlog")

    def __str__(self) -> str:
        return f"Product Backlog of {self.nexus}"


class GoalStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ACHIEVED = "achieved", "Achieved"
    ABANDONED = "abandoned", "Abandoned"


class ProductGoal(models.Model):
    """A Product Goal. One is active per Product Backlog; earlier ones are kept, achieved or abandoned."""

    backlog = models.ForeignKey(ProductBacklog, on_delete=models.CASCADE, related_name="goals")
    text = models.TextField()
    status = models.CharField(max_length=10, choices=GoalStatus.choices, default=GoalStatus.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True, help_text=UPDATED_AT_HELP)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["backlog"], condition=Q(status="active"), name="goal_one_active"),
        ]
        indexes = [
            # API sync: a Product Backlog's goals by `?updated_since=`, cursor order (updated_at, id).
            models.Index(fields=["backlog", "updated_at", "id"], name="goal_updated"),
        ]

    def __str__(self) -> str:
        return self.text[:80]


class ColumnCategory(models.TextChoices):
    NOT_STARTED = "not_started", "Not started"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"


class WorkflowColumn(models.Model):
    """One column of the Nexus's Definition of Workflow (Kanban Guide for Scrum Teams).

    `position` orders the columns left to right. Exactly one column is marked `is_start` (work counts
    as started when an item first enters it) and one `is_finish` (work counts as finished). `wip_limit`
    is optional; `wip_limit_kind` says whether a move into a full column is refused or only warned.
    """

    nexus = models.ForeignKey(Nexus, on_delete=models.CASCADE, related_name="columns")
    name = models.CharField(max_length=60)
    position = models.PositiveSmallIntegerField()
    category = models.CharField(max_length=12, choices=ColumnCategory.choices)
    wip_limit = models.PositiveIntegerField(null=True, blank=True)
    wip_limit_kind = models.CharField(max_length=4, choices=WipLimitKind.choices, default=WipLimitKind.SOFT)
    is_start = models.BooleanField(default=False, help_text="Work counts as started on entering this column")
    is_finish = models.BooleanField(
        default=False, help_text="Work counts as finished on entering this column"
    )
    is_ready = models.BooleanField(default=False, help_text="Items here are refined and ready")
    updated_at = models.DateTimeField(auto_now=True, help_text=UPDATED_AT_HELP)

    class Meta:
        ordering = ["nexus", "position"]
        constraints = [
            models.UniqueConstraint(fields=["nexus", "position"], name="column_unique_position"),
            models.UniqueConstraint(fields=["nexus", "name"], name="column_unique_name"),
            models.UniqueConstraint(fields=["nexus"], condition=Q(is_start=True), name="column_one_start"),
            models.UniqueConstraint(fields=["nexus"], condition=Q(is_finish=True), name="column_one_finish"),
        ]
        indexes = [
            # API sync: a Nexus's columns by `?updated_since=`, cursor order (updated_at, id).
            models.Index(fields=["nexus", "updated_at", "id"], name="column_updated"),
        ]

    def __str__(self) -> str:
        return self.name


class Label(models.Model):
    """A label of the Nexus's PBIs (e.g. a Bugzilla severity, a component). Created the first time an
    item is given it; items name their labels."""

    nexus = models.ForeignKey(Nexus, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=60)
    updated_at = models.DateTimeField(auto_now=True, help_text=UPDATED_AT_HELP)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["nexus", "name"], name="label_unique_per_nexus")]
        indexes = [
            # API sync: a Nexus's labels by `?updated_since=`, cursor order (updated_at, id).
            models.Index(fields=["nexus", "updated_at", "id"], name="label_updated"),
        ]

    def __str__(self) -> str:
        return self.name


class ClassOfService(models.TextChoices):
    STANDARD = "standard", "Standard"
    EXPEDITE = "expedite", "Expedite"
    FIXED_DATE = "fixed_date", "Fixed date"
    INTANGIBLE = "intangible", "Intangible"


class PBIQuerySet(models.QuerySet["ProductBacklogItem"]):
    def alive(self) -> PBIQuerySet:
        return self.filter(deleted_at__isnull=True)

    def for_nexus(self, nexus: Nexus) -> PBIQuerySet:
        return self.filter(backlog__nexus=nexus)

    def for_team(self, team: ScrumTeam) -> PBIQuerySet:
        return self.filter(involvements__team=team)

    def open(self) -> PBIQuerySet:
        """Items not yet in the finished column or beyond (the Product Backlog proper)."""
        return self.alive().exclude(column__category=ColumnCategory.DONE)


class ProductBacklogItem(models.Model):
    """A Product Backlog Item (PBI).

    `rank` orders the Product Backlog (ascending = higher in the backlog); ranks are sparse and unique
    per backlog, so a move writes one row. `version` increases on every write, for optimistic
    concurrency (API `ETag`/`If-Match`, edit forms). `external_id` is unique per Nexus when set
    (imports and sync). `product_goal` links it to a Product Goal of its Product Backlog (progress
    toward the goal and its forecast on the Nexus Sprint Review page). `column` is the Definition of
    Workflow column the item is in now; its history is in `Transition`. `size` is in whatever unit the
    Nexus chooses (points, days...).
    """

    backlog = models.ForeignKey(ProductBacklog, on_delete=models.CASCADE, related_name="items")
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    acceptance_criteria = models.TextField(blank=True)
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children"
    )
    size = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    labels = models.ManyToManyField(Label, blank=True, related_name="items")
    class_of_service = models.CharField(
        max_length=12, choices=ClassOfService.choices, default=ClassOfService.STANDARD
    )
    is_blocked = models.BooleanField(default=False)
    blocked_reason = models.CharField(max_length=300, blank=True)
    external_id = models.CharField(max_length=100, blank=True)
    rank = models.BigIntegerField()
    version = models.PositiveIntegerField(default=1)
    column = models.ForeignKey(WorkflowColumn, on_delete=models.PROTECT, related_name="items")
    teams: models.ManyToManyField[ScrumTeam, TeamInvolvement] = models.ManyToManyField(
        ScrumTeam, through="TeamInvolvement", related_name="items"
    )
    product_goal = models.ForeignKey(
        ProductGoal,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="items",
        help_text="The Product Goal this PBI serves (the Nexus's own goals only); null: none",
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(help_text=UPDATED_AT_HELP)
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Soft delete: a tombstone for sync")

    objects = PBIQuerySet.as_manager()

    class Meta:
        verbose_name = "Product Backlog Item"
        ordering = ["backlog", "rank"]
        constraints = [
            # Deferrable so that a renumbering UPDATE is checked at the end of the statement (PostgreSQL).
            # SQLite cannot defer: migration 0002 adds a plain unique index there instead.
            models.UniqueConstraint(
                fields=["backlog", "rank"], name="pbi_unique_rank", deferrable=models.Deferrable.IMMEDIATE
            ),
            models.UniqueConstraint(
                fields=["backlog", "external_id"], condition=~Q(external_id=""), name="pbi_unique_external_id"
            ),
            models.CheckConstraint(
                condition=Q(is_blocked=True) | Q(blocked_reason=""), name="pbi_reason_only_when_blocked"
            ),
        ]
        indexes = [
            # Board: live items of a Nexus per column. Positions in the Product Backlog: counted over
            # the open columns only, with an index-only scan (`backlog.services.ordering.open_counts`).
            models.Index(
                fields=["column", "rank"], name="pbi_alive_column_rank", condition=Q(deleted_at__isnull=True)
            ),
            # Sync: `?updated_since=` with cursor order (updated_at, id).
            models.Index(fields=["backlog", "updated_at", "id"], name="pbi_updated"),
        ]

    def __str__(self) -> str:
        return self.title


class TeamStatus(models.TextChoices):
    NOT_STARTED = "not_started", "Not started"
    IN_PROGRESS = "in_progress", "In progress"
    READY_TO_INTEGRATE = "ready", "Ready to integrate"
    DONE = "done", "Done"


class TeamInvolvement(models.Model):
    """A Scrum Team forecast to work on a PBI, with its own status: the "team square" (Yeret, "Scaling
    Scrum with Nexus and Kanban"): empty = not started, half-filled = in progress, filled = ready to
    integrate, filled with a tick = Done. `team_column` is where the team's work on it is on the
    team's board (its state is `status`); None before the team's first move."""

    item = models.ForeignKey(ProductBacklogItem, on_delete=models.CASCADE, related_name="involvements")
    team = models.ForeignKey(ScrumTeam, on_delete=models.CASCADE, related_name="involvements")
    status = models.CharField(max_length=12, choices=TeamStatus.choices, default=TeamStatus.NOT_STARTED)
    team_column = models.ForeignKey(
        "backlog.TeamColumn", on_delete=models.SET_NULL, null=True, blank=True, related_name="involvements"
    )

    class Meta:
        ordering = ["team__name"]
        constraints = [models.UniqueConstraint(fields=["item", "team"], name="involvement_unique")]

    def __str__(self) -> str:
        return f"{self.team}: {self.get_status_display()}"


class TransitionKind(models.TextChoices):
    COLUMN = "column", "Column change"
    TEAM_STATUS = "team_status", "Team status change"
    RANK = "rank", "Move in the Product Backlog order"
    TEAM_ADDED = "team_added", "Scrum Team forecast on the item"
    TEAM_REMOVED = "team_removed", "Scrum Team taken off the item"
    BLOCKED = "blocked", "Blocked (or the reason changed)"
    UNBLOCKED = "unblocked", "Unblocked"
    PARENT_CHANGED = "parent_changed", "Parent change"
    SPLIT = "split", "Split: a child was split off"
    DELETED = "deleted", "Deleted (soft)"
    RESTORED = "restored", "Restored"
    TEAM_COLUMN = "team_column", "Move on a Scrum Team's board"


class Source(models.TextChoices):
    UI = "ui", "Web UI"
    API = "api", "REST API"
    IMPORT = "import", "Import"
    ADMIN = "admin", "Admin"
    BOARD = "board", "Nexus board"
    SYSTEM = "system", "System (a consequence of another change)"


class Transition(models.Model):
    """The append-only transition log: one row per change of a PBI, written in the same transaction as
    the change, with who (`actor`), through which door (`source`) and when (`at`). Kinds and the fields
    each fills:

    - `column`: `from_column`/`to_column` and their names (creation: from nothing);
    - `team_status`: `team`, `from_name`/`to_name` the statuses (`TeamStatus`);
    - `rank`: `from_position`/`to_position` (1-based places in the Product Backlog);
    - `team_added`: `team`, `to_name` its status; `team_removed`: `team`, `from_name` the status lost;
    - `blocked`: `reason` (also written when the reason of a blocked item changes); `unblocked`: `reason`
      the reason it had;
    - `parent_changed`: `from_parent`/`to_parent` (either may be empty);
    - `split`: on the item split, one row per child split off (`child`);
    - `deleted`, `restored`: the soft delete and its undoing;
    - `team_column`: a move of a team's work on its board: `team`, `from_team_column`/`to_team_column`
      and their names in `from_name`/`to_name`, `team_status` the square's state after the move.

    A creation logs the item's starting state too: its column, and any teams, block and parent.
    Flow metrics read only this log (`kind=column`). Column changes keep the column names at the time
    (`from_name`/`to_name`) so history survives a later change of the Definition of Workflow; imports
    also keep the raw source states. `at` is timezone-aware (stored UTC). `import_key` makes a
    re-import idempotent. Rows are never updated or deleted by the application.
    """

    item = models.ForeignKey(ProductBacklogItem, on_delete=models.CASCADE, related_name="transitions")
    kind = models.CharField(max_length=20, choices=TransitionKind.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=8, choices=Source.choices)
    from_column = models.ForeignKey(
        WorkflowColumn, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    to_column = models.ForeignKey(
        WorkflowColumn, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    from_name = models.CharField(max_length=60, blank=True)
    to_name = models.CharField(max_length=60, blank=True)
    raw_from = models.CharField(max_length=60, blank=True)
    raw_to = models.CharField(max_length=60, blank=True)
    team = models.ForeignKey(ScrumTeam, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    from_position = models.PositiveIntegerField(null=True, blank=True)
    to_position = models.PositiveIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True, help_text="`blocked`/`unblocked`: why blocked")
    from_parent = models.ForeignKey(
        ProductBacklogItem, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    to_parent = models.ForeignKey(
        ProductBacklogItem, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    child = models.ForeignKey(
        ProductBacklogItem, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    from_team_column = models.ForeignKey(
        "backlog.TeamColumn", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    to_team_column = models.ForeignKey(
        "backlog.TeamColumn", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    team_status = models.CharField(
        max_length=12, blank=True, help_text="`team_column`: the team square's state after the move"
    )
    import_key = models.CharField(max_length=120, blank=True)
    recorded_at = models.DateTimeField(
        auto_now_add=True,
        help_text="When this tool recorded the change (UTC, ISO-8601 with microseconds): the same as "
        "`at` for changes made here, later for imported history. `?updated_since=` filters on it.",
    )

    class Meta:
        ordering = ["item", "at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "import_key"],
                condition=~Q(import_key=""),
                name="transition_unique_import_key",
            ),
        ]
        indexes = [
            # Flow recompute: all column changes of a Nexus's items in time order.
            models.Index(fields=["kind", "item", "at"], name="transition_kind_item_at"),
            # API sync: `?updated_since=` on the transition log, cursor order (recorded_at, id).
            models.Index(fields=["recorded_at", "id"], name="transition_recorded"),
        ]

    def __str__(self) -> str:
        return f"{self.item_id} {self.kind} {self.from_name}→{self.to_name} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("The transition log is append-only: rows are never changed.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]


from backlog.models_api import (  # noqa: E402, F401
    ApiToken,
    IdempotencyRecord,
    Tombstone,
    Webhook,
    WebhookDelivery,
)
from backlog.models_dependency import (  # noqa: E402, F401
    Dependency,
    DependencyChange,
    DependencyChangeKind,
    DependencyKind,
    DependencyStatus,
    FoundAt,
    SuggestionDismissal,
)
from backlog.models_team import Task, TeamColumn  # noqa: E402, F401
