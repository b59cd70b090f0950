"""Admin of the Definition of Done and the Integrated Increments (read-mostly; the integration issues have
theirs in `admin_issues`).

- Definition of Done criteria are added, changed and removed through `integration.services_dod`
  (`criterion_add`, `criterion_update`, `criterion_remove`), so every write makes a new version kept for
  ever and a refusal (an empty text, a team weakening the Nexus's) shows on its field with nothing saved.
  The Nexus and the team of a criterion never change (remove it and add another).
- Definition of Done versions are history: read-only.
- Integrated Increments are made, integrated, confirmed, marked Done and released on their pages and
  through the API (`integration.services_increments`, which move the PBIs and tick the squares): here they
  are read-only, with their PBIs, confirmations and events.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from backlog.errors import DomainError
from integration.models import (
    CriterionConfirmation,
    DoneCriterion,
    DoneVersion,
    IncrementEvent,
    IncrementItem,
    IntegratedIncrement,
)
from integration.services_dod import criterion_add, criterion_remove, criterion_update


class _ReadOnly:
    """Nothing added, changed or deleted here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CriterionForm(forms.ModelForm):
    """A criterion's page: the services write it when the form is checked (`clean`), so their refusal
    shows on the field and nothing is saved."""

    class Meta:
        model = DoneCriterion
        fields = ["nexus", "team", "text", "position"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.saved: DoneCriterion | None = None
        self.actor: Any = None
        if "position" in self.fields:
            self.fields["position"].required = False
            self.fields["position"].help_text = "0-based among its owner's criteria; empty: at the end"

    def clean(self) -> dict[str, Any] | None:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            if self.instance.pk is None:
                self.saved = criterion_add(
                    nexus=data["nexus"],
                    team=data.get("team"),
                    text=data.get("text", ""),
                    position=data.get("position"),
                    actor=self.actor,
                )
            else:
                self.saved = criterion_update(
                    criterion=self.instance,
                    actor=self.actor,
                    text=data.get("text"),
                    position=data.get("position"),
                )
        except DomainError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return data

    def _post_clean(self) -> None:
        """No model validation: the service checked and saved the criterion."""
        if self.saved is not None:
            self.instance = self.saved


@admin.register(DoneCriterion)
class DoneCriterionAdmin(admin.ModelAdmin):
    """Criteria of the Nexus's Definition of Done (`team` empty) and the teams' stricter ones, written
    through `integration.services_dod` (`CriterionForm`, `delete_model`)."""

    form = CriterionForm
    list_display = ("text", "nexus", "team", "position", "version", "updated_at")
    list_filter = ("nexus", "team")
    search_fields = ("text",)
    list_select_related = ("nexus", "team")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        stamps = ("version", "created_at", "updated_at")
        return ("nexus", "team", *stamps) if obj is not None else ()

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)

        class WithActor(form):  # type: ignore[misc,valid-type]
            def __init__(self, *args: Any, **kw: Any) -> None:
                super().__init__(*args, **kw)
                self.actor = request.user

        return WithActor

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Nothing to do: `obj` is the criterion the service saved (`CriterionForm.clean`)."""

    def delete_model(self, request: HttpRequest, obj: DoneCriterion) -> None:
        criterion_remove(criterion=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for criterion in queryset:
            criterion_remove(criterion=criterion, actor=request.user)


@admin.register(DoneVersion)
class DoneVersionAdmin(_ReadOnly, admin.ModelAdmin):
    """Every version of a Nexus's Definition of Done (the whole list of criteria, who, when): history."""

    list_display = ("number", "nexus", "note", "created_by", "created_at")
    list_filter = ("nexus",)
    list_select_related = ("nexus", "created_by")
    readonly_fields = ("nexus", "number", "criteria", "note", "created_by", "created_at")


class _ReadOnlyInline(_ReadOnly, admin.TabularInline):
    extra = 0
    can_delete = False


class IncrementItemInline(_ReadOnlyInline):
    model = IncrementItem
    fields = readonly_fields = ("item", "integrated_at", "integrated_by")


class ConfirmationInline(_ReadOnlyInline):
    model = CriterionConfirmation
    fields = readonly_fields = ("criterion", "text", "confirmed_by", "confirmed_at", "evidence_url")


class IncrementEventInline(_ReadOnlyInline):
    model = IncrementEvent
    fields = readonly_fields = ("at", "kind", "actor", "item", "criterion")


@admin.register(IntegratedIncrement)
class IntegratedIncrementAdmin(_ReadOnly, admin.ModelAdmin):
    """Integrated Increments, read-only: their writes move PBIs and tick squares, on their pages and
    through the API (`integration.services_increments`)."""

    list_display = ("number", "name", "nexus", "sprint", "state", "done_at", "released_on")
    list_filter = ("nexus", "state")
    search_fields = ("name",)
    list_select_related = ("nexus", "sprint")
    readonly_fields = (
        "nexus",
        "sprint",
        "number",
        "name",
        "dod_version",
        "state",
        "created_by",
        "created_at",
        "done_at",
        "done_by",
        "released_on",
        "version",
        "updated_at",
    )
    inlines = [IncrementItemInline, ConfirmationInline, IncrementEventInline]
