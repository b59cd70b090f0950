"""API views of the Nexus's Definition of Workflow (`/api/v1/nexuses/{nexus_slug}/columns/`): every
member reads it; administrators add, change, move and delete columns (`backlog.services.workflow`);
deleted columns are listed in `columns/deleted/` for sync."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.request import Request
from rest_framework.response import Response

from backlog.api.serializers_structure import (
    WorkflowColumnCreateSerializer,
    WorkflowColumnSerializer,
    WorkflowColumnUpdateSerializer,
)
from backlog.models import WorkflowColumn
from backlog.models_api import TombstoneKind
from backlog.services import column_create, column_delete, column_update
from nexus_site.api import permissions as perms
from nexus_site.api.base import NexusScopedViewSet, TombstonesMixin, tombstones_schema
from nexus_site.api.schema import error

COLUMN_IN_USE = error(
    "The column is the started or finished one (they define Cycle Time), or PBIs (live or deleted) are "
    "in it, or the transition log names it: history is never lost. Nothing was deleted.",
    OpenApiExample(
        "Column with history",
        value={
            "status": 409,
            "code": "conflict",
            "message": "The transition log names 'Review': PBIs have passed through it, and deleting it "
            "would change their history and flow figures. Keep it (rename it, or give it no items).",
            "errors": [{"field": "id", "code": "conflict", "message": "..."}],
        },
        response_only=True,
        status_codes=["409"],
    ),
)
FIXED = (
    "`category`, `is_start` and `is_finish` are fixed once a column exists (the started and finished "
    "columns define Cycle Time and Work Item Age for the whole history): sending them is a 400 naming "
    "the field."
)
RECOMPUTE = "Every change recomputes the flow figures, and a new WIP limit applies from the next move."


@extend_schema_view(
    list=extend_schema(
        summary="List the Definition of Workflow's columns",
        description="Left to right by `position`; exactly one column is `is_start` (work counts as started) "
        "and one `is_finish` (finished). With `updated_since`, in the sync order (updated_at, id) "
        "instead: a move changes the `position` (and `updated_at`) of every column it shifts.",
    ),
    retrieve=extend_schema(summary="Get a column of the Definition of Workflow"),
    create=extend_schema(
        summary="Add a column to the Definition of Workflow (administrators)",
        description="At `position` (0-based; the columns from there on move one to the right). Without it, "
        "a `not_started` column goes just before the started column, an `in_progress` one just before "
        f"the finished column, a `done` one at the end. A new column is never the started or finished one. "
        f"At most 30 columns. {RECOMPUTE}",
        request=WorkflowColumnCreateSerializer,
        responses={201: WorkflowColumnSerializer},
    ),
    partial_update=extend_schema(
        summary="Change or move a column of the Definition of Workflow (administrators)",
        description="Send only what changes: `name` (unique in the Nexus; the transition log keeps the names "
        "columns had), `wip_limit` (null for none), `wip_limit_kind`, `is_ready`, or `position` (move the "
        "column there, 0-based; the columns in between shift by one and keep positions 0..n-1). The "
        f"started column must stay at or before the finished one (else 400 naming `position`). {FIXED} "
        f"{RECOMPUTE}",
        request=WorkflowColumnUpdateSerializer,
        responses={200: WorkflowColumnSerializer},
    ),
    destroy=extend_schema(
        summary="Delete a column of the Definition of Workflow (administrators)",
        description="Refused (409) for the started or finished column, and while any PBI (live or deleted) "
        "is in the column or the transition log names it. Otherwise the columns to its right move one to "
        "the left, the flow figures are recomputed and the deletion leaves a tombstone "
        "(`columns/deleted/`).",
        responses={204: None, 409: COLUMN_IN_USE},
    ),
    deleted=tombstones_schema("columns of the Definition of Workflow"),
)
class WorkflowColumnViewSet(
    TombstonesMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    NexusScopedViewSet,
):
    """`/api/v1/nexuses/{nexus_slug}/columns/`."""

    model = WorkflowColumn
    serializer_class = WorkflowColumnSerializer
    sync_field = "updated_at"
    tombstone_kind = TombstoneKind.COLUMN
    rules: ClassVar[dict[str, str]] = {
        "create": perms.WORKFLOW,
        "partial_update": perms.WORKFLOW,
        "destroy": perms.WORKFLOW,
    }
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def ordering_keys(self) -> list[tuple[str, str]]:
        # Left to right, unless a sync client asks what changed (a move changes `position`) or deleted.
        if self.action == "deleted" or self.sync_requested():
            return super().ordering_keys()
        return [("position", "int")]

    def base_queryset(self) -> QuerySet[WorkflowColumn]:
        return WorkflowColumn.objects.filter(nexus=self.nexus)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = WorkflowColumnCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        column = column_create(nexus=self.nexus, **data.validated_data)
        return Response(WorkflowColumnSerializer(column).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        column = self.get_object()
        data = WorkflowColumnUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(WorkflowColumnSerializer(column_update(column=column, **data.validated_data)).data)

    def perform_destroy(self, instance: WorkflowColumn) -> None:
        column_delete(column=instance)
