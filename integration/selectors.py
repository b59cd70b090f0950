"""Reads of the Definition of Done and the Integrated Increments for the pages: a fixed number of queries
each, whatever the number of PBIs, criteria or Sprints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backlog.models import Nexus, ProductBacklogItem, ScrumTeam, TeamInvolvement, TeamStatus
from backlog.services.squares import FILLED
from events.models import Sprint, SprintState
from integration.models import (
    CriterionConfirmation,
    DoneCriterion,
    DoneVersion,
    IncrementState,
    IntegratedIncrement,
)
from integration.services_rules import confirm_refusal

_LABELS = dict(TeamStatus.choices)


@dataclass(frozen=True)
class Square:
    """One team square, as `{% squares_row %}` draws it."""

    code: str
    name: str
    status: str
    label: str


@dataclass
class ItemRow:
    item: ProductBacklogItem
    squares: list[Square]
    column: str


@dataclass
class CriterionRow:
    """A criterion of the increment's Definition of Done version with its confirmation (None: not yet)."""

    id: int
    text: str
    team: int | None
    team_name: str
    confirmation: CriterionConfirmation | None = None
    can_confirm: bool = False


@dataclass
class IncrementPage:
    increment: IntegratedIncrement
    items: list[ItemRow]
    criteria: list[CriterionRow]
    candidates: list[ItemRow] = field(default_factory=list)

    @property
    def confirmed(self) -> int:
        return sum(1 for c in self.criteria if c.confirmation is not None)

    @property
    def all_confirmed(self) -> bool:
        return self.confirmed == len(self.criteria)


def _rows(items: list[ProductBacklogItem]) -> list[ItemRow]:
    """Rows with their squares: one query for the squares of every item."""
    by_item: dict[int, list[Square]] = {i.pk: [] for i in items}
    squares = (
        TeamInvolvement.objects.filter(item_id__in=by_item)
        .select_related("team")
        .only("item_id", "status", "team__name")
        .order_by("team__name", "id")
    )
    for sq in squares:
        by_item[sq.item_id].append(
            Square(sq.team.code, sq.team.name, sq.status, str(_LABELS.get(sq.status, sq.status)).lower())
        )
    return [ItemRow(i, by_item[i.pk], i.column.name) for i in items]


def increment_page_get(*, increment: IntegratedIncrement, user: Any) -> IncrementPage:
    """The increment page: its PBIs (Product Backlog order) with squares and column, its criteria
    with their confirmations and whether `user` may confirm each (`confirm_refusal`), and, while it is
    open, the Sprint's PBIs that may be integrated (every square filled, in no increment). Eight
    queries."""

    items = list(
        ProductBacklogItem.objects.filter(increment_row__increment=increment)
        .select_related("column")
        .only("id", "title", "external_id", "rank", "column__name", "deleted_at")
        .order_by("rank", "id")
    )
    rows = _rows(items)
    confirmations = {
        c.criterion: c
        for c in CriterionConfirmation.objects.filter(increment=increment).select_related("confirmed_by")
    }
    roles_memo: dict[str, str | None] = {}
    criteria = []
    for c in increment.dod_version.criteria:
        key = "nexus" if c["team"] is None else str(c["team"])
        if key not in roles_memo:
            roles_memo[key] = confirm_refusal(actor=user, nexus_id=increment.nexus_id, criterion=c)
        criteria.append(
            CriterionRow(
                c["id"],
                c["text"],
                c["team"],
                c.get("team_name", ""),
                confirmations.get(c["id"]),
                roles_memo[key] is None,
            )
        )
    candidates: list[ItemRow] = []
    if increment.state == IncrementState.OPEN:
        scope = list(
            ProductBacklogItem.objects.filter(
                sprint_rows__sprint_id=increment.sprint_id,
                deleted_at__isnull=True,
                increment_row__isnull=True,
            )
            .select_related("column")
            .only("id", "title", "external_id", "rank", "column__name", "deleted_at")
            .order_by("rank", "id")
        )
        candidates = [r for r in _rows(scope) if all(sq.status in FILLED for sq in r.squares)]
    return IncrementPage(increment, rows, criteria, candidates)


@dataclass
class SprintIncrements:
    sprint: Sprint
    increments: list[IntegratedIncrement]
    counts: dict[int, int]


def sprint_increments_get(*, nexus: Nexus, sprint: Sprint) -> SprintIncrements:
    """The Sprint's increments (by number) with the number of PBIs of each. Two queries."""
    from django.db.models import Count

    rows: list[Any] = list(
        IntegratedIncrement.objects.filter(sprint=sprint)
        .select_related("dod_version")
        .annotate(n_items=Count("items"))
        .order_by("number")
    )
    return SprintIncrements(sprint, rows, {r.pk: r.n_items for r in rows})


@dataclass
class ReviewIncrement:
    """An Integrated Increment on the Nexus Sprint Review: its PBIs, and its Definition of Done version
    with how many of that version's criteria are confirmed."""

    increment: IntegratedIncrement
    n_items: int
    criteria: int
    confirmed: int


def review_increments_get(*, sprint: Sprint) -> list[ReviewIncrement]:
    """The Sprint's Integrated Increments (by number) with their PBI count and Definition of Done
    state (criteria of their version, confirmed so far). One query."""
    from django.db.models import Count

    rows = (
        IntegratedIncrement.objects.filter(sprint=sprint)
        .select_related("dod_version")
        .annotate(n_items=Count("items", distinct=True), n_confirmed=Count("confirmations", distinct=True))
        .order_by("number")
    )
    return [ReviewIncrement(r, r.n_items, len(r.dod_version.criteria or []), r.n_confirmed) for r in rows]


def panel_sprint(*, nexus: Nexus) -> Sprint | None:
    """The Sprint the Nexus Sprint Backlog panel speaks of: the active one, else the last closed."""
    return (
        Sprint.objects.filter(nexus=nexus, state=SprintState.ACTIVE).first()
        or Sprint.objects.filter(nexus=nexus, state=SprintState.CLOSED).order_by("-number").first()
    )


@dataclass
class Health:
    """The Nexus's health figure (Nexus Guide: a Done Integrated Increment at least once every Sprint):
    of its finished (closed) Sprints, how many produced a Done Integrated Increment (`with_done` of
    `closed`), and the streak: consecutive closed Sprints, the latest back, that did. `active_done`:
    whether the active Sprint has one already. `recent`: the last closed Sprints (newest last) as
    (number, produced)."""

    closed: int
    with_done: int
    streak: int
    active: Sprint | None
    active_done: bool
    recent: list[tuple[int, bool]]


def health_get(*, nexus: Nexus) -> Health:
    """The health figure (see `Health`). Two queries."""
    sprints = list(
        Sprint.objects.filter(nexus=nexus, state__in=(SprintState.CLOSED, SprintState.ACTIVE))
        .only("id", "number", "state")
        .order_by("number")
    )
    done = set(
        IntegratedIncrement.objects.filter(nexus=nexus, state=IncrementState.DONE).values_list(
            "sprint_id", flat=True
        )
    )
    closed = [s for s in sprints if s.state == SprintState.CLOSED]
    streak = 0
    for s in reversed(closed):
        if s.pk not in done:
            break
        streak += 1
    active = next((s for s in sprints if s.state == SprintState.ACTIVE), None)
    return Health(
        closed=len(closed),
        with_done=sum(1 for s in closed if s.pk in done),
        streak=streak,
        active=active,
        active_done=active is not None and active.pk in done,
        recent=[(s.number, s.pk in done) for s in closed[-12:]],
    )


@dataclass
class DodPage:
    nexus_criteria: list[DoneCriterion]
    teams: list[tuple[ScrumTeam, list[DoneCriterion]]]
    versions: list[DoneVersion]
    current: int


def dod_page_get(*, nexus: Nexus, versions: int = 20) -> DodPage:
    """The Definition of Done page: the Nexus's criteria, each team's stricter ones (every team, even
    without), the last `versions` versions. Three queries."""
    criteria = list(DoneCriterion.objects.filter(nexus=nexus).order_by("position", "id"))
    teams = list(ScrumTeam.objects.filter(nexus=nexus).order_by("name"))
    history = list(
        DoneVersion.objects.filter(nexus=nexus).select_related("created_by").order_by("-number")[:versions]
    )
    return DodPage(
        nexus_criteria=[c for c in criteria if c.team_id is None],
        teams=[(t, [c for c in criteria if c.team_id == t.pk]) for t in teams],
        versions=history,
        current=history[0].number if history else 0,
    )
