"""API views of a Nexus's outbound webhooks, their delivery log and their tombstones (Product Owner
only)."""

from __future__ import annotations

from typing import Any, ClassVar, cast

from django.contrib.auth.models import User
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from backlog.api.serializers_webhooks import (
    DeliverySerializer,
    WebhookSecretSerializer,
    WebhookSerializer,
    WebhookWriteSerializer,
)
from backlog.models_api import TombstoneKind, Webhook, WebhookDelivery
from backlog.services import webhooks
from nexus_site.api import permissions as perms
from nexus_site.api.base import (
    ID_REGEX,
    PAGE_PARAMS,
    NexusScopedViewSet,
    TombstonesMixin,
    UpdatedSinceFilter,
    tombstones_schema,
    updated_since_param,
)
from nexus_site.api.errors import FieldError

ALL_PO = dict.fromkeys(
    [
        "list",
        "retrieve",
        "create",
        "partial_update",
        "destroy",
        "rotate_secret",
        "deliveries",
        "redeliver",
        "deleted",
    ],
    perms.PRODUCT_OWNER,
)


@extend_schema_view(
    list=extend_schema(summary="List the Nexus's webhooks (Product Owner)"),
    retrieve=extend_schema(summary="Get a webhook (Product Owner)"),
    create=extend_schema(
        summary="Register a webhook (Product Owner)",
        description="The answer carries the signing `secret`, shown only now. Each subscribed event is "
        "POSTed as JSON `{id, event, occurred_at, nexus, item}` with `X-Nexus-Signature: t=<unix>,v1=<hex>` "
        '(HMAC-SHA256 of "<t>.<body>" with the secret). A 2xx answer within 10 s counts as delivered; '
        "otherwise it is retried with exponential back-off, up to 6 attempts.",
        request=WebhookWriteSerializer,
        responses={201: WebhookSecretSerializer},
        examples=[
            OpenApiExample(
                "All PBI events",
                request_only=True,
                value={
                    "url": "https://ci.example.org/hooks/nexus",
                    "events": [
                        "item.created",
                        "item.updated",
                        "item.moved",
                        "item.transitioned",
                        "item.deleted",
                    ],
                },
            )
        ],
    ),
    partial_update=extend_schema(
        summary="Change a webhook's URL, events, description or active flag (Product Owner)",
        request=WebhookWriteSerializer,
        responses={200: WebhookSerializer},
    ),
    destroy=extend_schema(
        summary="Delete a webhook and its delivery log (Product Owner)",
        description="The deletion leaves a tombstone (`webhooks/deleted/`).",
        responses={204: None},
    ),
    deleted=tombstones_schema("webhooks", role="Product Owner"),
)
class WebhookViewSet(
    TombstonesMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    NexusScopedViewSet,
):
    """`/api/v1/nexuses/{nexus_slug}/webhooks/`."""

    model = Webhook
    serializer_class = WebhookSerializer
    rules: ClassVar[dict[str, str]] = ALL_PO
    action_query_params: ClassVar[dict[str, tuple[str, ...]]] = {
        "deliveries": (UpdatedSinceFilter.param, *PAGE_PARAMS)
    }
    sync_field = "updated_at"
    tombstone_kind = TombstoneKind.WEBHOOK
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def base_queryset(self) -> QuerySet[Webhook]:
        return Webhook.objects.filter(nexus=self.nexus)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = WebhookWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values.pop("is_active", None)
        hook = webhooks.webhook_create(nexus=self.nexus, actor=cast(User, request.user), **values)
        return Response(WebhookSecretSerializer(hook).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        hook = self.get_object()
        data = WebhookWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        hook = webhooks.webhook_update(webhook=hook, **data.validated_data)
        return Response(WebhookSerializer(hook).data)

    def perform_destroy(self, instance: Webhook) -> None:
        webhooks.webhook_delete(webhook=instance)

    @extend_schema(
        summary="Give the webhook a new signing secret (Product Owner)",
        request=None,
        responses={200: WebhookSecretSerializer},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        hook = webhooks.webhook_rotate_secret(webhook=self.get_object())
        return Response(WebhookSecretSerializer(hook).data)

    @extend_schema(
        summary="The webhook's delivery log, newest first (Product Owner)",
        description="With `updated_since`, the deliveries created or changed (an attempt, its outcome, a "
        "redelivery) at or after it, in the sync order (updated_at, id).",
        parameters=[updated_since_param("updated_at")],
        responses={200: DeliverySerializer(many=True)},
        filters=False,
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def deliveries(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        hook = self.get_object()
        deliveries = self.updated_since(WebhookDelivery.objects.filter(webhook=hook), "updated_at")
        page = self.paginate_queryset(deliveries)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

    def ordering_keys(self) -> list[tuple[str, str]]:
        if self.action == "deliveries":
            return [("updated_at", "datetime"), ("id", "int")] if self.sync_requested() else [("-id", "int")]
        return super().ordering_keys()

    @extend_schema(
        summary="Send a delivery again now (Product Owner)",
        description="The same payload and delivery id (receivers de-duplicate on it), with a fresh budget of "
        "attempts.",
        request=None,
        parameters=[OpenApiParameter("delivery_id", int, OpenApiParameter.PATH)],
        responses={202: DeliverySerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=rf"deliveries/(?P<delivery_id>{ID_REGEX})/redeliver",
        filter_backends=[],
    )
    def redeliver(self, request: Request, *args: Any, delivery_id: str, **kwargs: Any) -> Response:
        delivery = WebhookDelivery.objects.filter(webhook=self.get_object(), pk=int(delivery_id)).first()
        if delivery is None:
            raise FieldError("delivery_id", "No such delivery of this webhook.", status_code=404)
        delivery = webhooks.webhook_redeliver(delivery=delivery)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
