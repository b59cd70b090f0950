"""API views of the Nexus and its structure: Nexuses, Scrum Teams, memberships, Product Goals, the
Definition of Workflow. Writes call `backlog.services`; permissions are `backlog.api.permissions`."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import User
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from backlog import selectors
from backlog.api import permissions as perms
from backlog.api.base import ApiViewSet, NexusScopedMixin, NexusScopedViewSet
from backlog.api.serializers_structure import (
    LabelSerializer,
    MembershipCreateSerializer,
    MembershipSerializer,
    NexusCreateSerializer,
    NexusSerializer,
    ProductGoalCloseSerializer,
    ProductGoalSerializer,
    ProductGoalWriteSerializer,
    ScrumTeamCreateSerializer,
    ScrumTeamSerializer,
    WorkflowColumnSerializer,
)
from backlog.errors import DomainError, NotAllowed
from backlog.models import Label, Membership, Nexus, ProductGoal, ScrumTeam, WorkflowColumn
from backlog.services import (
    ColumnSpec,
    goal_close,
    goal_create,
    goal_update,
    membership_add,
    nexus_create,
    team_create,
)


@extend_schema_view(
    list=extend_schema(
        summary="List the Nexuses you belong to",
        description="Every Nexus you are a member of (all of them for an administrator), by id.",
    ),
    retrieve=extend_schema(summary="Get a Nexus"),
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
    """`/api/v1/nexuses/`: the Nexuses of the user."""

    model = Nexus
    serializer_class = NexusSerializer
    sync_field = "updated_at"
    lookup_field = "slug"
    lookup_url_kwarg = "nexus_slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]{1,80}"

    def get_permissions(self) -> Any:
        # `/nexuses/` itself (list, create, OPTIONS) names no Nexus: being logged in is enough there.
        if self.lookup_url_kwarg not in self.kwargs:
            return [IsAuthenticated()]
        return super().get_permissions()

    def base_queryset(self) -> QuerySet[Nexus]:
        return selectors.nexus_list_for_user(user=self.request.user)

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


@extend_schema_view(
    list=extend_schema(summary="List the Nexus's Scrum Teams"),
    retrieve=extend_schema(summary="Get a Scrum Team"),
    create=extend_schema(
        summary="Add a Scrum Team (administrators)",
        request=ScrumTeamCreateSerializer,
        responses={201: ScrumTeamSerializer},
        examples=[OpenApiExample("A team", request_only=True, value={"name": "Core", "wip_limit": 5})],
    ),
)
class ScrumTeamViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, NexusScopedViewSet
):
    model = ScrumTeam
    serializer_class = ScrumTeamSerializer
    sync_field = "updated_at"
    rules: ClassVar[dict[str, str]] = {"create": perms.ADMIN}

    def base_queryset(self) -> QuerySet[ScrumTeam]:
        return ScrumTeam.objects.filter(nexus=self.nexus)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = ScrumTeamCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        team = team_create(nexus=self.nexus, **data.validated_data)
        return Response(ScrumTeamSerializer(team).data, status=status.HTTP_201_CREATED)


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
)
class MembershipViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, NexusScopedViewSet
):
    model = Membership
    serializer_class = MembershipSerializer
    sync_field = "updated_at"
    rules: ClassVar[dict[str, str]] = {"create": perms.ADMIN}

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


@extend_schema_view(
    list=extend_schema(summary="List the Product Goals (the active one and earlier ones)"),
    retrieve=extend_schema(summary="Get a Product Goal"),
    create=extend_schema(
        summary="Set the Product Goal (Product Owner)",
        description="Refused (400, `text`) while a Product Goal is active: close it first.",
        request=ProductGoalWriteSerializer,
        responses={201: ProductGoalSerializer},
        examples=[OpenApiExample("A goal", request_only=True, value={"text": "Checkout in one step"})],
    ),
    partial_update=extend_schema(
        summary="Edit the active Product Goal's text (Product Owner)",
        request=ProductGoalWriteSerializer,
        responses={200: ProductGoalSerializer},
    ),
    close=extend_schema(
        summary="Mark the active Product Goal achieved or abandoned (Product Owner)",
        request=ProductGoalCloseSerializer,
        responses={200: ProductGoalSerializer},
        examples=[OpenApiExample("Achieved", request_only=True, value={"status": "achieved"})],
    ),
)
class ProductGoalViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, NexusScopedViewSet
):
    model = ProductGoal
    serializer_class = ProductGoalSerializer
    sync_field = "updated_at"
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
        summary="List the Definition of Workflow's columns",
        description="Left to right by `position`; exactly one column is `is_start` (work counts as started) "
        "and one `is_finish` (finished). Read-only here. With `updated_since`, in the sync order "
        "(updated_at, id) instead.",
    ),
    retrieve=extend_schema(summary="Get a column of the Definition of Workflow"),
)
class WorkflowColumnViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, NexusScopedViewSet):
    model = WorkflowColumn
    serializer_class = WorkflowColumnSerializer
    sync_field = "updated_at"

    def ordering_keys(self) -> list[tuple[str, str]]:
        # Left to right, unless a sync client asks what changed (a reorder moves `position`).
        return super().ordering_keys() if self.sync_requested() else [("position", "int")]

    def base_queryset(self) -> QuerySet[WorkflowColumn]:
        return WorkflowColumn.objects.filter(nexus=self.nexus)


@extend_schema_view(
    list=extend_schema(
        summary="List the labels of the Nexus's PBIs",
        description="In the order they were first used (by id); with `updated_since`, in the sync order "
        "(updated_at, id). Labels are created by giving an item a new one (an item's `labels` are names).",
    ),
    retrieve=extend_schema(summary="Get a label"),
)
class LabelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, NexusScopedViewSet):
    model = Label
    serializer_class = LabelSerializer
    sync_field = "updated_at"

    def ordering_keys(self) -> list[tuple[str, str]]:
        # By id (the order they were first used in), unless a sync client asks what changed.
        return super().ordering_keys() if self.sync_requested() else [("id", "int")]

    def base_queryset(self) -> QuerySet[Label]:
        return Label.objects.filter(nexus=self.nexus)
