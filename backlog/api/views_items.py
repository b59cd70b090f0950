"""API views of Product Backlog Items: list (Product Backlog order, or sync order with
`updated_since`), CRUD with ETags, move, transition, upsert by external id, bulk upsert, tombstones and
the item's transition log. Every write calls the services (`backlog.services`, `.sync`)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import QuerySet, Subquery
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from backlog.api.filters import ItemFilter
from backlog.api.serializers_items import (
    BulkResultSerializer,
    BulkUpsertSerializer,
    ItemCreateSerializer,
    ItemSerializer,
    ItemWriteSerializer,
    MoveResultSerializer,
    MoveSerializer,
    TombstoneSerializer,
    TransitionRequestSerializer,
    TransitionSerializer,
    UpsertItemSerializer,
    item_changes,
    item_data,
    items_data,
    items_queryset,
)
from backlog.models import (
    ProductBacklog,
    ProductBacklogItem,
    Source,
    Transition,
)
from backlog.services import ItemChanges, WriteResult, pbi_create, pbi_delete, pbi_move, pbi_update
from backlog.services.bulk import BulkItemError, BulkUpsertFailed, pbi_bulk_upsert
from backlog.services.sync import pbi_upsert
from nexus_site.api import permissions as perms
from nexus_site.api.base import (
    DELETED_PARAMS,
    PAGE_PARAMS,
    NexusScopedViewSet,
    UpdatedSinceFilter,
    deleted_since,
    updated_since_param,
)
from nexus_site.api.errors import FieldError, flatten
from nexus_site.api.etag import etag, if_match_version, not_modified
from nexus_site.api.schema import (
    ETAG_HEADER,
    IF_MATCH,
    error,
    precondition,
    retrieve_with_etag,
)

WARNING_HEADER = "X-Nexus-Warning"


ORDER_PARAM = OpenApiParameter(
    "order",
    str,
    enum=["rank", "updated"],
    description="`rank`: Product Backlog order (the default without `updated_since`); `updated`: "
    "(updated_at, id), the sync order (the default with `updated_since`).",
)
SINCE_PARAM = OpenApiParameter(
    "since", str, description="Items deleted at or after this ISO-8601 time (alias: `updated_since`)."
)
WIP_CONFLICT = error(
    "A hard WIP limit of the target column is reached (`field`: `column`), or the item was deleted.",
    OpenApiExample(
        "WIP limit",
        value={
            "status": 409,
            "code": "conflict",
            "message": "'Review' is at its WIP limit (3 of 3). Finish something there first.",
            "errors": [{"field": "column", "code": "conflict", "message": "..."}],
        },
        response_only=True,
        status_codes=["409"],
    ),
)
PRECONDITION = precondition("the item")
ITEM_EXAMPLE = OpenApiExample(
    "A PBI",
    request_only=True,
    value={
        "title": "Pay by invoice",
        "description": "As a business customer I pay by invoice.",
        "labels": ["checkout"],
        "size": 5,
        "class_of_service": "standard",
        "teams": [1, 2],
        "external_id": "JIRA-1234",
    },
)
WRITE_HEADERS = [
    ETAG_HEADER,
    OpenApiParameter(
        WARNING_HEADER,
        str,
        OpenApiParameter.HEADER,
        response=[200, 201],
        description="A soft WIP limit was reached by this change (for a person).",
    ),
]


@extend_schema_view(
    list=extend_schema(
        summary="List PBIs (Product Backlog order, or the sync order with updated_since)",
        description="Live items of the Nexus (finished ones too; `open=true` for the Product Backlog "
        "proper). Deleted items are in `items/deleted/`.",
        parameters=[ORDER_PARAM],
    ),
    retrieve=retrieve_with_etag("a PBI", ItemSerializer),
    create=extend_schema(
        summary="Create a PBI",
        description="At the bottom of the Product Backlog unless `position` is `top` or `after` names the "
        "item it goes directly below; in the first column unless `column` says. Send `Idempotency-Key` to "
        "retry safely.",
        request=ItemCreateSerializer,
        responses={201: ItemSerializer},
        parameters=WRITE_HEADERS,
        examples=[ITEM_EXAMPLE],
    ),
    partial_update=extend_schema(
        summary="Change a PBI (send only what changes)",
        description="With `If-Match` the change is refused (412) if someone changed the item since you read "
        "it; **without `If-Match` it applies to the current version**. `column` moves it through the "
        "Definition of Workflow (logged; a full hard WIP limit answers 409).",
        request=ItemWriteSerializer,
        responses={200: ItemSerializer, 409: WIP_CONFLICT, 412: PRECONDITION},
        parameters=[IF_MATCH, *WRITE_HEADERS],
        examples=[OpenApiExample("Rename", request_only=True, value={"title": "Pay by invoice (B2B)"})],
    ),
    destroy=extend_schema(
        summary="Delete a PBI (soft: it becomes a tombstone)",
        parameters=[IF_MATCH],
        responses={204: None, 412: PRECONDITION},
    ),
)
class ItemViewSet(NexusScopedViewSet):
    """`/api/v1/nexuses/{nexus_slug}/items/`."""

    model = ProductBacklogItem
    serializer_class = ItemSerializer
    filterset_class = ItemFilter
    sync_field = "updated_at"
    #: Adding items (`create`, and the upserts, which may create) needs `selectors.can_create_items`;
    #: ordering needs the Product Owner; other writes `edit_items`.
    rules: ClassVar[dict[str, str]] = {
        "move": perms.PRODUCT_OWNER,
        "create": perms.CREATE_ITEMS,
        "upsert": perms.CREATE_ITEMS,
        "bulk": perms.CREATE_ITEMS,
    }
    action_query_params: ClassVar[dict[str, tuple[str, ...]]] = {
        "list": ("order",),
        "transitions": (UpdatedSinceFilter.param, *PAGE_PARAMS),
        "deleted": DELETED_PARAMS,
    }
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def base_queryset(self) -> QuerySet[ProductBacklogItem]:
        # By backlog id (a subquery, no extra round trip): the (backlog, rank) and (backlog, updated_at,
        # id) indexes then serve the list orders directly.
        backlog_id = Subquery(ProductBacklog.objects.filter(nexus=self.nexus).values("pk")[:1])
        items = items_queryset(backlog_id)
        # A move needs only which item (the service reads it again under the backlog's lock).
        return items.only("id", "backlog_id") if self.action == "move" else items

    def ordering_keys(self) -> list[tuple[str, str]]:
        if self.action == "deleted":
            return [("deleted_at", "datetime"), ("id", "int")]
        if self.action == "transitions":
            if self.sync_requested():
                return [("recorded_at", "datetime"), ("id", "int")]
            return [("at", "datetime"), ("id", "int")]
        order = self.request.query_params.get("order")
        if order not in (None, "rank", "updated"):
            raise FieldError("order", "Order by `rank` (Product Backlog order) or `updated` (sync order).")
        if order == "updated" or (order is None and self.sync_requested()):
            return [("updated_at", "datetime"), ("id", "int")]
        return [("rank", "int")]

    # --- helpers -------------------------------------------------------------------------------------

    def _item_response(self, item: ProductBacklogItem, *, code: int = 200, warnings: Any = ()) -> Response:
        response = Response(item_data(item), status=code)
        response["ETag"] = etag(item.version)
        if code == status.HTTP_201_CREATED:
            response["Location"] = self.request.build_absolute_uri(
                reverse("api:item-detail", args=[self.nexus.slug, item.pk])
            )
        if warnings:
            response[WARNING_HEADER] = " ".join(warnings)
        return response

    def _result_response(self, result: WriteResult) -> Response:
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return self._item_response(result.item, code=code, warnings=result.warnings)

    # --- CRUD ----------------------------------------------------------------------------------------

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(items_data(page or []))

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        item = self.get_object()
        if (current := not_modified(request, item.version)) is not None:
            return current
        response = Response(item_data(item))
        response["ETag"] = etag(item.version)
        return response

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = ItemCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        changes = data.changes()
        fields = dict(changes.fields)
        title = fields.pop("title")
        item = pbi_create(
            nexus=self.nexus,
            title=title,
            actor=request.user,
            source=Source.API,
            position=data.validated_data.get("position", "bottom"),
            after=data.validated_data.get("after"),
            column=changes.column,
            labels=changes.labels or (),
            teams=changes.teams or (),
            **fields,
        )
        return self._item_response(item, code=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        item = self.get_object()
        expected = if_match_version(request)
        data = ItemWriteSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        result = pbi_update(
            item=item,
            changes=data.changes(),
            actor=request.user,
            expected_version=expected,
            source=Source.API,
        )
        return self._result_response(result)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        item = self.get_object()
        pbi_delete(
            item=item, actor=request.user, source=Source.API, expected_version=if_match_version(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    # --- actions -------------------------------------------------------------------------------------

    @extend_schema(
        summary="Move a PBI in the Product Backlog order, with its children (Product Owner)",
        description="One placement, as on the backlog page: `before` (directly above that item) and/or "
        "`after` (directly below it; a drop between two rows names both), or `position` (1-based among the "
        "open items; past the end is the bottom), or `top: true`, or `bottom: true`. The item's children "
        "that directly follow it move along (`carried`). If `before` and `after` are no longer adjacent "
        "(your view was stale) the move still succeeds relative to `before` and `stale` is true. With "
        "`If-Match` the move is refused (412) if someone changed the item since you read it. No placement "
        "or several, a finished or deleted item, an item next to itself or among its own children, or a "
        "neighbour of another Nexus: 400 naming `before`/`after`/`position`/`top`/`bottom`/`item`.",
        request=MoveSerializer,
        responses={200: MoveResultSerializer, 412: PRECONDITION},
        parameters=[IF_MATCH],
        examples=[
            OpenApiExample("Between two rows", request_only=True, value={"after": 12, "before": 40}),
            OpenApiExample("Above an item", request_only=True, value={"before": 7}),
            OpenApiExample("To a position", request_only=True, value={"position": 3}),
            OpenApiExample("To the top", request_only=True, value={"top": True}),
            OpenApiExample("To the bottom", request_only=True, value={"bottom": True}),
        ],
    )
    @action(detail=True, methods=["post"])
    def move(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        item = self.get_object()
        expected = if_match_version(request)
        data = MoveSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        result = pbi_move(
            item=item,
            actor=request.user,
            source=Source.API,
            expected_version=expected,
            **data.placement(),
        )
        body = {
            "item": item_data(result.item),
            "from_position": result.from_position,
            "to_position": result.to_position,
            "stale": result.stale,
            "renumbered": result.renumbered,
            "carried": result.carried,
            "before": result.before_id,
            "after": result.after_id,
        }
        return Response(body)

    @extend_schema(
        summary="Move a PBI to another column of the Definition of Workflow",
        description="Logged in the transition log (source `api`). A full hard WIP limit answers 409 with the "
        "reason; a full soft one succeeds with `X-Nexus-Warning`. Moving to its current column changes "
        "nothing.",
        request=TransitionRequestSerializer,
        responses={200: ItemSerializer, 409: WIP_CONFLICT, 412: PRECONDITION},
        parameters=[IF_MATCH, *WRITE_HEADERS],
        examples=[OpenApiExample("To a column", request_only=True, value={"column": 3})],
    )
    @action(detail=True, methods=["post"])
    def transition(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        item = self.get_object()
        expected = if_match_version(request)
        data = TransitionRequestSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        changes = ItemChanges(column=data.validated_data["column"])
        result = pbi_update(
            item=item, changes=changes, actor=request.user, expected_version=expected, source=Source.API
        )
        return self._result_response(result)

    @extend_schema(
        summary="The PBI's transition log (read-only)",
        description="Column changes, team status changes and moves of this item, oldest first. With "
        "`updated_since`, those recorded at or after it (`recorded_at`), in the sync order "
        "(recorded_at, id).",
        parameters=[updated_since_param("recorded_at")],
        responses={200: TransitionSerializer(many=True)},
        filters=False,
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def transitions(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        item = self.get_object()
        qs = self.updated_since(Transition.objects.filter(item=item).select_related("actor"), "recorded_at")
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(TransitionSerializer(page, many=True).data)

    @extend_schema(
        summary="Deleted PBIs (tombstones) for sync",
        description="Items deleted at or after `since` (all without it), ordered by (deleted_at, id). Remove "
        "them from your copy.",
        parameters=[SINCE_PARAM, OpenApiParameter("updated_since", str, description="Alias of `since`.")],
        responses={200: TombstoneSerializer(many=True)},
        filters=False,
    )
    @action(detail=False, methods=["get"], filter_backends=[])
    def deleted(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        qs = ProductBacklogItem.objects.filter(backlog__nexus=self.nexus, deleted_at__isnull=False)
        page = self.paginate_queryset(deleted_since(qs, request))
        return self.get_paginated_response(TombstoneSerializer(page, many=True).data)

    @extend_schema(
        summary="Get the PBI with this external id",
        parameters=[ETAG_HEADER],
        responses={200: ItemSerializer},
    )
    @action(
        detail=False,
        methods=["get"],
        url_path=r"by-external-id/(?P<external_id>[^/]{1,100})",
        filter_backends=[],
        pagination_class=None,
    )
    def by_external_id(self, request: Request, *args: Any, external_id: str, **kwargs: Any) -> Response:
        if "\x00" in external_id:
            raise FieldError("external_id", "An external id cannot contain NUL characters.")
        item = self.base_queryset().filter(external_id=external_id).first()
        if item is None:
            raise FieldError("external_id", "No live item has this external id.", status_code=404)
        response = Response(item_data(item))
        response["ETag"] = etag(item.version)
        return response

    @extend_schema(
        summary="Create or update the PBI with this external id (upsert)",
        description="Creates the item (201, `title` needed) or changes the fields you send (200); re-sending "
        "the same data changes nothing, so a retry is safe. `If-Match` as for PATCH (412 also when the item "
        "does not exist). A deleted item is not recreated (409). The path's external id is URL-encoded; a "
        "body `external_id`, if sent, must equal it. Needs the right to add items (every member but "
        "Stakeholders), since it may create one.",
        request=UpsertItemSerializer,
        responses={200: ItemSerializer, 201: ItemSerializer, 409: WIP_CONFLICT, 412: PRECONDITION},
        parameters=[IF_MATCH, *WRITE_HEADERS],
        examples=[ITEM_EXAMPLE],
    )
    @by_external_id.mapping.put
    def upsert(self, request: Request, *args: Any, external_id: str, **kwargs: Any) -> Response:
        if "\x00" in external_id:
            raise FieldError("external_id", "An external id cannot contain NUL characters.")
        expected = if_match_version(request)
        data = UpsertItemSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        changes = data.changes()
        body_ext = changes.fields.get("external_id")
        if body_ext is not None and body_ext.strip() != external_id.strip():
            raise FieldError("external_id", "The body's external_id differs from the one in the path.")
        result = pbi_upsert(
            nexus=self.nexus,
            external_id=external_id,
            changes=changes,
            actor=request.user,
            expected_version=expected,
        )
        return self._result_response(result)

    @extend_schema(
        summary="Bulk upsert up to 1,000 PBIs, all or nothing",
        description="Each entry is upserted by its `external_id` as in `PUT by-external-id`. If any entry is "
        "refused, nothing is written and the 400 lists every refused entry with its `index` and "
        "`external_id`. New items are appended in request order.",
        request=BulkUpsertSerializer,
        responses={200: BulkResultSerializer},
        examples=[
            OpenApiExample(
                "Two items",
                request_only=True,
                value={
                    "items": [
                        {"external_id": "JIRA-1", "title": "Pay by invoice", "labels": ["checkout"]},
                        {
                            "external_id": "JIRA-2",
                            "title": "Refunds",
                            "is_blocked": True,
                            "blocked_reason": "Legal",
                        },
                    ]
                },
            ),
            OpenApiExample(
                "Refused",
                response_only=True,
                status_codes=["400"],
                value={
                    "status": 400,
                    "code": "invalid",
                    "message": "1 of the items were refused; nothing was written.",
                    "errors": [
                        {
                            "index": 1,
                            "external_id": "JIRA-2",
                            "field": "title",
                            "code": "invalid",
                            "message": "A new Product Backlog Item needs a title.",
                        }
                    ],
                },
            ),
        ],
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def bulk(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = BulkUpsertSerializer(data=request.data, context=self.get_serializer_context())
        try:
            data.is_valid(raise_exception=True)
        except ValidationError as exc:
            raise _per_item(exc, request.data) from exc
        entries = [(entry["external_id"], item_changes(entry)) for entry in data.validated_data["items"]]
        result = pbi_bulk_upsert(nexus=self.nexus, entries=entries, actor=request.user)
        items = [
            {
                "id": r.item.pk,
                "external_id": r.item.external_id,
                "version": r.item.version,
                "created": r.created,
            }
            for r in result.results
        ]
        body = {
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "items": items,
        }
        return Response(body)


def _per_item(exc: ValidationError, data: Any) -> Exception:
    """A bulk request's validation errors as `BulkUpsertFailed` (per entry: index, external id)."""
    detail: Any = exc.detail
    entries = detail.get("items") if isinstance(detail, dict) else None
    if not isinstance(entries, dict) or set(detail) != {"items"}:
        return exc
    raw = data.get("items") if isinstance(data, dict) else None
    errors = []
    for index, entry_errors in sorted(entries.items()):
        ext = ""
        if isinstance(raw, list) and isinstance(raw[index], dict):
            ext = str(raw[index].get("external_id", ""))[:100]
        for e in flatten(entry_errors):
            errors.append(BulkItemError(index, ext, e["field"], e["message"]))
    return BulkUpsertFailed(errors) if errors else exc
