"""Builders for the integration tests, through the services (one way to write)."""

from __future__ import annotations

from typing import Any

from backlog.models import Nexus, ProductBacklogItem, Role
from events.models import Sprint
from integration.models import IncrementItem, IntegratedIncrement
from integration.services_dod import criterion_add
from integration.services_increments import increment_create, increment_integrate
from tests.events.sprint_helpers import items, sprint_build, teams
from tests.factories import member, squares_fill


def dod_build(nexus: Nexus, texts: tuple[str, ...] = ("Code reviewed", "Integration tests green")) -> None:
    for text in texts:
        criterion_add(nexus=nexus, text=text, actor=None)


def increment_build(
    nexus: Nexus, *, n_items: int = 2, sprint: Sprint | None = None, **kw: Any
) -> tuple[IntegratedIncrement, list[ProductBacklogItem]]:
    """An open increment of a started Sprint with `n_items` PBIs (planned for the first team, squares
    filled, integrated)."""
    scope = [i for i in items(nexus) if not IncrementItem.objects.filter(item=i).exists()][:n_items]
    sprint = sprint or sprint_build(nexus, planned=scope, started=True)
    increment = increment_create(sprint=sprint, actor=None, **kw)
    for item in scope:
        squares_fill(item)
        increment_integrate(increment=increment, item=item, actor=None)
    return increment, scope


def people(nexus: Nexus) -> dict[str, Any]:
    a, b = teams(nexus)[:2]
    return {
        "nit": member(nexus, Role.NIT_MEMBER, username=f"nit-{nexus.slug}"),
        "dev_a": member(nexus, Role.DEVELOPER, username=f"deva-{nexus.slug}", team_obj=a),
        "dev_b": member(nexus, Role.DEVELOPER, username=f"devb-{nexus.slug}", team_obj=b),
        "stake": member(nexus, Role.STAKEHOLDER, username=f"stake-{nexus.slug}"),
        "po": nexus.memberships.get(role=Role.PRODUCT_OWNER).user,
        "team_a": a,
        "team_b": b,
    }
