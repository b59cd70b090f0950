"""Admin of integration issues (imported by `IntegrationConfig.ready`, so that this file and the app's
`admin.py` stay separate). Issues are raised, changed, escalated and closed through the services (on
the integration issues page and the API) so that their history, the change counter and the webhooks
hear of it: here they are read-only. Deleting one goes through `issue_delete` (a tombstone for sync)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from integration.models_issues import IntegrationIssue, IntegrationIssueEntry, IntegrationIssueWipLimit
from integration.services_issues import issue_delete


class EntryInline(admin.TabularInline):
    model = IntegrationIssueEntry
    fields = ("at", "kind", "actor", "level", "note", "data")
    readonly_fields = ("at", "kind", "actor", "level", "note", "data")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(IntegrationIssue)
class IntegrationIssueAdmin(admin.ModelAdmin):
    list_display = ["title", "nexus", "level", "status", "raised_at", "level_3_at", "owner"]
    list_filter = ["status", "level", "event", "nexus"]
    search_fields = ["title", "description"]
    list_select_related = ["nexus", "owner"]
    inlines = [EntryInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: IntegrationIssue) -> None:
        issue_delete(issue=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[IntegrationIssue]) -> None:
        for issue in queryset:
            issue_delete(issue=issue, actor=request.user)


@admin.register(IntegrationIssueWipLimit)
class IssueWipLimitAdmin(admin.ModelAdmin):
    list_display = ["nexus", "limit", "kind"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
