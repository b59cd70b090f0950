"""Serializers of the team squares, each Scrum Team's Definition of Workflow (`team-columns/`) and the
tasks of its Sprint Backlog (`tasks/`)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from backlog.models import ProductBacklogItem, ScrumTeam, Task, TeamColumn, TeamStatus, WipLimitKind
from nexus_site.api.fields import (
    NexusRefField,
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictIntegerField,
    StrictSerializer,
)

STATE_HELP = (
    "The team square's state while the work is in this column: not_started (empty), in_progress "
    "(half-filled), ready (filled: ready to integrate), done (filled with a tick). Along a team's columns "
    "the states never go back, and each state keeps at least one column"
)
WIP_HELP = "PBIs of the team at most in this column; null for none"
SLE_HELP = "The team's Service Level Expectation for this work, in calendar days (1 to 365); null for none"


class TeamColumnSerializer(serializers.ModelSerializer):
    """A column of a Scrum Team's Definition of Workflow (its board), left to right by `position`
    (0-based) within the team. `version` goes up with every change (`ETag`, `If-Match`)."""

    class Meta:
        model = TeamColumn
        fields = [
            "id",
            "team",
            "name",
            "position",
            "state",
            "wip_limit",
            "wip_limit_kind",
            "sle_days",
            "version",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {"state": {"help_text": STATE_HELP}, "sle_days": {"help_text": SLE_HELP}}


class TeamColumnCreateSerializer(StrictSerializer):
    """A new column of a team's board."""

    team = NexusRefField(model=ScrumTeam, scope="nexus", help_text="The Scrum Team whose board it is (id)")
    name = StrictCharField(max_length=60, help_text="Unique on the team's board")
    state = StrictChoiceField(choices=TeamStatus.choices, help_text=STATE_HELP)
    position = StrictIntegerField(
        min_value=0,
        max_value=20,
        required=False,
        help_text="0-based place on the team's board; the columns from there on move one to the right. "
        "Default: after the last column of its state",
    )
    wip_limit = StrictIntegerField(
        min_value=1, required=False, allow_null=True, default=None, help_text=WIP_HELP
    )
    wip_limit_kind = StrictChoiceField(
        choices=WipLimitKind.choices,
        required=False,
        default=WipLimitKind.SOFT,
        help_text="hard: a move into a full column is refused (409); soft: it is warned",
    )
    sle_days = StrictIntegerField(
        min_value=1, max_value=365, required=False, allow_null=True, default=None, help_text=SLE_HELP
    )


class TeamColumnUpdateSerializer(StrictSerializer):
    """A change of a column of a team's board: send only what changes."""

    name = StrictCharField(max_length=60, required=False, help_text="Unique on the team's board")
    state = StrictChoiceField(
        choices=TeamStatus.choices,
        required=False,
        help_text=STATE_HELP + ". The squares of the work in the column take the new state (logged)",
    )
    position = StrictIntegerField(
        min_value=0, max_value=20, required=False, help_text="Move the column there (0-based)"
    )
    wip_limit = StrictIntegerField(min_value=1, required=False, allow_null=True, help_text=WIP_HELP)
    wip_limit_kind = StrictChoiceField(choices=WipLimitKind.choices, required=False)
    sle_days = StrictIntegerField(
        min_value=1, max_value=365, required=False, allow_null=True, help_text=SLE_HELP
    )


class TeamMoveSerializer(StrictSerializer):
    """Where the team's work on the PBI goes on the team's board."""

    column = NexusRefField(
        model=TeamColumn,
        scope="nexus",
        help_text="A column of this square's team's board (`team-columns/`); the square takes its state",
    )


ASSIGNEE_HELP = "The username of the member of the Nexus who took the task; null for nobody yet"


class TaskSerializer(serializers.ModelSerializer):
    """A task of a Scrum Team's Sprint Backlog: a step of the team's work on one PBI (`item`, `team`:
    the team's square on it), done or not, and who took it (`assignee`, a username or null). A task
    belongs to the PBI and the team, not to a Sprint: a PBI carried over keeps its tasks. `version`
    goes up with every change (`ETag`, `If-Match`)."""

    assignee: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text=ASSIGNEE_HELP
    )

    class Meta:
        model = Task
        fields = ["id", "item", "team", "title", "done", "assignee", "version", "created_at", "updated_at"]
        read_only_fields = fields


class TaskCreateSerializer(StrictSerializer):
    """A new task of a team's work on a PBI (not done)."""

    item = NexusRefField(
        model=ProductBacklogItem, scope="backlog__nexus", help_text="The PBI the task is a step of (id)"
    )
    team = NexusRefField(
        model=ScrumTeam, scope="nexus", help_text="The Scrum Team doing it: one forecast on the PBI (id)"
    )
    title = StrictCharField(max_length=200, help_text="What is to be done")
    assignee = StrictCharField(
        max_length=150, required=False, allow_null=True, default=None, help_text=ASSIGNEE_HELP
    )


class TaskUpdateSerializer(StrictSerializer):
    """A change of a task: send only what changes."""

    title = StrictCharField(max_length=200, required=False, help_text="What is to be done")
    done = StrictBooleanField(required=False, help_text="Done (true) or still to do (false)")
    assignee = StrictCharField(max_length=150, required=False, allow_null=True, help_text=ASSIGNEE_HELP)
