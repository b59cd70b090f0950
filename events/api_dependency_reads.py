"""Read-only REST resources of the dependencies between Scrum Teams (issue 12), on the API's conventions
(`nexus_site.api.base.NexusScopedMixin`: every member reads, another Nexus is a 404, an unknown or blank
query parameter a 400 naming it):

- `GET /api/v1/nexuses/{nexus_slug}/dependency-matrix/`: Scrum Team x Scrum Team counts of open
  dependencies now, and at the end of each of the last Sprints (`events.selectors_matrix`);
- `GET /api/v1/nexuses/{nexus_slug}/dependency-forecast/`: the dependency-aware Monte Carlo forecast of
  one PBI (`?item=`) or a Sprint's scope (`?sprint=`, default the active Sprint)
  (`flow.selectors_forecast`).

Both are computed (the forecast is cached per change counter): no pages, no `updated_since`, no
tombstones; nothing to sync.
"""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from backlog.errors import DomainError
from events.selectors_forecast import forecast_scope_resolve
from events.selectors_matrix import MATRIX_SPRINTS, MATRIX_SPRINTS_MAX, MatrixPoint, dependency_matrix_get
from flow.selectors_forecast import dependency_forecast_get, forecast_payload
from nexus_site.api.base import BLANK_MESSAGE, NexusScopedMixin
from nexus_site.api.permissions import VIEW
from nexus_site.api.schema import error

# --- The matrix -------------------------------------------------------------------------------------


class MatrixCellSerializer(serializers.Serializer):
    team = serializers.IntegerField(help_text="The waiting Scrum Team (id): forecast on the dependent PBI")
    depends_on_team = serializers.IntegerField(
        help_text="The Scrum Team waited on (id), on the PBI depended on (the same id: within a team)"
    )
    open = serializers.IntegerField(help_text="Open dependencies in this cell")


class MatrixPointSerializer(serializers.Serializer):
    sprint = serializers.IntegerField(allow_null=True, help_text="The Sprint's number (null: now)")
    at = serializers.DateTimeField(help_text="The moment counted (UTC): the Sprint's end, or now")
    open_total = serializers.IntegerField(help_text="Open dependencies, each once")
    cells = MatrixCellSerializer(many=True, help_text="Non-zero cells only")


class MatrixTeamSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


MATRIX_EXAMPLE = {
    "teams": [{"id": 3, "name": "Core"}, {"id": 4, "name": "UI"}],
    "now": {
        "sprint": None,
        "at": "2026-12-07T05:40:00Z",
        "open_total": 12,
        "cells": [{"team": 3, "depends_on_team": 4, "open": 9}, {"team": 4, "depends_on_team": 3, "open": 1}],
    },
    "trend": [
        {"sprint": 26, "at": "2026-11-30T00:00:00+01:00", "open_total": 4, "cells": []},
        {
            "sprint": 27,
            "at": "2026-12-07T05:40:00Z",
            "open_total": 12,
            "cells": [{"team": 3, "depends_on_team": 4, "open": 9}],
        },
    ],
    "open_without_teams": 0,
}


class DependencyMatrixSerializer(serializers.Serializer):
    """Open dependencies between Scrum Teams: a cell counts the open dependencies whose dependent PBI has
    `team` forecast on it and whose PBI depended on has `depends_on_team` (the squares as they are now;
    a PBI of several teams counts in each of their cells; `integrates_with` counts both ways). `trend`:
    the same at the end of each Sprint shown (oldest first; the active one: now), replayed from the
    dependencies' log."""

    teams = MatrixTeamSerializer(many=True, help_text="The Nexus's Scrum Teams, by name")
    now = MatrixPointSerializer()
    trend = MatrixPointSerializer(many=True)
    open_without_teams = serializers.IntegerField(
        help_text="Open dependencies with a PBI that has no team, in no cell"
    )


def _point(point: MatrixPoint) -> dict[str, Any]:
    return {
        "sprint": point.sprint.number if point.sprint is not None else None,
        "at": point.at,
        "open_total": point.open_total,
        "cells": [
            {"team": a, "depends_on_team": b, "open": n} for (a, b), n in sorted(point.counts.items()) if n
        ],
    }


def _bad(field: str, message: str, code: str = "invalid") -> serializers.ValidationError:
    return serializers.ValidationError({field: [serializers.ErrorDetail(message, code=code)]})


def _whole_param(request: Request, name: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.strip():
        raise _bad(name, BLANK_MESSAGE, "blank")
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise _bad(name, f"Enter a whole number from 1 to {maximum}.")
    return int(raw)


class DependencyMatrixView(NexusScopedMixin, GenericAPIView):
    """`/api/v1/nexuses/{nexus_slug}/dependency-matrix/`. Every member reads."""

    rules: ClassVar[dict[str, str]] = {"get": VIEW}
    action_query_params: ClassVar[dict[str, tuple[str, ...]]] = {"get": ("sprints",)}
    serializer_class = DependencyMatrixSerializer

    @extend_schema(
        operation_id="nexus_dependency_matrix",
        summary="Dependency matrix: open dependencies between Scrum Teams, with their trend per Sprint",
        description="Which pairs of Scrum Teams are coupled, and whether it grows: re-slice work or re-form "
        "teams where it does (Nexus Guide). Five queries, whatever the size.",
        parameters=[
            OpenApiParameter(
                "sprints",
                {"type": "integer", "minimum": 1, "maximum": MATRIX_SPRINTS_MAX},
                OpenApiParameter.QUERY,
                description=f"How many of the last Sprints the trend shows (default {MATRIX_SPRINTS})",
            )
        ],
        responses={200: DependencyMatrixSerializer},
        examples=[OpenApiExample("Core waits on UI", value=MATRIX_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, nexus_slug: str) -> Response:
        count = _whole_param(request, "sprints", MATRIX_SPRINTS, MATRIX_SPRINTS_MAX)
        matrix = dependency_matrix_get(nexus=self.nexus, sprints=count)
        body = {
            "teams": [{"id": t.pk, "name": t.name} for t in matrix.teams],
            "now": _point(matrix.now),
            "trend": [_point(p) for p in matrix.trend],
            "open_without_teams": matrix.open_without_teams,
        }
        return Response(DependencyMatrixSerializer(body).data)


# --- The forecast -----------------------------------------------------------------------------------

CONFIDENCE_HELP = 'confidence in percent ("50", "70", "85", "95") -> '


def _by_confidence(child: serializers.Field, text: str) -> serializers.DictField:
    return serializers.DictField(child=child, allow_null=True, help_text=CONFIDENCE_HELP + text)


class ForecastOutcomeSerializer(serializers.Serializer):
    """The forecast of one PBI, or of a set of PBIs all finished (Monte Carlo, nearest rank)."""

    dates_without = _by_confidence(
        serializers.DateField(allow_null=True),
        "the date by which it is done, from its teams' flow alone (null: not within ten years)",
    )
    dates_with = _by_confidence(
        serializers.DateField(allow_null=True), "the same once the PBIs it depends on count"
    )
    days_without = _by_confidence(serializers.IntegerField(allow_null=True), "calendar days after `as_of`")
    days_with = _by_confidence(serializers.IntegerField(allow_null=True), "calendar days after `as_of`")
    penalty_days = _by_confidence(
        serializers.IntegerField(allow_null=True), "the dependency penalty: days_with - days_without"
    )
    probability_with = _by_confidence(
        serializers.FloatField(), "percent of trials done by `dates_without` once the dependencies count"
    )
    penalty_probability = _by_confidence(
        serializers.FloatField(), "the dependency penalty in percentage points at `dates_without`"
    )
    waits = serializers.FloatField(
        allow_null=True, help_text="percent of trials in which a dependency made it finish later"
    )
    cannot_forecast = serializers.CharField(
        allow_null=True, help_text="why a forecast (or the one with the dependencies) is missing, else null"
    )


class ForecastItemSerializer(ForecastOutcomeSerializer):
    item = serializers.IntegerField(help_text="The PBI (id)")
    title = serializers.CharField()
    teams = serializers.ListField(
        child=serializers.IntegerField(), help_text="Scrum Teams still working on it (ids)"
    )
    target = serializers.BooleanField(
        help_text="Asked about (false: forecast because a target depends on it)"
    )
    depends_on = serializers.ListField(
        child=serializers.IntegerField(), help_text="The PBIs it depends on among `items` (open, depends_on)"
    )


class ForecastTeamSerializer(serializers.Serializer):
    team = serializers.IntegerField()
    name = serializers.CharField()
    reason = serializers.CharField(help_text="Why its Throughput cannot forecast")


_OUTCOME = {
    "dates_without": {"50": "2027-01-14", "70": "2027-01-17", "85": "2027-01-21", "95": "2027-01-25"},
    "dates_with": {"50": "2027-01-16", "70": "2027-01-20", "85": "2027-01-26", "95": "2027-02-02"},
    "days_without": {"50": 38, "70": 41, "85": 45, "95": 49},
    "days_with": {"50": 40, "70": 44, "85": 50, "95": 57},
    "penalty_days": {"50": 2, "70": 3, "85": 5, "95": 8},
    "probability_with": {"50": 31.2, "70": 49.8, "85": 66.0, "95": 81.4},
    "penalty_probability": {"50": 18.9, "70": 20.3, "85": 19.1, "95": 13.7},
    "waits": 41.5,
    "cannot_forecast": None,
}
FORECAST_EXAMPLE = {
    "scope": {"item": 5336, "sprint": None},
    "as_of": "2026-12-07",
    "trials": 10000,
    "seed": 20080630,
    "history_days": 90,
    "change_counter": 2210,
    "targets": [5336],
    "finished": [],
    "cannot_forecast": None,
    "whole": _OUTCOME,
    "items": [
        {
            "item": 5336,
            "title": "JDT forgets types",
            "teams": [3],
            "target": True,
            "depends_on": [2668],
            **_OUTCOME,
        },
        {
            "item": 2668,
            "title": "Search button disabled",
            "teams": [4],
            "target": False,
            "depends_on": [],
            **_OUTCOME,
            "penalty_days": {"50": 0, "70": 0, "85": 0, "95": 0},
        },
    ],
    "teams_without_throughput": [],
}


class ForecastScopeSerializer(serializers.Serializer):
    item = serializers.IntegerField(allow_null=True, help_text="The PBI asked about (id), or null")
    sprint = serializers.IntegerField(allow_null=True, help_text="The Sprint's number, or null")


class DependencyForecastSerializer(serializers.Serializer):
    """When will these PBIs be done, from each Scrum Team's own flow, with and without their dependencies
    (see `flow.forecast_deps` for the method and its sources: the Kanban Guide for Scrum Teams, Vacanti,
    LetPeopleWork/Lighthouse, the Nexus Guide)."""

    scope = ForecastScopeSerializer()
    as_of = serializers.DateField(help_text="Day 0 (the Nexus's today); day 1 is the day after")
    trials = serializers.IntegerField()
    seed = serializers.IntegerField(help_text="Same inputs and seed, same forecast")
    history_days = serializers.IntegerField(help_text="Calendar days of each team's Throughput resampled")
    change_counter = serializers.IntegerField(help_text="The Nexus's change counter it was computed at")
    targets = serializers.ListField(
        child=serializers.IntegerField(), help_text="PBIs asked about that their teams still work on"
    )
    finished = serializers.ListField(
        child=serializers.IntegerField(), help_text="PBIs asked about that are finished (left out)"
    )
    cannot_forecast = serializers.CharField(allow_null=True, help_text="Why there is no forecast at all")
    whole = ForecastOutcomeSerializer(allow_null=True, help_text="Every target finished")
    items = ForecastItemSerializer(many=True, help_text="The targets, then the PBIs they depend on")
    teams_without_throughput = ForecastTeamSerializer(many=True)


BAD_SCOPE = error(
    "A refused query parameter (see `field`): both `item` and `sprint`, not a whole number, a PBI or "
    "Sprint not of this Nexus, no active Sprint when neither is given, a parameter without a value.",
    OpenApiExample(
        "Unknown Sprint",
        value={
            "status": 400,
            "code": "invalid",
            "message": "sprint: No Sprint of that number in this Nexus.",
            "errors": [
                {"field": "sprint", "code": "invalid", "message": "No Sprint of that number in this Nexus."}
            ],
        },
        response_only=True,
        status_codes=["400"],
    ),
)


class DependencyForecastView(NexusScopedMixin, GenericAPIView):
    """`/api/v1/nexuses/{nexus_slug}/dependency-forecast/`. Every member reads."""

    rules: ClassVar[dict[str, str]] = {"get": VIEW}
    action_query_params: ClassVar[dict[str, tuple[str, ...]]] = {"get": ("item", "sprint")}
    serializer_class = DependencyForecastSerializer

    @extend_schema(
        operation_id="nexus_dependency_forecast",
        summary="Forecast with dependencies: one PBI or a Sprint's scope",
        description="Monte Carlo (10,000 trials, seeded) from each Scrum Team's own Throughput: a PBI that "
        "needs several teams is done when the last of them is; a PBI is never done before the PBIs it "
        "depends on. Dates at 50/70/85/95 % without and with the dependencies, the dependency penalty in "
        "days and in percentage points, and `cannot_forecast` with the reason (e.g. a team without "
        "Throughput yet). Cached per change counter. Every member reads.",
        parameters=[
            OpenApiParameter("item", OpenApiTypes.INT, description="A PBI (id): it and its chain"),
            OpenApiParameter(
                "sprint",
                OpenApiTypes.INT,
                description="A Sprint (number): its planned PBIs (default: active)",
            ),
        ],
        responses={200: DependencyForecastSerializer, 400: BAD_SCOPE},
        examples=[
            OpenApiExample("One PBI waiting on another team", value=FORECAST_EXAMPLE, response_only=True)
        ],
    )
    def get(self, request: Request, nexus_slug: str) -> Response:
        params = request.query_params
        for name in ("item", "sprint"):
            if name in params and not params[name].strip():
                raise _bad(name, BLANK_MESSAGE, "blank")
        scope = forecast_scope_resolve(
            nexus=self.nexus, item=params.get("item"), sprint=params.get("sprint"), default_sprint=True
        )
        if scope is None:
            raise DomainError("No Sprint is active: name a `sprint` or an `item`.", field="sprint")
        found = dependency_forecast_get(nexus=self.nexus, item_ids=scope.item_ids)
        body = {
            "scope": {
                "item": scope.item.pk if scope.item else None,
                "sprint": scope.sprint.number if scope.sprint else None,
            },
            **forecast_payload(found),
        }
        return Response(DependencyForecastSerializer(body).data)
