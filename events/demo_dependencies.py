"""The demo step that adds dependencies between the demo Nexus's real PBIs (`load_demo`, after the Sprints).

Rule (simple, stated in the README): among the open PBIs of the current and the next Sprint, two PBIs
touch the same area when their titles carry the same `[tag]` (the Eclipse JDT reports' component tags,
e.g. "[quick fix]", "[search]"), or, failing a tag, the same uncommon word of at least seven letters.
Within an area, each PBI whose first Scrum Team differs from the area's first PBI (the highest in the
Product Backlog order) depends on that PBI: work of another team on the same area waits on it. At most
`DEMO_DEPENDENCIES`; found at Nexus Sprint Planning, by the "demo loader" (`found_by_name`), through
`backlog.services.dependencies.dependency_create`. Idempotent: a Nexus with demo dependencies is left as
it is.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from backlog.errors import DomainError
from backlog.models import Dependency, FoundAt, Nexus, ProductBacklogItem, Source, TeamInvolvement
from backlog.services.dependencies import DEMO_FINDER, dependency_create
from events.demo import TAG
from events.models import OPEN_STATES, SprintItem

DEMO_DEPENDENCIES = 12
WORD = re.compile(r"[A-Za-z]{7,}")
#: Words too common in the JDT titles to say two reports touch the same area.
COMMON = {"support", "should", "problem", "eclipse", "wrong", "missing", "exception", "incorrect", "doesn"}


def _areas(title: str) -> list[str]:
    tags = [f"[{t.strip().lower()}]" for t in TAG.findall(title)]
    if tags:
        return tags
    return sorted({w.lower() for w in WORD.findall(title)} - COMMON)


def demo_dependencies(ctx: Any) -> str:
    """`events`' demo step for dependencies (see the module). Returns a console line."""
    nexus = Nexus.objects.filter(slug=ctx.slug).first()
    if nexus is None:
        return ""
    if Dependency.objects.filter(nexus=nexus, found_by_name=DEMO_FINDER).exists():
        return "Demo dependencies are loaded already."
    ids = SprintItem.objects.filter(sprint__nexus=nexus, sprint__state__in=OPEN_STATES).values("item_id")
    items = list(ProductBacklogItem.objects.open().filter(backlog__nexus=nexus, pk__in=ids).order_by("rank"))
    first_team: dict[int, int] = {}
    for item_id, team_id in (
        TeamInvolvement.objects.filter(item__in=items).order_by("id").values_list("item_id", "team_id")
    ):
        first_team.setdefault(item_id, team_id)
    by_area: dict[str, list[ProductBacklogItem]] = defaultdict(list)
    for item in items:
        for area in _areas(item.title):
            by_area[area].append(item)
    made = 0
    for _area, group in sorted(by_area.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        head = group[0]
        for item in group[1:]:
            if made >= DEMO_DEPENDENCIES:
                break
            if first_team.get(item.pk) == first_team.get(head.pk):
                continue
            try:
                dependency_create(
                    item=item,
                    depends_on=head,
                    actor=None,
                    found_at=FoundAt.PLANNING,
                    source=Source.IMPORT,
                    found_by_name=DEMO_FINDER,
                    note="Same area of the product (the demo loader's rule)",
                )
            except DomainError:  # a duplicate or a cycle through another area: skip it
                continue
            made += 1
    return f"{made} dependencies between PBIs of the current and next Sprint (same area, another team)."
