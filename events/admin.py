"""Admin of the Sprints. A Sprint is planned and changed through the Sprint services (`sprint_create`,
`sprint_update`, `sprint_delete`), so their checks apply (dates that never overlap, a closed Sprint kept
as it was, only a planned Sprint deleted) and sync clients, webhooks and the change counter hear of it.
Starting, closing, planning PBIs and the team Sprint Goals happen on the Nexus Sprint Planning page and
through the API; here they are read-only. The scope log and the snapshots are history: read-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from backlog.errors import DomainError
from events import models
from events.services import sprint_create, sprint_delete, sprint_update


class SprintForm(forms.ModelForm):
    """A Sprint's page: the change is made by the Sprint services when the form is checked, so a
    refusal (overlapping dates, a closed Sprint, a start moved after starting) shows on its field and
    nothing is saved (the admin runs the POST in one transaction)."""

    class Meta:
        model = models.Sprint
        fields = ["nexus", "start_date", "end_date", "goal"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.saved: models.Sprint | None = None
        self.actor: Any = None
        for name in ("start_date", "end_date"):
            if name in self.fields:
                self.fields[name].required = False
        if "start_date" in self.fields:
            self.fields["start_date"].help_text = (
                "First day (calendar day in the Nexus's time zone). Empty on a new Sprint: the day after "
                "the last Sprint's end, else today."
            )
        if "end_date" in self.fields:
            self.fields[
                "end_date"
            ].help_text = (
                "Last day, inclusive. Empty on a new Sprint: the Nexus's Sprint length after the start."
            )

    def clean(self) -> dict[str, Any] | None:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            if self.instance.pk is None:
                self.saved = sprint_create(
                    nexus=data["nexus"],
                    actor=self.actor,
                    start_date=data.get("start_date"),
                    end_date=data.get("end_date"),
                    goal=data.get("goal", ""),
                )
            else:
                changes: dict[str, Any] = {"goal": data.get("goal", "")}
                if data.get("end_date") is not None:
                    changes["end_date"] = data["end_date"]
                if (
                    data.get("start_date") is not None
                    and data["start_date"] != self.instance.start_date
                    and "start_date" in self.fields
                ):
                    changes["start_date"] = data["start_date"]
                self.saved = sprint_update(sprint=self.instance, actor=self.actor, **changes)
        except DomainError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return data

    def _post_clean(self) -> None:
        """No model validation: the service checked the Sprint under the Nexus lock. The saved Sprint
        becomes the form's instance."""
        if self.saved is not None:
            self.instance = self.saved


class SprintTeamGoalInline(admin.TabularInline):
    """The team Sprint Goals, read-only here (the planning page and the API change them)."""

    model = models.SprintTeamGoal
    extra = 0
    can_delete = False
    readonly_fields = ("team", "goal")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SprintItemInline(admin.TabularInline):
    """The Sprint's scope, read-only (planned and unplanned through the planning page and the API)."""

    model = models.SprintItem
    extra = 0
    can_delete = False
    readonly_fields = ("item", "added_at")
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(models.Sprint)
class SprintAdmin(admin.ModelAdmin):
    """Sprints: planned, changed and deleted through the services (`SprintForm`, `delete_model`)."""

    form = SprintForm
    list_display = ("number", "nexus", "state", "start_date", "end_date", "goal")
    list_filter = ("nexus", "state")
    search_fields = ("goal",)
    inlines = [SprintTeamGoalInline, SprintItemInline]
    readonly_fields = ("number", "state", "version", "started_at", "closed_at", "created_at", "updated_at")

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)

        class WithActor(form):  # type: ignore[misc,valid-type]
            def __init__(self, *args: Any, **kw: Any) -> None:
                super().__init__(*args, **kw)
                self.actor = request.user

        return WithActor

    fields = (
        "nexus",
        "number",
        "state",
        "start_date",
        "end_date",
        "goal",
        "version",
        "started_at",
        "closed_at",
        "created_at",
        "updated_at",
    )

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        """In reading order; a new Sprint shows only what `sprint_create` takes."""
        if obj is None:
            return ("nexus", "start_date", "end_date", "goal")
        return self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        fixed = tuple(self.readonly_fields)
        if obj is None:
            return fixed
        if obj.state == models.SprintState.CLOSED:  # history: nothing to edit (a save says why)
            return ("nexus", "start_date", "end_date", "goal", *fixed)
        if obj.state != models.SprintState.PLANNED:  # started: the start is history
            fixed = ("start_date", *fixed)
        return ("nexus", *fixed)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Only a planned Sprint: an active or closed Sprint is history (`sprint_delete`)."""
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or obj.state == models.SprintState.PLANNED)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Nothing to do: `obj` is the Sprint the service saved (`SprintForm.clean`)."""

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        sprint_delete(sprint=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for sprint in queryset:
            sprint_delete(sprint=sprint, actor=request.user)


class ReadOnlyAdmin(admin.ModelAdmin):
    """History: looked at, never written here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(models.SprintScopeChange)
class SprintScopeChangeAdmin(ReadOnlyAdmin):
    """The typed, append-only log of the Sprints' scope."""

    list_display = ("sprint", "item", "kind", "event", "actor", "at")
    list_filter = ("kind", "event", "sprint__nexus")
    list_select_related = ("sprint", "item", "actor")


@admin.register(models.SprintSnapshot)
class SprintSnapshotAdmin(ReadOnlyAdmin):
    """The plan frozen at the start, and what was done at the close."""

    list_display = ("sprint", "kind", "taken_at")
    list_filter = ("kind", "sprint__nexus")
    list_select_related = ("sprint",)


# The Nexus Sprint Retrospective's items and actions (read-only; `events/admin_retro.py`).
from events import admin_retro  # noqa: E402, F401
