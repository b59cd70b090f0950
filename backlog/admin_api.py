"""Admin of the REST API's models, read-only: tokens are created and revoked by their owners (the "API
tokens" page or `manage.py api_token`), webhooks by the Product Owner on the webhooks page; the admin
shows them for support. A token's hash and a webhook's secret are never shown."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from backlog.models_api import ApiToken, IdempotencyRecord, Webhook, WebhookDelivery


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ("prefix", "name", "user", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "user__username")
    exclude = ("key_hash",)


@admin.register(Webhook)
class WebhookAdmin(ReadOnlyAdmin):
    list_display = ("url", "nexus", "is_active", "created_at")
    list_filter = ("nexus", "is_active")
    exclude = ("secret",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "event", "webhook", "status", "attempts", "last_status_code", "created_at")
    list_filter = ("status", "event")


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ("key", "user", "status_code", "created_at")
    exclude = ("response_body",)
