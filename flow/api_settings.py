"""REST resource of the flow settings: `/api/v1/nexuses/{nexus_slug}/flow-settings/`.

The Service Level Expectation and the kind of WIP limit (hard or soft) of the Nexus and of each of its
Scrum Teams, as the flow settings page shows and sets them (`flow.services.flow_settings_set`): every
member reads them; the Product Owner, the Nexus Integration Team and superusers set them (rule
`flow_settings`). A scope without a row uses the defaults (`FlowSettings`). A row deleted (with its
Scrum Team, or in the admin) leaves a tombstone, listed by `flow-settings/deleted/` (the kind is
registered in `FlowConfig.ready`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from backlog.models import ScrumTeam, WipLimitKind
from flow.models import FLOW_SETTINGS_TOMBSTONE, FlowSettings
from flow.services import FLOW_SETTINGS_RULE, flow_settings_set
from nexus_site.api.base import NexusScopedViewSet, TombstonesMixin, tombstones_schema
from nexus_site.api.fields import NexusRefField, StrictChoiceField, StrictIntegerField, StrictSerializer

FLOW_SETTINGS = FLOW_SETTINGS_RULE  # the permission rule `FlowConfig.ready` registers

EXAMPLE = {
    "id": 4,
    "team": 3,
    "sle_percent": 85,
    "sle_days": 14,
    "wip_limit_kind": "hard",
    "updated_at": "2025-03-03T09:30:00.000000Z",
    "updated_by": "nit",
}


@extend_schema_serializer(
    examples=[
        OpenApiExample("The Core team's SLE", value=EXAMPLE, response_only=True, status_codes=["200", "201"])
    ]
)
class FlowSettingsSerializer(serializers.ModelSerializer):
    """The flow settings of one scope: the Nexus (`team` null) or one Scrum Team (its id).

    Service Level Expectation (Kanban Guide for Scrum Teams): "`sle_percent`% of items finish within
    `sle_days` calendar days"; `sle_days` null means the `sle_percent`th percentile (nearest rank) of
    the Cycle Times of the items finished in the 90 days up to the day. `wip_limit_kind`: whether the
    scope's WIP limit (`wip_limit` of the Nexus or of the Scrum Team) refuses a move (`hard`) or warns
    (`soft`); it belongs to the Nexus or the Scrum Team (part of its Definition of Workflow) and is
    read from there. A scope with no row here has the default SLE: 85%, days from recent Cycle Times."""

    updated_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Who set them last (username)"
    )
    wip_limit_kind = serializers.ChoiceField(
        choices=WipLimitKind.choices,
        read_only=True,
        help_text="The kind of the scope's WIP limit, as the Nexus or Scrum Team has it now",
    )

    class Meta:
        model = FlowSettings
        fields = ["id", "team", "sle_percent", "sle_days", "wip_limit_kind", "updated_at", "updated_by"]
        read_only_fields = fields


class FlowSettingsWriteSerializer(StrictSerializer):
    team = NexusRefField(
        model=ScrumTeam,
        scope="nexus",
        allow_null=True,
        help_text="The Scrum Team (id) whose settings these are; null for the whole Nexus",
    )
    sle_percent = StrictIntegerField(
        min_value=1, max_value=100, help_text="N in 'N% of items finish within D days'"
    )
    sle_days = StrictIntegerField(
        min_value=1,
        max_value=3650,
        allow_null=True,
        required=False,
        default=None,
        help_text="D, calendar days; null or left out: the N-th percentile of recent Cycle Times",
    )
    wip_limit_kind = StrictChoiceField(
        choices=WipLimitKind.choices, required=False, default=WipLimitKind.SOFT
    )


@extend_schema_view(
    list=extend_schema(
        summary="List the flow settings that are set (Service Level Expectations, WIP limit kinds)",
        description="One row per scope that has settings: the Nexus (`team` null) and Scrum Teams. Scopes "
        "without a row have the default SLE (85% within the 85th percentile of recent Cycle Times); their "
        "WIP limit kind is the Nexus's or the Scrum Team's (soft unless set).",
    ),
    retrieve=extend_schema(summary="Get the flow settings of one scope"),
    create=extend_schema(
        summary="Set the flow settings of a scope (Product Owner, Nexus Integration Team)",
        description="Creates the scope's row (201) or replaces its values (200): sending the same body "
        "again changes nothing. `team` null is the whole Nexus.",
        request=FlowSettingsWriteSerializer,
        responses={200: FlowSettingsSerializer, 201: FlowSettingsSerializer},
        examples=[
            OpenApiExample(
                "A team's SLE, hard WIP limit",
                request_only=True,
                value={"team": 3, "sle_percent": 85, "sle_days": 14, "wip_limit_kind": "hard"},
            ),
            OpenApiExample(
                "The Nexus's SLE from Cycle Times", request_only=True, value={"team": None, "sle_percent": 70}
            ),
        ],
    ),
    deleted=tombstones_schema(
        "flow settings",
        "A Scrum Team's flow settings are deleted with the team; its scope then has the defaults.",
    ),
)
class FlowSettingsViewSet(
    TombstonesMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    NexusScopedViewSet,
):
    """`/api/v1/nexuses/{nexus_slug}/flow-settings/`."""

    model = FlowSettings
    serializer_class = FlowSettingsSerializer
    sync_field = "updated_at"
    tombstone_kind = FLOW_SETTINGS_TOMBSTONE
    rules: ClassVar[dict[str, str]] = {"create": FLOW_SETTINGS}

    def base_queryset(self) -> QuerySet[FlowSettings]:
        # `team` and `nexus` for `wip_limit_kind`, which lives on them (backlog)
        return FlowSettings.objects.filter(nexus=self.nexus).select_related("updated_by", "team", "nexus")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = FlowSettingsWriteSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        values = data.validated_data
        existed = FlowSettings.objects.filter(nexus=self.nexus, team=values["team"]).exists()
        row = flow_settings_set(
            nexus=self.nexus,
            team=values["team"],
            actor=request.user,
            sle_percent=values["sle_percent"],
            sle_days=values["sle_days"],
            wip_limit_kind=values["wip_limit_kind"],
        )
        code = status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        return Response(FlowSettingsSerializer(row).data, status=code)
