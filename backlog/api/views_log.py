"""API views of team involvement (the team squares) and of the transition log (read-only)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import F, QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from backlog.api.filters import InvolvementFilter, TransitionFilter
from backlog.api.serializers_items import (
    InvolvementCreateSerializer,
    InvolvementSerializer,
    InvolvementStatusSerializer,
    TransitionSerializer,
)
from backlog.api.serializers_squares import TeamMoveSerializer
from backlog.api.views_items import PRECONDITION, WARNING_HEADER
from backlog.models import (
    Source,
    TeamInvolvement,
    Transition,
)
from backlog.services import involvement_add, involvement_remove
from backlog.services.squares import SquareResult, square_set, team_item_move
from nexus_site.api import permissions as perms
from nexus_site.api.base import NexusScopedViewSet
from nexus_site.api.etag import if_match_version
from nexus_site.api.schema import IF_MATCH, error

SQUARE_RULE = (
    "Developers and Scrum Masters change only their own team's squares (403 naming `team`); the Product "
    "Owner, the Nexus Integration Team and administrators any team's; Stakeholders read."
)
SQUARE_CONFLICT = error(
    "A hard WIP limit: the team column's (`column`), or the Nexus's or a column's met by the PBI's "
    "automatic move into the started column (`status`). Nothing was changed.",
    OpenApiExample(
        "WIP limit",
        value={
            "status": 409,
            "code": "conflict",
            "message": "This square starts the PBI, which would move it into 'In Progress': 'In Progress' "
            "is at its WIP limit (3 of 3). Finish something there first.",
            "errors": [{"field": "status", "code": "conflict", "message": "..."}],
        },
        response_only=True,
        status_codes=["409"],
    ),
)
WARNING = OpenApiParameter(
    WARNING_HEADER,
    str,
    OpenApiParameter.HEADER,
    response=[200],
    description="A soft WIP limit was reached by this change (for a person).",
)


@extend_schema_view(
    list=extend_schema(
        summary="List team involvement (which Scrum Teams each PBI needs, and their status)",
        description="`updated_since` filters on the item's `updated_at`, which every change of involvement "
        "moves forward.",
    ),
    retrieve=extend_schema(summary="Get one team's involvement in a PBI"),
    create=extend_schema(
        summary="Forecast a Scrum Team on a PBI",
        description="Adds the team (the other teams and their status are untouched) and sets its status; "
        "logged as `team_added` (and `team_status` when the status is not `not_started`). Adding a team "
        "that is there already answers 400 (`team`); a deleted item, 400 (`item`).",
        request=InvolvementCreateSerializer,
        responses={201: InvolvementSerializer},
        examples=[
            OpenApiExample(
                "Team 2 starts", request_only=True, value={"item": 41, "team": 2, "status": "in_progress"}
            )
        ],
    ),
    partial_update=extend_schema(
        summary="Change a team's status on a PBI (a team square)",
        description="The team's work moves to the first column of its board with that state (unless it "
        "is in one already), logged (`kind=team_status` and `team_column`). The PBI's Nexus column "
        "follows its squares: the first started square moves it into the started column (logged with "
        f"source `system`; WIP limits apply: a hard one refuses the change, 409). {SQUARE_RULE}",
        request=InvolvementStatusSerializer,
        responses={200: InvolvementSerializer, 409: SQUARE_CONFLICT},
        parameters=[WARNING],
        examples=[OpenApiExample("Ready to integrate", request_only=True, value={"status": "ready"})],
    ),
    move=extend_schema(
        summary="Move a team's work on a PBI on the team's board",
        description="To `column`, a column of this square's team's board (`team-columns/`): the square "
        "takes the column's state and a `team_column` row is logged (team, from and to column, the state "
        "after), in one transaction; the PBI's Nexus column follows its squares as on `PATCH`. The team "
        "column's WIP limit applies (hard: 409 naming `column`; soft: `X-Nexus-Warning`). With `If-Match` "
        f"(the PBI's ETag, from `items/{{id}}/`), refused (412) if the PBI changed since. {SQUARE_RULE}",
        request=TeamMoveSerializer,
        responses={200: InvolvementSerializer, 409: SQUARE_CONFLICT, 412: PRECONDITION},
        parameters=[IF_MATCH, WARNING],
        examples=[OpenApiExample("To review", request_only=True, value={"column": 12})],
    ),
    destroy=extend_schema(
        summary="Remove a Scrum Team from a PBI's forecast",
        description="Logged as `team_removed`, with the status the team had.",
        responses={204: None},
    ),
)
class InvolvementViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, NexusScopedViewSet
):
    """`/api/v1/nexuses/{nexus_slug}/involvements/`."""

    model = TeamInvolvement
    serializer_class = InvolvementSerializer
    filterset_class = InvolvementFilter
    sync_field = "changed_at"  # the item's `updated_at`: every change of its involvement moves it
    sync_field_doc = "the item's `updated_at`"
    rules: ClassVar[dict[str, str]] = {"partial_update": perms.SQUARES, "move": perms.SQUARES}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def base_queryset(self) -> QuerySet[TeamInvolvement]:
        return TeamInvolvement.objects.filter(
            item__backlog__nexus=self.nexus, item__deleted_at__isnull=True
        ).annotate(changed_at=F("item__updated_at"))

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = InvolvementCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        # One team added under the item's lock: concurrent additions of other teams all land.
        involvement = involvement_add(
            item=data.validated_data["item"],
            team=data.validated_data["team"],
            status=data.validated_data["status"],
            actor=request.user,
            source=Source.API,
        )
        return Response(InvolvementSerializer(involvement).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        involvement = self.get_object()
        data = InvolvementStatusSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = square_set(
            involvement=involvement,
            status=data.validated_data["status"],
            actor=request.user,
            source=Source.API,
        )
        return self._square_response(result)

    @action(detail=True, methods=["post"])
    def move(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        involvement = self.get_object()
        expected = if_match_version(request)
        data = TeamMoveSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        result = team_item_move(
            item=involvement.item,
            team=involvement.team,
            to_column=data.validated_data["column"],
            actor=request.user,
            source=Source.API,
            expected_version=expected,
        )
        return self._square_response(result)

    def _square_response(self, result: SquareResult) -> Response:
        involvement = result.involvement
        involvement.changed_at = result.item.updated_at  # type: ignore[attr-defined]
        response = Response(InvolvementSerializer(involvement).data)
        if result.warnings:
            response[WARNING_HEADER] = " ".join(result.warnings)
        return response

    def perform_destroy(self, instance: TeamInvolvement) -> None:
        involvement_remove(involvement=instance, actor=self.request.user, source=Source.API)


@extend_schema_view(
    list=extend_schema(
        summary="The Nexus's transition log (read-only)",
        description="Every change of a PBI, one typed row each (`kind`: column, team status, Product "
        "Backlog position, team added or removed, blocked or unblocked, parent changed, split, deleted, "
        "restored; `source`: the door it came through), ordered by (at, "
        "id): `at` is when the change happened (imported history keeps its original times). With "
        "`updated_since`, the rows recorded at or after it (`recorded_at`: a history imported today has "
        "old `at` but a new `recorded_at`), in the sync order (recorded_at, id).",
    ),
    retrieve=extend_schema(summary="Get one transition"),
)
class TransitionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, NexusScopedViewSet):
    """`/api/v1/nexuses/{nexus_slug}/transitions/`."""

    model = Transition
    serializer_class = TransitionSerializer
    filterset_class = TransitionFilter
    sync_field = "recorded_at"

    def ordering_keys(self) -> list[tuple[str, str]]:
        # In the order of the changes, unless a sync client asks what was recorded since.
        return super().ordering_keys() if self.sync_requested() else [("at", "datetime"), ("id", "int")]

    def base_queryset(self) -> QuerySet[Transition]:
        return Transition.objects.filter(item__backlog__nexus=self.nexus).select_related("actor")
