from django.contrib import admin

from flow.models import FlowState, ItemFlow


@admin.register(FlowState)
class FlowStateAdmin(admin.ModelAdmin):
    list_display = ("nexus", "computed_at", "computed_on", "pending_since", "enqueued_at")
    readonly_fields = ("summary",)


@admin.register(ItemFlow)
class ItemFlowAdmin(admin.ModelAdmin):
    list_display = ("item", "nexus", "started_on", "finished_on", "cycle_time")
    list_filter = ("nexus",)
    raw_id_fields = ("item",)
