"""Admin for every model. Edits go through the services: a PBI's fields through `pbi_update`, a change
of column through `pbi_transition`, its team squares through `involvement_add`/`involvement_set_status`/
`involvement_remove`, deletion and restore through `pbi_delete`/`pbi_restore`, so the transition log
stays complete (source `admin`), sync clients and webhooks hear of it and flow recomputes; the
transition log itself is read-only. Scrum Teams and columns
are deleted through `team_delete` and `column_delete`, and only where those would accept it (history is
never lost); every deletion of a synced row leaves a tombstone (`backlog.services.tombstones`). Every
save advances the Nexus's change counter (`ChangeCountedAdmin`; deletions: the tombstones' receiver)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from backlog import models
from backlog.errors import DomainError
from backlog.services import (
    column_create,
    column_delete,
    column_update,
    involvement_add,
    involvement_remove,
    involvement_set_status,
    pbi_create,
    pbi_delete,
    pbi_restore,
    pbi_update,
    team_delete,
)
from backlog.services.common import nexus_changed
from backlog.services.items import EDITABLE_FIELDS
from backlog.services.nexus import team_delete_refusal
from backlog.services.workflow import column_delete_refusal

#: The kinds of the Nexus's and the teams' WIP limits change through `nexus_update` and `team_update`
#: (under the Nexus lock the WIP checks take): the flow settings page, the API, or the flow settings admin.
WIP_LIMIT_KIND_READ_ONLY = ("wip_limit_kind",)


class ScrumTeamInline(admin.TabularInline):
    model = models.ScrumTeam
    extra = 0
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = WIP_LIMIT_KIND_READ_ONLY
    can_delete = False  # on the team's own page, through `team_delete`


class WorkflowColumnInline(admin.TabularInline):
    """The Nexus's columns, read-only: each is added, changed and deleted on its own page, through the
    workflow services (`column_create`, `column_update`, `column_delete`)."""

    model = models.WorkflowColumn
    extra = 0
    can_delete = False
    show_change_link = True
    fields = (
        "position",
        "name",
        "category",
        "wip_limit",
        "wip_limit_kind",
        "is_start",
        "is_finish",
        "is_ready",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _nexus_id_of(obj: Any) -> int | None:
    """The id of the Nexus whose data `obj` is (a Nexus, or a row with a `nexus`, `backlog` or `item`)."""
    if isinstance(obj, models.Nexus):
        return int(obj.pk)
    for path in ("nexus_id", "backlog.nexus_id", "item.backlog.nexus_id"):
        value: Any = obj
        for name in path.split("."):
            value = getattr(value, name, None)
        if value is not None:
            return int(value)
    return None


class ChangeCountedAdmin(admin.ModelAdmin):
    """Saving a row here (its form, with its inlines, or a list's editable fields) advances its
    Nexus's change counter (`nexus_changed`), last, in the admin's transaction: the admin edits some
    rows directly, not through a service. Deletions count through the tombstones' `post_delete`."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        nexus_id = _nexus_id_of(form.instance)
        if nexus_id is not None:
            nexus_changed(nexus_id)


class ServiceDeleteAdmin(ChangeCountedAdmin):
    """Deletes one row at a time through a service that may refuse (no bulk "delete selected"); the
    subclass offers deletion only for rows the service would delete (`has_delete_permission`)."""

    def get_actions(self, request: HttpRequest) -> Any:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


@admin.register(models.Nexus)
class NexusAdmin(ChangeCountedAdmin):
    list_display = ("name", "slug", "time_zone", "sprint_length_days")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = WIP_LIMIT_KIND_READ_ONLY
    inlines = [ScrumTeamInline, WorkflowColumnInline]


@admin.register(models.ScrumTeam)
class ScrumTeamAdmin(ServiceDeleteAdmin):
    list_display = ("name", "nexus", "wip_limit", "wip_limit_kind")
    list_filter = ("nexus",)
    readonly_fields = WIP_LIMIT_KIND_READ_ONLY

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Not for a team that worked on PBIs (`team_delete_refusal`)."""
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or team_delete_refusal(team=obj) is None)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        team_delete(team=obj)


@admin.register(models.Membership)
class MembershipAdmin(ChangeCountedAdmin):
    list_display = ("user", "role", "team", "nexus")
    list_filter = ("nexus", "role")


@admin.register(models.ProductBacklog)
class ProductBacklogAdmin(ChangeCountedAdmin):
    list_display = ("nexus",)


@admin.register(models.ProductGoal)
class ProductGoalAdmin(ChangeCountedAdmin):
    list_display = ("text", "status", "backlog", "created_at")
    list_filter = ("status",)


class WorkflowColumnForm(forms.ModelForm):
    """A column's page: the change is made by the workflow services when the form is checked, so a
    refusal (a taken name, a position that would put the started column after the finished one, ...)
    shows on its field and nothing is saved. The admin runs the whole POST in one transaction, and this
    form has no inlines, so the write commits only if the page then saves. `category`, `is_start` and
    `is_finish` are fixed once a column exists (they define Cycle Time for the whole history, see
    `backlog.services.workflow`): read-only here; a new column is never the started or finished one."""

    class Meta:
        model = models.WorkflowColumn
        fields = ["nexus", "name", "category", "position", "wip_limit", "wip_limit_kind", "is_ready"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.saved: models.WorkflowColumn | None = None
        if "position" in self.fields:
            self.fields["position"].required = False
            self.fields["position"].help_text = (
                "0-based, left to right; the columns from there on shift. Empty on a new column: by its "
                "category (not started: before the started column; in progress: before the finished one)."
            )

    def clean(self) -> dict[str, Any] | None:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            if self.instance.pk is None:
                self.saved = column_create(
                    nexus=data["nexus"],
                    name=data["name"],
                    category=data["category"],
                    position=data.get("position"),
                    wip_limit=data.get("wip_limit"),
                    wip_limit_kind=data["wip_limit_kind"],
                    is_ready=data.get("is_ready", False),
                )
            else:
                self.saved = column_update(
                    column=self.instance,
                    name=data["name"],
                    wip_limit=data.get("wip_limit"),
                    wip_limit_kind=data["wip_limit_kind"],
                    is_ready=data.get("is_ready", False),
                    position=self.instance.position if data.get("position") is None else data["position"],
                )
        except DomainError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return data

    def _post_clean(self) -> None:
        """No model validation: the service checked the column under the Nexus lock (a position taken
        now is where the column goes, the others shift; names are unique). The saved column becomes
        the form's instance."""
        if self.saved is not None:
            self.instance = self.saved


@admin.register(models.WorkflowColumn)
class WorkflowColumnAdmin(ServiceDeleteAdmin):
    """Columns are added and changed through `column_create` and `column_update` (`WorkflowColumnForm`),
    so their checks apply and the flow figures are recomputed; deleted through `column_delete`."""

    form = WorkflowColumnForm
    list_display = (
        "name",
        "nexus",
        "position",
        "category",
        "wip_limit",
        "wip_limit_kind",
        "is_start",
        "is_finish",
    )
    list_filter = ("nexus",)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Not for the started or finished column, nor one with history (`column_delete_refusal`)."""
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or column_delete_refusal(column=obj) is None)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ("is_start", "is_finish")
        return ("nexus", "category", "is_start", "is_finish")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Nothing to do: `obj` is the column the service saved (`WorkflowColumnForm.clean`)."""

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        column_delete(column=obj)  # the columns to its right move left; flow recomputes


@admin.register(models.Label)
class LabelAdmin(ChangeCountedAdmin):
    list_display = ("name", "nexus")
    list_filter = ("nexus",)


class TeamInvolvementInline(admin.TabularInline):
    model = models.TeamInvolvement
    extra = 0


class DeletedFilter(admin.SimpleListFilter):
    """Live items, or the deleted ones (soft-deleted: tombstones that sync clients see)."""

    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "Live"), ("yes", "Deleted (tombstones)")]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() in ("no", "yes"):
            return queryset.filter(deleted_at__isnull=self.value() == "no")
        return queryset


@admin.register(models.ProductBacklogItem)
class ProductBacklogItemAdmin(ChangeCountedAdmin):
    list_display = ("title", "external_id", "column", "class_of_service", "is_blocked", "rank", "version")
    list_filter = (
        "backlog__nexus",
        "column__name",
        "class_of_service",
        "is_blocked",
        DeletedFilter,
    )
    search_fields = ("title", "external_id")
    readonly_fields = ("rank", "version", "created_at", "updated_at", "deleted_at")
    raw_id_fields = ("parent",)
    inlines = [TeamInvolvementInline]
    list_select_related = ("column",)

    actions = ["restore"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        """An item stays in its Nexus's Product Backlog."""
        fields = super().get_readonly_fields(request, obj)
        return (*fields, "backlog") if obj is not None else fields

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Fields and column through `pbi_update` (a block, parent or column change is logged, WIP
        limits applied, in one transaction); a refusal is shown as a message."""
        if change:
            new_column = obj.column if "column" in form.changed_data else None
            fields = {name: form.cleaned_data[name] for name in form.changed_data if name in EDITABLE_FIELDS}
            source = models.Source.ADMIN
            try:
                saved = pbi_update(
                    item=obj, actor=request.user, source=source, column=new_column, **fields
                ).item
            except DomainError as exc:
                messages.error(request, exc.message)
                return
            obj.version, obj.updated_at, obj.column = saved.version, saved.updated_at, saved.column
            return
        if not change:
            created = pbi_create(
                nexus=obj.backlog.nexus,
                title=obj.title,
                actor=request.user,
                source=models.Source.ADMIN,
                column=obj.column,
                description=obj.description,
                acceptance_criteria=obj.acceptance_criteria,
                size=obj.size,
                class_of_service=obj.class_of_service,
                is_blocked=obj.is_blocked,
                blocked_reason=obj.blocked_reason,
                external_id=obj.external_id,
                parent=obj.parent,
            )
            obj.pk, obj.rank, obj.created_at, obj.updated_at = (
                created.pk,
                created.rank,
                created.created_at,
                created.updated_at,
            )
            obj._state.adding = False

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """The team squares of the inline through the involvement services (each change logged, sync
        clients and webhooks told); a refusal is shown as a message."""
        if formset.model is not models.TeamInvolvement:
            super().save_formset(request, form, formset, change)
            return
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        actor, source = request.user, models.Source.ADMIN
        for sub in formset.forms:
            inv = sub.instance
            try:
                if sub in formset.deleted_forms:
                    if inv.pk is not None:
                        involvement_remove(involvement=inv, actor=actor, source=source)
                        formset.deleted_objects.append(inv)
                    continue
                if not sub.has_changed():
                    continue
                if inv.pk is None or "team" in sub.changed_data:
                    if inv.pk is not None:  # another team in this row: the old one off, the new one on
                        old = models.TeamInvolvement.objects.get(pk=inv.pk)
                        involvement_remove(involvement=old, actor=actor, source=source)
                    added = involvement_add(
                        item=form.instance, team=inv.team, status=inv.status, actor=actor, source=source
                    )
                    sub.instance = added
                    formset.new_objects.append(added)
                elif "status" in sub.changed_data:
                    involvement_set_status(involvement=inv, status=inv.status, actor=actor, source=source)
                    formset.changed_objects.append((inv, sub.changed_data))
            except DomainError as exc:
                messages.error(request, exc.message)

    @admin.action(description="Restore the selected deleted items")
    def restore(self, request: HttpRequest, queryset: Any) -> None:
        """Undo soft deletes (`pbi_restore`, logged); live items among the selected are left alone."""
        restored = 0
        for item in queryset.filter(deleted_at__isnull=False):
            pbi_restore(item=item, actor=request.user, source=models.Source.ADMIN)
            restored += 1
        messages.success(request, f"Restored {restored} item(s).")

    # Deleting is soft, through `pbi_delete`, as everywhere else: the item becomes a tombstone that sync
    # clients see (`items/deleted/`), webhooks hear `item.deleted`, and its transition log is kept. A
    # hard delete here erased the item's history from the append-only log and hid the deletion.
    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        pbi_delete(item=obj, actor=request.user, source=models.Source.ADMIN)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for item in queryset.filter(deleted_at__isnull=True):
            pbi_delete(item=item, actor=request.user, source=models.Source.ADMIN)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, ...]:
        """The confirmation page lists only the items: nothing else is deleted with them."""
        items = [f"{obj} (kept as a tombstone; its transition log stays)" for obj in objs]
        return items, {"Product Backlog Items": len(items)}, set(), []


class TeamInvolvementForm(forms.ModelForm):
    """Refuses, as the services would, a square on a deleted item or with a team of another Nexus."""

    class Meta:
        model = models.TeamInvolvement
        fields = ["item", "team", "status"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        item, team = data.get("item"), data.get("team")
        if item is not None and item.deleted_at is not None:
            self.add_error("item", "This item has been deleted.")
        elif item is not None and team is not None and team.nexus_id != item.backlog.nexus_id:
            self.add_error("team", "That Scrum Team is not in the item's Nexus.")
        return data


@admin.register(models.TeamInvolvement)
class TeamInvolvementAdmin(admin.ModelAdmin):
    """Team squares, through the involvement services: each change is logged (source `admin`), moves
    the item's `updated_at` and version (`/involvements/?updated_since=`), and is heard by sync
    clients, webhooks and flow."""

    form = TeamInvolvementForm
    list_display = ("item", "team", "status")
    list_filter = ("team__nexus", "team", "status")
    raw_id_fields = ("item",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        """A square changes its status; another team is another square."""
        fields = super().get_readonly_fields(request, obj)
        return (*fields, "item", "team") if obj is not None else fields

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Through the services; a refusal (a staff member who is a Developer of another team: 403 at
        the other doors) is shown as a message and nothing changes."""
        source = models.Source.ADMIN
        try:
            if change:
                involvement_set_status(involvement=obj, status=obj.status, actor=request.user, source=source)
                return
            added = involvement_add(
                item=obj.item, team=obj.team, status=obj.status, actor=request.user, source=source
            )
        except DomainError as exc:
            messages.error(request, exc.message)
            return
        obj.pk = added.pk
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.delete_queryset(request, [obj])

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        """Each square through `involvement_remove`; a refused one is kept and said so."""
        for involvement in queryset:
            try:
                involvement_remove(involvement=involvement, actor=request.user, source=models.Source.ADMIN)
            except DomainError as exc:
                messages.error(request, f"{involvement}: {exc.message}")


@admin.register(models.Transition)
class TransitionAdmin(admin.ModelAdmin):
    """The transition log is append-only: visible, never edited or deleted here."""

    list_display = ("item", "kind", "from_name", "to_name", "at", "actor", "source")
    list_filter = ("kind", "source")
    raw_id_fields = ("item",)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


from backlog import admin_api  # noqa: E402, F401  (the REST API's models)
