"""API views of each Scrum Team's Definition of Workflow (`/api/v1/nexuses/{nexus_slug}/team-columns/`)
and of the tasks of its Sprint Backlog (`tasks/`, at the end).

Team columns:
every member reads; the team's Developers and Scrum Masters, the Product Owner, the Nexus Integration
Team and administrators change it (`backlog.services.squares`: the rule is in the service, per team);
deleted columns are listed in `team-columns/deleted/` for sync. A column has a `version`: `GET` answers
its `ETag`, and `PATCH`/`DELETE` take `If-Match`."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import User
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.request import Request
from rest_framework.response import Response

from backlog.api.filters import TaskFilter, TeamColumnFilter
from backlog.api.serializers_squares import (
    TaskCreateSerializer,
    TaskSerializer,
    TaskUpdateSerializer,
    TeamColumnCreateSerializer,
    TeamColumnSerializer,
    TeamColumnUpdateSerializer,
)
from backlog.errors import DomainError
from backlog.models import Task, TeamColumn
from backlog.models_api import TombstoneKind
from backlog.services.tasks import task_create, task_update
from backlog.services.team_columns import team_column_create, team_column_delete, team_column_update
from nexus_site.api import permissions as perms
from nexus_site.api.base import NexusScopedViewSet, TombstonesMixin, tombstones_schema
from nexus_site.api.etag import etag, if_match_version, not_modified
from nexus_site.api.schema import (
    ETAG_HEADER,
    IF_MATCH,
    error,
    precondition,
    retrieve_with_etag,
)

PRECONDITION = precondition("the column")
TEAM_COLUMN_IN_USE = error(
    "Work of the team is in the column, or the transition log names it: the team's history is never "
    "lost. Nothing was deleted.",
    OpenApiExample(
        "Column in use",
        value={
            "status": 409,
            "code": "conflict",
            "message": "2 PBI(s) of the team are in 'Review': move them to another column first.",
            "errors": [{"field": "id", "code": "conflict", "message": "..."}],
        },
        response_only=True,
        status_codes=["409"],
    ),
)
WHO = (
    "The team's Developers and Scrum Masters change their own team's board; the Product Owner, the Nexus "
    "Integration Team and administrators any team's (403 otherwise, naming `team`)."
)


@extend_schema_view(
    list=extend_schema(
        summary="List the Scrum Teams' board columns (each team's Definition of Workflow)",
        description="By team, then left to right (`position`); `?team=` for one team's board. Each column "
        "maps onto a state of the team square (`state`); a new team gets one column per state. With "
        "`updated_since`, in the sync order (updated_at, id) instead.",
    ),
    retrieve=retrieve_with_etag("a column of a team's board", TeamColumnSerializer),
    create=extend_schema(
        summary="Add a column to a team's board",
        description=f"At `position` (0-based within the team; the columns from there on move one to the "
        f"right), by default after the last column of its `state`. The states never go back along a "
        f"team's board (400 naming `position`). At most 20 columns per team. {WHO}",
        request=TeamColumnCreateSerializer,
        responses={201: TeamColumnSerializer},
        parameters=[ETAG_HEADER],
        examples=[
            OpenApiExample(
                "A review step",
                request_only=True,
                value={"team": 2, "name": "Code review", "state": "in_progress", "wip_limit": 3},
            )
        ],
    ),
    partial_update=extend_schema(
        summary="Change or move a column of a team's board",
        description="Send only what changes: `name`, `state` (the squares of the work in the column take "
        "the new state, logged), `position`, `wip_limit`, `wip_limit_kind`, `sle_days`. The states never "
        "go back along the board and each state keeps a column (400 naming `position` or `state`). With "
        f"`If-Match`, refused (412) if the column changed since you read it. {WHO}",
        request=TeamColumnUpdateSerializer,
        responses={200: TeamColumnSerializer, 412: PRECONDITION},
        parameters=[IF_MATCH, ETAG_HEADER],
        examples=[
            OpenApiExample("A WIP limit", request_only=True, value={"wip_limit": 2, "wip_limit_kind": "hard"})
        ],
    ),
    destroy=extend_schema(
        summary="Delete a column of a team's board",
        description="Refused (409) while work of the team is in it or the transition log names it, and "
        "(400 naming `state`) for the last column of its state. The columns to its right move one to the "
        f"left; the deletion leaves a tombstone (`team-columns/deleted/`). {WHO}",
        parameters=[IF_MATCH],
        responses={204: None, 409: TEAM_COLUMN_IN_USE, 412: PRECONDITION},
    ),
    deleted=tombstones_schema(
        "columns of the Scrum Teams' boards", "A deleted team's columns are listed too."
    ),
)
class TeamColumnViewSet(
    TombstonesMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    NexusScopedViewSet,
):
    """`/api/v1/nexuses/{nexus_slug}/team-columns/`."""

    model = TeamColumn
    serializer_class = TeamColumnSerializer
    filterset_class = TeamColumnFilter
    sync_field = "updated_at"
    tombstone_kind = TombstoneKind.TEAM_COLUMN
    rules: ClassVar[dict[str, str]] = {
        "create": perms.SQUARES,
        "partial_update": perms.SQUARES,
        "destroy": perms.SQUARES,
    }
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def ordering_keys(self) -> list[tuple[str, str]]:
        # A team's board left to right, unless a sync client asks what changed or was deleted.
        if self.action == "deleted" or self.sync_requested():
            return super().ordering_keys()
        return [("team_id", "int"), ("position", "int")]

    def base_queryset(self) -> QuerySet[TeamColumn]:
        return TeamColumn.objects.filter(nexus=self.nexus)

    def _response(self, column: TeamColumn, code: int = status.HTTP_200_OK) -> Response:
        return Response(
            TeamColumnSerializer(column).data, status=code, headers={"ETag": etag(column.version)}
        )

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        column = self.get_object()
        if (current := not_modified(request, column.version)) is not None:
            return current
        return self._response(column)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = TeamColumnCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        column = team_column_create(actor=request.user, **data.validated_data)
        return self._response(column, status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        column = self.get_object()
        expected = if_match_version(request)
        data = TeamColumnUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        column = team_column_update(
            column=column, actor=request.user, expected_version=expected, **data.validated_data
        )
        return self._response(column)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        column = self.get_object()
        team_column_delete(column=column, actor=request.user, expected_version=if_match_version(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Tasks of a team's Sprint Backlog (`tasks/`) -------------------------------------------------------


def _assignee(username: str | None) -> User | None:
    """The user named `username` (None for None); the service checks they are a member of the Nexus."""
    if username is None:
        return None
    user = User.objects.filter(username=username).first()
    if user is None:
        raise DomainError(f"No user is named {username!r}.", field="assignee")
    return user


TASK_WHO = (
    "The team's Developers and Scrum Masters add and change their own team's tasks; the Product Owner, the "
    "Nexus Integration Team and administrators any team's (403 otherwise, naming `team`)."
)


@extend_schema_view(
    list=extend_schema(
        summary="List the tasks of the Scrum Teams' Sprint Backlogs",
        description="Each task is a step of one team's work on one PBI (the team's square on it), as on the "
        "team board; tasks of deleted PBIs are left out. `?item=`, `?team=`, `?done=`. By PBI, then in the "
        "order they were added; with `updated_since`, in the sync order (updated_at, id) instead.",
    ),
    retrieve=retrieve_with_etag("a task", TaskSerializer),
    create=extend_schema(
        summary="Add a task to a team's work on a PBI",
        description="Not done when added. The team is one forecast on the PBI (400 naming `team` "
        f"otherwise); `assignee` is a member of the Nexus (400 naming `assignee`). {TASK_WHO}",
        request=TaskCreateSerializer,
        responses={201: TaskSerializer},
        parameters=[ETAG_HEADER],
        examples=[
            OpenApiExample(
                "A step of Core's work",
                request_only=True,
                value={"item": 41, "team": 2, "title": "Regression test for the NPE", "assignee": "dev-core"},
            )
        ],
    ),
    partial_update=extend_schema(
        summary="Change a task: tick it off, rename it, give it to someone",
        description="Send only what changes: `title`, `done`, `assignee` (null: nobody). With `If-Match`, "
        f"refused (412) if the task changed since you read it. {TASK_WHO}",
        request=TaskUpdateSerializer,
        responses={200: TaskSerializer, 412: precondition("the task")},
        parameters=[IF_MATCH, ETAG_HEADER],
        examples=[OpenApiExample("Done", request_only=True, value={"done": True})],
    ),
)
class TaskViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, NexusScopedViewSet):
    """`/api/v1/nexuses/{nexus_slug}/tasks/`."""

    model = Task
    serializer_class = TaskSerializer
    filterset_class = TaskFilter
    sync_field = "updated_at"
    rules: ClassVar[dict[str, str]] = {"create": perms.SQUARES, "partial_update": perms.SQUARES}
    http_method_names = ["get", "post", "patch", "head", "options"]

    def ordering_keys(self) -> list[tuple[str, str]]:
        if self.sync_requested():
            return super().ordering_keys()
        return [("item_id", "int"), ("id", "int")]

    def base_queryset(self) -> QuerySet[Task]:
        return Task.objects.filter(team__nexus=self.nexus, item__deleted_at__isnull=True).select_related(
            "assignee"
        )

    def _response(self, task: Task, code: int = status.HTTP_200_OK) -> Response:
        task = Task.objects.select_related("assignee").get(pk=task.pk)
        return Response(TaskSerializer(task).data, status=code, headers={"ETag": etag(task.version)})

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        task = self.get_object()
        if (current := not_modified(request, task.version)) is not None:
            return current
        return self._response(task)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = TaskCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        values = data.validated_data
        task = task_create(
            item=values["item"],
            team=values["team"],
            title=values["title"],
            assignee=_assignee(values.get("assignee")),
            actor=request.user,
        )
        return self._response(task, status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        task = self.get_object()
        expected = if_match_version(request)
        data = TaskUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        changes: dict[str, Any] = {k: values[k] for k in ("title", "done") if k in values}
        if "assignee" in values:
            changes["assignee"] = _assignee(values["assignee"])
        task = task_update(task=task, actor=request.user, expected_version=expected, **changes)
        return self._response(task)
