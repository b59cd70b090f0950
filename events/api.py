"""REST resource of the Sprints: `/api/v1/nexuses/{nexus_slug}/sprints/` (mounted by `events.api_urls`).

Built like `backlog`'s resources on `nexus_site.api`: keyset pages (`cursor`, `page_size`), `?updated_since=`,
tombstones (`sprints/deleted/`), `ETag`/`If-Match` from the Sprint's `version`, `Idempotency-Key` on POST,
examples in the OpenAPI document. Every member reads; the Product Owner and the Nexus Integration Team
create, start, close and delete (rule `sprint_planning`, registered in `EventsConfig.ready`); they and
each Scrum Team's representatives (Developers, Scrum Masters) plan into the team lanes and write the
team Sprint Goals (rule `sprint_lanes`: `items/` POST and DELETE, PATCH), where the services let a
representative touch only their own team's lane and goal (403 naming `team`, `goal` or `team_goals`).
Every write goes through `events.services`, whose refusals become 400/403/409/412 naming the field.

- `sprints/`: list (by number; the sync order with `updated_since`), create; `sprints/{id}/`: get, PATCH
  (dates, the Nexus Sprint Goal, the team Sprint Goals), DELETE (a planned Sprint only);
- `sprints/{id}/start/`, `sprints/{id}/close/` (where each unfinished PBI goes);
- `sprints/{id}/items/`: the scope with its team squares (GET), plan a PBI (POST); `sprints/{id}/items/
  {item_id}/`: unplan (DELETE);
- `sprints/{id}/scope-log/`: the typed, append-only scope log.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import F, Prefetch, QuerySet
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from backlog.errors import DomainError
from backlog.models import ProductBacklogItem, Source
from events.api_serializers import (
    ScopeChangeSerializer,
    SprintCloseSerializer,
    SprintCreateSerializer,
    SprintItemSerializer,
    SprintPlanSerializer,
    SprintSerializer,
    SprintUpdateSerializer,
)
from events.apps import SPRINT_TOMBSTONE
from events.models import Sprint, SprintItem, SprintScopeChange, SprintTeamGoal
from events.services import (
    SPRINT_LANES_RULE,
    SPRINT_PLANNING_RULE,
    sprint_close,
    sprint_create,
    sprint_delete,
    sprint_plan,
    sprint_start,
    sprint_unplan,
    sprint_update,
)
from events.sprint_selectors import sprint_rows
from nexus_site.api.base import (
    ID_REGEX,
    PAGE_PARAMS,
    NexusScopedViewSet,
    TombstonesMixin,
    UpdatedSinceFilter,
    tombstones_schema,
    updated_since_param,
)
from nexus_site.api.etag import etag, if_match_version, not_modified, versioned_response
from nexus_site.api.schema import (
    ETAG_HEADER,
    IF_MATCH,
    conflict,
    error,
    precondition,
    retrieve_with_etag,
)

PLAN = SPRINT_PLANNING_RULE
LANES = SPRINT_LANES_RULE

PRECONDITION = precondition("the Sprint")


OVERLAP = conflict(
    "The days overlap another Sprint (`start_date`), or the Sprint is closed (`sprint`) or started "
    "(`start_date`: a started Sprint keeps its start); or an `Idempotency-Key` in progress.",
    "2025-03-10 to 2025-03-23 overlaps Sprint 7 (2025-03-03 to 2025-03-16): the Sprints of a Nexus never "
    "overlap.",
    "start_date",
)
STATE_CONFLICT = conflict(
    "The Sprint is not in the state this needs, or another Sprint is active (`state`).",
    "Sprint 7 is active: a Nexus has one active Sprint. Close it first.",
    "state",
)
PLAN_CONFLICT = conflict(
    "The Sprint is closed (`sprint`), or the PBI is Done or in another open Sprint (`item`).",
    "“Quick fix for sealed switches” is in Sprint 8 already: a PBI is in one open Sprint at a time.",
    "item",
)

LANE_MESSAGE = (
    "Only Team B's representatives (Developers and Scrum Masters), the Product Owner and the Nexus "
    "Integration Team plan into Team B's lane; you represent Team A. Nothing was changed."
)
LANE_REFUSED = error(
    "Not your team's lane (`team`): a team's representative plans into and takes out of their own "
    "team's lane only; Stakeholders read.",
    OpenApiExample(
        "A Developer of Team A planning into Team B's lane",
        value={
            "status": 403,
            "code": "permission_denied",
            "message": LANE_MESSAGE,
            "errors": [{"field": "team", "code": "permission_denied", "message": LANE_MESSAGE}],
        },
        response_only=True,
        status_codes=["403"],
    ),
)


def _sprint_response(request: Request, sprint: Sprint, *, code: int = 200) -> Response:
    sprint = Sprint.objects.prefetch_related("team_goals").get(pk=sprint.pk)
    return versioned_response(
        request, sprint, SprintSerializer(sprint).data, detail="api:sprint-detail", code=code
    )


def _item_rows(sprint: Sprint, rows: list[SprintItem]) -> list[dict[str, Any]]:
    """The page's scope rows with their squares, group and Work Item Age (a fixed number of queries)."""
    added = {r.item_id: r.added_at for r in rows}
    items = list(
        ProductBacklogItem.objects.filter(pk__in=added).annotate(
            started_on=F("flow__started_on"), finished_on=F("flow__finished_on")
        )
    )
    by_id = {i.pk: i for i in items}
    ordered = [by_id[r.item_id] for r in rows if r.item_id in by_id]
    return [
        {
            "item": row.item.pk,
            "title": row.item.title,
            "column": row.item.column_id,
            "rank": row.item.rank,
            "squares": [
                {"team": team, "status": sq.status}
                for team, sq in zip(row.team_ids, row.squares, strict=True)
            ],
            "group": row.group,
            "age": row.age,
            "added_at": added[row.item.pk],
            "updated_at": row.item.updated_at,
        }
        for row in sprint_rows(sprint=sprint, items=ordered)
    ]


@extend_schema_view(
    list=extend_schema(
        summary="List the Sprints (by number; the sync order with updated_since)",
        description="Every Sprint of the Nexus, planned, active and closed. Deleted (planned) Sprints are in "
        "`sprints/deleted/`.",
    ),
    retrieve=retrieve_with_etag("a Sprint", SprintSerializer),
    create=extend_schema(
        summary="Plan a new Sprint (Product Owner, Nexus Integration Team)",
        description="Numbered after the last one. Without dates it starts the day after the last Sprint "
        "ends (else today in the Nexus's time zone) and lasts the Nexus's `sprint_length_days`. Days that "
        "overlap another Sprint answer 409 naming `start_date`.",
        request=SprintCreateSerializer,
        responses={201: SprintSerializer, 409: OVERLAP},
        parameters=[ETAG_HEADER],
        examples=[
            OpenApiExample(
                "The next Sprint, with goals",
                request_only=True,
                value={
                    "goal": "Java 21 record patterns compile, format and refactor end to end.",
                    "team_goals": [{"team": 3, "goal": "The compiler accepts nested record patterns."}],
                },
            ),
            OpenApiExample(
                "Given dates", request_only=True, value={"start_date": "2025-03-17", "end_date": "2025-03-30"}
            ),
        ],
    ),
    partial_update=extend_schema(
        summary="Change a Sprint's goals or dates (Product Owner, NIT; a team's representatives its goal)",
        description="Send only what changes; `team_goals` replaces them all. With `If-Match` the change is "
        "refused (412) if someone changed the Sprint since you read it. A closed Sprint never changes "
        "(409 `sprint`); a started one keeps its start date. A team's representative (Developer, Scrum "
        "Master) changes only their own team's Sprint Goal: a changed Nexus Sprint Goal, dates or another "
        "team's goal is a 403 naming `goal`, `start_date`/`end_date` or `team_goals` (send the other "
        "teams' goals as they are), nothing saved.",
        request=SprintUpdateSerializer,
        responses={200: SprintSerializer, 409: OVERLAP, 412: PRECONDITION},
        parameters=[IF_MATCH, ETAG_HEADER],
        examples=[
            OpenApiExample("A sharper goal", request_only=True, value={"goal": "Record patterns ship."}),
            OpenApiExample(
                "The team goals (a representative: their own changed, the others as they are)",
                request_only=True,
                value={
                    "team_goals": [
                        {"team": 3, "goal": "The compiler accepts nested record patterns."},
                        {"team": 4, "goal": "Quick fixes for record patterns."},
                    ]
                },
            ),
        ],
    ),
    destroy=extend_schema(
        summary="Delete a planned Sprint (Product Owner, Nexus Integration Team)",
        description="Its PBIs stay in the Product Backlog with their squares. A started Sprint is history: "
        "409 naming `state`.",
        parameters=[IF_MATCH],
        responses={204: None, 409: STATE_CONFLICT, 412: PRECONDITION},
    ),
    deleted=tombstones_schema("Sprints", "Only planned Sprints are deleted (`DELETE sprints/{id}/`)."),
)
class SprintViewSet(TombstonesMixin, NexusScopedViewSet):
    """`/api/v1/nexuses/{nexus_slug}/sprints/`."""

    model = Sprint
    serializer_class = SprintSerializer
    sync_field = "updated_at"
    tombstone_kind = SPRINT_TOMBSTONE
    rules: ClassVar[dict[str, str]] = {
        "create": PLAN,
        # The service decides per field: a representative writes only their own team's Sprint Goal.
        "partial_update": LANES,
        "destroy": PLAN,
        "start": PLAN,
        "close": PLAN,
        # The service decides per team: a representative plans only their own team's lane.
        "plan": LANES,
        "unplan": LANES,
    }
    action_query_params: ClassVar[dict[str, tuple[str, ...]]] = {
        "items": (UpdatedSinceFilter.param, *PAGE_PARAMS),
        "scope_log": (UpdatedSinceFilter.param, *PAGE_PARAMS),
    }
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def base_queryset(self) -> QuerySet[Sprint]:
        return Sprint.objects.filter(nexus=self.nexus).prefetch_related(
            Prefetch("team_goals", queryset=SprintTeamGoal.objects.order_by("team_id", "id"))
        )

    def ordering_keys(self) -> list[tuple[str, str]]:
        if self.action == "deleted":
            return super().ordering_keys()
        if self.action == "items":
            if self.sync_requested():
                return [("item_updated_at", "datetime"), ("id", "int")]
            return [("item_rank", "int")]
        if self.action == "scope_log":
            return [("at", "datetime"), ("id", "int")]
        if self.sync_requested():
            return [("updated_at", "datetime"), ("id", "int")]
        return [("number", "int")]

    def _locked_sprint(self) -> Sprint:
        """The Sprint of the URL (404 if not of this Nexus), for a service to lock and re-read."""
        return Sprint.objects.select_related("nexus").get(pk=self.get_object().pk)

    # --- CRUD ----------------------------------------------------------------------------------------

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(SprintSerializer(page, many=True).data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        sprint = self.get_object()
        if (current := not_modified(request, sprint.version)) is not None:
            return current
        response = Response(SprintSerializer(sprint).data)
        response["ETag"] = etag(sprint.version)
        return response

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = SprintCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        values = data.validated_data
        sprint = sprint_create(
            nexus=self.nexus,
            actor=request.user,
            start_date=values.get("start_date"),
            end_date=values.get("end_date"),
            goal=values.get("goal", ""),
            team_goals=[{"team": g["team"], "goal": g["goal"]} for g in values.get("team_goals", [])],
        )
        return _sprint_response(request, sprint, code=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        sprint = self._locked_sprint()
        expected = if_match_version(request)
        data = SprintUpdateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        values = data.validated_data
        changes: dict[str, Any] = {k: values[k] for k in ("goal", "start_date", "end_date") if k in values}
        if "team_goals" in values:
            changes["team_goals"] = [{"team": g["team"], "goal": g["goal"]} for g in values["team_goals"]]
        sprint = sprint_update(sprint=sprint, actor=request.user, expected_version=expected, **changes)
        return _sprint_response(request, sprint)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        sprint_delete(
            sprint=self._locked_sprint(), actor=request.user, expected_version=if_match_version(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    # --- start and close -----------------------------------------------------------------------------

    @extend_schema(
        summary="Start a planned Sprint (Product Owner, Nexus Integration Team)",
        description="The plan (each PBI with its teams, the goals) is frozen in the Sprint's start snapshot. "
        "Another active Sprint, or a Sprint that is not planned: 409 naming `state`.",
        request=None,
        responses={200: SprintSerializer, 409: STATE_CONFLICT, 412: PRECONDITION},
        parameters=[IF_MATCH, ETAG_HEADER],
    )
    @action(detail=True, methods=["post"])
    def start(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        sprint = self._locked_sprint()
        sprint = sprint_start(sprint=sprint, actor=request.user, expected_version=if_match_version(request))
        return _sprint_response(request, sprint)

    @extend_schema(
        summary="Close the active Sprint, saying where each unfinished PBI goes (Product Owner, NIT)",
        description="Freezes what was Done (in the Nexus's finish column or after it), what was not, and "
        "where each unfinished PBI went: `next` (the default: carried over to the next planned Sprint) or "
        "`backlog` (back to the Product Backlog). When some unfinished PBI goes to `next` and no next "
        "Sprint is planned: 400 naming `destinations` (plan the next Sprint first, or send them back). "
        "Later edits never rewrite a closed Sprint.",
        request=SprintCloseSerializer,
        responses={200: SprintSerializer, 409: STATE_CONFLICT, 412: PRECONDITION},
        parameters=[IF_MATCH, ETAG_HEADER],
        examples=[
            OpenApiExample(
                "One PBI back to the Product Backlog, the rest carried over",
                request_only=True,
                value={"destinations": [{"item": 4711, "destination": "backlog"}]},
            ),
            OpenApiExample("Carry every unfinished PBI over", request_only=True, value={}),
        ],
    )
    @action(detail=True, methods=["post"])
    def close(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        sprint = self._locked_sprint()
        expected = if_match_version(request)
        data = SprintCloseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        destinations = {e["item"]: e["destination"] for e in values.get("destinations", [])}
        sprint = sprint_close(
            sprint=sprint,
            actor=request.user,
            destinations=destinations,
            expected_version=expected,
            event=values["event"],
        )
        return _sprint_response(request, sprint)

    # --- scope ---------------------------------------------------------------------------------------

    @extend_schema(
        summary="The Sprint's PBIs with their team squares (the Nexus Sprint Backlog)",
        description="In Product Backlog order; with `updated_since`, the PBIs changed at or after it "
        "(`updated_at`), in the sync order (updated_at, id). Deleted PBIs are left out.",
        parameters=[updated_since_param("updated_at")],
        responses={200: SprintItemSerializer(many=True)},
        filters=False,
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def items(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        sprint = self.get_object()
        rows = (
            SprintItem.objects.filter(sprint=sprint, item__deleted_at__isnull=True)
            .annotate(item_rank=F("item__rank"), item_updated_at=F("item__updated_at"))
            .only("id", "item_id", "added_at")
        )
        page = self.paginate_queryset(self.updated_since(rows, "item__updated_at"))
        return self.get_paginated_response(_item_rows(sprint, list(page or [])))

    @extend_schema(
        summary="Plan a PBI into team lanes of the Sprint (Product Owner, NIT, the teams' representatives)",
        description="Each team of `teams` not yet on the PBI gets its square. Planning a PBI that is in the "
        "Sprint already adds only the missing squares (200). A closed Sprint, a Done PBI, a PBI in another "
        "open Sprint: 409 naming `sprint` or `item`; no team at all: 400 naming `teams`. A team's "
        "representative (Developer, Scrum Master) plans into their own team's lane only: another team in "
        "`teams`, or a PBI entering the Sprint that another team is forecast on, is a 403 naming `team`, "
        "nothing saved.",
        request=SprintPlanSerializer,
        responses={
            201: SprintItemSerializer,
            200: SprintItemSerializer,
            403: LANE_REFUSED,
            409: PLAN_CONFLICT,
        },
        examples=[
            OpenApiExample("Two teams on one PBI", request_only=True, value={"item": 4711, "teams": [3, 4]}),
            OpenApiExample(
                "Added at the Nexus Daily Scrum",
                request_only=True,
                value={"item": 4790, "teams": [3], "event": "daily_scrum"},
            ),
        ],
    )
    @items.mapping.post
    def plan(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        sprint = self._locked_sprint()
        data = SprintPlanSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        values = data.validated_data
        existed = SprintItem.objects.filter(sprint=sprint, item=values["item"]).exists()
        row = sprint_plan(
            sprint=sprint,
            item=values["item"],
            teams=values["teams"],
            actor=request.user,
            event=values["event"],
            source=Source.API,
        )
        body = _item_rows(sprint, [row])[0]
        return Response(body, status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED)

    @extend_schema(
        summary="Take a PBI out of the Sprint (Product Owner, NIT, the representatives of its teams)",
        description="Logged as `removed` on the scope log; the PBI keeps its squares. A closed Sprint: 409 "
        "naming `sprint`; a PBI not in the Sprint: 404. A team's representative (Developer, Scrum Master) "
        "takes out only a PBI whose every team is their own: a PBI in another team's lane (or in none) is "
        "a 403 naming `team`, nothing changed.",
        request=None,
        responses={204: None, 403: LANE_REFUSED, 409: PLAN_CONFLICT},
        parameters=[OpenApiParameter("item_id", int, OpenApiParameter.PATH, description="The PBI's id")],
    )
    @action(detail=True, methods=["delete"], url_path=rf"items/(?P<item_id>{ID_REGEX})")
    def unplan(self, request: Request, *args: Any, item_id: str, **kwargs: Any) -> Response:
        sprint = self._locked_sprint()
        row = SprintItem.objects.filter(sprint=sprint, item_id=int(item_id)).select_related("item").first()
        if row is None:
            from django.http import Http404

            raise Http404("That PBI is not in this Sprint.")
        try:
            sprint_unplan(sprint=sprint, item=row.item, actor=request.user)
        except ProductBacklogItem.DoesNotExist as exc:  # deleted meanwhile (cascade)
            raise DomainError("That PBI no longer exists.", field="item_id") from exc
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="The Sprint's scope log (typed, append-only)",
        description="Every change of the Sprint's scope, oldest first: `added`, `removed`, `carried_in`, "
        "`carried_out`, `returned`, with who, when and at which Nexus event. With `updated_since`, the rows "
        "recorded at or after it (`at`).",
        parameters=[updated_since_param("at")],
        responses={200: ScopeChangeSerializer(many=True)},
        filters=False,
    )
    @action(detail=True, methods=["get"], filter_backends=[], url_path="scope-log")
    def scope_log(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        sprint = self.get_object()
        rows = SprintScopeChange.objects.filter(sprint=sprint).select_related("actor")
        page = self.paginate_queryset(self.updated_since(rows, "at"))
        return self.get_paginated_response(ScopeChangeSerializer(page, many=True).data)
