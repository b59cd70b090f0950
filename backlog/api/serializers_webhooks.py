"""Serializers of outbound webhooks and their delivery log."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from backlog.models_api import Webhook, WebhookDelivery, WebhookEvent
from backlog.services.webhooks import webhook_event_types
from nexus_site.api.fields import (
    HttpUrlField,
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictSerializer,
)


class WebhookSerializer(serializers.ModelSerializer):
    """A URL that receives the Nexus's PBI events as signed JSON POSTs (`events`: the subscribed
    types). The secret is shown only when the webhook is created or its secret rotated."""

    events = serializers.ListField(child=serializers.CharField(), read_only=True, help_text="Event types")

    class Meta:
        model = Webhook
        fields = ["id", "url", "description", "events", "is_active", "created_at", "updated_at"]
        read_only_fields = fields


class WebhookSecretSerializer(WebhookSerializer):
    """A webhook with its signing `secret` (shown once: keep it in your receiver's configuration)."""

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookWriteSerializer(StrictSerializer):
    url = HttpUrlField(
        max_length=500,
        help_text="http:// or https:// URL; unless the server allows private targets, its host must "
        "resolve to a public address",
    )
    description = StrictCharField(max_length=200, allow_blank=True, required=False)
    events = serializers.ListField(
        child=StrictChoiceField(choices=WebhookEvent.choices),
        min_length=1,
        max_length=100,
        help_text="The event types to receive (`item.created`...; later capabilities add theirs)",
    )
    is_active = StrictBooleanField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The event types registered by now (`nexus_site.extensions`), not those at import time.
        events: Any = self.fields["events"]
        events.child.choices = webhook_event_types()


class DeliverySerializer(serializers.ModelSerializer):
    """One event sent (or to be sent) to a webhook: `status` pending/succeeded/failed, `attempts` so
    far, the last HTTP status or error, when the next retry is due, and the payload as sent."""

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "item_id",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "created_at",
            "delivered_at",
            "updated_at",
            "payload",
        ]
        read_only_fields = fields
