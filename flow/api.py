"""Read-only REST endpoint of the flow figures: `GET /api/v1/nexuses/{nexus_slug}/flow/`.

The same query parameters and figures as `python manage.py flow_report` (see `flow.report`), plus when
they were computed and whether they came from stored results. Built on the API's conventions
(`nexus_site.api.base.NexusScopedMixin`): the Nexus's members read it (the flow page's rule), another
Nexus answers 404, and every refused query parameter is a 400 in the API's one error format
(`nexus_site.api.errors`) naming it, an empty one included (as `StrictFilterSet` does).
"""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import exceptions, serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from backlog.models import ClassOfService
from flow.forms import QUERY_FIELDS, FlowQueryForm
from flow.models import FlowState
from flow.report import MAX_MC_DAYS, MAX_MC_ITEMS, FlowQuery, report_dict
from flow.selectors import flow_data_get
from nexus_site.api.base import BLANK_MESSAGE, NexusScopedMixin
from nexus_site.api.permissions import VIEW
from nexus_site.api.schema import error


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


#: The example of the flow figures in the OpenAPI document: `flow_report` of the demo Nexus (JDT history
#: replayed to 2008-06-30 and shifted to the day it was loaded), with `daily` cut to its last two days
#: and `ages` to the oldest and the youngest item.
FLOW_EXAMPLE = {
    "nexus": "eclipse-jdt",
    "team": None,
    "level": None,
    "basis": "nexus",
    "team_history": False,
    "label": None,
    "class_of_service": None,
    "as_of": "2026-11-21",
    "start": "2024-05-24",
    "end": "2026-11-21",
    "computed_at": "2026-11-21T13:41:07.512390Z",
    "stored": True,
    "stale_since": None,
    "finished_items": 6878,
    "cycle_time_percentiles": {"50": 4, "70": 15, "85": 66, "95": 271},
    "mean_weekly_throughput": 52.94,
    "complete_weeks": 129,
    "mean_daily_wip": 485.13,
    "wip_as_of": 527,
    "daily": [
        {
            "date": "2026-11-20",
            "wip": 524,
            "wip_eod": 524,
            "throughput": 0,
            "cfd": {
                "Triage": 7391,
                "To Do": 7391,
                "In Progress": 6940,
                "Resolved": 6867,
                "Verified": 2914,
                "Closed": 121,
            },
        },
        {
            "date": "2026-11-21",
            "wip": 527,
            "wip_eod": 516,
            "throughput": 11,
            "cfd": {
                "Triage": 7394,
                "To Do": 7394,
                "In Progress": 6951,
                "Resolved": 6878,
                "Verified": 2914,
                "Closed": 121,
            },
        },
    ],
    "ages": [
        {"item": "eclipse-122668", "column": "To Do", "age": 909},
        {"item": "eclipse-239030", "column": "To Do", "age": 1},
    ],
    "mc_how_many": {"50": 101, "70": 88, "85": 77, "95": 63},
    "mc_when": {"50": "2026-11-28", "70": "2026-11-30", "85": "2026-12-01", "95": "2026-12-03"},
}


#: A team's own flow (`level=team`): the CFD's columns are the four square states.
FLOW_TEAM_EXAMPLE = {
    **FLOW_EXAMPLE,
    "team": "jdt-core",
    "level": "team",
    "basis": "team",
    "team_history": True,
    "stored": True,
    "finished_items": 14,
    "cycle_time_percentiles": {"50": 3, "70": 5, "85": 8, "95": 12},
    "mean_weekly_throughput": 3.5,
    "complete_weeks": 4,
    "mean_daily_wip": 6.2,
    "wip_as_of": 7,
    "daily": [
        {
            "date": "2026-11-21",
            "wip": 7,
            "wip_eod": 7,
            "throughput": 1,
            "cfd": {"Not started": 30, "In progress": 21, "Ready to integrate": 14, "Done": 9},
        }
    ],
    "ages": [{"item": "eclipse-239030", "column": "In progress", "age": 4}],
    "mc_how_many": {"50": 7, "70": 6, "85": 4, "95": 3},
    "mc_when": {"50": "2027-03-01", "70": "2027-03-20", "85": "2027-04-09", "95": "2027-05-02"},
}


@extend_schema_serializer(
    examples=[
        OpenApiExample("The demo Nexus", value=FLOW_EXAMPLE, response_only=True),
        OpenApiExample("A Scrum Team's own flow (level=team)", value=FLOW_TEAM_EXAMPLE, response_only=True),
    ]
)
class FlowReportSerializer(serializers.Serializer):
    """Documentation of the response (the view returns the figures as computed)."""

    nexus = serializers.CharField()
    team = serializers.CharField(allow_null=True)
    level = serializers.ChoiceField(
        choices=["team", "nexus"], allow_null=True, help_text="the level asked for (`level`), or null"
    )
    basis = serializers.ChoiceField(
        choices=["team", "nexus"],
        help_text='what the figures come from: "team" = the Scrum Team\'s own team-level transitions '
        "(started: its square first leaves not started; finished: the square first becomes ready to "
        'integrate or Done; the CFD columns are the four square states); "nexus" = the Nexus columns '
        "(of the team's items for a team). Kanban Guide for Scrum Teams; see `flow.team_level`",
    )
    team_history = serializers.BooleanField(
        help_text="the Scrum Team has team-level history (square changes or moves on its board); without "
        "it, `level=team` falls back to the Nexus columns (`basis` nexus). False for the Nexus"
    )
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


def _param(name: str, schema: dict[str, Any] | OpenApiTypes, text: str, **kwargs: Any) -> OpenApiParameter:
    return OpenApiParameter(name, schema, OpenApiParameter.QUERY, description=text, **kwargs)


def _date_param(name: str, text: str) -> OpenApiParameter:
    return _param(name, OpenApiTypes.DATE, f"{text}; a calendar day YYYY-MM-DD in the Nexus's time zone")


def _int_param(name: str, text: str, maximum: int) -> OpenApiParameter:
    return _param(name, {"type": "integer", "minimum": 1, "maximum": maximum}, text)


def _text_param(name: str, text: str, max_length: int) -> OpenApiParameter:
    schema = {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": r"\S"}
    return _param(name, schema, text)


#: The documented form of the date and number parameters (the form alone would also take `2024-1-5`,
#: ` 5` or `5.0`); a value in another form is refused with the form's own reason.
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
WHOLE = re.compile(r"-?[0-9]+")
STRICT = {
    "as_of": (DAY, "Enter a valid date."),
    "from": (DAY, "Enter a valid date."),
    "to": (DAY, "Enter a valid date."),
    "mc_days": (WHOLE, "Enter a whole number."),
    "mc_items": (WHOLE, "Enter a whole number."),
    "mc_history_days": (WHOLE, "Enter a whole number."),
}


def query_errors(form: FlowQueryForm) -> dict[str, list[ErrorDetail]]:
    """The refused query parameters of a bound `FlowQueryForm`, by name, with the reason and its code:
    a parameter sent without a value (or only blanks) is refused as `StrictFilterSet` refuses it, a
    date or number not in its documented form as the form refuses one; for these the form's own
    complaint is left out. Then the form's errors."""
    data = form.data
    errors: dict[str, list[ErrorDetail]] = {}
    for name in QUERY_FIELDS:
        if name not in data:
            continue
        raw = str(data.get(name, ""))
        if not raw.strip():
            errors[name] = [ErrorDetail(BLANK_MESSAGE, code="blank")]
        elif name in STRICT and not STRICT[name][0].fullmatch(raw):
            errors[name] = [ErrorDetail(STRICT[name][1], code="invalid")]
    for name, details in form.errors.as_data().items():
        field = "query" if name == "__all__" else name
        if field not in errors:
            errors[field] = [ErrorDetail(m, code=d.code or "invalid") for d in details for m in d.messages]
    return errors


BAD_QUERY = error(
    "A query parameter is refused (see `field`): not a calendar day YYYY-MM-DD, `from` after `to`, an "
    "as-of date after today, an unknown Scrum Team or label, a `level` other than `team` or `nexus`, a "
    "number out of range, a parameter without a value; or the figures cannot be computed (no days to "
    "show, no Definition of Workflow).",
    OpenApiExample(
        "bad date",
        value={
            "status": 400,
            "code": "invalid",
            "message": "as_of: Enter a valid date.",
            "errors": [{"field": "as_of", "code": "invalid", "message": "Enter a valid date."}],
        },
        response_only=True,
        status_codes=["400"],
    ),
    OpenApiExample(
        "bad level",
        value={
            "status": 400,
            "code": "invalid_choice",
            "message": "level: Select a valid choice. squad is not one of the available choices.",
            "errors": [
                {
                    "field": "level",
                    "code": "invalid_choice",
                    "message": "Select a valid choice. squad is not one of the available choices.",
                }
            ],
        },
        response_only=True,
        status_codes=["400"],
    ),
)


class FlowView(NexusScopedMixin, GenericAPIView):
    """Flow metrics of a Nexus (Kanban Guide for Scrum Teams), as `flow_report` prints them. Every
    member of the Nexus reads them (Stakeholders too), as on the flow page."""

    rules = {"get": VIEW}
    action_query_params = {"get": QUERY_FIELDS}
    serializer_class = FlowReportSerializer

    def flow_query(self) -> FlowQuery:
        """The validated query; a 400 naming each refused parameter otherwise."""
        form = FlowQueryForm(self.request.query_params, nexus=self.nexus)
        errors = query_errors(form)
        if errors:
            raise exceptions.ValidationError(errors)
        return form.query()

    @extend_schema(
        operation_id="nexus_flow",
        summary="Flow metrics of a Nexus",
        description=(
            "WIP, Throughput, Cycle Time percentiles, daily series with the Cumulative Flow Diagram, Work "
            "Item Ages and Monte Carlo forecasts, with the definitions of the Kanban Guide for Scrum Teams "
            "and this tool's exact conventions: the unit is the calendar day in the Nexus's time zone, "
            "Cycle Time = finished - started + 1, Work Item Age = as-of date - started + 1. The same figures "
            "as `python manage.py flow_report`. Without `label`/`class_of_service` and with the default "
            "as-of date and days, the stored results are served (`stored`: true, `computed_at`); any other "
            "query is computed from the transition log on request. Every member of the Nexus reads them; "
            "a Nexus you are not in is a 404. A refused query parameter (a bad date, `from` after `to`, "
            "an unknown Scrum Team or label, a number out of range, a parameter without a value) is a 400 "
            "naming it in `field`. A Scrum Team's figures come at two levels (`level`): its own flow, "
            "from its team-level transitions (the default when it has team-level history), or the Nexus "
            "columns of the items it is forecast on (the default, and the fallback, without); `basis` "
            "says which one the answer holds."
        ),
        parameters=[
            _text_param("team", "Scrum Team slug or name", 100),
            _param(
                "level",
                OpenApiTypes.STR,
                "with `team`: `team` = the team's own flow (its team-level transitions), `nexus` = the "
                "Nexus columns of its items; default: `team` when the team has team-level history; "
                "ignored without `team` (the Nexus has one level)",
                enum=["team", "nexus"],
                examples=[
                    OpenApiExample("the team's own flow", value="team"),
                    OpenApiExample("the Nexus columns of its items", value="nexus"),
                ],
            ),
            _text_param("label", "items with this label (name)", 60),
            _param(
                "class_of_service",
                OpenApiTypes.STR,
                "items of this class of service (default: all)",
                enum=ClassOfService.values,
            ),
            _date_param("as_of", "replay: figures as they were at the end of that day (default today)"),
            _date_param("from", "first day of the series (default the first event's day)"),
            _date_param("to", "last day of the series (default the as-of date)"),
            _int_param(
                "mc_days",
                "Monte Carlo: how many items in the next N calendar days (default the Sprint length)",
                MAX_MC_DAYS,
            ),
            _int_param("mc_items", "Monte Carlo: when will N items be done (default 50)", MAX_MC_ITEMS),
            _int_param(
                "mc_history_days",
                "Monte Carlo: calendar days of Throughput history resampled (default 90)",
                MAX_MC_DAYS,
            ),
        ],
        # 401, 403 and 404 are added by `AutoSchema`; the 400 only gets an example of this endpoint.
        responses={200: FlowReportSerializer, 400: BAD_QUERY},
    )
    def get(self, request: Request, nexus_slug: str) -> Response:
        nexus = self.nexus
        query = self.flow_query()
        data = flow_data_get(nexus=nexus, query=query)  # a `DomainError` is a 400 naming its field
        state = FlowState.objects.filter(nexus=nexus).first()
        body: dict[str, Any] = {
            "nexus": nexus.slug,
            "team": query.team.slug if query.team else None,
            "level": query.level,
            "basis": data.basis,
            "team_history": data.team_history,
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
