"""The demo step of the Nexus Sprint Review (`load_demo`, order 27: after the Sprints and dependencies).

- **Product Goal links.** The PBIs of the demo Nexus's active and planned Sprints that are not done yet,
  and the PBIs done in its last closed Sprint, are linked to its active Product Goal (through
  `backlog.services.items.pbi_product_goal_set`, the one update service): the review page then shows real
  progress (what the last Sprint finished) and the forecast of what remains, with the demo dependencies
  among them.
- **A review.** The last closed Sprint's Nexus Sprint Review has a few stakeholder notes recorded by the
  Product Owner during the event (timed on the Sprint's last day): one made into a new PBI
  (`review_note_to_pbi`), one linked to an unfinished PBI of the Sprint about search that it changed
  (`review_note_link`: its description gains the request), two still open.

Idempotent: a goal with linked PBIs and a Sprint with notes are left as they are.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta
from typing import Any

from django.contrib.auth.models import User

from backlog.models import ColumnCategory, Nexus, ProductBacklogItem, Source
from backlog.selectors import active_goal
from backlog.services.items import pbi_product_goal_set
from events.models import (
    OPEN_STATES,
    ReviewNote,
    SnapshotKind,
    Sprint,
    SprintItem,
    SprintSnapshot,
    SprintState,
)
from events.services.review import review_note_add, review_note_link, review_note_to_pbi

#: The notes of the demo review: (text, who gave it, what becomes of it: "pbi", "link" or "").
NOTES = [
    (
        "The new quick fixes for sealed types are what our users asked for. Could the quick fix also offer "
        "to add a default case when the switch cannot be exhaustive?",
        "Release engineering",
        "pbi",
    ),
    (
        "Search results should show where a record component is used, not only the accessor method: "
        "please cover record components in this PBI.",
        "Adopter: IDE vendor",
        "link",
    ),
    (
        "Formatter changes broke our team's code style twice this Sprint; we want release notes that say "
        "what changed in the formatter settings.",
        "Adopter: large bank",
        "",
    ),
    ("Startup time of the Java editor feels slower on big workspaces. Is that measured?", "Eclipse PMC", ""),
]


def _link_goal(nexus: Nexus) -> str:
    goal = active_goal(nexus=nexus)
    if goal is None:
        return "No active Product Goal: no PBI linked."
    if ProductBacklogItem.objects.filter(product_goal=goal).exists():
        return "PBIs are linked to the Product Goal already."
    open_scope = SprintItem.objects.filter(sprint__nexus=nexus, sprint__state__in=OPEN_STATES).values(
        "item_id"
    )
    ids = set(
        ProductBacklogItem.objects.open()
        .filter(backlog__nexus=nexus, pk__in=open_scope)
        .values_list("pk", flat=True)
    )
    last = Sprint.objects.filter(nexus=nexus, state=SprintState.CLOSED).order_by("-number").first()
    if last is not None:
        snap = SprintSnapshot.objects.filter(sprint=last, kind=SnapshotKind.CLOSE).values_list(
            "data", flat=True
        )
        ids |= {int(i) for i in (snap.first() or {}).get("done", [])}
    items = ProductBacklogItem.objects.alive().filter(pk__in=ids).order_by("rank")
    for item in items:
        pbi_product_goal_set(item=item, goal=goal, actor=None, source=Source.IMPORT)
    done = items.filter(column__category=ColumnCategory.DONE).count()
    return f"{len(ids)} PBIs linked to the Product Goal ({done} of them done)."


def _review(nexus: Nexus) -> str:
    sprint = Sprint.objects.filter(nexus=nexus, state=SprintState.CLOSED).order_by("-number").first()
    if sprint is None:
        return "No closed Sprint: no review."
    if ReviewNote.objects.filter(sprint=sprint).exists():
        return f"Sprint {sprint.number}'s review has notes already."
    po = User.objects.filter(username="po").first()
    tz = zoneinfo.ZoneInfo(nexus.time_zone)
    at = datetime.combine(sprint.end_date, time(14, 0), tzinfo=tz)
    # The feedback on search goes to an unfinished PBI of the Sprint about search (else any unfinished one).
    unfinished = (
        ProductBacklogItem.objects.alive()
        .filter(sprint_rows__sprint=sprint)
        .exclude(column__category=ColumnCategory.DONE)
        .order_by("rank")
    )
    linked_to = unfinished.filter(title__icontains="search").first() or unfinished.first()
    made = 0
    for k, (text, who, fate) in enumerate(NOTES):
        when = at + timedelta(minutes=7 * k)
        note = review_note_add(sprint=sprint, text=text, stakeholder=who, actor=po, at=when)
        if fate == "pbi":
            review_note_to_pbi(
                note=note,
                actor=po,
                title="Quick fix: add a default case to a switch that cannot be exhaustive",
                at=when + timedelta(minutes=2),
            )
            made += 1
        elif fate == "link" and linked_to is not None:
            description = (linked_to.description + "\n\n" if linked_to.description else "") + (
                "From the Nexus Sprint Review: also cover record components in the search results."
            )
            review_note_link(
                note=note, item=linked_to, actor=po, description=description, at=when + timedelta(minutes=2)
            )
            made += 1
    return f"Sprint {sprint.number}'s Nexus Sprint Review: {len(NOTES)} stakeholder notes, {made} acted on."


def demo_review(ctx: Any) -> str:
    """`events`' demo step for the review (see the module). Returns a console line."""
    nexus = Nexus.objects.filter(slug=ctx.slug).first()
    if nexus is None:
        return ""
    return f"{_link_goal(nexus)} {_review(nexus)}"
