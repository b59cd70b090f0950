"""Serializers of the Sprint resource (`events.api`): a Sprint, its scope rows with their team squares, its
scope log, and the bodies of create, change, plan and close. Each carries its OpenAPI example."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from backlog.models import ProductBacklogItem, ScrumTeam, TeamStatus
from events.models import ScopeChangeKind, Sprint, SprintEvent, SprintScopeChange
from events.services import DESTINATIONS
from events.sprint_selectors import GROUPS
from nexus_site.api.fields import NexusRefField, StrictCharField, StrictChoiceField, StrictSerializer

GOAL_HELP = "The Nexus Sprint Goal: the single objective for the Sprint that all Scrum Teams work on"
DATE_HELP = "Calendar day in the Nexus's time zone (YYYY-MM-DD), inclusive"

SPRINT_EXAMPLE = {
    "id": 12,
    "number": 7,
    "state": "active",
    "start_date": "2025-03-03",
    "end_date": "2025-03-16",
    "goal": "Java 21 record patterns compile, format and refactor end to end.",
    "team_goals": [
        {"team": 3, "goal": "The compiler accepts nested record patterns."},
        {"team": 4, "goal": "The formatter keeps record patterns on one line where they fit."},
    ],
    "version": 5,
    "created_at": "2025-02-27T15:00:00.000000Z",
    "updated_at": "2025-03-03T09:02:11.428113Z",
    "started_at": "2025-03-03T09:02:11.428113Z",
    "closed_at": None,
}
SPRINT_ITEM_EXAMPLE = {
    "item": 4711,
    "title": "Quick fix to add a missing case to a switch on a sealed interface",
    "column": 3,
    "rank": 3221225472,
    "squares": [{"team": 3, "status": "in_progress"}, {"team": 4, "status": "not_started"}],
    "group": "started",
    "age": 4,
    "added_at": "2025-03-03T08:41:00.000000Z",
    "updated_at": "2025-03-05T14:12:03.000000Z",
}
SCOPE_CHANGE_EXAMPLE = {
    "id": 301,
    "item": 4711,
    "kind": "added",
    "event": "planning",
    "actor": "po",
    "at": "2025-03-03T08:41:00.000000Z",
    "teams": [3, 4],
}


class TeamGoalSerializer(serializers.Serializer):
    """A Scrum Team's Sprint Goal: how the team supports the Nexus Sprint Goal."""

    team = serializers.IntegerField(help_text="The Scrum Team (id)")
    goal = serializers.CharField(help_text="The team's Sprint Goal")


class TeamGoalWriteSerializer(StrictSerializer):
    team = NexusRefField(model=ScrumTeam, scope="nexus", help_text="The Scrum Team (id) of this Nexus")
    goal = StrictCharField(
        max_length=5000, allow_blank=True, help_text="The team's Sprint Goal; empty: the team has none"
    )


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "The active Sprint", value=SPRINT_EXAMPLE, response_only=True, status_codes=["200", "201"]
        )
    ]
)
class SprintSerializer(serializers.ModelSerializer):
    """A Sprint of the Nexus (Nexus Guide). `start_date`/`end_date`: calendar days in the Nexus's time zone,
    both inclusive; the default length is the Nexus's `sprint_length_days`. `state`: `planned` → `active`
    → `closed` (never back; a closed Sprint never changes). `goal`: the Nexus Sprint Goal; `team_goals`:
    one Sprint Goal per Scrum Team that has one. `version` is the `ETag` (send it in `If-Match`)."""

    team_goals = serializers.SerializerMethodField()

    class Meta:
        model = Sprint
        fields = [
            "id",
            "number",
            "state",
            "start_date",
            "end_date",
            "goal",
            "team_goals",
            "version",
            "created_at",
            "updated_at",
            "started_at",
            "closed_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "goal": {"help_text": GOAL_HELP},
            "start_date": {"help_text": DATE_HELP},
            "end_date": {"help_text": DATE_HELP},
        }

    @extend_schema_field(TeamGoalSerializer(many=True))
    def get_team_goals(self, sprint: Sprint) -> list[dict[str, Any]]:
        # `team_goals` is prefetched by the views (one query for a whole page).
        goals = sorted(sprint.team_goals.all(), key=lambda g: (g.team_id, g.pk))
        return [{"team": g.team_id, "goal": g.goal} for g in goals]


class SprintCreateSerializer(StrictSerializer):
    start_date = serializers.DateField(
        required=False,
        help_text="First day (YYYY-MM-DD, the Nexus's time zone); default: the day after the last Sprint "
        "ends, else today. The days must not overlap another Sprint (409 naming `start_date`).",
    )
    end_date = serializers.DateField(
        required=False,
        help_text="Last day, inclusive; default: `start_date` + the Nexus's `sprint_length_days` - 1. On or "
        "after `start_date`.",
    )
    goal = StrictCharField(max_length=5000, required=False, allow_blank=True, help_text=GOAL_HELP)
    team_goals = TeamGoalWriteSerializer(many=True, required=False, help_text="One entry per Scrum Team")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("start_date"), attrs.get("end_date")
        if start is not None and end is not None and end < start:
            raise serializers.ValidationError({"end_date": "A Sprint ends on or after the day it starts."})
        teams = [g["team"].pk for g in attrs.get("team_goals", [])]
        if len(teams) != len(set(teams)):
            raise serializers.ValidationError({"team_goals": "One Sprint Goal per Scrum Team."})
        return attrs


class SprintUpdateSerializer(SprintCreateSerializer):
    """Send only what changes; `team_goals` replaces them all. A started Sprint keeps its `start_date`."""


class SprintCloseEntrySerializer(StrictSerializer):
    item = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, help_text="An unfinished PBI of the Sprint"
    )
    destination = StrictChoiceField(
        choices=[(d, d) for d in DESTINATIONS],
        help_text="`next`: carried over to the next planned Sprint; `backlog`: back to the Product Backlog",
    )


class SprintCloseSerializer(StrictSerializer):
    destinations = SprintCloseEntrySerializer(
        many=True,
        required=False,
        help_text="Where unfinished PBIs go; a PBI left out goes to the next Sprint (which must exist, else "
        "400 naming `destinations`). PBIs Done by now need no entry.",
    )
    event = StrictChoiceField(
        choices=SprintEvent.choices,
        required=False,
        default=SprintEvent.REVIEW,
        help_text="The Nexus event at which the carry-overs are decided (logged on the scope log)",
    )

    def validate_destinations(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        items = [entry["item"] for entry in value]
        if len(items) != len(set(items)):
            raise serializers.ValidationError("One destination per PBI.")
        return value


class SprintPlanSerializer(StrictSerializer):
    item = NexusRefField(
        model=ProductBacklogItem, scope="backlog__nexus", alive=True, help_text="The PBI (id) to plan"
    )
    teams = serializers.ListField(
        child=NexusRefField(model=ScrumTeam, scope="nexus"),
        allow_empty=True,
        max_length=50,
        required=False,
        default=list,
        help_text="The Scrum Teams (ids) forecast on it: each gets its square. Teams on it already keep "
        "theirs; a PBI with no team needs one at least.",
    )
    event = StrictChoiceField(
        choices=SprintEvent.choices,
        required=False,
        default=SprintEvent.PLANNING,
        help_text="The Nexus event at which it is planned",
    )


class SquareSerializer(serializers.Serializer):
    team = serializers.IntegerField(help_text="The Scrum Team (id)")
    status = serializers.ChoiceField(choices=TeamStatus.choices, help_text="The team's square")


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A PBI started by one of its two teams",
            value=SPRINT_ITEM_EXAMPLE,
            response_only=True,
            status_codes=["200", "201"],
        )
    ]
)
class SprintItemSerializer(serializers.Serializer):
    """A PBI of the Sprint's scope with its team squares. `group`: `not_started` (no square started),
    `started` (some started), `ready` (every square ready to integrate), `done` (in the Nexus's finish
    column or after it, or every square Done). `age`: Work Item Age in calendar days (null when not
    started or finished)."""

    item = serializers.IntegerField(help_text="The PBI (id)")
    title = serializers.CharField()
    column = serializers.IntegerField(help_text="Its column of the Nexus's Definition of Workflow (id)")
    rank = serializers.IntegerField(help_text="Its place in the Product Backlog order (ascending)")
    squares = SquareSerializer(many=True)
    group = serializers.ChoiceField(choices=GROUPS)
    age = serializers.IntegerField(allow_null=True, help_text="Work Item Age, calendar days")
    added_at = serializers.DateTimeField(help_text="When it entered the Sprint's scope (UTC)")
    updated_at = serializers.DateTimeField(
        help_text="When the PBI last changed (UTC); `updated_since` filters on it"
    )


@extend_schema_serializer(
    examples=[
        OpenApiExample("Planned at Nexus Sprint Planning", value=SCOPE_CHANGE_EXAMPLE, response_only=True)
    ]
)
class ScopeChangeSerializer(serializers.ModelSerializer):
    """A row of the Sprint's scope log (append-only): `kind` `added`, `removed`, `carried_in` (from the
    previous Sprint), `carried_out` (to the next), `returned` (to the Product Backlog); who (`actor`,
    a username), when (`at`, UTC) and at which Nexus event; `teams`: the Scrum Teams on the PBI then."""

    actor: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    kind = serializers.ChoiceField(choices=ScopeChangeKind.choices, read_only=True)
    teams = serializers.ListField(child=serializers.IntegerField(), read_only=True)

    class Meta:
        model = SprintScopeChange
        fields = ["id", "item", "kind", "event", "actor", "at", "teams"]
        read_only_fields = fields
