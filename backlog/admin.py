"""Admin for every model. Edits go through the services: a change of column through `pbi_transition`,
so the transition log stays complete; the transition log itself is read-only. Scrum Teams and columns
are deleted through `team_delete` and `column_delete`, and only where those would accept it (history is
never lost); every deletion of a synced row leaves a tombstone (`backlog.services.tombstones`). Every
save advances the Nexus's change counter (`ChangeCountedAdmin`; deletions: the tombstones' receiver)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from backlog import models
from backlog.errors import DomainError
from backlog.services import column_delete, pbi_create, pbi_delete, pbi_transition, team_delete
from backlog.services.common import nexus_changed
from backlog.services.nexus import team_delete_refusal
from backlog.services.workflow import column_delete_refusal


class ScrumTeamInline(admin.TabularInline):
    model = models.ScrumTeam
    extra = 0
    prepopulated_fields = {"slug": ("name",)}
    can_delete = False  # on the team's own page, through `team_delete`


class WorkflowColumnInline(admin.TabularInline):
    model = models.WorkflowColumn
    extra = 0
    can_delete = False  # on the column's own page, through `column_delete`


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
    inlines = [ScrumTeamInline, WorkflowColumnInline]


@admin.register(models.ScrumTeam)
class ScrumTeamAdmin(ServiceDeleteAdmin):
    list_display = ("name", "nexus", "wip_limit")
    list_filter = ("nexus",)

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


@admin.register(models.WorkflowColumn)
class WorkflowColumnAdmin(ServiceDeleteAdmin):
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

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """A change of column goes through `pbi_transition` (logged, WIP limits applied)."""
        if change and "column" in form.changed_data:
            new_column = obj.column
            original = models.ProductBacklogItem.objects.get(pk=obj.pk)
            obj.column = original.column
            obj.version = original.version + 1
            obj.updated_at = timezone.now()  # the other fields are saved even if the move is refused
            super().save_model(request, obj, form, change)
            try:
                pbi_transition(item=obj, to_column=new_column, actor=request.user, source=models.Source.ADMIN)
            except DomainError as exc:
                messages.error(request, exc.message)
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
            return
        # Any other change (fields, or the team squares of the inline, saved right after) is a write
        # that sync clients and `If-Match` must see.
        obj.version = models.ProductBacklogItem.objects.get(pk=obj.pk).version + 1
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)

    # Deleting is soft, through `pbi_delete`, as everywhere else: the item becomes a tombstone that sync
    # clients see (`items/deleted/`), webhooks hear `item.deleted`, and its transition log is kept. A
    # hard delete here erased the item's history from the append-only log and hid the deletion.
    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        pbi_delete(item=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for item in queryset.filter(deleted_at__isnull=True):
            pbi_delete(item=item, actor=request.user)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, ...]:
        """The confirmation page lists only the items: nothing else is deleted with them."""
        items = [f"{obj} (kept as a tombstone; its transition log stays)" for obj in objs]
        return items, {"Product Backlog Items": len(items)}, set(), []


@admin.register(models.TeamInvolvement)
class TeamInvolvementAdmin(admin.ModelAdmin):
    list_display = ("item", "team", "status")
    list_filter = ("team__nexus", "team", "status")
    raw_id_fields = ("item",)

    # Team involvement syncs with its item's `updated_at` (`/involvements/?updated_since=`): every
    # change here moves the item's forward.
    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        _item_touched([obj.item_id])

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        super().delete_model(request, obj)
        _item_touched([obj.item_id])

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        items = list(queryset.values_list("item_id", flat=True))
        super().delete_queryset(request, queryset)
        _item_touched(items)


def _item_touched(item_ids: list[int]) -> None:
    """The items' `updated_at` and `version` move forward, and their Nexus's change counter."""
    items = models.ProductBacklogItem.objects.filter(pk__in=item_ids)
    items.update(updated_at=timezone.now(), version=F("version") + 1)
    for nexus_id in sorted(set(items.values_list("backlog__nexus_id", flat=True))):
        nexus_changed(nexus_id)


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
