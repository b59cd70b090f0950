"""Admin of the Nexus Sprint Retrospective (imported by `events/admin.py`): items and improvement actions are
recorded on the retrospective page and through the API (`events.services.retro`, so the change counter,
the history and the webhooks hear of it); here they are read-only, an action with its history. Deleting
an item goes through `retro_item_delete` (a tombstone for sync)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from events.models import ImprovementAction, ImprovementActionChange, RetroItem
from events.services.retro import retro_item_delete


class _ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RetroItem)
class RetroItemAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ("text", "part", "team", "sprint", "nexus", "author", "created_at")
    list_filter = ("part", "nexus")
    search_fields = ("text",)
    list_select_related = ("sprint", "team", "nexus", "author")

    def delete_model(self, request: HttpRequest, obj: RetroItem) -> None:
        retro_item_delete(item=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for item in queryset:
            retro_item_delete(item=item, actor=request.user)


class ChangeInline(_ReadOnly, admin.TabularInline):
    model = ImprovementActionChange
    fields = readonly_fields = ("at", "kind", "from_status", "to_status", "sprint", "actor", "note")
    extra = 0
    can_delete = False


@admin.register(ImprovementAction)
class ImprovementActionAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ("title", "kind", "status", "owner", "sprint", "nexus", "agreed_at", "closed_at")
    list_filter = ("status", "kind", "nexus")
    search_fields = ("title",)
    list_select_related = ("sprint", "nexus", "owner")
    inlines = [ChangeInline]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # dropped, not deleted: its history stays
