"""Base classes every API view builds on (and later capabilities reuse):

- `NexusScopedMixin`: views under `/api/v1/nexuses/{nexus_slug}/`; `self.nexus` is resolved with
  `nexus_get_for_user` (404 when invisible) and the action's rule is checked (`permissions`).
- `ApiViewSet` / `NexusScopedViewSet`: keyset pagination in a stable order (`ordering_keys`),
  `?updated_since=` on every list (`sync_field`), `Idempotency-Key` on POST, ids bounded to integers.
- `TombstonesMixin`: `GET {resource}/deleted/?since=`, the rows of the resource deleted since then
  (`tombstone_kind`; written by `backlog.services.tombstones`).

A read-only endpoint of another app (e.g. the flow figures) needs only:

    class FlowView(NexusScopedMixin, GenericAPIView):
        @extend_schema(responses={200: FlowSerializer})   # error responses are added by AutoSchema
        def get(self, request, nexus_slug): return Response(FlowSerializer(report(self.nexus)).data)
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property
from typing import Any, ClassVar

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail
from rest_framework.filters import BaseFilterBackend
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from backlog import selectors
from backlog.models import Nexus
from backlog.models_api import Tombstone
from nexus_site.api.errors import FieldError
from nexus_site.api.etag import etag, not_modified
from nexus_site.api.idempotency import IdempotencyMixin
from nexus_site.api.permissions import NexusRolePermission

ID_REGEX = r"[0-9]{1,18}"
#: The reason given for a query parameter sent without a value (`?column=`), by every endpoint.
BLANK_MESSAGE = "Give a value, or leave the parameter out."


def parse_timestamp(raw: str, field: str) -> datetime:
    """An ISO-8601 date-time from a query parameter (a naive one is UTC; a `+` that the query string
    turned into a space is restored). Raises a 400 naming `field`."""
    value = raw.strip()
    if len(value) > 10 and value[-6] == " ":
        value = value[:-6] + "+" + value[-5:]
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise FieldError(
            field, f"{raw[:40]!r} is not an ISO-8601 date-time; send e.g. 2025-01-31T09:30:00Z."
        ) from exc


class DeletedSerializer(serializers.ModelSerializer):
    """A deleted row (a tombstone), for sync clients: remove the row with this `id` from your copy."""

    id = serializers.IntegerField(source="object_id", read_only=True, help_text="The deleted row's id")

    class Meta:
        model = Tombstone
        fields = ["id", "deleted_at"]
        read_only_fields = fields


class UpdatedSinceFilter(BaseFilterBackend):
    """`?updated_since=<ISO-8601>` on every list: rows whose `view.sync_field` is at or after it (every
    resource a list returns has a modification time, which every write path moves forward)."""

    param = "updated_since"

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        raw = request.query_params.get(self.param)
        if raw is None:
            return queryset
        since = parse_timestamp(raw, self.param)
        return queryset.filter(**{f"{view.sync_field}__gte": since})

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        label = getattr(view, "sync_field_doc", None) or f"`{view.sync_field}`"
        return [
            {
                "name": self.param,
                "in": "query",
                "required": False,
                "description": (
                    f"Only rows changed at or after this time ({label} ≥ it, UTC), ordered by ({label}, id) "
                    "so that paging through `next` while others write misses nothing. A naive time is UTC."
                ),
                "schema": {"type": "string", "format": "date-time"},
                "example": "2025-01-31T09:30:00Z",
            }
        ]


def updated_since_param(field: str) -> OpenApiParameter:
    """The `?updated_since=` parameter of a sub-list (an action) that syncs on its rows' `field`."""
    return OpenApiParameter(
        UpdatedSinceFilter.param,
        OpenApiTypes.DATETIME,
        description=f"Only rows changed at or after this time (`{field}` ≥ it), ordered by ({field}, id) "
        "for a stable sync. A naive time is UTC.",
    )


class StrictFilterSet(django_filters.FilterSet):
    """A FilterSet whose parameters, when present, must have a value (`?column=` answers 400
    naming `column`, instead of silently meaning "no filter")."""

    def is_valid(self) -> bool:
        valid = bool(super().is_valid())
        for name in self.filters:
            if name in self.data and not self.data.get(name):
                self.form.add_error(name, ValidationError(BLANK_MESSAGE, code="blank"))
                valid = False
        return valid


#: The query parameters of a paginated sub-list (an action answering a page of rows).
PAGE_PARAMS = ("cursor", "page_size")
UNKNOWN_PARAMETER = "unknown_parameter"


#: The query parameters of a list of deletions (`deleted_since`, paged).
DELETED_PARAMS = ("since", "updated_since", *PAGE_PARAMS)


def deleted_since(rows: QuerySet[Any], request: Request) -> QuerySet[Any]:
    """The rows of a list of deletions (tombstones, soft-deleted PBIs) whose `deleted_at` is at or after
    `?since=` (alias `?updated_since=`; ISO-8601, a naive time is UTC), all without it. Raises a 400
    naming the parameter for a time that is not ISO-8601."""
    for name in ("since", UpdatedSinceFilter.param):
        raw = request.query_params.get(name)
        if raw is not None:
            rows = rows.filter(deleted_at__gte=parse_timestamp(raw, name))
    return rows


class StrictQueryMixin(GenericAPIView):
    """Refuses query parameters the operation does not take: `?colum=3` answers 400 naming `colum`
    instead of silently listing everything (a sync client with a typo would mirror the wrong rows).

    A `list` takes its filter backends' parameters (`updated_since`, the FilterSet's filters) and the
    pagination's (`cursor`, `page_size`); any action, `list` included, also takes those named in
    `action_query_params[action]` (for a view without actions, the key is the HTTP method, e.g. `get`).
    `tests/api/test_query_params.py` checks that these are exactly the parameters the OpenAPI
    document gives each operation."""

    action_query_params: ClassVar[dict[str, tuple[str, ...]]] = {}

    def query_params_allowed(self) -> set[str]:
        """The names of the query parameters this request's operation takes."""
        action = getattr(self, "action", None) or (self.request.method or "").lower()
        allowed = set(self.action_query_params.get(action, ()))
        if action == "list":
            for backend in self.filter_backends:
                if issubclass(backend, UpdatedSinceFilter):
                    allowed.add(UpdatedSinceFilter.param)
                elif issubclass(backend, DjangoFilterBackend):
                    filterset = getattr(self, "filterset_class", None)
                    allowed.update(filterset.base_filters if filterset else ())
            if self.pagination_class is not None:
                allowed.update(PAGE_PARAMS)
        return allowed

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """After authentication and permissions (a 401/403/404 comes first), a 400 listing every
        unknown query parameter, each named in `field` with the code `unknown_parameter`."""
        super().initial(request, *args, **kwargs)
        unknown = [name for name in request.query_params if name not in self.query_params_allowed()]
        if unknown:
            takes = ", ".join(f"`{n}`" for n in sorted(self.query_params_allowed())) or "none"
            message = f"Unknown query parameter; this operation takes: {takes}."
            raise exceptions.ValidationError(
                {name[:100]: [ErrorDetail(message, UNKNOWN_PARAMETER)] for name in unknown}
            )


class NexusScopedMixin(StrictQueryMixin):
    """A view under `/api/v1/nexuses/{nexus_slug}/`. `rules` maps actions to permission rules
    (`nexus_site.api.permissions`); `self.nexus` is the Nexus, if the user may see it (else 404)."""

    nexus_url_kwarg = "nexus_slug"
    permission_classes = [NexusRolePermission]
    rules: ClassVar[dict[str, str]] = {}

    @cached_property
    def nexus(self) -> Nexus:
        return selectors.nexus_get_for_user(user=self.request.user, slug=self.kwargs[self.nexus_url_kwarg])


class ApiViewSet(IdempotencyMixin, StrictQueryMixin, viewsets.GenericViewSet):
    """Base viewset: keyset pagination in `ordering_keys()`, `?updated_since=` on `sync_field`,
    `Idempotency-Key` on POST, integer ids."""

    permission_classes = [IsAuthenticated]
    filter_backends = [UpdatedSinceFilter, DjangoFilterBackend]
    lookup_field = "id"
    lookup_value_regex = ID_REGEX
    #: The modification time `?updated_since=` filters on, and the first key of the sync order: every
    #: viewset names one (a model field such as `updated_at`, or an annotation of `base_queryset`).
    sync_field: ClassVar[str]
    #: How the API docs name `sync_field` when it is not a field of the response (else `` `sync_field` ``).
    sync_field_doc: ClassVar[str | None] = None
    model: ClassVar[type[Model]]

    def ordering_keys(self) -> list[tuple[str, str]]:
        """The keyset order of lists: `[(field, "datetime"|"int"), ...]`, the last one unique. By
        default the sync order `(sync_field, id)`."""
        return [(self.sync_field, "datetime"), ("id", "int")]

    def sync_requested(self) -> bool:
        """Whether this request asks for the sync order (it filters with `?updated_since=`)."""
        return UpdatedSinceFilter.param in self.request.query_params

    def base_queryset(self) -> QuerySet[Any]:
        return self.model._default_manager.all()

    def updated_since(self, queryset: QuerySet[Any], field: str) -> QuerySet[Any]:
        """`?updated_since=` on a sub-list (an action) whose rows change at `field`; order it with
        `[(field, "datetime"), ("id", "int")]` when `sync_requested()`. Raises a 400 naming the
        parameter for a bad time."""
        raw = self.request.query_params.get(UpdatedSinceFilter.param)
        if raw is None:
            return queryset
        return queryset.filter(**{f"{field}__gte": parse_timestamp(raw, UpdatedSinceFilter.param)})

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return self.model._default_manager.none()
        return self.base_queryset()


class NexusScopedViewSet(NexusScopedMixin, ApiViewSet):
    """Base viewset for resources of one Nexus."""

    permission_classes = [NexusRolePermission]

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "view": self}


#: The query parameters of every `deleted/` list (as on `items/deleted/`).
DELETED_SINCE = [
    OpenApiParameter(
        "since",
        OpenApiTypes.DATETIME,
        description="Only rows deleted at or after this time (ISO-8601; a naive time is UTC), ordered by "
        "(deleted_at, id). Without it, every deletion the Nexus has kept.",
    ),
    OpenApiParameter("updated_since", OpenApiTypes.DATETIME, description="Alias of `since`."),
]


def tombstones_schema(plural: str, note: str = "", *, role: str = "") -> Any:
    """The documentation of a resource's `deleted/` list (`extend_schema_view(deleted=...)`): `plural`
    names the rows ("Scrum Teams", "flow settings"); `note` says what else deletes them (cascades, the
    admin); `role` who may read the list when not every member may ("Product Owner")."""
    who = f" ({role})" if role else ""
    return extend_schema(
        summary=f"Deleted {plural} (tombstones) for sync{who}",
        description=f"{plural[:1].upper()}{plural[1:]} deleted at or after `since` (all without it), ordered "
        f"by (deleted_at, id); `id` is the deleted row's id: remove it from your copy. {note}".strip(),
    )


class VersionedReadMixin(mixins.ListModelMixin):
    """The reads of a versioned resource (rows with a `version`): the list (DRF's, in the viewset's
    keyset pages, rendered by `serializer_class`) and `retrieve` answering `If-None-Match` with an
    empty 304 while the row's `version` is the one named, else 200 with the row and its `ETag`
    (`nexus_site.api.etag`; the writes check `If-Match` against the same version)."""

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        row = self.get_object()  # type: ignore[attr-defined]
        if (current := not_modified(request, row.version)) is not None:
            return current
        return Response(self.get_serializer(row).data, headers={"ETag": etag(row.version)})  # type: ignore[attr-defined]


class HistoryOrderingMixin:
    """The keyset order of a resource that keeps a typed history (a `history/` action) and tombstones:
    its list by `id` (the order rows were created), by `(sync_field, id)` when a client syncs
    (`?updated_since=`), its history rows by `(at, id)`, its tombstones by `TombstonesMixin`'s order.
    Put it before `TombstonesMixin` among the bases."""

    def ordering_keys(self) -> list[tuple[str, str]]:
        action = getattr(self, "action", None)
        if action == "deleted":
            return super().ordering_keys()  # type: ignore[misc]
        if action == "history":
            return [("at", "datetime"), ("id", "int")]
        if self.sync_requested():  # type: ignore[attr-defined]
            return [(self.sync_field, "datetime"), ("id", "int")]  # type: ignore[attr-defined]
        return [("id", "int")]


class TombstonesMixin(NexusScopedViewSet):
    """Adds `GET {resource}/deleted/?since=<ISO-8601>` (alias `updated_since`): the resource's rows of
    this Nexus deleted at or after that time, as `{"next", "results": [{"id", "deleted_at"}]}`, keyset
    pages in the order (deleted_at, id). `id` is the deleted row's id. A bad time answers 400 naming
    the parameter. `tombstone_kind` is the `TombstoneKind` the resource's deletions leave
    (`backlog.services.tombstones`). Permission: the viewset's rule for `deleted` (by default `view`).

    Put it first among the bases: `class TeamViewSet(TombstonesMixin, mixins.ListModelMixin, ...)`;
    a viewset that overrides `ordering_keys` leaves the `deleted` action to `super()` (see the labels).
    Tombstones are kept as long as the Nexus (they are small; a client may sync after months).
    """

    tombstone_kind: ClassVar[str]

    def ordering_keys(self) -> list[tuple[str, str]]:
        if self.action == "deleted":
            return [("deleted_at", "datetime"), ("id", "int")]
        return super().ordering_keys()

    def query_params_allowed(self) -> set[str]:
        if self.action == "deleted":
            return set(DELETED_PARAMS)
        return super().query_params_allowed()

    @extend_schema(parameters=DELETED_SINCE, responses={200: DeletedSerializer(many=True)}, filters=False)
    @action(detail=False, methods=["get"], filter_backends=[])
    def deleted(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The tombstones of this resource in this Nexus (see the class)."""
        rows = deleted_since(
            Tombstone.objects.filter(nexus_id=self.nexus.pk, kind=self.tombstone_kind), request
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(DeletedSerializer(page, many=True).data)
