"""Serializers of the dependencies between PBIs (`dependencies/`)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from backlog.models import Dependency, DependencyKind, DependencyStatus, FoundAt, ProductBacklogItem
from nexus_site.api.fields import NexusRefField, StrictCharField, StrictChoiceField, StrictSerializer

KIND_HELP = (
    "depends_on: `item` cannot be finished before `depends_on` (directed; never a cycle); integrates_with: "
    "the two must integrate together (symmetric; stored with the smaller id as `item`)"
)
STATUS_HELP = (
    "open; resolved (delivered or integrated); removed (re-sliced away, a PBI deleted, or a mistake)"
)
EVENT_HELP = "The Nexus event: refinement, planning, daily_scrum, review or other"


#: A dependency as the API answers it (the OpenAPI document's example; ids as in `backlog.api.examples`).
EXAMPLE = {
    "id": 31,
    "item": 4711,
    "depends_on": 4702,
    "kind": "depends_on",
    "status": "open",
    "item_teams": [3],
    "depends_on_teams": [4],
    "found_by": "dev-core",
    "found_by_name": "",
    "found_at": "refinement",
    "found_on": "2025-03-04T10:15:02.114233Z",
    "note": "The formatter needs the new AST node first",
    "resolved_at": None,
    "removed_at": None,
    "version": 1,
    "created_at": "2025-03-04T10:15:02.114233Z",
    "updated_at": "2025-03-04T10:15:02.114233Z",
}


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Core waits on UI", value=EXAMPLE, response_only=True, status_codes=["200", "201", "202"]
        )
    ]
)
class DependencySerializer(serializers.ModelSerializer):
    """A dependency between two PBIs of the Nexus, with the Scrum Teams forecast on each side (their team
    squares, ids) as they are now. `found_by` is a username (null: the system, see `found_by_name`);
    times are UTC. `version` goes up with every change (`ETag`, `If-Match`)."""

    found_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    item_teams = serializers.SerializerMethodField(help_text="Scrum Teams on `item` (ids)")
    depends_on_teams = serializers.SerializerMethodField(help_text="Scrum Teams on `depends_on` (ids)")

    class Meta:
        model = Dependency
        fields = [
            "id",
            "item",
            "depends_on",
            "kind",
            "status",
            "item_teams",
            "depends_on_teams",
            "found_by",
            "found_by_name",
            "found_at",
            "found_on",
            "note",
            "resolved_at",
            "removed_at",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "kind": {"help_text": KIND_HELP},
            "status": {"help_text": STATUS_HELP},
            "found_at": {"help_text": EVENT_HELP},
            "item": {"help_text": "The dependent PBI (id)"},
            "depends_on": {"help_text": "The PBI it depends on, or integrates with (id)"},
        }

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_item_teams(self, obj: Dependency) -> list[int]:
        return sorted(i.team_id for i in obj.item.involvements.all())

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_depends_on_teams(self, obj: Dependency) -> list[int]:
        return sorted(i.team_id for i in obj.depends_on.involvements.all())


class DependencyCreateSerializer(StrictSerializer):
    """A new dependency, found now by the caller."""

    item = NexusRefField(model=ProductBacklogItem, scope="backlog__nexus", help_text="The dependent PBI (id)")
    depends_on = NexusRefField(
        model=ProductBacklogItem, scope="backlog__nexus", help_text="The PBI it depends on (id)"
    )
    kind = StrictChoiceField(
        choices=DependencyKind.choices, required=False, default=DependencyKind.DEPENDS_ON, help_text=KIND_HELP
    )
    found_at = StrictChoiceField(
        choices=FoundAt.choices, required=False, default=FoundAt.REFINEMENT, help_text=EVENT_HELP
    )
    note = StrictCharField(max_length=300, required=False, default="", allow_blank=True)


class DependencyUpdateSerializer(StrictSerializer):
    """Resolve, remove or reopen a dependency."""

    status = StrictChoiceField(
        choices=DependencyStatus.choices,
        required=False,
        help_text=STATUS_HELP + ". Without it, nothing changes (the dependency as it is is answered)",
    )
    event = StrictChoiceField(
        choices=FoundAt.choices, required=False, help_text=EVENT_HELP + " at which it happened (optional)"
    )
    reason = StrictCharField(max_length=300, required=False, default="", allow_blank=True, help_text="Why")
