from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from backlog.errors import DomainError
from backlog.models import WipLimitKind
from flow.models import FlowSettings, FlowSnapshot, FlowState, ItemFlow
from flow.services import flow_settings_set


@admin.register(FlowState)
class FlowStateAdmin(admin.ModelAdmin):
    list_display = ("nexus", "computed_at", "computed_on", "pending_since", "enqueued_at")
    readonly_fields = ("summary",)


@admin.register(ItemFlow)
class ItemFlowAdmin(admin.ModelAdmin):
    """Written by the recompute and the incremental update only: read-only here (a hand edit would
    also outlive the next recompute, which skips items whose digest did not change)."""

    list_display = ("item", "nexus", "started_on", "finished_on", "cycle_time")
    list_filter = ("nexus",)
    raw_id_fields = ("item",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(FlowSnapshot)
class FlowSnapshotAdmin(admin.ModelAdmin):
    """Stored results are written by the recompute only: read-only here."""

    list_display = ("nexus", "team", "basis", "as_of", "start", "end", "computed_at")
    list_filter = ("nexus", "basis")
    exclude = ("detail",)
    readonly_fields = ("nexus", "team", "basis", "as_of", "start", "end", "computed_at", "figures")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class FlowSettingsForm(forms.ModelForm):
    """The row's fields plus the scope's WIP limit kind, which lives on the Nexus or the Scrum Team."""

    wip_limit_kind = forms.ChoiceField(choices=WipLimitKind.choices, initial=WipLimitKind.SOFT)

    class Meta:
        model = FlowSettings
        fields = ["nexus", "team", "sle_percent", "sle_days"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["wip_limit_kind"].initial = self.instance.wip_limit_kind


@admin.register(FlowSettings)
class FlowSettingsAdmin(admin.ModelAdmin):
    """Saved through `flow_settings_set`, like the flow settings page (the WIP limit kind too)."""

    form = FlowSettingsForm

    list_display = ("nexus", "team", "sle_percent", "sle_days", "wip_limit_kind", "updated_at", "updated_by")
    list_select_related = ("nexus", "team", "updated_by")  # `wip_limit_kind` is the team's or the Nexus's
    list_filter = ("nexus",)
    readonly_fields = ("updated_at", "updated_by")

    def save_model(self, request: HttpRequest, obj: FlowSettings, form: Any, change: bool) -> None:
        try:
            saved = flow_settings_set(
                nexus=obj.nexus,
                team=obj.team,
                actor=request.user,
                sle_percent=obj.sle_percent,
                sle_days=obj.sle_days,
                wip_limit_kind=form.cleaned_data["wip_limit_kind"],
            )
            obj.pk = saved.pk
        except DomainError as exc:
            messages.error(request, exc.message)
