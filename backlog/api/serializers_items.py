"""Serializers of Product Backlog Items and what hangs off them: team involvement, the transition log,
tombstones, and the inputs of writes, moves, transitions, upserts and bulk upserts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from backlog.models import (
    ClassOfService,
    ProductBacklogItem,
    ProductGoal,
    ScrumTeam,
    TeamInvolvement,
    TeamStatus,
    Transition,
    WorkflowColumn,
)
from backlog.services.bulk import BULK_MAX_ITEMS
from backlog.services.items import ItemChanges
from nexus_site.api.fields import (
    NexusRefField,
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictDecimalField,
    StrictIntegerField,
    StrictSerializer,
)

# --- Output ----------------------------------------------------------------------------------------


class InvolvementBriefSerializer(serializers.ModelSerializer):
    """A Scrum Team forecast on the item and its status there (a team square)."""

    class Meta:
        model = TeamInvolvement
        fields = ["team", "status"]
        read_only_fields = fields


class ItemSerializer(serializers.ModelSerializer):
    """A Product Backlog Item.

    `rank` orders the Product Backlog (smaller = higher; sparse, so compare, do not count).
    `version` increases with every change and is the item's `ETag`. `column` is the id of its
    Definition of Workflow column, `teams` the Scrum Teams forecast with their status, `labels` names.
    `product_goal` is the id of the Product Goal it serves (`goals/`), or null.
    `size` is in the unit the Nexus chooses. Times are ISO-8601 UTC with microseconds."""

    labels: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="name"
    )
    teams = InvolvementBriefSerializer(source="involvements", many=True, read_only=True)
    size = serializers.DecimalField(max_digits=7, decimal_places=2, read_only=True, allow_null=True)

    class Meta:
        model = ProductBacklogItem
        fields = [
            "id",
            "external_id",
            "title",
            "description",
            "acceptance_criteria",
            "parent",
            "product_goal",
            "size",
            "labels",
            "class_of_service",
            "is_blocked",
            "blocked_reason",
            "column",
            "teams",
            "rank",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def to_representation(self, instance: ProductBacklogItem) -> dict[str, Any]:
        """The declared fields, built directly (a list page serializes 100 to 1,000 items; DRF's
        field-by-field path costs several times more); labels and teams from `context["extras"]`
        (`item_extras`) when given. `test_item_serializer_fast_path` checks that the result equals
        DRF's."""
        item = instance
        extras: ItemExtras | None = self.context.get("extras")
        if extras is not None:
            labels = extras.labels.get(item.pk, [])
            teams = extras.teams.get(item.pk, [])
        else:
            labels = [label.name for label in item.labels.all()]
            teams = [{"team": i.team_id, "status": i.status} for i in item.involvements.all()]
        return {
            "id": item.pk,
            "external_id": item.external_id,
            "title": item.title,
            "description": item.description,
            "acceptance_criteria": item.acceptance_criteria,
            "parent": item.parent_id,
            "product_goal": item.product_goal_id,
            "size": None if item.size is None else _SIZE.to_representation(item.size),
            "labels": labels,
            "class_of_service": item.class_of_service,
            "is_blocked": item.is_blocked,
            "blocked_reason": item.blocked_reason,
            "column": item.column_id,
            "teams": teams,
            "rank": item.rank,
            "version": item.version,
            "created_at": _TIME.to_representation(item.created_at),
            "updated_at": _TIME.to_representation(item.updated_at),
        }


_SIZE = serializers.DecimalField(max_digits=7, decimal_places=2)
_TIME = serializers.DateTimeField()


@dataclass(frozen=True)
class ItemExtras:
    """Labels (names, sorted) and teams (`{team, status}` by team name) of some items, by item id."""

    labels: dict[int, list[str]]
    teams: dict[int, list[dict[str, Any]]]


def item_extras(ids: Sequence[int]) -> ItemExtras:
    """Read the labels and teams of the items in two queries, as plain values: no model instances
    and no prefetch caches (whose reference cycles left to the garbage collector made p95 spikes)."""
    labels: dict[int, list[str]] = {}
    rows = ProductBacklogItem.labels.through.objects.filter(productbacklogitem_id__in=ids)
    for item_id, name in rows.order_by("label__name").values_list("productbacklogitem_id", "label__name"):
        labels.setdefault(item_id, []).append(name)
    teams: dict[int, list[dict[str, Any]]] = {}
    involvements = TeamInvolvement.objects.filter(item_id__in=ids).order_by("team__name")
    for item_id, team_id, status in involvements.values_list("item_id", "team_id", "status"):
        teams.setdefault(item_id, []).append({"team": team_id, "status": status})
    return ItemExtras(labels, teams)


def items_data(items: Sequence[ProductBacklogItem]) -> Any:
    """`ItemSerializer` data of the items: two queries for labels and teams, whatever their number."""
    extras = item_extras([i.pk for i in items])
    return ItemSerializer(items, many=True, context={"extras": extras}).data


def item_data(item: ProductBacklogItem) -> dict[str, Any]:
    return dict(items_data([item])[0])


def items_queryset(backlog_id: Any) -> QuerySet[ProductBacklogItem]:
    """Live items of a Product Backlog (serialize them with `items_data`)."""
    return ProductBacklogItem.objects.alive().filter(backlog_id=backlog_id)


class TombstoneSerializer(serializers.ModelSerializer):
    """A deleted item, for sync clients: remove it from your copy."""

    class Meta:
        model = ProductBacklogItem
        fields = ["id", "external_id", "deleted_at", "version"]
        read_only_fields = fields


class MoveResultSerializer(serializers.Serializer):
    """What a move did: the item, its 1-based positions among the backlog's open items before and
    after, whether the client's view was stale (the named neighbours were no longer adjacent; the item
    was placed relative to `before` when given), whether the backlog had to be renumbered, how many of
    its children moved along with it (`carried`), and the neighbours it was placed against (`before`,
    `after`: resolved from `position`, `top` or `bottom`)."""

    item = ItemSerializer(read_only=True)
    from_position = serializers.IntegerField(read_only=True)
    to_position = serializers.IntegerField(read_only=True)
    stale = serializers.BooleanField(read_only=True)
    renumbered = serializers.BooleanField(read_only=True)
    carried = serializers.IntegerField(read_only=True, help_text="Children moved along with the item")
    before = serializers.IntegerField(read_only=True, allow_null=True, help_text="The item now below it")
    after = serializers.IntegerField(read_only=True, allow_null=True, help_text="The item now above it")


class WriteResultSerializer(serializers.Serializer):
    """An item after a write, with `warnings` (a soft WIP limit reached, for a person)."""

    item = ItemSerializer(read_only=True)
    created = serializers.BooleanField(read_only=True)
    changed = serializers.BooleanField(read_only=True, help_text="False when the write changed nothing")
    warnings = serializers.ListField(child=serializers.CharField(), read_only=True)


class BulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField(read_only=True)
    updated = serializers.IntegerField(read_only=True)
    unchanged = serializers.IntegerField(read_only=True)
    items = serializers.ListField(
        child=serializers.DictField(),
        read_only=True,
        help_text="`{id, external_id, version, created}` per entry",
    )


class InvolvementSerializer(serializers.ModelSerializer):
    """A Scrum Team forecast to work on a PBI, with its own status: empty, half or filled square."""

    changed_at = serializers.SerializerMethodField(
        help_text="The item's `updated_at` (UTC, ISO-8601): every change of its involvements moves it, "
        "and `?updated_since=` on this list filters on it"
    )

    class Meta:
        model = TeamInvolvement
        fields = ["id", "item", "team", "status", "team_column", "changed_at"]
        extra_kwargs = {
            "status": {
                "help_text": "The team square: not_started (empty), in_progress (half-filled), ready "
                "(filled: ready to integrate), done (filled with a tick)"
            },
            "team_column": {
                "help_text": "The column of the team's board the work is in (`team-columns/`); null "
                "before the team's first move: then the first column of the status"
            },
        }
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_changed_at(self, obj: TeamInvolvement) -> str:
        changed = getattr(obj, "changed_at", None)  # annotated by the list's queryset
        if changed is None:
            changed = ProductBacklogItem.objects.values_list("updated_at", flat=True).get(pk=obj.item_id)
        return str(_TIME.to_representation(changed))


class TransitionSerializer(serializers.ModelSerializer):
    """One row of the append-only transition log, one typed row per change of a PBI: of column
    (`kind=column`; column names as they were then), of a team's status (`team_status`; statuses in
    `from_name`/`to_name`), of the item's place in the Product Backlog (`rank`; 1-based positions), a
    Scrum Team forecast or taken off (`team_added` with its status in `to_name`, `team_removed` with the
    status it had in `from_name`), `blocked`/`unblocked` (`reason`), `parent_changed`
    (`from_parent`/`to_parent`, item ids or null), `split` (on the item split, one row per `child`),
    `deleted` and `restored`, `team_column` (a move on a team's board: `team`,
    `from_team_column`/`to_team_column` and their names in `from_name`/`to_name`, `team_status` the
    square's state after it). `actor` is a username or null; `source` the door the change came
    through (ui, api, admin, import, board, system: a consequence of another change)."""

    actor: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Transition
        fields = [
            "id",
            "item",
            "kind",
            "at",
            "actor",
            "source",
            "from_column",
            "to_column",
            "from_name",
            "to_name",
            "team",
            "from_position",
            "to_position",
            "reason",
            "from_parent",
            "to_parent",
            "child",
            "from_team_column",
            "to_team_column",
            "team_status",
            "recorded_at",
        ]
        read_only_fields = fields


# --- Input ---------------------------------------------------------------------------------------


def item_changes(validated: Any) -> ItemChanges:
    """Validated item input (`ItemWriteSerializer` and its kin) as `ItemChanges` for the services;
    the placement fields of a create (`position`, `after`) are left out."""
    data = {k: v for k, v in dict(validated).items() if k not in ("position", "after")}
    return ItemChanges(
        fields={k: v for k, v in data.items() if k not in ("labels", "teams", "column")},
        labels=data.get("labels"),
        teams=data.get("teams"),
        column=data.get("column"),
    )


class ItemWriteSerializer(StrictSerializer):
    """The writable fields of a PBI. Send only what changes: fields you leave out keep their value.
    `labels` and `teams` are whole sets (kept teams keep their status). `column` moves the item
    through the Definition of Workflow (logged; WIP limits apply). `parent`, `product_goal`, `column` and
    `teams` are ids within the Nexus (another Nexus's id: 400 naming the field; a goal achieved or
    abandoned: 400 naming `product_goal`)."""

    title = StrictCharField(max_length=300, required=False)
    description = StrictCharField(allow_blank=True, trim_whitespace=False, max_length=100_000, required=False)
    acceptance_criteria = StrictCharField(
        allow_blank=True, trim_whitespace=False, max_length=100_000, required=False
    )
    parent = NexusRefField(  # type: ignore[assignment]  # a declared field, not Field.parent
        model=ProductBacklogItem, scope="backlog__nexus", alive=True, allow_null=True, required=False
    )
    product_goal = NexusRefField(
        model=ProductGoal,
        scope="backlog__nexus",
        allow_null=True,
        required=False,
        help_text="The id of the Product Goal it serves (the active one of this Nexus), or null to unlink",
    )
    size = StrictDecimalField(max_digits=7, decimal_places=2, min_value=0, allow_null=True, required=False)
    labels = serializers.ListField(child=StrictCharField(max_length=60), max_length=50, required=False)
    class_of_service = StrictChoiceField(choices=ClassOfService.choices, required=False)
    is_blocked = StrictBooleanField(required=False)
    blocked_reason = StrictCharField(allow_blank=True, max_length=300, required=False)
    external_id = StrictCharField(allow_blank=True, max_length=100, required=False)
    column = NexusRefField(model=WorkflowColumn, scope="nexus", required=False)
    teams = serializers.ListField(
        child=NexusRefField(model=ScrumTeam, scope="nexus"), max_length=50, required=False
    )

    def changes(self) -> ItemChanges:
        """The validated data as `ItemChanges` for the services."""
        return item_changes(self.validated_data)


class ItemCreateSerializer(ItemWriteSerializer):
    """A new PBI: `title` is needed; it goes to the bottom of the Product Backlog unless `position`
    is `top` or `after` names the item it goes directly below. `column` defaults to the first."""

    title = StrictCharField(max_length=300)
    position = StrictChoiceField(choices=[("top", "top"), ("bottom", "bottom")], required=False)
    after = NexusRefField(model=ProductBacklogItem, scope="backlog__nexus", alive=True, required=False)


class UpsertItemSerializer(ItemWriteSerializer):
    """The item for `external_id` in full or in part: `title` is needed when the item is new."""


class BulkItemSerializer(ItemWriteSerializer):
    """One entry of a bulk upsert: `external_id` identifies it (created when new, updated otherwise);
    a new item needs a `title`."""

    external_id = StrictCharField(max_length=100)


class BulkUpsertSerializer(StrictSerializer):
    items = serializers.ListField(child=BulkItemSerializer(), min_length=1, max_length=BULK_MAX_ITEMS)


def _move_variant(description: str, named: dict[str, Any], others: tuple[str, ...]) -> dict[str, Any]:
    """One placement of a move for the OpenAPI document: the fields it names (the first one required,
    not empty) and the others, which may be left out or sent empty (`null`, or `false` for
    `top`/`bottom`)."""
    empty: dict[str, Any] = {
        "before": {"nullable": True, "enum": [None]},
        "after": {"nullable": True, "enum": [None]},
        "position": {"nullable": True, "enum": [None]},
        "top": {"type": "boolean", "enum": [False]},
        "bottom": {"type": "boolean", "enum": [False]},
    }
    return {
        "description": description,
        "required": list(named)[:1],
        "properties": {**{k: empty[k] for k in others}, **named},
    }


_ID = {"type": "integer"}
_OPTIONAL_ID = {"type": "integer", "nullable": True}


class MoveSerializer(StrictSerializer):
    """Where the item goes, one placement (the same vocabulary as the backlog page's moves): directly
    above `before` and/or directly below `after` (ids; a drop between two rows names both), or to a
    1-based `position` among the open items (past the end = the bottom), or `top: true`, or
    `bottom: true`. The item's children that directly follow it move along. None or several
    placements: 400 naming the field."""

    before = NexusRefField(
        model=ProductBacklogItem,
        scope="backlog__nexus",
        alive=True,
        required=False,
        allow_null=True,
        help_text="The item to go directly above; `before`, `after` or both must name an item",
    )
    after = NexusRefField(
        model=ProductBacklogItem,
        scope="backlog__nexus",
        alive=True,
        required=False,
        allow_null=True,
        help_text="The item to go directly below; `before`, `after` or both must name an item",
    )
    position = StrictIntegerField(min_value=1, required=False, allow_null=True)
    top = StrictBooleanField(required=False, help_text="true: to the top of the Product Backlog")
    bottom = StrictBooleanField(required=False, help_text="true: to the bottom of the Product Backlog")

    #: Exactly one placement (`nexus_site.api.schema.AutoSchema` documents these as `anyOf`).
    schema_any_of: ClassVar[list[dict[str, Any]]] = [
        _move_variant(
            "Directly above `before` (and below `after`, if named too)",
            {"before": _ID, "after": _OPTIONAL_ID},
            ("position", "top", "bottom"),
        ),
        _move_variant(
            "Directly below `after` (and above `before`, if named too)",
            {"after": _ID, "before": _OPTIONAL_ID},
            ("position", "top", "bottom"),
        ),
        _move_variant(
            "To a 1-based position among the open items",
            {"position": {"type": "integer", "minimum": 1}},
            ("before", "after", "top", "bottom"),
        ),
        _move_variant(
            "To the top",
            {"top": {"type": "boolean", "enum": [True]}},
            ("before", "after", "position", "bottom"),
        ),
        _move_variant(
            "To the bottom",
            {"bottom": {"type": "boolean", "enum": [True]}},
            ("before", "after", "position", "top"),
        ),
    ]

    def placement(self) -> dict[str, Any]:
        """The validated placement as keywords of `pbi_move` (`before_id`, `after_id`, `position`,
        `top`, `bottom`); the service checks that exactly one is named."""
        data = self.validated_data
        before, after = data.get("before"), data.get("after")
        return {
            "before_id": before.pk if before is not None else None,
            "after_id": after.pk if after is not None else None,
            "position": data.get("position"),
            "top": bool(data.get("top")),
            "bottom": bool(data.get("bottom")),
        }


class TransitionRequestSerializer(StrictSerializer):
    column = NexusRefField(model=WorkflowColumn, scope="nexus")


class InvolvementCreateSerializer(StrictSerializer):
    item = NexusRefField(model=ProductBacklogItem, scope="backlog__nexus", alive=True)
    team = NexusRefField(model=ScrumTeam, scope="nexus")
    status = StrictChoiceField(choices=TeamStatus.choices, default=TeamStatus.NOT_STARTED)


class InvolvementStatusSerializer(StrictSerializer):
    #: The PATCH takes the whole body: `status` is required (`nexus_site.api.schema.AutoSchema`).
    required_on_patch = True

    status = StrictChoiceField(choices=TeamStatus.choices)
