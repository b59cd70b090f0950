"""The scopes of the dependency-aware forecast that `events` knows: one PBI, or a Sprint's scope (its
planned PBIs). Resolves the page's and the API's query parameters into a list of PBI ids for
`flow.selectors_forecast.dependency_forecast_get` (a Product Goal scope resolves the same way: a list of
ids)."""

from __future__ import annotations

from dataclasses import dataclass

from backlog.errors import DomainError
from backlog.models import Nexus, ProductBacklogItem
from events.models import Sprint, SprintItem, SprintState

__all__ = ["ForecastScope", "forecast_scope_resolve"]


@dataclass(frozen=True, slots=True)
class ForecastScope:
    """`item` (one PBI and its chain) or `sprint` (its planned PBIs), and the PBI ids to forecast."""

    item_ids: tuple[int, ...]
    item: ProductBacklogItem | None = None
    sprint: Sprint | None = None


def _whole(raw: str, field: str) -> int:
    text = raw.strip().lstrip("#")
    if not text.isdigit() or len(text) > 18:
        raise DomainError("Enter a whole number.", field=field)
    return int(text)


def forecast_scope_resolve(
    *, nexus: Nexus, item: str | None, sprint: str | None, default_sprint: bool = False
) -> ForecastScope | None:
    """The scope named by `item` (a PBI id) or `sprint` (a Sprint number), given as text (query
    parameters). Neither: the active Sprint when `default_sprint` (None if there is none), else a
    `DomainError` naming `item`. Raises `DomainError` (400) naming the field for both, a value that is
    not a whole number, or a PBI (live) or Sprint not of the Nexus. Two queries."""
    if item is not None and sprint is not None:
        raise DomainError("Forecast one PBI or one Sprint, not both.", field="sprint")
    if item is not None:
        pbi = ProductBacklogItem.objects.alive().filter(backlog__nexus=nexus, pk=_whole(item, "item")).first()
        if pbi is None:
            raise DomainError("No such PBI in this Nexus.", field="item")
        return ForecastScope((pbi.pk,), item=pbi)
    if sprint is not None:
        found = Sprint.objects.filter(nexus=nexus, number=_whole(sprint, "sprint")).first()
        if found is None:
            raise DomainError("No Sprint of that number in this Nexus.", field="sprint")
    elif default_sprint:
        found = Sprint.objects.filter(nexus=nexus, state=SprintState.ACTIVE).first()
        if found is None:
            return None
    else:
        raise DomainError("Name a PBI (`item`) or a Sprint (`sprint`).", field="item")
    ids = SprintItem.objects.filter(sprint=found, item__deleted_at__isnull=True).order_by("item__rank")
    return ForecastScope(tuple(ids.values_list("item_id", flat=True)), sprint=found)
