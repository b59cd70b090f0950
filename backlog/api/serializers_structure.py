"""Serializers of the Nexus and its structure: Scrum Teams, memberships, Product Goals, the Definition
of Workflow. Output serializers are read-only model serializers; inputs are strict (`fields`). Every
output carries `updated_at` (UTC, ISO-8601), the time `?updated_since=` filters on."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from backlog.api.fields import (
    NexusRefField,
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictIntegerField,
    StrictSerializer,
)
from backlog.models import (
    ColumnCategory,
    GoalStatus,
    Label,
    Membership,
    Nexus,
    ProductGoal,
    Role,
    ScrumTeam,
    WorkflowColumn,
)


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
    in calendar days; `wip_limit` the optional Nexus-level WIP limit."""

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
        ]
        read_only_fields = fields


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
    time_zone = StrictCharField(max_length=64, default="UTC")
    sprint_length_days = StrictIntegerField(min_value=1, max_value=31, default=14)
    columns = serializers.ListField(child=ColumnSpecSerializer(), min_length=1, max_length=30)

    def validate_slug(self, value: Any) -> str:
        if not isinstance(value, str):
            raise serializers.ValidationError("Must be a string.")
        return str(value)


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


class MembershipSerializer(serializers.ModelSerializer):
    """A person's role in the Nexus; Developers and Scrum Masters name their Scrum Team."""

    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "username", "role", "team", "updated_at"]
        read_only_fields = fields


class MembershipCreateSerializer(StrictSerializer):
    username = StrictCharField(max_length=150)
    role = StrictChoiceField(choices=Role.choices)
    team = NexusRefField(model=ScrumTeam, scope="nexus", required=False, allow_null=True, default=None)


class ProductGoalSerializer(serializers.ModelSerializer):
    """A Product Goal; one is `active`, earlier ones `achieved` or `abandoned` (with `closed_at`)."""

    class Meta:
        model = ProductGoal
        fields = ["id", "text", "status", "created_at", "closed_at", "updated_at"]
        read_only_fields = fields


class ProductGoalWriteSerializer(StrictSerializer):
    text = StrictCharField(max_length=5000)


class ProductGoalCloseSerializer(StrictSerializer):
    status = StrictChoiceField(
        choices=[(GoalStatus.ACHIEVED, "Achieved"), (GoalStatus.ABANDONED, "Abandoned")]
    )
