"""Examples of every response body (and of the request bodies that had none) in the OpenAPI document.

One coherent Nexus throughout, shaped like the bundled demo (Eclipse JDT: Scrum Teams named after
components, a Bugzilla-like Definition of Workflow), so that ids in one example match another.
`install()` attaches them to the serializers (`extend_schema_serializer`), so that every operation
answering with a serializer shows its example, wrapped in the list page (`{"next", "results"}`) for
lists. `tests/api/test_schema.py` checks that every 2xx body has an example, and that each example has
exactly the fields of a real response of the same serializer.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework.serializers import BaseSerializer

from backlog.api.serializers_items import (
    BulkResultSerializer,
    InvolvementSerializer,
    ItemSerializer,
    MoveResultSerializer,
    TombstoneSerializer,
    TransitionSerializer,
    WriteResultSerializer,
)
from backlog.api.serializers_squares import TaskSerializer, TeamColumnSerializer
from backlog.api.serializers_structure import (
    LabelSerializer,
    MembershipSerializer,
    NexusChangesSerializer,
    NexusSerializer,
    NexusUpdateSerializer,
    ProductGoalSerializer,
    ProductGoalWriteSerializer,
    ScrumTeamSerializer,
    ScrumTeamUpdateSerializer,
    WorkflowColumnCreateSerializer,
    WorkflowColumnSerializer,
    WorkflowColumnUpdateSerializer,
)
from backlog.api.serializers_webhooks import (
    DeliverySerializer,
    WebhookSecretSerializer,
    WebhookSerializer,
    WebhookWriteSerializer,
)
from nexus_site.api.base import DeletedSerializer

NEXUS = {
    "id": 1,
    "slug": "jdt",
    "name": "Eclipse JDT",
    "description": "Java development tools: one product, five Scrum Teams.",
    "time_zone": "Europe/Zurich",
    "sprint_length_days": 14,
    "wip_limit": 60,
    "created_at": "2025-01-06T08:00:00.000000Z",
    "updated_at": "2025-03-03T09:12:44.518203Z",
    "change_seq": 18342,
}
COLUMN = {
    "id": 12,
    "name": "In Progress",
    "position": 2,
    "category": "in_progress",
    "wip_limit": 15,
    "wip_limit_kind": "hard",
    "is_start": False,
    "is_finish": False,
    "is_ready": False,
    "updated_at": "2025-01-06T08:00:00.000000Z",
}
TEAM = {"id": 3, "name": "Core", "slug": "core", "wip_limit": 8, "updated_at": "2025-02-10T13:30:00.000000Z"}
MEMBERSHIP = {
    "id": 21,
    "user": 17,
    "username": "dani",
    "role": "developer",
    "team": 3,
    "updated_at": "2025-01-06T08:05:00.000000Z",
}
GOAL = {
    "id": 2,
    "text": "Java 21 language features are usable end to end in the editor and the compiler.",
    "status": "active",
    "created_at": "2025-02-03T10:00:00.000000Z",
    "closed_at": None,
    "updated_at": "2025-02-03T10:00:00.000000Z",
}
ITEM = {
    "id": 4711,
    "external_id": "eclipse-214012",
    "title": "Quick fix to add a missing case to a switch on a sealed interface",
    "description": "When a switch over a sealed interface misses a permitted type, offer to add it.",
    "acceptance_criteria": "The quick fix adds one case per missing type, in declaration order.",
    "parent": None,
    "product_goal": 2,
    "size": 5.0,
    "labels": ["editor", "java21"],
    "class_of_service": "standard",
    "is_blocked": False,
    "blocked_reason": "",
    "column": 12,
    "teams": [{"team": 3, "status": "in_progress"}, {"team": 5, "status": "not_started"}],
    "rank": 3221225472,
    "version": 7,
    "created_at": "2025-02-04T09:41:12.104233Z",
    "updated_at": "2025-03-03T15:02:09.730112Z",
}
TOMBSTONE = {
    "id": 4702,
    "external_id": "eclipse-213990",
    "deleted_at": "2025-03-03T16:20:00.000000Z",
    "version": 4,
}
INVOLVEMENT = {
    "id": 915,
    "item": 4711,
    "team": 3,
    "status": "in_progress",
    "team_column": 32,
    "changed_at": "2025-03-03T15:02:09.730112Z",
}
TASK = {
    "id": 58,
    "item": 4711,
    "team": 3,
    "title": "Regression test for the NPE in the formatter",
    "done": False,
    "assignee": "dev-core",
    "version": 2,
    "created_at": "2025-03-03T09:12:40.318801Z",
    "updated_at": "2025-03-03T15:40:02.125533Z",
}
TEAM_COLUMN = {
    "id": 32,
    "team": 3,
    "name": "Code review",
    "position": 2,
    "state": "in_progress",
    "wip_limit": 3,
    "wip_limit_kind": "hard",
    "sle_days": 4,
    "version": 2,
    "updated_at": "2025-02-17T10:20:31.004512Z",
}
TRANSITION = {
    "id": 88012,
    "item": 4711,
    "kind": "column",
    "at": "2025-03-03T15:02:09.730112Z",
    "actor": "dani",
    "source": "ui",
    "from_column": 11,
    "to_column": 12,
    "from_name": "To Do",
    "to_name": "In Progress",
    "team": None,
    "from_position": None,
    "to_position": None,
    "reason": "",
    "from_parent": None,
    "to_parent": None,
    "child": None,
    "from_team_column": None,
    "to_team_column": None,
    "team_status": "",
    "recorded_at": "2025-03-03T15:02:09.730112Z",
}
WEBHOOK = {
    "id": 2,
    "url": "https://tracker.example.org/hooks/nexus",
    "description": "Mirror into the team tracker",
    "events": ["item.created", "item.updated", "item.moved", "item.transitioned", "item.deleted"],
    "is_active": True,
    "created_at": "2025-02-01T12:00:00.000000Z",
    "updated_at": "2025-02-01T12:00:00.000000Z",
}
DELIVERY = {
    "id": 5120,
    "event": "item.transitioned",
    "item_id": 4711,
    "status": "failed",
    "attempts": 6,
    "next_attempt_at": None,
    "last_status_code": 503,
    "last_error": "HTTP 503 from the receiver",
    "created_at": "2025-03-03T15:02:09.801554Z",
    "delivered_at": None,
    "updated_at": "2025-03-03T15:45:21.004118Z",
    "payload": {
        "event": "item.transitioned",
        "occurred_at": "2025-03-03T15:02:09.801554Z",
        "nexus": "jdt",
        "item": {
            "id": 4711,
            "external_id": "eclipse-214012",
            "title": "Quick fix to add a missing case to a switch on a sealed interface",
            "column": 12,
            "column_name": "In Progress",
            "rank": 3221225472,
            "version": 7,
            "is_blocked": False,
            "updated_at": "2025-03-03T15:02:09.730112Z",
            "deleted_at": None,
        },
    },
}

#: Response examples, by serializer.
RESPONSES: dict[type[BaseSerializer[Any]], tuple[str, Any]] = {
    NexusSerializer: ("A Nexus", NEXUS),
    NexusChangesSerializer: ("Changed since the client's 18339", {"seq": 18342, "changed": True}),
    WorkflowColumnSerializer: ("A column with a hard WIP limit", COLUMN),
    ScrumTeamSerializer: ("A Scrum Team", TEAM),
    LabelSerializer: ("A label", {"id": 7, "name": "java21", "updated_at": "2025-02-04T09:41:12.104233Z"}),
    MembershipSerializer: ("A Developer of the Core team", MEMBERSHIP),
    ProductGoalSerializer: ("The active Product Goal", GOAL),
    ItemSerializer: ("A PBI in progress, forecast on two Scrum Teams", ITEM),
    TombstoneSerializer: ("A deleted PBI", TOMBSTONE),
    DeletedSerializer: (
        "A deleted row: remove the one with this id",
        {"id": 6, "deleted_at": "2025-03-04T10:15:00.000000Z"},
    ),
    InvolvementSerializer: ("A team square: in progress", INVOLVEMENT),
    TeamColumnSerializer: ("A column of a team's board with a hard WIP limit", TEAM_COLUMN),
    TaskSerializer: ("A task of Core's work on a PBI, taken by a Developer", TASK),
    TransitionSerializer: ("A pull into In Progress", TRANSITION),
    WebhookSerializer: ("A webhook", WEBHOOK),
    WebhookSecretSerializer: (
        "A new webhook, with its secret (shown once)",
        {**WEBHOOK, "secret": "whsec_3q9…"},
    ),
    DeliverySerializer: ("A delivery that failed after its last retry", DELIVERY),
    MoveResultSerializer: (
        "Moved up from 12th to 3rd",
        {
            "item": ITEM,
            "from_position": 12,
            "to_position": 3,
            "stale": False,
            "renumbered": False,
            "carried": 0,
            "before": 412,
            "after": 398,
        },
    ),
    WriteResultSerializer: (
        "Changed, with a soft WIP limit reached",
        {
            "item": ITEM,
            "created": False,
            "changed": True,
            "warnings": ["Core is at its WIP limit (8 of 8 items in progress)."],
        },
    ),
    BulkResultSerializer: (
        "Two entries: one created, one unchanged",
        {
            "created": 1,
            "updated": 0,
            "unchanged": 1,
            "items": [
                {"id": 4790, "external_id": "tracker-1001", "version": 1, "created": True},
                {"id": 4711, "external_id": "eclipse-214012", "version": 7, "created": False},
            ],
        },
    ),
}

#: Request examples of bodies that no operation gives one for.
REQUESTS: dict[type[BaseSerializer[Any]], tuple[str, Any]] = {
    ProductGoalWriteSerializer: ("New wording", {"text": GOAL["text"]}),
    NexusUpdateSerializer: (
        "Another time zone, a Nexus WIP limit",
        {"time_zone": "America/Toronto", "wip_limit": 40},
    ),
    ScrumTeamUpdateSerializer: ("Renamed, a new WIP limit", {"name": "Core UI", "wip_limit": 6}),
    WorkflowColumnCreateSerializer: (
        "A Test step with a hard WIP limit, before Done",
        {"name": "Test", "category": "in_progress", "position": 3, "wip_limit": 4, "wip_limit_kind": "hard"},
    ),
    WorkflowColumnUpdateSerializer: (
        "Renamed, moved to the left, no WIP limit",
        {"name": "Doing", "position": 1, "wip_limit": None},
    ),
    WebhookWriteSerializer: (
        "Only deletions, paused",
        {"url": WEBHOOK["url"], "events": ["item.deleted"], "is_active": False},
    ),
}


def install() -> None:
    """Attach the examples to their serializers (idempotent: the same list is set again)."""
    for serializer, (name, value) in RESPONSES.items():
        example = OpenApiExample(name, value=value, response_only=True, status_codes=["200", "201", "202"])
        extend_schema_serializer(examples=[example])(serializer)
    for serializer, (name, value) in REQUESTS.items():
        example = OpenApiExample(name, value=value, request_only=True)
        extend_schema_serializer(examples=[example])(serializer)
