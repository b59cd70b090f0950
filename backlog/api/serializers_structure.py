"""Serializers of the Nexus and its structure: Scrum Teams, memberships, Product Goals, the Definition
of Workflow, and the tombstones of deleted rows. Output serializers are read-only model serializers;
inputs are strict (`fields`): an unknown field, or one that cannot change (declared read-only here, e.g.
a column's `category`), answers 400 naming it. Every output carries `updated_at` (UTC, ISO-8601), the
time `?updated_since=` filters on."""

from __future__ import annotations

from typing import Any, ClassVar

from rest_framework import serializers

from backlog.models import (
    ColumnCategory,
    GoalStatus,
    Label,
    Membership,
    Nexus,
    ProductGoal,
    Role,
    ScrumTeam,
    WipLimitKind,
    WorkflowColumn,
)
from backlog.selectors import nexus_change_seq
from nexus_site.api.fields import (
    NexusRefField,
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictIntegerField,
    StrictSerializer,
    TimeZoneField,
)

WIP_LIMIT_HELP = "At most this many items (at least 1); null for no limit"


class WorkflowColumnSerializer(serializers.ModelSerializer):
    """A column of the Definition of Workflow, left to right by `position` (0-based)."""

    class Meta:
        model = WorkflowColumn
        fields = [
            "id",
            "name",
            "position",
            "category",
            "wip_limit",
            "wip_limit_kind",
            "is_start",
            "is_finish",
            "is_ready",
            "updated_at",
        ]
        read_only_fields = fields


class NexusSerializer(serializers.ModelSerializer):
    """A Nexus. `time_zone` is the IANA name in which flow metrics count days; `sprint_length_days`
    in calendar days; `wip_limit` the optional Nexus-level WIP limit; `change_seq` its change counter
    (read-only; see `NexusChangesSerializer`), from the `change_seq` annotation of a list, else one
    query."""

    change_seq = serializers.SerializerMethodField(
        help_text="The Nexus's change counter: every write to its data (items, order, columns, teams, "
        "memberships, goals, labels, webhooks, settings) adds one, in commit order. Poll "
        "`changes/?since=` with it."
    )

    class Meta:
        model = Nexus
        fields = [
            "id",
            "slug",
            "name",
            "description",
            "time_zone",
            "sprint_length_days",
            "wip_limit",
            "created_at",
            "updated_at",
            "change_seq",
        ]
        read_only_fields = fields

    def get_change_seq(self, nexus: Nexus) -> int:
        annotated = getattr(nexus, "change_seq", None)
        return int(annotated) if annotated is not None else nexus_change_seq(nexus_id=nexus.pk)


class NexusChangesSerializer(serializers.Serializer[dict[str, Any]]):
    """`GET /api/v1/nexuses/{slug}/changes/?since=N`: has anything in the Nexus changed since the
    client saw change counter N? `seq` is the counter now (`backlog.selectors.nexus_change_seq`;
    monotonic, one per write, in commit order: once you see N, every change numbered N or less is
    visible); `changed` is `seq > since`. Remember `seq` and send it as the next `since`."""

    seq = serializers.IntegerField(min_value=0, help_text="The Nexus's change counter now.")
    changed = serializers.BooleanField(help_text="Whether `seq` is above `since`: something changed.")


class ColumnSpecSerializer(StrictSerializer):
    name = StrictCharField(max_length=60)
    category = StrictChoiceField(choices=ColumnCategory.choices, default=ColumnCategory.IN_PROGRESS)
    wip_limit = StrictIntegerField(min_value=1, required=False, allow_null=True, default=None)
    is_start = StrictBooleanField(default=False)
    is_finish = StrictBooleanField(default=False)
    is_ready = StrictBooleanField(default=False)


class NexusCreateSerializer(StrictSerializer):
    """A new Nexus with its Definition of Workflow (administrators only)."""

    name = StrictCharField(max_length=200)
    slug = serializers.SlugField(max_length=80, required=False)
    description = StrictCharField(allow_blank=True, required=False, default="", max_length=10000)
    time_zone = TimeZoneField(
        max_length=64, default="UTC", help_text="IANA name in which flow metrics count calendar days"
    )
    sprint_length_days = StrictIntegerField(min_value=1, max_value=31, default=14)
    columns = serializers.ListField(
        child=ColumnSpecSerializer(),
        min_length=1,
        max_length=30,
        help_text="The Definition of Workflow, left to right: unique names; exactly one column with "
        "`is_start` and one with `is_finish`, the started one at or before the finished one",
    )

    def validate_slug(self, value: Any) -> str:
        if not isinstance(value, str):
            raise serializers.ValidationError("Must be a string.")
        return str(value)


class NexusUpdateSerializer(StrictSerializer):
    """A change of a Nexus (administrators): send only what changes. The `slug` never changes."""

    slug = serializers.CharField(
        read_only=True, help_text="Fixed: URLs and sync clients name the Nexus by it"
    )
    name = StrictCharField(max_length=200, required=False, help_text="The Nexus's name (not its slug)")
    description = StrictCharField(
        allow_blank=True, required=False, max_length=10000, help_text="Free text; empty for none"
    )
    time_zone = TimeZoneField(
        max_length=64,
        required=False,
        help_text="IANA name (e.g. Europe/Berlin) in which flow metrics count calendar days; a change "
        "recomputes the flow figures",
    )
    sprint_length_days = StrictIntegerField(
        min_value=1, max_value=31, required=False, help_text="Sprint length in calendar days (1 to 31)"
    )
    wip_limit = StrictIntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="Nexus-level WIP limit: items in progress across all teams, at least 1; null for none",
    )


class ScrumTeamSerializer(serializers.ModelSerializer):
    """A Scrum Team of the Nexus; `wip_limit` caps the PBIs it has in progress (optional)."""

    class Meta:
        model = ScrumTeam
        fields = ["id", "name", "slug", "wip_limit", "updated_at"]
        read_only_fields = fields


class LabelSerializer(serializers.ModelSerializer):
    """A label of the Nexus's PBIs; items name their labels (`labels` of an item), and a label is
    created the first time an item is given it."""

    class Meta:
        model = Label
        fields = ["id", "name", "updated_at"]
        read_only_fields = fields


class ScrumTeamCreateSerializer(StrictSerializer):
    name = StrictCharField(max_length=100)
    wip_limit = StrictIntegerField(min_value=1, required=False, allow_null=True, default=None)


class ScrumTeamUpdateSerializer(StrictSerializer):
    """A change of a Scrum Team (administrators): send only what changes."""

    slug = serializers.CharField(read_only=True, help_text="Follows the name")
    name = StrictCharField(
        max_length=100, required=False, help_text="Unique in the Nexus; the slug follows it"
    )
    wip_limit = StrictIntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="PBIs the team has in progress at most (at least 1); null for no limit",
    )


class MembershipSerializer(serializers.ModelSerializer):
    """A person's role in the Nexus; Developers and Scrum Masters name their Scrum Team."""

    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "username", "role", "team", "updated_at"]
        read_only_fields = fields


class MembershipCreateSerializer(StrictSerializer):
    """A role in the Nexus for an existing user. A Developer or Scrum Master names their Scrum Team
    (`team`); for the other roles `team` is ignored. A second Product Owner is refused (409)."""

    username = StrictCharField(max_length=150, help_text="The username of an existing user of this site")
    role = StrictChoiceField(choices=Role.choices)
    team = NexusRefField(
        model=ScrumTeam,
        scope="nexus",
        required=False,
        allow_null=True,
        default=None,
        help_text="The Scrum Team of a Developer or Scrum Master (needed for them; ignored for other roles)",
    )

    #: A team role names its team (`nexus_site.api.schema.AutoSchema` documents these as `anyOf`).
    schema_any_of: ClassVar[list[dict[str, Any]]] = [
        {
            "description": "A Developer or Scrum Master, in one Scrum Team",
            "required": ["role", "team"],
            "properties": {
                "role": {"type": "string", "enum": [Role.DEVELOPER.value, Role.SCRUM_MASTER.value]},
                "team": {"type": "integer"},
            },
        },
        {
            "description": "Any other role (no team)",
            "required": ["role"],
            "properties": {
                "role": {
                    "type": "string",
                    "enum": [r for r in Role.values if r not in (Role.DEVELOPER, Role.SCRUM_MASTER)],
                }
            },
        },
    ]


class WorkflowColumnCreateSerializer(StrictSerializer):
    """A new column of the Definition of Workflow (administrators). It is never the started or
    finished column: those are fixed when the Nexus is created."""

    is_start = serializers.BooleanField(read_only=True, help_text="Fixed when the Nexus is created")
    is_finish = serializers.BooleanField(read_only=True, help_text="Fixed when the Nexus is created")
    name = StrictCharField(max_length=60, help_text="Unique in the Nexus")
    category = StrictChoiceField(
        choices=ColumnCategory.choices, help_text="Fixed once created: not_started, in_progress or done"
    )
    position = StrictIntegerField(
        min_value=0,
        max_value=30,
        required=False,
        help_text="0-based place, left to right; the columns from there on move one to the right. "
        "Default: a not_started column just before the started column, an in_progress one just before "
        "the finished column, a done one at the end",
    )
    wip_limit = StrictIntegerField(
        min_value=1, required=False, allow_null=True, default=None, help_text=WIP_LIMIT_HELP
    )
    wip_limit_kind = StrictChoiceField(
        choices=WipLimitKind.choices,
        required=False,
        default=WipLimitKind.SOFT,
        help_text="hard: a move into a full column is refused (409); soft: it is warned",
    )
    is_ready = StrictBooleanField(required=False, default=False, help_text="Items here are refined and ready")


class WorkflowColumnUpdateSerializer(StrictSerializer):
    """A change of a column of the Definition of Workflow (administrators): send only what changes.
    `category`, `is_start` and `is_finish` cannot change (they define Cycle Time for the whole
    history)."""

    category = StrictChoiceField(
        choices=ColumnCategory.choices, read_only=True, help_text="Fixed once created"
    )
    is_start = serializers.BooleanField(read_only=True, help_text="Fixed when the Nexus is created")
    is_finish = serializers.BooleanField(read_only=True, help_text="Fixed when the Nexus is created")
    name = StrictCharField(max_length=60, required=False, help_text="Unique in the Nexus")
    position = StrictIntegerField(
        min_value=0,
        max_value=30,
        required=False,
        help_text="Move the column to this 0-based place; the columns in between shift by one. The "
        "started column must stay at or before the finished one",
    )
    wip_limit = StrictIntegerField(min_value=1, required=False, allow_null=True, help_text=WIP_LIMIT_HELP)
    wip_limit_kind = StrictChoiceField(
        choices=WipLimitKind.choices,
        required=False,
        help_text="hard: a move into a full column is refused (409); soft: it is warned",
    )
    is_ready = StrictBooleanField(required=False, help_text="Items here are refined and ready")


class ProductGoalSerializer(serializers.ModelSerializer):
    """A Product Goal; one is `active`, earlier ones `achieved` or `abandoned` (with `closed_at`)."""

    class Meta:
        model = ProductGoal
        fields = ["id", "text", "status", "created_at", "closed_at", "updated_at"]
        read_only_fields = fields


class ProductGoalWriteSerializer(StrictSerializer):
    #: The PATCH takes the whole body too: `text` is required (`nexus_site.api.schema.AutoSchema`).
    required_on_patch = True

    text = StrictCharField(max_length=5000)


class ProductGoalCloseSerializer(StrictSerializer):
    status = StrictChoiceField(
        choices=[(GoalStatus.ACHIEVED, "Achieved"), (GoalStatus.ABANDONED, "Abandoned")]
    )
