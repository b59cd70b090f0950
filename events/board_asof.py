"""The Nexus board as it was at the end of a past day, rebuilt from the transition log
(`backlog.models.Transition`): each PBI's column, team squares (`team_added`, `team_removed`,
`team_status`) and blocked flag with its reason (`blocked`, `unblocked`) as they were, PBIs deleted by then
left out and PBIs created later absent. Work Item Age is counted to that day from the PBI's first entry into
the start column (or one after it) and judged against today's SLEs. A PBI whose Scrum Teams came
with an import that logged none (the demo's JDT history) shows today's teams, each square read from the
PBI's column on that day (finished: Done; started: in progress; else not started). Read-only: the page
shows it labelled and offers no action. Labels are not in the log: a label filter uses the PBIs' labels
as they are now."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time, timedelta

from backlog.models import (
    ColumnCategory,
    Nexus,
    ProductBacklogItem,
    ScrumTeam,
    TeamInvolvement,
    TeamStatus,
    Transition,
    TransitionKind,
)
from backlog.selectors import workflow_columns
from events.board import (
    CARD_FIELDS,
    CARD_PAGE,
    DONE_CAP,
    Board,
    BoardColumn,
    Card,
    Square,
    columns_in_progress,
    ids_in,
)
from events.board_filters import BoardFilters
from flow.history import workflow_of
from flow.models import FlowState
from flow.selectors import age_band, sles_get

KINDS = (
    TransitionKind.COLUMN,
    TransitionKind.TEAM_ADDED,
    TransitionKind.TEAM_REMOVED,
    TransitionKind.TEAM_STATUS,
    TransitionKind.BLOCKED,
    TransitionKind.UNBLOCKED,
    TransitionKind.DELETED,
    TransitionKind.RESTORED,
)


class _Past:
    __slots__ = (
        "blocked",
        "column",
        "deleted",
        "finished",
        "moved",
        "reason",
        "started",
        "team_logged",
        "teams",
    )

    def __init__(self) -> None:
        self.column: int | None = None
        self.teams: dict[int, str] = {}
        self.blocked = False
        self.reason = ""
        self.deleted = False
        self.started: date | None = None
        self.finished: date | None = None
        self.moved: datetime | None = None
        self.team_logged = False


def board_asof_get(*, nexus: Nexus, day: date, filters: BoardFilters | None = None) -> Board:
    """The board at the end of `day` (calendar day in the Nexus's time zone), see the module: columns in
    progress show every card (oldest first), the columns before them their first `CARD_PAGE` PBIs in
    today's Product Backlog order, finished columns the `DONE_CAP` last finished. A fixed number of
    queries (the log in one, the PBIs' card fields in one)."""
    tz = zoneinfo.ZoneInfo(nexus.time_zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    columns = workflow_columns(nexus=nexus)
    index = {c.pk: i for i, c in enumerate(columns)}
    by_name = {c.name: c.pk for c in columns}
    wf = workflow_of(columns) if columns else None
    past: dict[int, _Past] = {}
    rows = (
        Transition.objects.filter(item__backlog__nexus=nexus, at__lt=end, kind__in=KINDS)
        .order_by("item_id", "at", "id")
        .values_list("item_id", "kind", "to_column_id", "to_name", "team_id", "team_status", "reason", "at")
    )
    for item_id, kind, to_col, to_name, team_id, team_status, reason, at in rows.iterator(chunk_size=5000):
        p = past.get(item_id)
        if p is None:
            p = past[item_id] = _Past()
        if kind == TransitionKind.COLUMN:
            col = to_col if to_col in index else by_name.get(to_name)
            if col is None:
                continue
            p.column, p.moved = col, at
            if wf is not None:
                on = at.astimezone(tz).date()
                if index[col] >= wf.started and p.started is None:
                    p.started = on
                p.finished = on if index[col] >= wf.finished else None
        elif kind == TransitionKind.TEAM_ADDED and team_id:
            p.teams[team_id] = team_status or TeamStatus.NOT_STARTED
            p.team_logged = True
        elif kind == TransitionKind.TEAM_REMOVED and team_id:
            p.teams.pop(team_id, None)
            p.team_logged = True
        elif kind == TransitionKind.TEAM_STATUS and team_id:
            p.teams[team_id] = team_status or p.teams.get(team_id, TeamStatus.NOT_STARTED)
            p.team_logged = True
        elif kind == TransitionKind.BLOCKED:
            p.blocked, p.reason = True, reason
        elif kind == TransitionKind.UNBLOCKED:
            p.blocked, p.reason = False, ""
        elif kind == TransitionKind.DELETED:
            p.deleted = True
        elif kind == TransitionKind.RESTORED:
            p.deleted = False
    present = {i: p for i, p in past.items() if not p.deleted and p.column is not None}
    # PBIs whose teams were imported without a log of them: today's teams, their squares read from the
    # column of that day (finished: Done; started: in progress; else not started).
    unlogged = [i for i, p in present.items() if not p.team_logged]
    if unlogged:
        rows_inv = TeamInvolvement.objects.filter(ids_in("item_id", unlogged)).values_list(
            "item_id", "team_id"
        )
        for item_id, team_id in rows_inv:
            p = present[item_id]
            p.teams[team_id] = (
                TeamStatus.DONE
                if p.finished
                else TeamStatus.IN_PROGRESS
                if p.started
                else TeamStatus.NOT_STARTED
            )
    if filters is not None and filters.teams:
        wanted = set(filters.teams)
        present = {i: p for i, p in present.items() if wanted & set(p.teams)}
    if filters is not None and filters.labels:
        labelled = set(
            ProductBacklogItem.labels.through.objects.filter(
                label_id__in=filters.labels, productbacklogitem_id__in=list(present)
            ).values_list("productbacklogitem_id", flat=True)
        )
        present = {i: p for i, p in present.items() if i in labelled}
    full = {c.pk for c in columns_in_progress(columns)}
    board_cols = {c.pk: BoardColumn(column=c, page_size=CARD_PAGE, full=c.pk in full) for c in columns}
    for p in present.values():
        bc = board_cols[p.column]  # type: ignore[index]
        bc.count += 1
        bc.total += 1
    items = {
        i.pk: i
        for i in ProductBacklogItem.objects.filter(pk__in=list(present)).only(*CARD_FIELDS).order_by("rank")
    }
    sles, _settings = sles_get(nexus=nexus)
    teams = {t.pk: t for t in ScrumTeam.objects.filter(nexus=nexus).order_by("name")}
    labels = dict(TeamStatus.choices)
    grouped: dict[int, list[tuple[ProductBacklogItem, _Past]]] = {c.pk: [] for c in columns}
    for item in items.values():  # today's Product Backlog order
        grouped[present[item.pk].column].append((item, present[item.pk]))  # type: ignore[index]
    for col_id, members in grouped.items():
        bc = board_cols[col_id]
        if bc.column.category == ColumnCategory.DONE:
            members.sort(key=lambda m: m[1].moved or end, reverse=True)
            members = members[:DONE_CAP]
        elif bc.full:
            members.sort(key=lambda m: m[1].started or day)
        else:
            members = members[:CARD_PAGE]
        for item, p in members:
            item.is_blocked, item.blocked_reason = p.blocked, p.reason
            age = (day - p.started).days + 1 if p.started and not p.finished else None
            own = sorted((t, s) for t, s in p.teams.items() if t in teams)
            team_sle = sles.get(own[0][0]) if len(own) == 1 else None
            sle = team_sle if team_sle is not None and team_sle.days is not None else sles[None]
            squares = [
                Square(teams[t].code, teams[t].name, s, labels.get(s, s))
                for t, s in sorted(own, key=lambda ts: teams[ts[0]].name)
            ]
            bc.cards.append(
                Card(
                    item=item,
                    age=age,
                    band=age_band(age, p50=sle.p50, sle=sle.days),
                    sle=sle,
                    squares=squares,
                )
            )
    return Board(
        nexus=nexus,
        today=day,
        columns=list(board_cols.values()),
        state=FlowState.objects.filter(nexus=nexus).first(),
        sle=sles[None],
        teams=list(teams.values()),
        extras={"as_of": day},
    )
