"""REST resource of the dependencies between PBIs: `/api/v1/nexuses/{nexus_slug}/dependencies/`.

Built like the other resources on `nexus_site.api`: keyset pages, `?updated_since=`, tombstones
(`dependencies/deleted/`: removed dependencies), `ETag`/`If-Match` from `version`, `Idempotency-Key` on
POST, examples in the OpenAPI document. Every member reads; members other than Stakeholders add (rule
`create_items`); the Product Owner, the Nexus Integration Team and the Developers of a team on either
PBI resolve, remove and reopen (rule `edit_items`, then the service's per-dependency check: 403). Every
write goes through `backlog.services.dependencies`.

- `dependencies/`: list (open and resolved; `?status=removed` for the removed ones), create;
- `dependencies/{id}/`: get, PATCH `{"status": "resolved" | "removed" | "open"}`, DELETE (= removed);
- `dependencies/deleted/`: the removed ones since a time, for sync.
"""

from __future__ import annotations

from typing import Any, ClassVar

import django_filters
from django.db.models import Q, QuerySet
from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from backlog.api.serializers_dependencies import (
    DependencyCreateSerializer,
    DependencySerializer,
    DependencyUpdateSerializer,
)
from backlog.models import Dependency, DependencyKind, DependencyStatus, ProductBacklogItem, Source
from backlog.services.dependencies import (
    DEPENDENCY_TOMBSTONE,
    dependency_create,
    dependency_remove,
    dependency_set_status,
)
from nexus_site.api import permissions as perms
from nexus_site.api.base import NexusScopedViewSet, StrictFilterSet, TombstonesMixin, tombstones_schema
from nexus_site.api.etag import etag, if_match_version, not_modified
from nexus_site.api.schema import ETAG_HEADER, IF_MATCH, IF_NONE_MATCH, PRECONDITION_EXAMPLE, error

PRECONDITION = error(
    "`If-Match` names another version than the dependency's (see `current_version`).", PRECONDITION_EXAMPLE
)
CONFLICT = error(
    "The same dependency exists (open or resolved), or the edge would close a cycle (`depends_on`); a "
    "reopen whose PBI is deleted or whose pair is live again (`status`).",
    OpenApiExample(
        "Cycle",
        value={
            "status": 409,
            "code": "conflict",
            "message": "That would close a cycle of dependencies (#12 → #7 → #12): a PBI would wait on "
            "itself. Resolve or remove one of them, or re-slice the work.",
            "errors": [{"field": "depends_on", "code": "conflict", "message": "..."}],
        },
        response_only=True,
        status_codes=["409"],
    ),
)
WHO_CHANGES = (
    "The Product Owner, the Nexus Integration Team and the Developers of a Scrum Team forecast on either "
    "PBI (403 otherwise)."
)


def _nexus_items(request: Any) -> QuerySet[ProductBacklogItem]:
    if request is None:
        return ProductBacklogItem.objects.none()
    return ProductBacklogItem.objects.filter(backlog__nexus=request.parser_context["view"].nexus)


class DependencyFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(
        choices=DependencyStatus.choices,
        help_text="Only this status (default: open and resolved; removed ones only when asked)",
    )
    kind = django_filters.ChoiceFilter(choices=DependencyKind.choices, help_text="Only this kind")
    item = django_filters.ModelChoiceFilter(
        queryset=_nexus_items,
        method="either_side",
        help_text="Dependencies with this PBI on either side (id)",
    )

    class Meta:
        model = Dependency
        fields = ["status", "kind", "item"]

    def either_side(self, queryset: QuerySet[Dependency], name: str, value: Any) -> QuerySet[Dependency]:
        return queryset.filter(Q(item=value) | Q(depends_on=value))


@extend_schema_view(
    list=extend_schema(
        summary="List the dependencies between PBIs",
        description="Open and resolved ones by default (`?status=removed` for the removed ones, which "
        "`dependencies/deleted/` also lists for sync), by id; with `updated_since`, in the sync order "
        "(updated_at, id). Each names the Scrum Teams on either side (their squares).",
    ),
    retrieve=extend_schema(
        summary="Get a dependency (with its ETag)",
        parameters=[IF_NONE_MATCH, ETAG_HEADER],
        responses={200: DependencySerializer, 304: OpenApiResponse(description="Your copy is current.")},
    ),
    create=extend_schema(
        summary="Add a dependency between two PBIs (members other than Stakeholders)",
        description="Found now by you at the Nexus event `found_at`. Refused (400 naming the field): on "
        "itself, a PBI of another Nexus or deleted; (409 naming `depends_on`) a duplicate, or an edge that "
        "closes a cycle of open `depends_on` dependencies (checked under a per-Nexus lock).",
        request=DependencyCreateSerializer,
        responses={201: DependencySerializer, 409: CONFLICT},
        parameters=[ETAG_HEADER],
        examples=[
            OpenApiExample(
                "Found at Cross-Team Refinement",
                request_only=True,
                value={"item": 4711, "depends_on": 4702, "kind": "depends_on", "found_at": "refinement"},
            ),
            OpenApiExample(
                "Two PBIs that must integrate together",
                request_only=True,
                value={"item": 4711, "depends_on": 4790, "kind": "integrates_with", "note": "Same API"},
            ),
        ],
    ),
    partial_update=extend_schema(
        summary="Resolve, remove or reopen a dependency",
        description="`status`: resolved, removed (leaves a tombstone) or open (reopen: checked for "
        f"cycles and duplicates, 409). With `If-Match`, refused (412) if it changed since you read it. "
        f"{WHO_CHANGES}",
        request=DependencyUpdateSerializer,
        responses={200: DependencySerializer, 409: CONFLICT, 412: PRECONDITION},
        parameters=[IF_MATCH, ETAG_HEADER],
        examples=[
            OpenApiExample(
                "Resolved at the Nexus Daily Scrum",
                request_only=True,
                value={"status": "resolved", "event": "daily_scrum"},
            ),
            OpenApiExample(
                "Re-sliced away", request_only=True, value={"status": "removed", "reason": "Split by team"}
            ),
        ],
    ),
    destroy=extend_schema(
        summary="Remove a dependency",
        description=f'The same as `PATCH {{"status": "removed"}}`: kept in the log, listed in '
        f"`dependencies/deleted/`. {WHO_CHANGES}",
        parameters=[IF_MATCH],
        responses={204: None, 412: PRECONDITION},
    ),
    deleted=tombstones_schema(
        "dependencies", "A dependency is removed by `DELETE`, `PATCH` to `removed`, a split or a deleted PBI."
    ),
)
class DependencyViewSet(TombstonesMixin, NexusScopedViewSet):
    """`/api/v1/nexuses/{nexus_slug}/dependencies/`."""

    model = Dependency
    serializer_class = DependencySerializer
    filterset_class = DependencyFilter
    sync_field = "updated_at"
    tombstone_kind = DEPENDENCY_TOMBSTONE
    rules: ClassVar[dict[str, str]] = {
        "create": perms.CREATE_ITEMS,
        "partial_update": perms.EDIT_ITEMS,
        "destroy": perms.EDIT_ITEMS,
    }
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def ordering_keys(self) -> list[tuple[str, str]]:
        if self.action == "deleted" or self.sync_requested():
            return super().ordering_keys()
        return [("id", "int")]

    def base_queryset(self) -> QuerySet[Dependency]:
        return (
            Dependency.objects.filter(nexus=self.nexus)
            .select_related("found_by")
            .prefetch_related("item__involvements", "depends_on__involvements")
        )

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        queryset = super().filter_queryset(queryset)
        if self.action == "list" and "status" not in self.request.query_params:
            queryset = queryset.exclude(status=DependencyStatus.REMOVED)
        return queryset

    def _response(self, dependency: Dependency, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.base_queryset().get(pk=dependency.pk)
        response = Response(
            DependencySerializer(fresh).data, status=code, headers={"ETag": etag(fresh.version)}
        )
        if code == status.HTTP_201_CREATED:
            response["Location"] = self.request.build_absolute_uri(
                reverse("api:dependency-detail", args=[self.nexus.slug, fresh.pk])
            )
        return response

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(DependencySerializer(page, many=True).data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        dependency = self.get_object()
        if (current := not_modified(request, dependency.version)) is not None:
            return current
        return Response(DependencySerializer(dependency).data, headers={"ETag": etag(dependency.version)})

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = DependencyCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        values = data.validated_data
        dependency = dependency_create(
            item=values["item"],
            depends_on=values["depends_on"],
            kind=values["kind"],
            found_at=values["found_at"],
            note=values["note"],
            actor=request.user,
            source=Source.API,
        )
        return self._response(dependency, status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        dependency = self.get_object()
        expected = if_match_version(request)
        data = DependencyUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if "status" not in values:  # nothing to change (PATCH sends only what changes)
            return self._response(dependency)
        dependency = dependency_set_status(
            dependency=dependency,
            status=values["status"],
            event=values.get("event", ""),
            reason=values["reason"],
            actor=request.user,
            source=Source.API,
            expected_version=expected,
        )
        return self._response(dependency)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        dependency = self.get_object()
        dependency_remove(
            dependency=dependency,
            actor=request.user,
            source=Source.API,
            expected_version=if_match_version(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
