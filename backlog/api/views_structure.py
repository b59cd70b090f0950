"""API views of the Nexus and its structure: Nexuses, Scrum Teams, memberships, Product Goals, labels
(the Definition of Workflow: `views_workflow`). Writes call `backlog.services`; permissions are
`nexus_site.api.permissions` (the Nexus's structure: administrators, as in the Django admin); deletions
leave tombstones, listed by each resource's `deleted/`."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.db.models.functions import Coalesce
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from backlog import selectors
from backlog.api.serializers_structure import (
    LabelSerializer,
    MembershipCreateSerializer,
    MembershipSerializer,
    NexusChangesSerializer,
    NexusCreateSerializer,
    NexusSerializer,
    NexusUpdateSerializer,
    ProductGoalCloseSerializer,
    ProductGoalSerializer,
    ProductGoalWriteSerializer,
    ScrumTeamCreateSerializer,
    ScrumTeamSerializer,
    ScrumTeamUpdateSerializer,
)
from backlog.errors import DomainError, NotAllowed
from backlog.models import Label, Membership, Nexus, ProductGoal, ScrumTeam
from backlog.models_api import TombstoneKind
from backlog.services import (
    ColumnSpec,
    goal_close,
    goal_create,
    goal_update,
    membership_add,
    membership_remove,
    nexus_create,
    nexus_update,
    team_create,
    team_delete,
    team_update,
)
from nexus_site.api import permissions as perms
from nexus_site.api.base import (
    ApiViewSet,
    NexusScopedMixin,
    NexusScopedViewSet,
    TombstonesMixin,
    tombstones_schema,
)
from nexus_site.api.errors import FieldError
from nexus_site.api.schema import error

TEAM_IN_USE = error(
    "The team has worked on PBIs (team involvement, or the transition log names it): deleting it would "
    "lose that history. Nothing was deleted.",
    OpenApiExample(
        "Team with history",
        value={
            "status": 409,
            "code": "conflict",
            "message": "Core is forecast on 12 PBI(s): deleting it would lose who did that work. ...",
            "errors": [{"field": "id", "code": "conflict", "message": "..."}],
        },
        response_only=True,
        status_codes=["409"],
    ),
)


def _goal_conflict(description: str, message: str, field: str) -> Any:
    """A 409 of a Product Goal operation: valid data that conflicts with the goal's state."""
    return error(
        description,
        OpenApiExample(
            "Goal state",
            value={
                "status": 409,
                "code": "conflict",
                "message": message,
                "errors": [{"field": field, "code": "conflict", "message": message}],
            },
            response_only=True,
            status_codes=["409"],
        ),
    )


GOAL_ACTIVE = _goal_conflict(
    "A Product Goal is active: close it first (one active Product Goal at a time).",
    "The Product Backlog has an active Product Goal: mark it achieved or abandoned first.",
    "text",
)
GOAL_CLOSED_EDIT = _goal_conflict(
    "The goal is closed: only the active Product Goal is edited.",
    "Only the active Product Goal can be edited.",
    "text",
)
GOAL_CLOSED = _goal_conflict("The goal is closed already.", "That Product Goal is closed already.", "status")

#: The largest `since` (a PostgreSQL bigint).
MAX_SEQ = 2**63 - 1


@extend_schema_view(
    list=extend_schema(
        summary="List the Nexuses you belong to",
        description="Every Nexus you are a member of (all of them for an administrator), by id.",
    ),
    retrieve=extend_schema(summary="Get a Nexus"),
    changes=extend_schema(
        summary="Has anything in the Nexus changed since N?",
        description="The Nexus's change counter (`seq`) and whether it is above `since` (`changed`). Every "
        "write to the Nexus's data adds one to the counter in its transaction (items, their order and "
        "team squares, columns, teams, memberships, goals, labels, webhooks, flow settings; not the "
        "recomputed flow figures), in commit order: once you have seen N, every change numbered N or "
        "less is visible to you. Poll this (it is cheap), and read the lists with `updated_since` only "
        "when `changed`; then send the `seq` you got as the next `since`. The Nexus resource shows the "
        "counter too (`change_seq`).",
        parameters=[
            OpenApiParameter(
                "since",
                {"type": "integer", "minimum": 0, "maximum": MAX_SEQ},
                OpenApiParameter.QUERY,
                description="The `seq` you saw last (0, the default: any change ever). Not a whole number "
                "from 0: a 400 naming `since`.",
            )
        ],
        responses={200: NexusChangesSerializer},
    ),
    partial_update=extend_schema(
        summary="Change a Nexus (administrators)",
        description="Send only what changes: `name`, `description`, `time_zone` (an IANA name; an unknown "
        "one is a 400 naming `time_zone`), `sprint_length_days` (1 to 31), `wip_limit` (at least 1, or "
        "null). The `slug` never changes (400 naming it). A new time zone or Sprint length recomputes "
        "the flow figures (they count calendar days in the time zone; forecasts span a Sprint).",
        request=NexusUpdateSerializer,
        responses={200: NexusSerializer},
    ),
    create=extend_schema(
        summary="Create a Nexus (administrators)",
        description="A Nexus with its Product Backlog and Definition of Workflow: mark exactly one column "
        "`is_start` and one `is_finish`, the start before the finish.",
        request=NexusCreateSerializer,
        responses={201: NexusSerializer},
        examples=[
            OpenApiExample(
                "A Nexus",
                request_only=True,
                value={
                    "name": "Payments",
                    "slug": "payments",
                    "time_zone": "Europe/Berlin",
                    "sprint_length_days": 14,
                    "columns": [
                        {"name": "Ready", "category": "not_started", "is_ready": True},
                        {"name": "In Progress", "category": "in_progress", "is_start": True, "wip_limit": 8},
                        {"name": "Done", "category": "done", "is_finish": True},
                    ],
                },
            )
        ],
    ),
)
class NexusesViewSet(NexusScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """`/api/v1/nexuses/`: the Nexuses of the user; administrators create and change them."""

    model = Nexus
    serializer_class = NexusSerializer
    sync_field = "updated_at"
    lookup_field = "slug"
    lookup_url_kwarg = "nexus_slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]{1,80}"
    rules: ClassVar[dict[str, str]] = {"partial_update": perms.ADMIN}
    http_method_names = ["get", "post", "patch", "head", "options"]
    action_query_params: ClassVar[dict[str, tuple[str, ...]]] = {"changes": ("since",)}

    def get_permissions(self) -> Any:
        # `/nexuses/` itself (list, create, OPTIONS) names no Nexus: being logged in is enough there.
        if self.lookup_url_kwarg not in self.kwargs:
            return [IsAuthenticated()]
        return super().get_permissions()

    def base_queryset(self) -> QuerySet[Nexus]:
        return selectors.nexus_list_for_user(user=self.request.user).annotate(
            change_seq=Coalesce("change_counter__seq", 0)
        )

    def get_object(self) -> Nexus:
        return self.nexus

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not request.user.is_superuser:
            raise NotAllowed("Only an administrator creates a Nexus.")
        data = NexusCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        columns = [ColumnSpec(**c) for c in values.pop("columns")]
        nexus = nexus_create(columns=columns, **values)
        return Response(NexusSerializer(nexus).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = NexusUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(NexusSerializer(nexus_update(nexus=self.nexus, **data.validated_data)).data)

    @action(detail=True, methods=["get"])
    def changes(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raw = request.query_params.get("since", "0")
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= MAX_SEQ):
            raise FieldError("since", f"{raw[:40]!r} is not a change counter: send a whole number from 0.")
        seq = selectors.nexus_change_seq(nexus_id=self.nexus.pk)
        return Response(NexusChangesSerializer({"seq": seq, "changed": seq > int(raw)}).data)


@extend_schema_view(
    list=extend_schema(summary="List the Nexus's Scrum Teams"),
    retrieve=extend_schema(summary="Get a Scrum Team"),
    create=extend_schema(
        summary="Add a Scrum Team (administrators)",
        request=ScrumTeamCreateSerializer,
        responses={201: ScrumTeamSerializer},
        examples=[OpenApiExample("A team", request_only=True, value={"name": "Core", "wip_limit": 5})],
    ),
    partial_update=extend_schema(
        summary="Rename a Scrum Team or change its WIP limit (administrators)",
        description="Send only what changes. `name` is unique in the Nexus and the `slug` follows it (as "
        "when the team was added); `wip_limit`: PBIs the team has in progress at most, null for none. A new "
        "limit applies from the next move.",
        request=ScrumTeamUpdateSerializer,
        responses={200: ScrumTeamSerializer},
    ),
    destroy=extend_schema(
        summary="Delete a Scrum Team that never worked on a PBI (administrators)",
        description="Refused (409) while the team is forecast on any PBI (live or deleted) or the transition "
        "log names it: history is never lost; rename the team or remove its members instead. Otherwise "
        "deleted with its memberships and flow settings, each leaving a tombstone (`teams/deleted/`, "
        "`memberships/deleted/`, `flow-settings/deleted/`).",
        responses={204: None, 409: TEAM_IN_USE},
    ),
    deleted=tombstones_schema("Scrum Teams"),
)
class ScrumTeamViewSet(
    TombstonesMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    NexusScopedViewSet,
):
    """`/api/v1/nexuses/{nexus_slug}/teams/`: every member reads; administrators change them."""

    model = ScrumTeam
    serializer_class = ScrumTeamSerializer
    sync_field = "updated_at"
    tombstone_kind = TombstoneKind.TEAM
    rules: ClassVar[dict[str, str]] = {
        "create": perms.ADMIN,
        "partial_update": perms.ADMIN,
        "destroy": perms.ADMIN,
    }
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def base_queryset(self) -> QuerySet[ScrumTeam]:
        return ScrumTeam.objects.filter(nexus=self.nexus)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = ScrumTeamCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        team = team_create(nexus=self.nexus, **data.validated_data)
        return Response(ScrumTeamSerializer(team).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        team = self.get_object()
        data = ScrumTeamUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(ScrumTeamSerializer(team_update(team=team, **data.validated_data)).data)

    def perform_destroy(self, instance: ScrumTeam) -> None:
        team_delete(team=instance)


@extend_schema_view(
    list=extend_schema(summary="List the Nexus's memberships (who holds which role)"),
    retrieve=extend_schema(summary="Get a membership"),
    create=extend_schema(
        summary="Give a person a role (administrators)",
        description="Developers and Scrum Masters name their `team`; other roles none. A Nexus has exactly "
        "one Product Owner. Adding an existing membership returns it unchanged.",
        request=MembershipCreateSerializer,
        responses={201: MembershipSerializer},
        examples=[
            OpenApiExample(
                "A Developer", request_only=True, value={"username": "ada", "role": "developer", "team": 3}
            )
        ],
    ),
    destroy=extend_schema(
        summary="Take a role away: delete a membership (administrators)",
        description="A membership is a person's role (and, for Developers and Scrum Masters, team) in the "
        "Nexus, so it is not edited: to change a role or team, delete the membership and add the new one "
        "(`POST memberships/`). The deletion leaves a tombstone (`memberships/deleted/`). Removing the "
        "Product Owner leaves the Nexus without one until another is added.",
        responses={204: None},
    ),
    deleted=tombstones_schema(
        "memberships", "A deleted Scrum Team's memberships and a deleted user's are listed too."
    ),
)
class MembershipViewSet(
    TombstonesMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    NexusScopedViewSet,
):
    """`/api/v1/nexuses/{nexus_slug}/memberships/`: every member reads; administrators add and remove."""

    model = Membership
    serializer_class = MembershipSerializer
    sync_field = "updated_at"
    tombstone_kind = TombstoneKind.MEMBERSHIP
    rules: ClassVar[dict[str, str]] = {"create": perms.ADMIN, "destroy": perms.ADMIN}
    http_method_names = ["get", "post", "delete", "head", "options"]

    def base_queryset(self) -> QuerySet[Membership]:
        return Membership.objects.filter(nexus=self.nexus).select_related("user")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = MembershipCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        user = User.objects.filter(username=data.validated_data["username"]).first()
        if user is None:
            raise DomainError("No user with that username.", field="username")
        membership = membership_add(
            nexus=self.nexus, user=user, role=data.validated_data["role"], team=data.validated_data["team"]
        )
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: Membership) -> None:
        membership_remove(membership=instance)


@extend_schema_view(
    list=extend_schema(summary="List the Product Goals (the active one and earlier ones)"),
    retrieve=extend_schema(summary="Get a Product Goal"),
    create=extend_schema(
        summary="Set the Product Goal (Product Owner)",
        description="Refused (409, `text`) while a Product Goal is active: close it first.",
        request=ProductGoalWriteSerializer,
        responses={201: ProductGoalSerializer, 409: GOAL_ACTIVE},
        examples=[OpenApiExample("A goal", request_only=True, value={"text": "Checkout in one step"})],
    ),
    partial_update=extend_schema(
        summary="Edit the active Product Goal's text (Product Owner)",
        description="Refused (409, `text`) once the goal is closed.",
        request=ProductGoalWriteSerializer,
        responses={200: ProductGoalSerializer, 409: GOAL_CLOSED_EDIT},
    ),
    close=extend_schema(
        summary="Mark the active Product Goal achieved or abandoned (Product Owner)",
        description="Refused (409, `status`) when the goal is closed already.",
        request=ProductGoalCloseSerializer,
        responses={200: ProductGoalSerializer, 409: GOAL_CLOSED},
        examples=[OpenApiExample("Achieved", request_only=True, value={"status": "achieved"})],
    ),
    deleted=tombstones_schema(
        "Product Goals", "The API keeps closed goals; only an administrator deletes one (Django admin)."
    ),
)
class ProductGoalViewSet(
    TombstonesMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    NexusScopedViewSet,
):
    """`/api/v1/nexuses/{nexus_slug}/goals/`: every member reads; the Product Owner sets and closes them."""

    model = ProductGoal
    serializer_class = ProductGoalSerializer
    sync_field = "updated_at"
    tombstone_kind = TombstoneKind.GOAL
    rules: ClassVar[dict[str, str]] = {
        "create": perms.PRODUCT_OWNER,
        "partial_update": perms.PRODUCT_OWNER,
        "close": perms.PRODUCT_OWNER,
    }
    http_method_names = ["get", "post", "patch", "head", "options"]

    def base_queryset(self) -> QuerySet[ProductGoal]:
        return ProductGoal.objects.filter(backlog__nexus=self.nexus)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = ProductGoalWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        goal = goal_create(nexus=self.nexus, text=data.validated_data["text"])
        return Response(ProductGoalSerializer(goal).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        goal = self.get_object()
        data = ProductGoalWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(ProductGoalSerializer(goal_update(goal=goal, text=data.validated_data["text"])).data)

    @action(detail=True, methods=["post"])
    def close(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        goal = self.get_object()
        data = ProductGoalCloseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(
            ProductGoalSerializer(goal_close(goal=goal, status=data.validated_data["status"])).data
        )


@extend_schema_view(
    list=extend_schema(
        summary="List the labels of the Nexus's PBIs",
        description="In the order they were first used (by id); with `updated_since`, in the sync order "
        "(updated_at, id). Labels are created by giving an item a new one (an item's `labels` are names).",
    ),
    retrieve=extend_schema(summary="Get a label"),
    deleted=tombstones_schema("labels", "Labels are deleted by an administrator (Django admin)."),
)
class LabelViewSet(TombstonesMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, NexusScopedViewSet):
    """`/api/v1/nexuses/{nexus_slug}/labels/`: read-only (an item's `labels` create them)."""

    model = Label
    serializer_class = LabelSerializer
    sync_field = "updated_at"
    tombstone_kind = TombstoneKind.LABEL

    def ordering_keys(self) -> list[tuple[str, str]]:
        # By id (the order they were first used in), unless a sync client asks what changed or deleted.
        if self.action == "deleted" or self.sync_requested():
            return super().ordering_keys()
        return [("id", "int")]

    def base_queryset(self) -> QuerySet[Label]:
        return Label.objects.filter(nexus=self.nexus)
