"""Reads of the Nexus Sprint Review page (`events.views_review`): a Sprint's outcome (the Nexus Sprint
Goal and each Scrum Team's Sprint Goal with the PBIs of the Sprint done and not done), progress toward
the active Product Goal (PBIs linked to it done / total), its Monte Carlo "when"
(`events.review_forecast`), and the stakeholder notes (`events.models_review`).

Done: for an active Sprint, a PBI of its scope that is in a finished column of the Definition of
Workflow now (`ColumnCategory.DONE`); for a closed Sprint, a PBI its close snapshot lists as done (in
the finish column or after it when the Sprint closed). The page's queries do not grow with the number
of PBIs, teams or notes (a test asserts it). The Integrated Increments are not read here: `integration`
(an upper app) fills the page's `review` panel slot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count, Q

from backlog.models import ColumnCategory, Nexus, ProductBacklogItem, ProductGoal, ScrumTeam, TeamInvolvement
from backlog.selectors import AnyUser, active_goal, backlog_rights
from events.models import (
    ReviewNote,
    SnapshotKind,
    Sprint,
    SprintItem,
    SprintSnapshot,
    SprintState,
    SprintTeamGoal,
)
from events.services.review import can_add_review_notes
from flow.history import nexus_today

#: Sprints offered in the page's Sprint switcher (the most recent first).
SPRINTS_LISTED = 12


#: The active Sprint's review is the one the page opens on from this many days before its last day (the
#: Nexus Sprint Review is held at the end of the Sprint); before that, the latest closed Sprint's.
REVIEW_DAYS = 2


def review_sprint_latest(*, nexus: Nexus) -> Sprint | None:
    """The Sprint whose review the Nexus's review page opens on: the active Sprint from `REVIEW_DAYS`
    days before its last day (calendar days in the Nexus's time zone) or when it has notes already;
    otherwise the latest closed Sprint, else the active one; None when no Sprint has started (at most
    two queries)."""
    recent = list(
        Sprint.objects.filter(nexus=nexus, state__in=[SprintState.ACTIVE, SprintState.CLOSED])
        .annotate(n_notes=Count("review_notes"))
        .order_by("-number")[:2]
    )
    if not recent:
        return None
    latest = recent[0]
    if latest.state != SprintState.ACTIVE or len(recent) == 1:
        return latest
    review_time = nexus_today(nexus) >= latest.end_date - timedelta(days=REVIEW_DAYS)
    return latest if review_time or latest.n_notes else recent[1]


@dataclass
class ReviewItem:
    """A PBI of the Sprint: `done` as the module defines it; `teams` the ids of its Scrum Teams."""

    pk: int
    title: str
    external_id: str
    column_name: str
    done: bool
    teams: list[int] = field(default_factory=list)


@dataclass
class TeamOutcome:
    """One Scrum Team's Sprint Goal and its PBIs of the Sprint, done and not done."""

    team: ScrumTeam
    goal: str
    done: list[ReviewItem] = field(default_factory=list)
    not_done: list[ReviewItem] = field(default_factory=list)

    @property
    def percent(self) -> int:
        """Share of its PBIs of the Sprint done, in percent (0 with none)."""
        total = len(self.done) + len(self.not_done)
        return round(100 * len(self.done) / total) if total else 0


@dataclass
class GoalProgress:
    """Progress toward the active Product Goal: live PBIs linked to it (`total`) and those in a finished
    column (`done`)."""

    goal: ProductGoal | None
    total: int = 0
    done: int = 0

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


@dataclass
class ReviewPage:
    """Everything the review page shows but the forecast and the panels."""

    sprint: Sprint
    sprints: list[Sprint]
    items: list[ReviewItem]
    teams: list[TeamOutcome]
    progress: GoalProgress
    notes: list[ReviewNote]
    can_add: bool
    can_create: bool
    can_edit: bool

    @property
    def done_count(self) -> int:
        return sum(1 for i in self.items if i.done)


def _done_ids(sprint: Sprint) -> set[int] | None:
    """The close snapshot's done PBIs of a closed Sprint (None for an open one). One query."""
    if sprint.state != SprintState.CLOSED:
        return None
    data = (
        SprintSnapshot.objects.filter(sprint=sprint, kind=SnapshotKind.CLOSE)
        .values_list("data", flat=True)
        .first()
    )
    return {int(i) for i in (data or {}).get("done", [])}


def review_notes_get(*, sprint: Sprint) -> list[ReviewNote]:
    """The Sprint's stakeholder notes, oldest first, with their author and PBI (one query)."""
    return list(
        ReviewNote.objects.filter(sprint=sprint).select_related("author", "item").order_by("at", "id")
    )


def goal_progress_get(*, nexus: Nexus) -> GoalProgress:
    """The active Product Goal and its linked live PBIs, done and total (two queries)."""
    goal = active_goal(nexus=nexus)
    if goal is None:
        return GoalProgress(None)
    counts = ProductBacklogItem.objects.filter(product_goal=goal, deleted_at__isnull=True).aggregate(
        total=Count("pk"), done=Count("pk", filter=Q(column__category=ColumnCategory.DONE))
    )
    return GoalProgress(goal, int(counts["total"] or 0), int(counts["done"] or 0))


def review_get(*, nexus: Nexus, sprint: Sprint, user: AnyUser) -> ReviewPage:
    """The review page of `sprint` for `user` (see the module): at most nine queries, whatever the
    size of the Sprint, the number of teams and of notes."""
    done_ids = _done_ids(sprint)
    rows = (
        SprintItem.objects.filter(sprint=sprint, item__deleted_at__isnull=True)
        .order_by("item__rank")
        .values_list(
            "item_id", "item__title", "item__external_id", "item__column__name", "item__column__category"
        )
    )
    items = [
        ReviewItem(
            pk, title, ext, col, (pk in done_ids) if done_ids is not None else cat == ColumnCategory.DONE
        )
        for pk, title, ext, col, cat in rows
    ]
    by_pk = {i.pk: i for i in items}
    teams: dict[int, TeamOutcome] = {}
    for tg in SprintTeamGoal.objects.filter(sprint=sprint).select_related("team"):
        teams[tg.team_id] = TeamOutcome(tg.team, tg.goal)
    squares = (
        TeamInvolvement.objects.filter(item__sprint_rows__sprint=sprint)
        .select_related("team")
        .order_by("item__rank", "team__name")
    )
    for inv in squares:
        item = by_pk.get(inv.item_id)
        if item is None:
            continue
        item.teams.append(inv.team_id)
        outcome = teams.setdefault(inv.team_id, TeamOutcome(inv.team, ""))
        (outcome.done if item.done else outcome.not_done).append(item)
    sprints = list(
        Sprint.objects.filter(nexus=nexus, state__in=[SprintState.ACTIVE, SprintState.CLOSED]).order_by(
            "-number"
        )[:SPRINTS_LISTED]
    )
    rights = backlog_rights(user=user, nexus=nexus)
    return ReviewPage(
        sprint=sprint,
        sprints=sprints,
        items=items,
        teams=sorted(teams.values(), key=lambda t: t.team.name),
        progress=goal_progress_get(nexus=nexus),
        notes=review_notes_get(sprint=sprint),
        can_add=can_add_review_notes(user=user, nexus=nexus),
        can_create=rights.can_create,
        can_edit=rights.can_edit,
    )
