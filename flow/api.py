"""Read-only REST endpoint of the flow figures: `GET /api/v1/nexuses/<slug>/flow/`.

The same query parameters and figures as `python manage.py flow_report` (see `flow.report`), plus when
they were computed and whether they came from stored results. Self-contained: the rest of the REST API
lives in `backlog.api`.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backlog.errors import DomainError
from backlog.selectors import nexus_get_for_user
from flow.forms import FlowQueryForm
from flow.models import FlowState
from flow.report import report_dict
from flow.selectors import flow_data_get


class FlowDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    wip = serializers.IntegerField(help_text="items started on or before the day and not finished before it")
    wip_eod = serializers.IntegerField(
        help_text="end-of-day WIP: started on or before, not finished by the day"
    )
    throughput = serializers.IntegerField(help_text="items finished on the day")
    cfd = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="column -> items whose milestone for it is on or before the day",
    )


class FlowAgeSerializer(serializers.Serializer):
    item = serializers.CharField(help_text="external id (or #id)")
    column = serializers.CharField()
    age = serializers.IntegerField(help_text="Work Item Age in calendar days, as of the as-of date")


class FlowReportSerializer(serializers.Serializer):
    """Documentation of the response (the view returns the figures as computed)."""

    nexus = serializers.CharField()
    team = serializers.CharField(allow_null=True)
    label = serializers.CharField(allow_null=True)  # type: ignore[assignment]  # a field, not Field.label
    class_of_service = serializers.CharField(allow_null=True)
    as_of = serializers.DateField()
    start = serializers.DateField(help_text="first day of `daily`")
    end = serializers.DateField(help_text="last day of `daily`")
    computed_at = serializers.DateTimeField()
    stored = serializers.BooleanField(help_text="read from the stored results (else computed on request)")
    stale_since = serializers.DateTimeField(
        allow_null=True, help_text="a recompute of the stored results is pending since then"
    )
    finished_items = serializers.IntegerField()
    cycle_time_percentiles = serializers.DictField(
        child=serializers.IntegerField(allow_null=True),
        help_text='"50", "70", "85", "95" -> days (nearest rank)',
    )
    mean_weekly_throughput = serializers.FloatField(help_text="over complete Monday-Sunday weeks, 2 decimals")
    complete_weeks = serializers.IntegerField()
    mean_daily_wip = serializers.FloatField(help_text="2 decimals")
    wip_as_of = serializers.IntegerField()
    daily = FlowDaySerializer(many=True)
    ages = FlowAgeSerializer(many=True)
    mc_how_many = serializers.DictField(
        child=serializers.IntegerField(), help_text="confidence -> items finished in the next `mc_days` days"
    )
    mc_when = serializers.DictField(
        child=serializers.DateField(allow_null=True),
        help_text="confidence -> date by which `mc_items` items are done (null: not within ten years)",
    )


class _FieldError(serializers.Serializer):
    field = serializers.CharField()
    reason = serializers.CharField()


class FlowErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = _FieldError(many=True)  # type: ignore[assignment]  # a field, not Serializer.errors


def _date_param(name: str, text: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.DATE, OpenApiParameter.QUERY, description=text)


def _int_param(name: str, text: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.INT, OpenApiParameter.QUERY, description=text)


class FlowView(APIView):
    """Flow metrics of a Nexus (Kanban Guide for Scrum Teams), as `flow_report` prints them."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="nexus_flow",
        summary="Flow metrics of a Nexus",
        description=(
            "WIP, Throughput, Cycle Time percentiles, daily series with the Cumulative Flow Diagram, Work "
            "Item Ages and Monte Carlo forecasts, with this tool's exact definitions (calendar days in the "
            "Nexus's time zone; see the flow issue). Without `label`/`class_of_service` and with the default "
            "as-of date and days, the stored results are served (`stored`: true, `computed_at`); any other "
            "query is computed from the transition log on request. A Nexus you are not in is a 404."
        ),
        parameters=[
            OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="the Nexus"),
            OpenApiParameter(
                "team", OpenApiTypes.STR, OpenApiParameter.QUERY, description="Scrum Team slug or name"
            ),
            OpenApiParameter(
                "label", OpenApiTypes.STR, OpenApiParameter.QUERY, description="items with this label"
            ),
            OpenApiParameter(
                "class_of_service",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                enum=["standard", "expedite", "fixed_date", "intangible"],
            ),
            _date_param("as_of", "replay: figures as they were at the end of that day (default today)"),
            _date_param("from", "first day of the series (default the first event's day)"),
            _date_param("to", "last day of the series (default the as-of date)"),
            _int_param(
                "mc_days", "Monte Carlo: how many items in the next N days (default the Sprint length)"
            ),
            _int_param("mc_items", "Monte Carlo: when will N items be done (default 50)"),
            _int_param("mc_history_days", "Monte Carlo: days of Throughput history resampled (default 90)"),
        ],
        responses={
            200: FlowReportSerializer,
            400: OpenApiResponse(
                FlowErrorSerializer,
                description="bad query parameters",
                examples=[
                    OpenApiExample(
                        "bad date",
                        value={
                            "detail": "Invalid query.",
                            "errors": [{"field": "as_of", "reason": "Enter a valid date."}],
                        },
                    )
                ],
            ),
            404: OpenApiResponse(description="no such Nexus, or not yours"),
        },
        tags=["flow"],
    )
    def get(self, request: Request, slug: str) -> Response:
        nexus = nexus_get_for_user(user=request.user, slug=slug)
        form = FlowQueryForm(request.query_params, nexus=nexus)
        if not form.is_valid():
            return Response({"detail": "Invalid query.", "errors": form.error_list()}, status=400)
        query = form.query()
        try:
            data = flow_data_get(nexus=nexus, query=query)
        except DomainError as exc:
            return Response(
                {
                    "detail": "Invalid query.",
                    "errors": [{"field": exc.field or "query", "reason": exc.message}],
                },
                status=400,
            )
        state = FlowState.objects.filter(nexus=nexus).first()
        body: dict[str, Any] = {
            "nexus": nexus.slug,
            "team": query.team.slug if query.team else None,
            "label": query.label,
            "class_of_service": query.class_of_service,
            "as_of": data.as_of,
            "start": data.start,
            "end": data.end,
            "computed_at": data.computed_at,
            "stored": data.stored,
            "stale_since": state.pending_since if state else None,
            **report_dict(data),
        }
        return Response(body)
