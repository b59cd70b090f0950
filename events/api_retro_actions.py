"""REST resource of the Nexus Sprint Retrospective's improvement actions (part 3):
`/api/v1/nexuses/{nexus_slug}/retrospectives/actions/`, with `status/` (done, dropped, open again) and the
typed, append-only `history/`. The conventions are `events.api_retro`'s (the items' resource)."""

from __future__ import annotations

from typing import Any, ClassVar

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import (
    OpenApiExample,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from events.api_retro import ACTION_EXAMPLE, ACTION_PRECONDITION, STATE_CONFLICT, UsernameField
from events.apps import RETRO_ACTION_TOMBSTONE
from events.models import (
    ActionChangeKind,
    ActionKind,
    ActionStatus,
    ImprovementAction,
    ImprovementActionChange,
    Sprint,
)
from events.selectors_retro import actions_qs
from events.services.retro import RETRO_RULE, action_agree, action_set_status, action_update
from nexus_site.api.base import (
    PAGE_PARAMS,
    HistoryOrderingMixin,
    NexusScopedViewSet,
    StrictFilterSet,
    TombstonesMixin,
    UpdatedSinceFilter,
    VersionedReadMixin,
    tombstones_schema,
    updated_since_param,
)
from nexus_site.api.etag import if_match_version, versioned_response
from nexus_site.api.fields import NexusRefField, StrictCharField, StrictChoiceField, StrictSerializer
from nexus_site.api.schema import ETAG_HEADER, IF_MATCH, retrieve_with_etag

# --- improvement actions ---------------------------------------------------------------------------------


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A tracked action", value=ACTION_EXAMPLE, response_only=True, status_codes=["200", "201"]
        )
    ]
)
class ActionSerializer(serializers.ModelSerializer):
    """A Nexus improvement action agreed at the retrospective of `sprint` (id; `sprint_number` its number).
    `kind` `pbi`: it became the Product Backlog Item `item` (id) and is followed on the Product Backlog;
    `action`: tracked here, `status` `open`, `done` or `dropped` (then `closed_at`, UTC, and
    `closed_sprint`, the Sprint whose retrospective closed it). `owner` and `agreed_by` are usernames,
    `cross_team_issue` the retrospective item it addresses. `version` is the `ETag`."""

    owner: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    agreed_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    sprint_number = serializers.IntegerField(source="sprint.number", read_only=True)
    kind = serializers.ChoiceField(choices=ActionKind.choices, read_only=True)
    status = serializers.ChoiceField(choices=ActionStatus.choices, read_only=True)

    class Meta:
        model = ImprovementAction
        fields = [
            "id",
            "sprint",
            "sprint_number",
            "title",
            "kind",
            "owner",
            "cross_team_issue",
            "item",
            "status",
            "agreed_by",
            "agreed_at",
            "closed_at",
            "closed_sprint",
            "version",
            "updated_at",
        ]
        read_only_fields = fields


class ActionCreateSerializer(StrictSerializer):
    sprint = NexusRefField(
        model=Sprint, scope="nexus", help_text="The Sprint (id) whose retrospective agreed it"
    )
    title = StrictCharField(max_length=200, help_text="The improvement, in a line")
    owner = UsernameField(max_length=150, help_text="Username of the member who sees it through")
    kind = StrictChoiceField(
        choices=ActionKind.choices,
        required=False,
        default=ActionKind.ACTION,
        help_text="`action` (default: tracked here until done) or `pbi` (becomes a Product Backlog Item)",
    )
    cross_team_issue = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="The cross-team issue it addresses (item id)"
    )


class ActionUpdateSerializer(StrictSerializer):
    """Send only what changes."""

    title = StrictCharField(max_length=200, required=False)
    owner = UsernameField(max_length=150, required=False, help_text="Username of the new owner")


class StatusSerializer(StrictSerializer):
    status = StrictChoiceField(choices=ActionStatus.choices, help_text="`done`, `dropped`, or `open` again")
    note = StrictCharField(max_length=500, required=False, allow_blank=True, help_text="Why")
    sprint = NexusRefField(
        model=Sprint,
        scope="nexus",
        required=False,
        help_text="The Sprint (id) whose retrospective decided it; default: the latest started Sprint",
    )


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Done",
            value={
                "id": 912,
                "kind": "status",
                "from_status": "open",
                "to_status": "done",
                "sprint": 26,
                "actor": "nit",
                "at": "2025-03-14T15:10:00.000000Z",
                "note": "Merges are gated on the integration build since Sprint 26.",
            },
            response_only=True,
        )
    ]
)
class ActionChangeSerializer(serializers.ModelSerializer):
    """A row of the action's history (append-only): `kind` `agreed` (`from_status` null), `status`
    (`from_status` → `to_status`) or `owner` (`note`: old → new username); at the retrospective of
    `sprint` (id, or null), who (`actor`), when (`at`, UTC)."""

    actor: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    kind = serializers.ChoiceField(choices=ActionChangeKind.choices, read_only=True)
    from_status = serializers.SerializerMethodField()

    class Meta:
        model = ImprovementActionChange
        fields = ["id", "kind", "from_status", "to_status", "sprint", "actor", "at", "note"]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=ActionStatus.choices, allow_null=True))
    def get_from_status(self, row: ImprovementActionChange) -> str | None:
        """The status before the change; null for `agreed` (it had none)."""
        return row.from_status or None


class ActionFilter(StrictFilterSet):
    sprint = django_filters.NumberFilter(
        field_name="sprint_id", help_text="Only those agreed in this Sprint (id)"
    )
    status = django_filters.ChoiceFilter(choices=ActionStatus.choices, help_text="Only in this status")
    kind = django_filters.ChoiceFilter(choices=ActionKind.choices, help_text="Only of this kind")

    class Meta:
        model = ImprovementAction
        fields = ["sprint", "status", "kind"]


def _action_response(request: Request, action: ImprovementAction, *, code: int = 200) -> Response:
    action = actions_qs(nexus=action.nexus).get(pk=action.pk)
    return versioned_response(
        request, action, ActionSerializer(action).data, detail="api:retro-action-detail", code=code
    )


@extend_schema_view(
    list=extend_schema(
        summary="List the improvement actions (oldest first; the sync order with updated_since)",
        description="Every retrospective's actions; `sprint`, `status` and `kind` narrow the list "
        "(`?status=open&kind=action`: what is still followed).",
    ),
    retrieve=retrieve_with_etag("an improvement action", ActionSerializer),
    create=extend_schema(
        summary="Agree an improvement action (members but Stakeholders)",
        description="`kind` `pbi` creates a Product Backlog Item of that title at the bottom of the Product "
        "Backlog (who may: `can_create_items`); `action` tracks it here until done. The Sprint must have "
        "started (409 naming `sprint`).",
        request=ActionCreateSerializer,
        responses={201: ActionSerializer, 409: STATE_CONFLICT},
        parameters=[ETAG_HEADER],
        examples=[
            OpenApiExample(
                "A tracked action",
                request_only=True,
                value={"sprint": 26, "title": "Integration build on every merge", "owner": "nit"},
            ),
            OpenApiExample(
                "Becomes a PBI",
                request_only=True,
                value={"sprint": 26, "title": "Shared parser fixture", "owner": "dev-core", "kind": "pbi"},
            ),
        ],
    ),
    partial_update=extend_schema(
        summary="Change an action's title or owner",
        description="Send only what changes; a new owner is a row of its history. With `If-Match`, 412 if "
        "it changed since you read it.",
        request=ActionUpdateSerializer,
        responses={200: ActionSerializer, 412: ACTION_PRECONDITION},
        parameters=[IF_MATCH, ETAG_HEADER],
        examples=[OpenApiExample("A new owner", request_only=True, value={"owner": "dev-ui"})],
    ),
    deleted=tombstones_schema("improvement actions", "Only the admin deletes them (drop one instead)."),
)
class ImprovementActionViewSet(VersionedReadMixin, HistoryOrderingMixin, TombstonesMixin, NexusScopedViewSet):
    """`/api/v1/nexuses/{nexus_slug}/retrospectives/actions/`."""

    model = ImprovementAction
    serializer_class = ActionSerializer
    filterset_class = ActionFilter
    sync_field = "updated_at"
    tombstone_kind = RETRO_ACTION_TOMBSTONE
    rules: ClassVar[dict[str, str]] = {
        "create": RETRO_RULE,
        "partial_update": RETRO_RULE,
        "status": RETRO_RULE,
    }
    action_query_params: ClassVar[dict[str, tuple[str, ...]]] = {
        "history": (UpdatedSinceFilter.param, *PAGE_PARAMS),
    }
    http_method_names = ["get", "post", "patch", "head", "options"]

    def base_queryset(self) -> QuerySet[ImprovementAction]:
        return actions_qs(nexus=self.nexus)

    def _action(self) -> ImprovementAction:
        return ImprovementAction.objects.select_related("nexus", "sprint").get(pk=self.get_object().pk)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        from backlog.models import Source

        data = ActionCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        v = data.validated_data
        sprint = v["sprint"]
        sprint.nexus = self.nexus
        row = action_agree(
            sprint=sprint,
            actor=request.user,
            title=v["title"],
            owner=v["owner"],
            kind=v.get("kind", ActionKind.ACTION),
            cross_team_issue=v.get("cross_team_issue"),
            source=Source.API,
        )
        return _action_response(request, row, code=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        row = self._action()
        expected = if_match_version(request)
        data = ActionUpdateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        row = action_update(action=row, actor=request.user, expected_version=expected, **data.validated_data)
        return _action_response(request, row)

    @extend_schema(
        summary="Mark a tracked action done, dropped, or open again (members but Stakeholders)",
        description="A row of its history records it (from, to, at which Sprint's retrospective, who, "
        "when). An action that became a PBI: 409 naming `kind`; the same status: 409 naming `status`.",
        request=StatusSerializer,
        responses={200: ActionSerializer, 409: STATE_CONFLICT, 412: ACTION_PRECONDITION},
        parameters=[IF_MATCH, ETAG_HEADER],
        examples=[
            OpenApiExample(
                "Done", request_only=True, value={"status": "done", "note": "Gated since Sprint 26."}
            ),
            OpenApiExample("Dropped", request_only=True, value={"status": "dropped", "note": "Superseded."}),
        ],
    )
    @action(detail=True, methods=["post"])
    def status(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        row = self._action()
        expected = if_match_version(request)
        data = StatusSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        v = data.validated_data
        row = action_set_status(
            action=row,
            actor=request.user,
            status=v["status"],
            note=v.get("note", ""),
            sprint=v.get("sprint"),
            expected_version=expected,
        )
        return _action_response(request, row)

    @extend_schema(
        summary="The action's history (typed, append-only)",
        description="Every write, oldest first. With `updated_since`, the rows recorded at or after it "
        "(`at`).",
        parameters=[updated_since_param("at")],
        responses={200: ActionChangeSerializer(many=True)},
        filters=False,
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def history(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        row = self.get_object()
        rows = ImprovementActionChange.objects.filter(action=row).select_related("actor")
        page = self.paginate_queryset(self.updated_since(rows, "at"))
        return self.get_paginated_response(ActionChangeSerializer(page, many=True).data)
