"""REST resources of the Definition of Done and the Integrated Increments, under
`/api/v1/nexuses/{nexus_slug}/` (mounted by `integration.api_urls`).

Built like the other resources on `nexus_site.api`: keyset pages (`cursor`, `page_size`), `?updated_since=`,
tombstones (`deleted/`), `ETag`/`If-Match` from each row's `version`, `Idempotency-Key` on POST, examples
in the OpenAPI document. Every write goes through `integration.services_dod` and
`integration.services_increments`, whose refusals become 400/403/409/412 naming the field.

- `definition-of-done/`: the criteria (`team` null for the Nexus's own; list, create, get, PATCH, DELETE);
  `definition-of-done/versions/`: every version, newest first. The Nexus Integration Team edits the
  Nexus's criteria (rule `dod_edit`); a team's Developers and Scrum Master add its stricter ones.
- `increments/`: list (`?sprint=`, `?state=`), create, get; actions `integrate`, `confirm`, `done`
  (refused while a criterion is unconfirmed), `release`. The Product Owner and the Nexus Integration Team
  manage them (rule `increment_manage`); Developers confirm criteria (`increment_confirm`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import django_filters
from django.db.models import Prefetch, QuerySet
from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from events.models import Sprint
from integration.api_serializers import (
    ConfirmSerializer,
    DoneCriterionCreateSerializer,
    DoneCriterionSerializer,
    DoneCriterionUpdateSerializer,
    DoneVersionSerializer,
    IncrementCreateSerializer,
    IncrementSerializer,
    IntegrateSerializer,
    ReleaseSerializer,
)
from integration.apps import CRITERION_TOMBSTONE, INCREMENT_TOMBSTONE
from integration.models import (
    CriterionConfirmation,
    DoneCriterion,
    DoneVersion,
    IncrementItem,
    IncrementState,
    IntegratedIncrement,
)
from integration.services_dod import criterion_add, criterion_remove, criterion_update
from integration.services_increments import (
    increment_confirm,
    increment_create,
    increment_done,
    increment_integrate,
    increment_release,
)
from integration.services_rules import INCREMENT_CONFIRM_RULE, INCREMENT_MANAGE_RULE
from nexus_site.api.base import (
    PAGE_PARAMS,
    NexusScopedViewSet,
    StrictFilterSet,
    TombstonesMixin,
    tombstones_schema,
)
from nexus_site.api.etag import etag, if_match_version, not_modified
from nexus_site.api.permissions import EDIT_ITEMS
from nexus_site.api.schema import ETAG_HEADER, IF_MATCH, conflict, error, precondition, retrieve_with_etag

MANAGE = INCREMENT_MANAGE_RULE


NOT_ALLOWED = error(
    "You may not write this criterion: a Scrum Team never removes or weakens the Nexus's (`team`).",
    OpenApiExample(
        "A team's Developer changing the Nexus's criterion",
        value={
            "status": 403,
            "code": "permission_denied",
            "message": "Only the Nexus Integration Team changes the Nexus's Definition of Done; a Scrum Team "
            "adds stricter criteria of its own and never removes or weakens the Nexus's.",
            "errors": [{"field": "team", "code": "permission_denied", "message": "..."}],
        },
        response_only=True,
        status_codes=["403"],
    ),
)
INCREMENT_CONFLICT = conflict(
    "The increment is not in the state this needs (`state`), a criterion is unconfirmed (`criteria`), "
    "a criterion is confirmed already (`criterion`), a PBI's squares are not all filled or it is in "
    "another increment (`item`), or no PBI is integrated yet (`items`).",
    "Every criterion of the Definition of Done must be confirmed first; not yet: Screen-reader checked.",
    "criteria",
)


def _respond(row: Any, data: Any, *, code: int = 200, location: str | None = None) -> Response:
    response = Response(data, status=code)
    response["ETag"] = etag(row.version)
    if location:
        response["Location"] = location
    return response


# --- The Definition of Done ---------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="The Definition of Done's criteria (the Nexus's and each team's)",
        description="Ordered by position, then id; `team` null: the Nexus's own. A team's Definition of Done "
        "is the Nexus's criteria plus its own. Removed criteria are in `definition-of-done/deleted/`.",
    ),
    retrieve=retrieve_with_etag("a criterion", DoneCriterionSerializer),
    create=extend_schema(
        summary="Add a criterion (Nexus Integration Team; a team's Developers for its own)",
        description="`team` null or absent: a criterion of the Nexus's Definition of Done, only the Nexus "
        "Integration Team adds those (403 naming `team` otherwise). With `team`, a stricter criterion of "
        "that Scrum Team, added by its Developers or Scrum Master. Makes a new version.",
        request=DoneCriterionCreateSerializer,
        responses={201: DoneCriterionSerializer, 403: NOT_ALLOWED},
        parameters=[ETAG_HEADER],
        examples=[
            OpenApiExample(
                "The Nexus's", request_only=True, value={"text": "Deployed to the staging system"}
            ),
            OpenApiExample(
                "A team's stricter one", request_only=True, value={"text": "Screen-reader checked", "team": 3}
            ),
        ],
    ),
    partial_update=extend_schema(
        summary="Change a criterion's text or position (its owner)",
        description="A Scrum Team never changes the Nexus's criteria (403 naming `team`). With `If-Match`, "
        "412 if it changed since you read it. Makes a new version.",
        request=DoneCriterionUpdateSerializer,
        responses={200: DoneCriterionSerializer, 403: NOT_ALLOWED, 412: precondition("the criterion")},
        parameters=[IF_MATCH, ETAG_HEADER],
        examples=[OpenApiExample("Sharper", request_only=True, value={"text": "Reviewed by two people"})],
    ),
    destroy=extend_schema(
        summary="Remove a criterion (its owner)",
        description="A Scrum Team never removes the Nexus's criteria (403 naming `team`). Increments keep "
        "the version they carry. Makes a new version; leaves a tombstone.",
        parameters=[IF_MATCH],
        responses={204: None, 403: NOT_ALLOWED, 412: precondition("the criterion")},
    ),
    deleted=tombstones_schema("criteria", "Removed through `DELETE definition-of-done/{id}/`."),
)
class DoneCriterionViewSet(TombstonesMixin, NexusScopedViewSet):
    """`/api/v1/nexuses/{nexus_slug}/definition-of-done/`."""

    model = DoneCriterion
    serializer_class = DoneCriterionSerializer
    sync_field = "updated_at"
    tombstone_kind = CRITERION_TOMBSTONE
    # Every member but Stakeholders may try; the service decides whose criteria (403 naming `team`).
    rules: ClassVar[dict[str, str]] = {
        "create": EDIT_ITEMS,
        "partial_update": EDIT_ITEMS,
        "destroy": EDIT_ITEMS,
    }
    action_query_params: ClassVar[dict[str, tuple[str, ...]]] = {"versions": PAGE_PARAMS}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def base_queryset(self) -> QuerySet[DoneCriterion]:
        return DoneCriterion.objects.filter(nexus=self.nexus)

    def ordering_keys(self) -> list[tuple[str, str]]:
        if self.action == "deleted":
            return super().ordering_keys()
        if self.action == "versions":
            return [("neg_number", "int")]
        if self.sync_requested():
            return [("updated_at", "datetime"), ("id", "int")]
        return [("position", "int"), ("id", "int")]

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(DoneCriterionSerializer(page, many=True).data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        row = self.get_object()
        if (current := not_modified(request, row.version)) is not None:
            return current
        return _respond(row, DoneCriterionSerializer(row).data)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = DoneCriterionCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        values = data.validated_data
        row = criterion_add(
            nexus=self.nexus,
            text=values["text"],
            team=values.get("team"),
            position=values.get("position"),
            actor=request.user,
        )
        url = request.build_absolute_uri(reverse("api:done-criterion-detail", args=[self.nexus.slug, row.pk]))
        return _respond(row, DoneCriterionSerializer(row).data, code=status.HTTP_201_CREATED, location=url)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        row = self.get_object()
        expected = if_match_version(request)
        data = DoneCriterionUpdateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        values = data.validated_data
        row = criterion_update(
            criterion=row,
            actor=request.user,
            text=values.get("text"),
            position=values.get("position"),
            expected_version=expected,
        )
        return _respond(row, DoneCriterionSerializer(row).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        criterion_remove(
            criterion=self.get_object(), actor=request.user, expected_version=if_match_version(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="The Definition of Done's versions, newest first",
        description="Each write of a criterion makes a version: the whole Definition of Done then, who and "
        "when. Versions are never changed; an Integrated Increment carries the one in force when it was "
        "created.",
        responses={200: DoneVersionSerializer(many=True)},
        filters=False,
    )
    @action(detail=False, methods=["get"], filter_backends=[])
    def versions(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        from django.db.models import F

        rows = (
            DoneVersion.objects.filter(nexus=self.nexus)
            .select_related("created_by")
            .annotate(neg_number=-F("number"))
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(DoneVersionSerializer(page, many=True).data)


# --- Integrated Increments -----------------------------------------------------------------------------


def _nexus_sprints(request: Any) -> QuerySet[Sprint]:
    return Sprint.objects.filter(nexus=request.parser_context["view"].nexus)


class IncrementFilter(StrictFilterSet):
    sprint = django_filters.ModelChoiceFilter(queryset=_nexus_sprints, help_text="Of this Sprint (id)")
    state = django_filters.ChoiceFilter(choices=IncrementState.choices, help_text="open or done")

    class Meta:
        model = IntegratedIncrement
        fields = ["sprint", "state"]


def increment_queryset() -> QuerySet[IntegratedIncrement]:
    """Increments with what `IncrementSerializer` reads: a fixed number of queries per page."""
    return IntegratedIncrement.objects.select_related("dod_version").prefetch_related(
        Prefetch(
            "confirmations",
            queryset=CriterionConfirmation.objects.select_related("confirmed_by").order_by("id"),
        ),
        Prefetch(
            "items", queryset=IncrementItem.objects.only("id", "increment_id", "item_id").order_by("id")
        ),
    )


def _increment_response(request: Request, increment: IntegratedIncrement, *, code: int = 200) -> Response:
    fresh = increment_queryset().get(pk=increment.pk)
    location = None
    if code == status.HTTP_201_CREATED:
        location = request.build_absolute_uri(
            reverse("api:increment-detail", args=[request.parser_context["view"].nexus.slug, fresh.pk])
        )
    return _respond(fresh, IncrementSerializer(fresh).data, code=code, location=location)


@extend_schema_view(
    list=extend_schema(
        summary="The Integrated Increments (by number; the sync order with updated_since)",
        description="Every increment of the Nexus, open and Done, with its criteria (confirmed or not) and "
        "the ids of its PBIs.",
    ),
    retrieve=retrieve_with_etag("an Integrated Increment", IncrementSerializer),
    create=extend_schema(
        summary="Start an Integrated Increment of a Sprint (Product Owner, Nexus Integration Team)",
        description="Several per Sprint are allowed (one may be delivered before the Sprint ends). "
        "It carries the Definition of Done version in force now. "
        "A Sprint not started yet: 409 naming `sprint`.",
        request=IncrementCreateSerializer,
        responses={201: IncrementSerializer, 409: INCREMENT_CONFLICT},
        parameters=[ETAG_HEADER],
        examples=[
            OpenApiExample("Mid-Sprint", request_only=True, value={"sprint": 12, "name": "Record patterns"})
        ],
    ),
    deleted=tombstones_schema("Integrated Increments", "They go with their Sprint or Nexus."),
)
class IncrementViewSet(TombstonesMixin, NexusScopedViewSet):
    """`/api/v1/nexuses/{nexus_slug}/increments/`."""

    model = IntegratedIncrement
    serializer_class = IncrementSerializer
    filterset_class = IncrementFilter
    sync_field = "updated_at"
    tombstone_kind = INCREMENT_TOMBSTONE
    rules: ClassVar[dict[str, str]] = {
        "create": MANAGE,
        "integrate": MANAGE,
        "done": MANAGE,
        "release": MANAGE,
        "confirm": INCREMENT_CONFIRM_RULE,
    }
    http_method_names = ["get", "post", "head", "options"]

    def base_queryset(self) -> QuerySet[IntegratedIncrement]:
        return increment_queryset().filter(nexus=self.nexus)

    def ordering_keys(self) -> list[tuple[str, str]]:
        if self.action == "deleted":
            return super().ordering_keys()
        if self.sync_requested():
            return [("updated_at", "datetime"), ("id", "int")]
        return [("number", "int")]

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(IncrementSerializer(page, many=True).data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        row = self.get_object()
        if (current := not_modified(request, row.version)) is not None:
            return current
        return _respond(row, IncrementSerializer(row).data)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = IncrementCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        values = data.validated_data
        row = increment_create(sprint=values["sprint"], actor=request.user, name=values.get("name", ""))
        return _increment_response(request, row, code=status.HTTP_201_CREATED)

    def _row(self) -> IntegratedIncrement:
        return IntegratedIncrement.objects.get(pk=self.get_object().pk)

    @extend_schema(
        summary="Integrate a PBI into the increment (Product Owner, Nexus Integration Team)",
        description="Only when every team square of the PBI is filled (ready to integrate or Done), and the "
        "PBI is in no other increment: else 409 naming `item`. A Done increment: 409 naming `state`.",
        request=IntegrateSerializer,
        responses={200: IncrementSerializer, 409: INCREMENT_CONFLICT, 412: precondition("the increment")},
        parameters=[IF_MATCH, ETAG_HEADER],
        examples=[OpenApiExample("A PBI", request_only=True, value={"item": 4711})],
    )
    @action(detail=True, methods=["post"])
    def integrate(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        row = self._row()
        expected = if_match_version(request)
        data = IntegrateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        increment_integrate(
            increment=row, item=data.validated_data["item"], actor=request.user, expected_version=expected
        )
        return _increment_response(request, row)

    @extend_schema(
        summary="Confirm a criterion of the increment's Definition of Done (Developers)",
        description="With who (you), when (now) and an optional evidence link (a CI run, a test report). The "
        "Nexus's criteria: any Developer; a team's stricter one: its own Developers (403 naming "
        "`criterion`). Confirmed already: 409 naming `criterion`; a criterion not in the increment's "
        "version: 400 naming `criterion`.",
        request=ConfirmSerializer,
        responses={200: IncrementSerializer, 409: INCREMENT_CONFLICT, 412: precondition("the increment")},
        parameters=[IF_MATCH, ETAG_HEADER],
        examples=[
            OpenApiExample(
                "With evidence",
                request_only=True,
                value={"criterion": 41, "evidence_url": "https://ci.example.com/runs/981"},
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def confirm(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        row = self._row()
        expected = if_match_version(request)
        data = ConfirmSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        increment_confirm(
            increment=row,
            criterion=values["criterion"],
            evidence_url=values.get("evidence_url", ""),
            actor=request.user,
            expected_version=expected,
        )
        return _increment_response(request, row)

    @extend_schema(
        summary="Mark the increment Done (Product Owner, Nexus Integration Team)",
        description="Refused (409 naming `criteria`) while a criterion is unconfirmed, and (`items`) with no "
        "PBI. Then every square of its PBIs is ticked (Done) and each PBI enters the Nexus's finished column "
        "(logged, source `system`). Sends `increment.done`.",
        request=None,
        responses={200: IncrementSerializer, 409: INCREMENT_CONFLICT, 412: precondition("the increment")},
        parameters=[IF_MATCH, ETAG_HEADER],
    )
    @action(detail=True, methods=["post"])
    def done(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        row = self._row()
        increment_done(increment=row, actor=request.user, expected_version=if_match_version(request))
        return _increment_response(request, row)

    @extend_schema(
        summary="Mark a Done increment released to stakeholders (Product Owner, Nexus Integration Team)",
        description="On `released_on` (default today in the Nexus's time zone). Not Done, or released "
        "already: 409 naming `state`. Sends `increment.released`.",
        request=ReleaseSerializer,
        responses={200: IncrementSerializer, 409: INCREMENT_CONFLICT, 412: precondition("the increment")},
        parameters=[IF_MATCH, ETAG_HEADER],
        examples=[OpenApiExample("On a day", request_only=True, value={"released_on": "2025-03-17"})],
    )
    @action(detail=True, methods=["post"])
    def release(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        row = self._row()
        expected = if_match_version(request)
        data = ReleaseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        increment_release(
            increment=row,
            actor=request.user,
            released_on=data.validated_data.get("released_on"),
            expected_version=expected,
        )
        return _increment_response(request, row)
