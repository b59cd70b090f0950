"""REST resources of the Nexus Sprint Retrospective: `/api/v1/nexuses/{nexus_slug}/retrospectives/items/`
(cross-team issues and Scrum Team items, parts 1 and 2) and `.../retrospectives/actions/` (Nexus
improvement actions, part 3, with their status history).

Built like `integration.api_issues`: keyset pages (`cursor`, `page_size`), `?updated_since=`, tombstones
(`deleted/`), `ETag`/`If-Match` from the row's `version`, `Idempotency-Key` on POST, examples in the
OpenAPI document. Every member reads; the representatives (members but Stakeholders, rule `retro_record`)
record cross-team issues and agree and follow actions; a Scrum Team's items are recorded by its Developers
and Scrum Master, the Product Owner and the Nexus Integration Team (403 naming `team` otherwise). Every
write goes through `events.services.retro`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer, extend_schema_view
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from backlog.models import ScrumTeam
from events.apps import RETRO_ITEM_TOMBSTONE
from events.models import RetroItem, RetroPart, Sprint
from events.selectors_retro import retro_items_qs
from events.services.retro import RETRO_RULE, retro_item_add, retro_item_delete, retro_item_update
from nexus_site.api.base import (
    NexusScopedViewSet,
    StrictFilterSet,
    TombstonesMixin,
    VersionedReadMixin,
    tombstones_schema,
)
from nexus_site.api.etag import if_match_version, versioned_response
from nexus_site.api.fields import NexusRefField, StrictCharField, StrictSerializer
from nexus_site.api.schema import ETAG_HEADER, IF_MATCH, conflict, precondition, retrieve_with_etag

ITEM_PRECONDITION = precondition("the retrospective item")
ACTION_PRECONDITION = precondition("the improvement action")
STATE_CONFLICT = conflict(
    "The Sprint has not started (`sprint`: its retrospective comes at its end); an action that became a "
    "PBI is followed on the Product Backlog (`kind`); the action has that status already (`status`); or an "
    "`Idempotency-Key` in progress.",
    "Sprint 27 has not started: its Nexus Sprint Retrospective comes at its end.",
    "sprint",
)

ITEM_EXAMPLE = {
    "id": 310,
    "sprint": 26,
    "part": "team",
    "team": 3,
    "text": "We learned of UI's formatter change two days after it was merged.",
    "cross_team_issue": 305,
    "author": "dev-core",
    "created_at": "2025-03-14T14:05:00.000000Z",
    "version": 1,
    "updated_at": "2025-03-14T14:05:00.000000Z",
}
ACTION_EXAMPLE = {
    "id": 77,
    "sprint": 25,
    "sprint_number": 25,
    "title": "Run the integration build on every merge to master",
    "kind": "action",
    "owner": "nit",
    "cross_team_issue": 290,
    "item": None,
    "status": "open",
    "agreed_by": "nit",
    "agreed_at": "2025-02-28T15:30:00.000000Z",
    "closed_at": None,
    "closed_sprint": None,
    "version": 1,
    "updated_at": "2025-02-28T15:30:00.000000Z",
}


class UsernameField(StrictCharField):
    """A username of this site (400 naming the field when there is none)."""

    def run_validation(self, data: Any = serializers.empty) -> Any:
        from django.contrib.auth.models import User

        name = super().run_validation(data)
        if name is None:
            return None
        user = User.objects.filter(username=name).first()
        if user is None:
            raise serializers.ValidationError(f"No user {name!r}.")
        return user


# --- items -----------------------------------------------------------------------------------------------


@extend_schema_serializer(
    examples=[
        OpenApiExample("A team item", value=ITEM_EXAMPLE, response_only=True, status_codes=["200", "201"])
    ]
)
class RetroItemSerializer(serializers.ModelSerializer):
    """An item of a Sprint's Nexus Sprint Retrospective: `part` `cross_team` (part 1, a cross-team issue
    recorded by the representatives; `team` null) or `team` (part 2, a Scrum Team's own item, `team` its
    id, optionally linked to a cross-team issue of the same Sprint: `cross_team_issue`, an item id).
    `sprint` is the Sprint's id, `author` a username. `version` is the `ETag` (send it in `If-Match`)."""

    author: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    part = serializers.ChoiceField(choices=RetroPart.choices, read_only=True)

    class Meta:
        model = RetroItem
        fields = [
            "id",
            "sprint",
            "part",
            "team",
            "text",
            "cross_team_issue",
            "author",
            "created_at",
            "version",
            "updated_at",
        ]
        read_only_fields = fields


class RetroItemCreateSerializer(StrictSerializer):
    sprint = NexusRefField(model=Sprint, scope="nexus", help_text="The Sprint (id) whose retrospective it is")
    text = StrictCharField(max_length=500, help_text="What was observed, in a sentence or two")
    team = NexusRefField(
        model=ScrumTeam,
        scope="nexus",
        required=False,
        allow_null=True,
        help_text="A Scrum Team (id): the team's own item (part 2); null or absent: a cross-team issue "
        "(part 1)",
    )
    cross_team_issue = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="A team item's cross-team issue (an item id)"
    )


class RetroItemUpdateSerializer(StrictSerializer):
    """Send only what changes."""

    text = StrictCharField(max_length=500, required=False)
    cross_team_issue = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="A team item's cross-team issue; null: none"
    )


class RetroItemFilter(StrictFilterSet):
    sprint = django_filters.NumberFilter(field_name="sprint_id", help_text="Only this Sprint's (id)")
    part = django_filters.ChoiceFilter(choices=RetroPart.choices, help_text="Only this part")
    team = django_filters.NumberFilter(field_name="team_id", help_text="Only this Scrum Team's (id)")

    class Meta:
        model = RetroItem
        fields = ["sprint", "part", "team"]


def _item_response(request: Request, item: RetroItem, *, code: int = 200) -> Response:
    return versioned_response(
        request, item, RetroItemSerializer(item).data, detail="api:retro-item-detail", code=code
    )


@extend_schema_view(
    list=extend_schema(
        summary="List the retrospective items (cross-team issues and team items)",
        description="Oldest first (the sync order with `updated_since`); `sprint`, `part` and `team` narrow "
        "the list. Deleted items are in `retrospectives/items/deleted/`.",
    ),
    retrieve=retrieve_with_etag("a retrospective item", RetroItemSerializer),
    create=extend_schema(
        summary="Record a cross-team issue (no `team`) or a Scrum Team's item (`team`)",
        description="Cross-team issues: members but Stakeholders. A team's items: its Developers and Scrum "
        "Master, the Product Owner and the Nexus Integration Team (403 naming `team`). The Sprint must have "
        "started (409 naming `sprint`).",
        request=RetroItemCreateSerializer,
        responses={201: RetroItemSerializer, 409: STATE_CONFLICT},
        parameters=[ETAG_HEADER],
        examples=[
            OpenApiExample(
                "A cross-team issue",
                request_only=True,
                value={"sprint": 26, "text": "Nightly build red 3 days"},
            ),
            OpenApiExample(
                "A team item",
                request_only=True,
                value={"sprint": 26, "team": 3, "text": "Heard of UI's change late", "cross_team_issue": 305},
            ),
        ],
    ),
    partial_update=extend_schema(
        summary="Change an item's text or linked cross-team issue",
        description="Send only what changes. With `If-Match`, 412 if it changed since you read it.",
        request=RetroItemUpdateSerializer,
        responses={200: RetroItemSerializer, 412: ITEM_PRECONDITION},
        parameters=[IF_MATCH, ETAG_HEADER],
        examples=[OpenApiExample("Unlink", request_only=True, value={"cross_team_issue": None})],
    ),
    destroy=extend_schema(
        summary="Delete an item recorded by mistake",
        description="Team items linked to a deleted cross-team issue lose the link; a tombstone is left.",
        parameters=[IF_MATCH],
        responses={204: None, 412: ITEM_PRECONDITION},
    ),
    deleted=tombstones_schema("retrospective items"),
)
class RetroItemViewSet(VersionedReadMixin, TombstonesMixin, NexusScopedViewSet):
    """`/api/v1/nexuses/{nexus_slug}/retrospectives/items/`."""

    model = RetroItem
    serializer_class = RetroItemSerializer
    filterset_class = RetroItemFilter
    sync_field = "updated_at"
    tombstone_kind = RETRO_ITEM_TOMBSTONE
    rules: ClassVar[dict[str, str]] = {
        "create": RETRO_RULE,
        "partial_update": RETRO_RULE,
        "destroy": RETRO_RULE,
    }
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def base_queryset(self) -> QuerySet[RetroItem]:
        return retro_items_qs(nexus=self.nexus)

    def ordering_keys(self) -> list[tuple[str, str]]:
        if self.action == "deleted" or self.sync_requested():
            return super().ordering_keys()
        return [("id", "int")]

    def _item(self) -> RetroItem:
        return RetroItem.objects.select_related("nexus", "sprint", "team").get(pk=self.get_object().pk)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = RetroItemCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        v = data.validated_data
        sprint = v["sprint"]
        sprint.nexus = self.nexus
        item = retro_item_add(
            sprint=sprint,
            actor=request.user,
            text=v["text"],
            team=v.get("team"),
            cross_team_issue=v.get("cross_team_issue"),
        )
        return _item_response(request, item, code=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        item = self._item()
        expected = if_match_version(request)
        data = RetroItemUpdateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        item = retro_item_update(
            item=item, actor=request.user, expected_version=expected, **data.validated_data
        )
        return _item_response(request, item)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        retro_item_delete(item=self._item(), actor=request.user, expected_version=if_match_version(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
