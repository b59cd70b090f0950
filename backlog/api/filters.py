"""Filters of the API's lists (django-filter, documented in the schema automatically). References are
ids of the request's Nexus: another Nexus's id, or a value of the wrong type, answers 400 naming the
filter; an empty value too (`StrictFilterSet`)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet

from backlog.models import (
    ClassOfService,
    ColumnCategory,
    ProductBacklogItem,
    ScrumTeam,
    Task,
    TeamColumn,
    TeamInvolvement,
    TeamStatus,
    Transition,
    TransitionKind,
    WorkflowColumn,
)
from nexus_site.api.base import StrictFilterSet

TRUE_FALSE = [("true", "true"), ("false", "false")]


def _nexus(request: Any) -> Any:
    return request.parser_context["view"].nexus


def _nexus_items(request: Any) -> QuerySet[ProductBacklogItem]:
    return ProductBacklogItem.objects.filter(backlog__nexus=_nexus(request))


def _nexus_teams(request: Any) -> QuerySet[ScrumTeam]:
    return ScrumTeam.objects.filter(nexus=_nexus(request))


def _nexus_columns(request: Any) -> QuerySet[WorkflowColumn]:
    return WorkflowColumn.objects.filter(nexus=_nexus(request))


class ItemFilter(StrictFilterSet):
    """Filters of the PBI list; ids are those of the Nexus (another id answers 400 naming the filter)."""

    column = django_filters.ModelChoiceFilter(
        queryset=_nexus_columns,
        help_text="Items in this Definition of Workflow column (id)",
    )
    team = django_filters.ModelChoiceFilter(
        field_name="involvements__team",
        queryset=_nexus_teams,
        help_text="Items this Scrum Team (id) is forecast on",
    )
    label = django_filters.CharFilter(field_name="labels__name", help_text="Items with this label (name)")
    open = django_filters.ChoiceFilter(
        choices=TRUE_FALSE, method="filter_open", help_text="true: not finished (the Product Backlog proper)"
    )
    blocked = django_filters.ChoiceFilter(choices=TRUE_FALSE, method="filter_blocked")
    class_of_service = django_filters.ChoiceFilter(choices=ClassOfService.choices)
    external_id = django_filters.CharFilter(help_text="The item with this external id")

    class Meta:
        model = ProductBacklogItem
        fields = ["column", "team", "label", "open", "blocked", "class_of_service", "external_id"]

    def filter_open(self, qs: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        done = {"column__category": ColumnCategory.DONE}
        return qs.exclude(**done) if value == "true" else qs.filter(**done)

    def filter_blocked(self, qs: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return qs.filter(is_blocked=value == "true")


class InvolvementFilter(StrictFilterSet):
    item = django_filters.ModelChoiceFilter(queryset=_nexus_items, help_text="Of this PBI (id)")
    team = django_filters.ModelChoiceFilter(queryset=_nexus_teams, help_text="Of this Scrum Team (id)")
    status = django_filters.ChoiceFilter(choices=TeamStatus.choices)

    class Meta:
        model = TeamInvolvement
        fields = ["item", "team", "status"]


class TransitionFilter(StrictFilterSet):
    item = django_filters.ModelChoiceFilter(queryset=_nexus_items, help_text="Of this PBI (id)")
    kind = django_filters.ChoiceFilter(choices=TransitionKind.choices)

    class Meta:
        model = Transition
        fields = ["item", "kind"]


class TeamColumnFilter(StrictFilterSet):
    team = django_filters.ModelChoiceFilter(
        queryset=_nexus_teams, help_text="Of this Scrum Team's board (id)"
    )
    state = django_filters.ChoiceFilter(choices=TeamStatus.choices, help_text="Columns of this square state")

    class Meta:
        model = TeamColumn
        fields = ["team", "state"]


class TaskFilter(StrictFilterSet):
    item = django_filters.ModelChoiceFilter(queryset=_nexus_items, help_text="Tasks of this PBI (id)")
    team = django_filters.ModelChoiceFilter(queryset=_nexus_teams, help_text="Tasks of this Scrum Team (id)")
    done = django_filters.ChoiceFilter(
        choices=TRUE_FALSE, method="filter_done", help_text="true: done; false: still to do"
    )

    class Meta:
        model = Task
        fields = ["item", "team", "done"]

    def filter_done(self, qs: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return qs.filter(done=value == "true")
