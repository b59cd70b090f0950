"""REST resource of integration issues: `/api/v1/nexuses/{nexus_slug}/integration-issues/`.

Built like the other resources on `nexus_site.api`: keyset pages (`cursor`, `page_size`), `?updated_since=`,
tombstones (`integration-issues/deleted/`), `ETag`/`If-Match` from the issue's `version`, `Idempotency-Key`
on POST, examples in the OpenAPI document. Every member reads; members but Stakeholders raise, change and
resolve (rule `issues_raise`); the Product Owner, Scrum Masters and the Nexus Integration Team escalate
and delete (`issues_escalate`); Executive Action Team members record decisions (`issues_eat`) and alone
close a level-3 issue. Every write goes through `integration.services_issues`.

- `integration-issues/`: list (highest level first, oldest first; `status`, `level` filters), raise;
  `integration-issues/{id}/`: get, PATCH, DELETE;
- `integration-issues/{id}/escalate/`, `.../resolve/`, `.../decide/`, `.../history/`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import django_filters
from django.contrib.auth.models import User
from django.db.models import QuerySet
from drf_spectacular.utils import (
    OpenApiExample,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from backlog.models import ProductBacklogItem, ScrumTeam
from integration.apps import ISSUE_TOMBSTONE
from integration.models_issues import (
    IntegrationIssue,
    IntegrationIssueEntry,
    IssueEntryKind,
    IssueEvent,
    IssueLevel,
    IssueStatus,
)
from integration.selectors_issues import issues_with_relations, level_ages
from integration.services_issues import (
    CLOSED_STATUSES,
    EAT_RULE,
    ESCALATE_RULE,
    RAISE_RULE,
    issue_decide,
    issue_delete,
    issue_escalate,
    issue_raise,
    issue_resolve,
    issue_update,
)
from nexus_site.api.base import (
    PAGE_PARAMS,
    HistoryOrderingMixin,
    NexusScopedViewSet,
    StrictFilterSet,
    TombstonesMixin,
    UpdatedSinceFilter,
    VersionedReadMixin,
    tombstones_schema,
    updated_since_param,
)
from nexus_site.api.etag import if_match_version, versioned_response
from nexus_site.api.fields import NexusRefField, StrictCharField, StrictChoiceField, StrictSerializer
from nexus_site.api.schema import ETAG_HEADER, IF_MATCH, conflict, precondition, retrieve_with_etag

PRECONDITION = precondition("the integration issue")

ISSUE_EXAMPLE = {
    "id": 41,
    "title": "The formatter and the compiler disagree on record pattern syntax",
    "description": "Core's parser change breaks UI's formatter tests on every nightly build.",
    "raised_by": "dev-core",
    "raised_by_team": 3,
    "event": "daily_scrum",
    "items": [4711, 4790],
    "teams": [3, 4],
    "owner": "nit-anna",
    "status": "open",
    "level": 2,
    "ages": [
        {"level": 1, "days": 3, "current": False},
        {"level": 2, "days": 5, "current": True},
    ],
    "resolution": "",
    "decision": "",
    "raised_at": "2025-03-04T09:15:00.000000Z",
    "level_2_at": "2025-03-07T10:02:00.000000Z",
    "level_3_at": None,
    "closed_at": None,
    "version": 3,
    "updated_at": "2025-03-07T10:02:00.000000Z",
}


STATE_CONFLICT = conflict(
    "The issue is resolved or closed as won't fix (`status`), or at the wrong level for this (`level`: "
    "escalating past level 3, a decision below it); or an `Idempotency-Key` in progress.",
    "“Nightly build red” is with the Executive Action Team already (level 3): there is no level above it.",
    "level",
)
WIP_CONFLICT = conflict(
    "The Nexus's hard WIP limit on open integration issues is full (`limit`).",
    "The Nexus is at its WIP limit on open integration issues (8 of 8). Resolve one first.",
    "limit",
)


class LevelAgeSerializer(serializers.Serializer):
    level = serializers.ChoiceField(choices=IssueLevel.choices, help_text="1 Scrum Team, 2 Nexus, 3 EAT")
    days = serializers.IntegerField(help_text="Whole calendar days at that level (UTC, rounded down)")
    current = serializers.BooleanField(help_text="Still at this level (and open)")


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "At the Nexus level", value=ISSUE_EXAMPLE, response_only=True, status_codes=["200", "201"]
        )
    ]
)
class IssueSerializer(serializers.ModelSerializer):
    """An integration issue or impediment. `level`: 1 the Scrum Team, 2 the Nexus (Nexus Integration Team,
    Scrum of Scrums), 3 the Executive Action Team (Scrum@Scale); `level_2_at`/`level_3_at` when it got
    there (UTC; null: never), `ages` its age at each level reached. `status`: `open`, `resolved`,
    `wont_fix` (then `closed_at` and `resolution`). `decision`: the Executive Action Team's latest.
    People are usernames, `teams`/`items` ids. `version` is the `ETag` (send it in `If-Match`)."""

    raised_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    owner: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    items = serializers.SerializerMethodField()
    teams = serializers.SerializerMethodField()
    ages = serializers.SerializerMethodField()
    level = serializers.ChoiceField(choices=IssueLevel.choices, read_only=True)

    class Meta:
        model = IntegrationIssue
        fields = [
            "id",
            "title",
            "description",
            "raised_by",
            "raised_by_team",
            "event",
            "items",
            "teams",
            "owner",
            "status",
            "level",
            "ages",
            "resolution",
            "decision",
            "raised_at",
            "level_2_at",
            "level_3_at",
            "closed_at",
            "version",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_items(self, issue: IntegrationIssue) -> list[int]:
        return sorted(i.pk for i in issue.items.all())  # prefetched

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_teams(self, issue: IntegrationIssue) -> list[int]:
        return sorted(t.pk for t in issue.teams.all())  # prefetched

    @extend_schema_field(LevelAgeSerializer(many=True))
    def get_ages(self, issue: IntegrationIssue) -> list[dict[str, Any]]:
        return [{"level": a.level, "days": a.days, "current": a.current} for a in level_ages(issue)]


class UsernameField(StrictCharField):
    """A username of this site (400 naming the field when there is none); null: nobody."""

    def run_validation(self, data: Any = serializers.empty) -> Any:
        name = super().run_validation(data)
        if name is None:
            return None
        user = User.objects.filter(username=name).first()
        if user is None:
            raise serializers.ValidationError(f"No user {name!r}.")
        return user


class IssueWriteSerializer(StrictSerializer):
    title = StrictCharField(max_length=200, help_text="What is in the way, in a line")
    description = StrictCharField(max_length=20000, required=False, allow_blank=True)
    event = StrictChoiceField(
        choices=IssueEvent.choices, required=False, help_text="The Nexus event at which it was raised"
    )
    owner = UsernameField(
        max_length=150, required=False, allow_null=True, help_text="Username of a member who works on it"
    )
    teams = serializers.ListField(
        child=NexusRefField(model=ScrumTeam, scope="nexus"),
        max_length=50,
        required=False,
        help_text="The Scrum Teams (ids) it concerns",
    )
    items = serializers.ListField(
        child=NexusRefField(model=ProductBacklogItem, scope="backlog__nexus", alive=True),
        max_length=200,
        required=False,
        help_text="The PBIs (ids) it concerns",
    )


class IssueCreateSerializer(IssueWriteSerializer):
    raised_by_team = NexusRefField(
        model=ScrumTeam, scope="nexus", required=False, allow_null=True, help_text="Your Scrum Team (id)"
    )
    level = StrictChoiceField(
        choices=[(1, "Scrum Team"), (2, "Nexus")],
        required=False,
        default=1,
        help_text="1 (the Scrum Team, default) or 2 (the Nexus); level 3 is reached by escalation",
    )


class IssueUpdateSerializer(IssueWriteSerializer):
    """Send only what changes; `teams` and `items` replace them."""

    title = StrictCharField(max_length=200, required=False)


class NoteSerializer(StrictSerializer):
    note = StrictCharField(max_length=5000, required=False, allow_blank=True, help_text="Why")


class ResolveSerializer(StrictSerializer):
    resolution = StrictCharField(max_length=5000, help_text="How it was removed, or why it won't be")
    status = StrictChoiceField(
        choices=[(s.value, s.label) for s in CLOSED_STATUSES],
        required=False,
        default=IssueStatus.RESOLVED,
        help_text="`resolved` (default) or `wont_fix`",
    )


class DecideSerializer(StrictSerializer):
    decision = StrictCharField(max_length=5000, help_text="What the Executive Action Team decided")


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Escalated to the Nexus",
            value={
                "id": 902,
                "kind": "escalated",
                "actor": "nit-anna",
                "at": "2025-03-07T10:02:00.000000Z",
                "level": 2,
                "note": "Needs a change in Core's parser API.",
                "data": {"from": 1, "to": 2},
            },
            response_only=True,
        )
    ]
)
class EntrySerializer(serializers.ModelSerializer):
    """A row of the issue's history (append-only): `kind` `raised`, `changed`, `escalated`, `decision`,
    `resolved`, `wont_fix`; who (`actor`, a username), when (`at`, UTC), the `level` after it, the `note`
    (reason, decision, resolution) and `data` (`{"from", "to"}` levels; `{"fields"}` changed)."""

    actor: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    kind = serializers.ChoiceField(choices=IssueEntryKind.choices, read_only=True)

    class Meta:
        model = IntegrationIssueEntry
        fields = ["id", "kind", "actor", "at", "level", "note", "data"]
        read_only_fields = fields


class IssueFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=IssueStatus.choices, help_text="Only issues in this status")
    level = django_filters.TypedChoiceFilter(
        choices=[(str(v), label) for v, label in IssueLevel.choices],
        coerce=int,
        help_text="Only at this level",
    )

    class Meta:
        model = IntegrationIssue
        fields = ["status", "level"]


def _response(request: Request, issue: IntegrationIssue, *, code: int = 200) -> Response:
    issue = issues_with_relations(IntegrationIssue.objects.filter(pk=issue.pk)).get()
    return versioned_response(
        request, issue, IssueSerializer(issue).data, detail="api:integration-issue-detail", code=code
    )


@extend_schema_view(
    list=extend_schema(
        summary="List the integration issues (oldest first; the sync order with updated_since)",
        description="Open, resolved and won't-fix issues of the Nexus; `status` and `level` narrow the list. "
        "Deleted issues are in `integration-issues/deleted/`.",
    ),
    retrieve=retrieve_with_etag("an integration issue", IssueSerializer),
    create=extend_schema(
        summary="Raise an integration issue (members but Stakeholders)",
        description="At level 1 (the Scrum Team, default) or 2 (the Nexus). When the Nexus's WIP limit on "
        "open issues is full: refused (409 naming `limit`) if it is hard; with a soft one the issue is "
        "raised and the warning is in the `Warning` header.",
        request=IssueCreateSerializer,
        responses={201: IssueSerializer, 409: WIP_CONFLICT},
        parameters=[ETAG_HEADER],
        examples=[
            OpenApiExample(
                "Raised at the Nexus Daily Scrum",
                request_only=True,
                value={
                    "title": "Nightly integration build red for three days",
                    "event": "daily_scrum",
                    "raised_by_team": 3,
                    "teams": [3, 4],
                    "items": [4711],
                },
            ),
        ],
    ),
    partial_update=extend_schema(
        summary="Change an open integration issue (members but Stakeholders)",
        description="Send only what changes; `teams` and `items` replace them. A closed issue is history "
        "(409 `status`). With `If-Match`, 412 if it changed since you read it.",
        request=IssueUpdateSerializer,
        responses={200: IssueSerializer, 409: STATE_CONFLICT, 412: PRECONDITION},
        parameters=[IF_MATCH, ETAG_HEADER],
        examples=[OpenApiExample("A new owner", request_only=True, value={"owner": "nit-anna"})],
    ),
    destroy=extend_schema(
        summary="Delete an integration issue raised by mistake (Product Owner, Scrum Masters, NIT)",
        description="Its history goes with it; a tombstone is left for sync.",
        parameters=[IF_MATCH],
        responses={204: None, 412: PRECONDITION},
    ),
    deleted=tombstones_schema("integration issues"),
)
class IntegrationIssueViewSet(VersionedReadMixin, HistoryOrderingMixin, TombstonesMixin, NexusScopedViewSet):
    """`/api/v1/nexuses/{nexus_slug}/integration-issues/`."""

    model = IntegrationIssue
    serializer_class = IssueSerializer
    filterset_class = IssueFilter
    sync_field = "updated_at"
    tombstone_kind = ISSUE_TOMBSTONE
    rules: ClassVar[dict[str, str]] = {
        "create": RAISE_RULE,
        "partial_update": RAISE_RULE,
        "resolve": RAISE_RULE,
        "destroy": ESCALATE_RULE,
        "escalate": ESCALATE_RULE,
        "decide": EAT_RULE,
    }
    action_query_params: ClassVar[dict[str, tuple[str, ...]]] = {
        "history": (UpdatedSinceFilter.param, *PAGE_PARAMS),
    }
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def base_queryset(self) -> QuerySet[IntegrationIssue]:
        return issues_with_relations(IntegrationIssue.objects.filter(nexus=self.nexus))

    def _issue(self) -> IntegrationIssue:
        return IntegrationIssue.objects.select_related("nexus").get(pk=self.get_object().pk)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = IssueCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        v = data.validated_data
        raised = issue_raise(
            nexus=self.nexus,
            actor=request.user,
            title=v["title"],
            description=v.get("description", ""),
            event=v.get("event", IssueEvent.OTHER),
            team=v.get("raised_by_team"),
            teams=v.get("teams", []),
            items=v.get("items", []),
            owner=v.get("owner"),
            level=int(v.get("level", 1)),
        )
        response = _response(request, raised.issue, code=status.HTTP_201_CREATED)
        if raised.warnings:
            response["Warning"] = '199 - "' + " ".join(raised.warnings).replace('"', "'") + '"'
        return response

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        issue = self._issue()
        expected = if_match_version(request)
        data = IssueUpdateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        issue = issue_update(issue=issue, actor=request.user, expected_version=expected, **changes)
        return _response(request, issue)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        issue_delete(issue=self._issue(), actor=request.user, expected_version=if_match_version(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Escalate one level up: Scrum Team → Nexus → Executive Action Team (PO, SM, NIT)",
        description="Records when and who (and `note`, why). Past level 3, or a resolved or won't-fix "
        "issue: 409 naming `level` or `status`.",
        request=NoteSerializer,
        responses={200: IssueSerializer, 409: STATE_CONFLICT, 412: PRECONDITION},
        parameters=[IF_MATCH, ETAG_HEADER],
        examples=[
            OpenApiExample("Beyond the team", request_only=True, value={"note": "Needs another team's API."})
        ],
    )
    @action(detail=True, methods=["post"])
    def escalate(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        issue = self._issue()
        expected = if_match_version(request)
        data = NoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        issue = issue_escalate(
            issue=issue,
            actor=request.user,
            note=data.validated_data.get("note", ""),
            expected_version=expected,
        )
        return _response(request, issue)

    @extend_schema(
        summary="Resolve an issue, or close it as won't fix (members but Stakeholders; EAT at level 3)",
        description="`resolution` says how it was removed, or why not. Closed already: 409 naming `status`. "
        "At level 3 only Executive Action Team members close it (403).",
        request=ResolveSerializer,
        responses={200: IssueSerializer, 409: STATE_CONFLICT, 412: PRECONDITION},
        parameters=[IF_MATCH, ETAG_HEADER],
        examples=[
            OpenApiExample(
                "Resolved", request_only=True, value={"resolution": "Shared parser fixture; build green."}
            ),
            OpenApiExample(
                "Won't fix",
                request_only=True,
                value={"resolution": "The old formatter is retired next Sprint.", "status": "wont_fix"},
            ),
        ],
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        issue = self._issue()
        expected = if_match_version(request)
        data = ResolveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        issue = issue_resolve(
            issue=issue,
            actor=request.user,
            resolution=v["resolution"],
            status=v.get("status", IssueStatus.RESOLVED),
            expected_version=expected,
        )
        return _response(request, issue)

    @extend_schema(
        summary="Record a decision of the Executive Action Team on a level-3 impediment (EAT members)",
        description="The issue keeps its latest decision; every one is in its history. Below level 3 or "
        "closed: 409 naming `level` or `status`.",
        request=DecideSerializer,
        responses={200: IssueSerializer, 409: STATE_CONFLICT, 412: PRECONDITION},
        parameters=[IF_MATCH, ETAG_HEADER],
        examples=[
            OpenApiExample(
                "A decision",
                request_only=True,
                value={"decision": "Fund a shared CI runner pool this quarter."},
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def decide(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        issue = self._issue()
        expected = if_match_version(request)
        data = DecideSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        issue = issue_decide(
            issue=issue,
            actor=request.user,
            decision=data.validated_data["decision"],
            expected_version=expected,
        )
        return _response(request, issue)

    @extend_schema(
        summary="The issue's history (typed, append-only)",
        description="Every write, oldest first. With `updated_since`, the rows recorded at or after it "
        "(`at`).",
        parameters=[updated_since_param("at")],
        responses={200: EntrySerializer(many=True)},
        filters=False,
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def history(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        issue = self.get_object()
        rows = IntegrationIssueEntry.objects.filter(issue=issue).select_related("actor")
        page = self.paginate_queryset(self.updated_since(rows, "at"))
        return self.get_paginated_response(EntrySerializer(page, many=True).data)
