"""The team board: a Scrum Team's Sprint Backlog as a Kanban board of the team's own Definition of
Workflow (`backlog.TeamColumn`), for one Sprint. Its cards are the Sprint's PBIs the team is forecast on
(has a square on); each sits in the team's column (`TeamInvolvement.team_column`, or, before the team's
first move, the team's first column of the square's state), with every team's square and the team's
tasks. A fixed number of queries, whatever the number of cards, tasks or teams.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from backlog.models import (
    Membership,
    Nexus,
    ProductBacklogItem,
    Role,
    ScrumTeam,
    Task,
    TeamColumn,
    TeamInvolvement,
    TeamStatus,
)
from backlog.services.squares import square_teams_for
from events.models import Sprint
from events.selectors import Square
from flow.history import nexus_today
from flow.models import ItemFlow, ItemTeamFlow
from flow.selectors import SLE, age_band, team_sle_get


@dataclass
class TeamCard:
    """A PBI on the team's board: `involvement` (this team's square), every team's `squares` (by team
    name), the team's `tasks` of it (oldest first), and the neighbour columns a button moves it to."""

    item: ProductBacklogItem
    involvement: TeamInvolvement
    squares: list[Square] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    left: TeamColumn | None = None
    right: TeamColumn | None = None
    #: Work Item Age in calendar days (Kanban Guide for Scrum Teams) on the team's own flow when the team
    #: has one (since its square first left "not started"), else since the PBI entered the Nexus's
    #: started column; None when not started or finished. `band`: against the team's SLE
    #: (`flow.selectors.age_band`: "ok", "watch", "late" or "").
    age: int | None = None
    band: str = ""

    @property
    def tasks_done(self) -> int:
        return sum(1 for t in self.tasks if t.done)


@dataclass
class TeamBoardColumn:
    """A column of the team's board with its cards (Product Backlog order) and its WIP."""

    column: TeamColumn
    cards: list[TeamCard] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.cards)

    @property
    def at_limit(self) -> bool:
        return self.column.wip_limit is not None and self.count >= self.column.wip_limit

    @property
    def over_limit(self) -> bool:
        return self.column.wip_limit is not None and self.count > self.column.wip_limit


@dataclass
class TeamBoard:
    """What the team board page shows: the `team`, the `sprint`, its columns left to right with their
    cards, whether the user may move the team's work and add tasks (`can_move`), and the team's
    Developers (to give a task to). `adding`: the PBI whose card shows its own task form (the page
    without JavaScript, `?add_task=<id>`); with JavaScript one dialog serves every card."""

    team: ScrumTeam
    sprint: Sprint
    columns: list[TeamBoardColumn]
    can_move: bool
    developers: list[User]
    goal: str = ""
    adding: int | None = None
    sle: SLE | None = None
    today: date | None = None

    @property
    def cards(self) -> int:
        return sum(c.count for c in self.columns)


def team_sprint_items(*, team: ScrumTeam, sprint: Sprint) -> QuerySet[TeamInvolvement]:
    """The team's squares on the Sprint's live PBIs, in Product Backlog order, with their items."""
    return (
        TeamInvolvement.objects.filter(
            team=team, item__sprint_rows__sprint=sprint, item__deleted_at__isnull=True
        )
        .select_related("item")
        .only(
            "item_id",
            "team_id",
            "status",
            "team_column_id",
            *(f"item__{f}" for f in ("external_id", "title", "version", "is_blocked", "blocked_reason")),
        )
        .order_by("item__rank")
    )


def _ages(*, team: ScrumTeam, item_ids: list[int], today: date) -> dict[int, int]:
    """Work Item Age (calendar days, today counted) of the team's PBIs in progress, from the stored flow
    rows: the team's own flow (`ItemTeamFlow`) when it has one, else the Nexus columns (`ItemFlow`).
    Two queries at most."""
    rows = list(
        ItemTeamFlow.objects.filter(team=team, item_id__in=item_ids).values_list(
            "item_id", "started_on", "finished_on"
        )
    )
    if not rows:
        rows = list(
            ItemFlow.objects.filter(item_id__in=item_ids).values_list("item_id", "started_on", "finished_on")
        )
    return {pk: (today - started).days + 1 for pk, started, finished in rows if started and not finished}


def team_board_get(*, team: ScrumTeam, sprint: Sprint, user: User | AnonymousUser) -> TeamBoard:
    """The team board of `team` in `sprint` for `user` (see the module). About a dozen queries, whatever
    the number of cards: the columns, the team's squares with their items, every square of those items,
    the tasks, the Work Item Ages and the SLEs, the Sprint's team goal, the user's rights and the
    team's Developers."""
    columns = list(TeamColumn.objects.filter(team=team).order_by("position"))
    involvements = list(team_sprint_items(team=team, sprint=sprint))
    item_ids = [inv.item_id for inv in involvements]
    labels = {value: str(label) for value, label in TeamStatus.choices}
    codes: dict[str, str] = {}
    squares: dict[int, list[Square]] = {}
    for item_id, name, status in (
        TeamInvolvement.objects.filter(item_id__in=item_ids)
        .order_by("team__name")
        .values_list("item_id", "team__name", "status")
    ):
        code = codes.get(name) or codes.setdefault(name, ScrumTeam(name=name).code)  # `ScrumTeam.code`
        squares.setdefault(item_id, []).append(Square(code, name, status, labels.get(status, status)))
    tasks: dict[int, list[Task]] = {}
    for task in (
        Task.objects.filter(team=team, item_id__in=item_ids).select_related("assignee").order_by("id")
    ):
        tasks.setdefault(task.item_id, []).append(task)
    nexus = Nexus.objects.only("id", "time_zone").get(pk=team.nexus_id)
    today = nexus_today(nexus)
    ages = _ages(team=team, item_ids=item_ids, today=today)
    sle = team_sle_get(nexus=nexus, team_id=team.pk)
    by_id = {c.pk: TeamBoardColumn(c) for c in columns}
    first_of_state: dict[str, TeamColumn] = {}
    for c in columns:
        first_of_state.setdefault(c.state, c)
    index = {c.pk: i for i, c in enumerate(columns)}
    for inv in involvements:
        column = by_id.get(inv.team_column_id or 0)
        if column is None:
            home = first_of_state.get(inv.status)
            if home is None:
                continue
            column = by_id[home.pk]
        i = index[column.column.pk]
        column.cards.append(
            TeamCard(
                item=inv.item,
                involvement=inv,
                squares=squares.get(inv.item_id, []),
                tasks=tasks.get(inv.item_id, []),
                left=columns[i - 1] if i > 0 else None,
                right=columns[i + 1] if i + 1 < len(columns) else None,
                age=ages.get(inv.item_id),
                band=age_band(ages.get(inv.item_id), p50=sle.p50, sle=sle.days),
            )
        )
    movable = square_teams_for(user=user, nexus_id=team.nexus_id)
    developers = [
        m.user
        for m in Membership.objects.filter(team=team, role=Role.DEVELOPER)
        .select_related("user")
        .order_by("user__username")
    ]
    goal = sprint.team_goals.filter(team=team).values_list("goal", flat=True).first() or ""
    return TeamBoard(
        team=team,
        sprint=sprint,
        columns=list(by_id.values()),
        can_move=movable is None or team.pk in movable,
        developers=developers,
        goal=goal,
        sle=sle,
        today=today,
    )
