"""Reads of integration issues: a Nexus's issues (filtered), an issue's age at each level, and the
Executive Action Team's list across the Nexuses a user belongs to as its member. Each list is a fixed
number of queries whatever the number of issues."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import F, Prefetch, Q, QuerySet
from django.utils import timezone

from backlog.models import Membership, Nexus, Role, ScrumTeam
from integration.models_issues import IntegrationIssue, IntegrationIssueWipLimit, IssueLevel, IssueStatus


@dataclass(frozen=True)
class LevelAge:
    """How long an issue was (or has been, if `current`) at `level`, in whole calendar days (UTC,
    rounded down) and hours (`hours`, for ages under a day)."""

    level: int
    label: str
    days: int
    hours: int
    current: bool

    @property
    def text(self) -> str:
        return f"{self.days} d" if self.days else f"{self.hours} h"


class HasLevelTimes(Protocol):
    """What `level_ages` reads: an `IntegrationIssue`, or a row of its values with these names."""

    @property
    def level(self) -> int: ...
    @property
    def raised_at(self) -> datetime: ...
    @property
    def level_2_at(self) -> datetime | None: ...
    @property
    def level_3_at(self) -> datetime | None: ...
    @property
    def closed_at(self) -> datetime | None: ...


def level_ages(issue: HasLevelTimes, now: datetime | None = None) -> list[LevelAge]:
    """The issue's age at each level it reached, lowest first: from reaching the level (`raised_at` for
    the level it was raised at, then `level_2_at`, `level_3_at`) to reaching the next one, or to its
    closing (`closed_at`), or to `now` (default: now, UTC) while it is there and open. No query."""
    end = issue.closed_at or now or timezone.now()
    starts = [(1, issue.raised_at), (2, issue.level_2_at), (3, issue.level_3_at)]
    reached = [(lvl, at) for lvl, at in starts if at is not None and lvl <= issue.level]
    if issue.level_2_at is not None and issue.level_2_at == issue.raised_at:
        reached = [(lvl, at) for lvl, at in reached if lvl != 1]  # raised at level 2
    ages = []
    for i, (lvl, at) in enumerate(reached):
        until = reached[i + 1][1] if i + 1 < len(reached) else end
        seconds = max(0.0, (until - at).total_seconds())
        ages.append(
            LevelAge(
                level=lvl,
                label=IssueLevel(lvl).label,
                days=int(seconds // 86400),
                hours=int(seconds // 3600),
                current=i + 1 == len(reached),
            )
        )
    return ages


def issues_with_relations(rows: QuerySet[IntegrationIssue]) -> QuerySet[IntegrationIssue]:
    """`rows` with their people, teams and PBIs loaded (three queries more, whatever their number)."""
    return rows.select_related("raised_by", "raised_by_team", "owner", "nexus").prefetch_related(
        Prefetch("teams", queryset=ScrumTeam.objects.order_by("name")),
        "items",
    )


def nexus_issues(
    *, nexus: Nexus, status: str | None = IssueStatus.OPEN, level: int | None = None, team: int | None = None
) -> QuerySet[IntegrationIssue]:
    """The Nexus's integration issues, highest level first, then oldest first; `status` (None: all),
    `level` and `team` (raised by or concerning that Scrum Team) narrow it."""
    rows = IntegrationIssue.objects.filter(nexus=nexus)
    if status:
        rows = rows.filter(status=status)
    if level:
        rows = rows.filter(level=level)
    if team:
        concerned = IntegrationIssue.teams.through.objects.filter(scrumteam_id=team)
        rows = rows.filter(Q(pk__in=concerned.values("integrationissue_id")) | Q(raised_by_team_id=team))
    return issues_with_relations(rows.order_by("-level", "raised_at", "id"))


def eat_nexuses(*, user: User | AnonymousUser) -> QuerySet[Nexus]:
    """The Nexuses `user` belongs to as an Executive Action Team member, by name (a superuser: every
    Nexus). One query when evaluated."""
    if getattr(user, "is_superuser", False):
        return Nexus.objects.order_by("name")
    if not user.is_authenticated:
        return Nexus.objects.none()
    ids = Membership.objects.filter(user=user, role=Role.EAT_MEMBER).values("nexus_id")
    return Nexus.objects.filter(pk__in=ids).order_by("name")


#: What the Executive Action Team page shows of an issue (`eat_issues` loads only these).
EAT_FIELDS = (
    "title",
    "description",
    "event",
    "status",
    "level",
    "decision",
    "raised_at",
    "level_2_at",
    "level_3_at",
    "closed_at",
    "nexus__name",
    "nexus__slug",
    "raised_by__username",
    "raised_by_team__name",
    "owner__username",
)


def eat_issues(*, user: User | AnonymousUser, include_closed: bool = False) -> QuerySet[IntegrationIssue]:
    """The impediments escalated to the Executive Action Team (level 3) in every Nexus `user` belongs to
    as its member: open ones, longest at level 3 first (`level_3_at`), then by id; with
    `include_closed`, the closed ones after them, latest closed first. With their Nexus and people (one
    query when evaluated); their Scrum Teams: `issue_team_names` (prefetching would cost a queryset per
    issue)."""
    rows = IntegrationIssue.objects.filter(level=IssueLevel.EAT, nexus__in=eat_nexuses(user=user))
    if not include_closed:
        rows = rows.filter(status=IssueStatus.OPEN)
    return (
        rows.select_related("raised_by", "raised_by_team", "owner", "nexus")
        .only(*EAT_FIELDS)
        .order_by(F("closed_at").desc(nulls_first=True), "level_3_at", "id")
    )


def issue_team_names(issue_ids: list[int]) -> dict[int, list[str]]:
    """`{issue id: [names of the Scrum Teams it concerns, by name]}` for these issues (one query)."""
    through = IntegrationIssue.teams.through.objects.filter(integrationissue_id__in=issue_ids)
    names: dict[int, list[str]] = {}
    for issue_id, name in through.order_by("scrumteam__name").values_list(
        "integrationissue_id", "scrumteam__name"
    ):
        names.setdefault(issue_id, []).append(name)
    return names


def issue_wip(nexus_id: int) -> tuple[int, IntegrationIssueWipLimit | None]:
    """The number of open integration issues of the Nexus and its WIP limit row (None: no limit).
    Two queries."""
    count = IntegrationIssue.objects.filter(nexus_id=nexus_id, status=IssueStatus.OPEN).count()
    return count, IntegrationIssueWipLimit.objects.filter(nexus_id=nexus_id).first()


#: Issues a Sprint panel lists at most (its counts cover them all).
SPRINT_LISTED = 5


@dataclass(frozen=True)
class SprintIssues:
    """A Sprint's integration issues, for its Nexus Sprint Retrospective (times are the Sprint's days in
    the Nexus's time zone, from the start of its first to the end of its last; `until` is now for a
    Sprint that has not ended):

    - `raised`: issues raised during the Sprint, and how many of those were raised at level 1 and 2
      (`raised_by_level`, by their current level);
    - `resolved`: issues resolved or closed as won't fix during the Sprint (whenever raised);
    - `escaped`: issues raised by the Sprint's end and still open at its end: they escaped the Sprint
      unresolved, into the next one (`escaped_rows`: the oldest, at most `SPRINT_LISTED`);
    - `escalated`: issues that reached the Executive Action Team (level 3) during the Sprint."""

    raised: int
    raised_by_level: dict[int, int]
    resolved: int
    escaped: int
    escalated: int
    escaped_rows: list[IntegrationIssue]


def sprint_issues_get(*, nexus: Nexus, since: datetime, until: datetime) -> SprintIssues:
    """The figures of `SprintIssues` for the times `since` (inclusive) to `until` (exclusive). Three
    queries whatever the number of issues."""
    from django.db.models import Count

    rows = IntegrationIssue.objects.filter(nexus=nexus)
    counts = rows.aggregate(
        raised=Count("pk", filter=Q(raised_at__gte=since, raised_at__lt=until)),
        resolved=Count("pk", filter=Q(closed_at__gte=since, closed_at__lt=until)),
        escalated=Count("pk", filter=Q(level_3_at__gte=since, level_3_at__lt=until)),
        escaped=Count(
            "pk", filter=Q(raised_at__lt=until) & (Q(closed_at__isnull=True) | Q(closed_at__gte=until))
        ),
    )
    by_level = dict(
        rows.filter(raised_at__gte=since, raised_at__lt=until)
        .values_list("level")
        .annotate(n=Count("pk"))
        .values_list("level", "n")
    )
    escaped_rows = list(
        rows.filter(raised_at__lt=until)
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gte=until))
        .order_by("raised_at", "id")[:SPRINT_LISTED]
    )
    return SprintIssues(
        raised=counts["raised"],
        raised_by_level={int(k): int(v) for k, v in by_level.items()},
        resolved=counts["resolved"],
        escaped=counts["escaped"],
        escalated=counts["escalated"],
        escaped_rows=escaped_rows,
    )
