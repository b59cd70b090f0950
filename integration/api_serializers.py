"""Serializers of the Definition of Done and Integrated Increment resources (`integration.api`), each with
its OpenAPI example."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from backlog.models import ProductBacklogItem, ScrumTeam
from events.models import Sprint
from integration.models import DoneCriterion, DoneVersion, IncrementState, IntegratedIncrement
from nexus_site.api.fields import (
    HttpUrlField,
    NexusRefField,
    StrictCharField,
    StrictIntegerField,
    StrictSerializer,
)

TEAM_HELP = "The Scrum Team (id) whose stricter criterion this is; null for the Nexus's own"

CRITERION_EXAMPLE = {
    "id": 41,
    "text": "Every change is covered by an automated test that runs in the Nexus's CI",
    "team": None,
    "position": 0,
    "version": 2,
    "created_at": "2025-02-27T15:00:00.000000Z",
    "updated_at": "2025-03-03T09:02:11.428113Z",
}
VERSION_EXAMPLE = {
    "number": 4,
    "criteria": [
        {"id": 41, "text": "Every change is covered by an automated test", "team": None, "team_name": ""},
        {"id": 57, "text": "Screen-reader checked", "team": 3, "team_name": "UI"},
    ],
    "note": "Added to UI: Screen-reader checked",
    "created_by": "nit",
    "created_at": "2025-03-03T09:02:11.428113Z",
}
INCREMENT_EXAMPLE = {
    "id": 8,
    "number": 3,
    "name": "Record patterns, end to end",
    "sprint": 12,
    "state": "open",
    "dod_version": 4,
    "criteria": [
        {
            "id": 41,
            "text": "Every change is covered by an automated test",
            "team": None,
            "confirmed_by": "dev1",
            "confirmed_at": "2025-03-12T10:00:00.000000Z",
            "evidence_url": "https://ci.example.com/runs/981",
        },
        {
            "id": 57,
            "text": "Screen-reader checked",
            "team": 3,
            "confirmed_by": None,
            "confirmed_at": None,
            "evidence_url": "",
        },
    ],
    "items": [4711, 4790],
    "created_at": "2025-03-10T08:00:00.000000Z",
    "done_at": None,
    "released_on": None,
    "version": 6,
    "updated_at": "2025-03-12T10:00:00.000000Z",
}


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A Nexus criterion", value=CRITERION_EXAMPLE, response_only=True, status_codes=["200", "201"]
        )
    ]
)
class DoneCriterionSerializer(serializers.ModelSerializer):
    """A criterion of the Definition of Done: `team` null for the Nexus's own (owned by the Nexus
    Integration Team), else a Scrum Team's stricter addition (a team's Definition of Done is the
    Nexus's plus its own). `position` orders the criteria of one owner, from 0. `version` is the `ETag`."""

    team = serializers.IntegerField(source="team_id", allow_null=True, read_only=True, help_text=TEAM_HELP)

    class Meta:
        model = DoneCriterion
        fields = ["id", "text", "team", "position", "version", "created_at", "updated_at"]
        read_only_fields = fields


class DoneCriterionCreateSerializer(StrictSerializer):
    text = StrictCharField(max_length=500, help_text="What must be true of the Increment")
    team = NexusRefField(model=ScrumTeam, scope="nexus", required=False, allow_null=True, help_text=TEAM_HELP)
    position = StrictIntegerField(
        required=False, min_value=0, help_text="Where among the same owner's criteria (0 first); default last"
    )


class DoneCriterionUpdateSerializer(StrictSerializer):
    text = StrictCharField(max_length=500, required=False, help_text="The new text")
    position = StrictIntegerField(
        required=False, min_value=0, help_text="The new place among its owner's, from 0"
    )


class VersionCriterionSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The criterion's id")
    text = serializers.CharField(help_text="Its text at that version")
    team = serializers.IntegerField(allow_null=True, help_text=TEAM_HELP)
    team_name = serializers.CharField(help_text="The team's name then; empty for the Nexus's own")


@extend_schema_serializer(
    examples=[OpenApiExample("A version", value=VERSION_EXAMPLE, response_only=True, status_codes=["200"])]
)
class DoneVersionSerializer(serializers.ModelSerializer):
    """A version of the Nexus's Definition of Done, kept for ever: every criterion then (the Nexus's
    first, then each team's), who made it (a username) and when (UTC)."""

    criteria = VersionCriterionSerializer(many=True, read_only=True)
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = DoneVersion
        fields = ["number", "criteria", "note", "created_by", "created_at"]
        read_only_fields = fields


class IncrementCriterionSerializer(serializers.Serializer):
    id = serializers.IntegerField(
        help_text="The criterion's id in the increment's Definition of Done version"
    )
    text = serializers.CharField()
    team = serializers.IntegerField(allow_null=True, help_text=TEAM_HELP)
    confirmed_by = serializers.CharField(
        allow_null=True, help_text="Who confirmed it (username); null: not yet"
    )
    confirmed_at = serializers.DateTimeField(allow_null=True, help_text="When (UTC)")
    evidence_url = serializers.CharField(help_text="A CI run, a test report; empty if none was given")


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "An open increment", value=INCREMENT_EXAMPLE, response_only=True, status_codes=["200", "201"]
        )
    ]
)
class IncrementSerializer(serializers.ModelSerializer):
    """An Integrated Increment of a Sprint (Nexus Guide). `state`: `open`, then `done` once every
    criterion of its Definition of Done version (`dod_version`, the version in force when it was created)
    is confirmed. `items`: the ids of its PBIs. `released_on`: calendar day in the Nexus's time zone.
    `version` is the `ETag`."""

    sprint = serializers.IntegerField(source="sprint_id", read_only=True, help_text="The Sprint (id)")
    dod_version = serializers.IntegerField(
        source="dod_version.number", read_only=True, help_text="The Definition of Done version it carries"
    )
    criteria = serializers.SerializerMethodField()
    items = serializers.SerializerMethodField()

    class Meta:
        model = IntegratedIncrement
        fields = [
            "id",
            "number",
            "name",
            "sprint",
            "state",
            "dod_version",
            "criteria",
            "items",
            "created_at",
            "done_at",
            "released_on",
            "version",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(IncrementCriterionSerializer(many=True))
    def get_criteria(self, obj: IntegratedIncrement) -> list[dict[str, Any]]:
        confirmed = {c.criterion: c for c in obj.confirmations.all()}
        out = []
        for c in obj.dod_version.criteria:
            row = confirmed.get(c["id"])
            out.append(
                {
                    "id": c["id"],
                    "text": c["text"],
                    "team": c["team"],
                    "confirmed_by": (row.confirmed_by.username if row.confirmed_by else None)
                    if row
                    else None,
                    "confirmed_at": row.confirmed_at if row else None,
                    "evidence_url": row.evidence_url if row else "",
                }
            )
        return out

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField(), help_text="PBI ids"))
    def get_items(self, obj: IntegratedIncrement) -> list[int]:
        return [r.item_id for r in obj.items.all()]


class IncrementCreateSerializer(StrictSerializer):
    sprint = NexusRefField(model=Sprint, scope="nexus", help_text="The Sprint (id), started or closed")
    name = StrictCharField(max_length=200, required=False, allow_blank=True, help_text="A name for people")


class IntegrateSerializer(StrictSerializer):
    item = NexusRefField(
        model=ProductBacklogItem,
        scope="backlog__nexus",
        alive=True,
        help_text="The PBI (id); its squares filled",
    )


class ConfirmSerializer(StrictSerializer):
    criterion = StrictIntegerField(min_value=1, help_text="The criterion's id in the increment's DoD version")
    evidence_url = HttpUrlField(
        max_length=500, required=False, allow_blank=True, help_text="A CI run, a test report (http or https)"
    )


class ReleaseSerializer(StrictSerializer):
    released_on = serializers.DateField(
        required=False, help_text="Calendar day in the Nexus's time zone (YYYY-MM-DD); default today there"
    )


STATES = IncrementState.values
