"""The log of a few Product Backlog Items as the incremental update reads it (`flow.incremental`), in one
query: what `flow.history.load_events` and `flow.team_level.load_team_events` give for those items,
and which teams their team-level rows name, read together (a change costs one round trip and no query
built by the ORM, instead of three), with the same rules:

* column events: the items' `column` rows, if the item is live (not deleted) and in the Nexus, each
  reduced to its calendar day in the Nexus's time zone, its column matched by id, else by the name it
  had, else unmapped (None);
* the teams named by the items' team-level rows (`team_added`, `team_status`, `team_column`; deleted
  items included): those with history (a status or board move), all of them, and the squares created
  in this tool (a `team_added` row);
* team events: the team-level rows of live items of the Nexus whose team is still forecast on the item
  (its square exists), per team, each state entered as its index in `team_level.TEAM_STATES`.

Events are in log order (item, time, id), `seq` increasing in that order, so an item's events of one
day keep their order, as the loaders' do. `tests/flow/test_incremental.py` (the property test) checks
the incremental update built on it against the full recompute, built on the loaders.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from backlog.models import (
    ProductBacklog,
    ProductBacklogItem,
    TeamInvolvement,
    Transition,
    TransitionKind,
    WorkflowColumn,
)
from flow import metrics, team_level
from flow.history import day_reader, day_sql

__all__ = ["ItemLog", "item_log"]

_TEAM_KINDS = {str(k) for k in (TransitionKind.TEAM_ADDED, *team_level.HISTORY_KINDS)}
_HISTORY = {str(k) for k in team_level.HISTORY_KINDS}


@dataclass
class ItemLog:
    """What the incremental update reads of the log of its items (see the module docstring)."""

    #: item id (as text) -> its column events, in order (as `load_events` for these items)
    events: dict[str, list[metrics.ItemEvent]] = field(default_factory=lambda: defaultdict(list))
    #: the teams with a `team_status` or `team_column` row for these items (as `teams_with_history`)
    with_history: set[int] = field(default_factory=set)
    #: the teams with any team-level row for these items, `team_added` included
    with_rows: set[int] = field(default_factory=set)
    #: (item id, team id) of the squares created in this tool, with a `team_added` row (as `added_pairs`)
    created_squares: set[tuple[int, int]] = field(default_factory=set)
    #: team id -> its events over these items (as `load_team_events`, for every team)
    team_events: dict[int, list[metrics.ItemEvent]] = field(default_factory=lambda: defaultdict(list))


def item_log(nexus_id: int, time_zone: str, columns: list[WorkflowColumn], item_ids: list[int]) -> ItemLog:
    """The log of the items `item_ids` of the Nexus `nexus_id` (time zone `time_zone`, Definition of
    Workflow `columns` in position order) as an `ItemLog`. One query; raises nothing of its own."""
    out = ItemLog()
    if not item_ids:
        return out
    qn = connection.ops.quote_name
    t, i, b, v = (
        qn(m._meta.db_table) for m in (Transition, ProductBacklogItem, ProductBacklog, TeamInvolvement)
    )
    when, tz_param = day_sql('t."at"')
    kinds = [str(TransitionKind.COLUMN), *sorted(_TEAM_KINDS)]
    sql = (
        f"SELECT t.item_id, t.kind, {when}, t.to_column_id, t.to_name, t.team_id, t.team_status, "
        f"CASE WHEN i.deleted_at IS NULL AND b.nexus_id = %s THEN 1 ELSE 0 END, "
        f"CASE WHEN EXISTS (SELECT 1 FROM {v} AS v WHERE v.item_id = t.item_id AND v.team_id = t.team_id) "
        f"THEN 1 ELSE 0 END "
        f"FROM {t} AS t INNER JOIN {i} AS i ON i.id = t.item_id INNER JOIN {b} AS b ON b.id = i.backlog_id "
        f"WHERE t.item_id IN ({', '.join(['%s'] * len(item_ids))}) "
        f"AND t.kind IN ({', '.join(['%s'] * len(kinds))}) "
        f'ORDER BY t.item_id, t."at", t.id'
    )
    params: list[Any] = [*([time_zone] if tz_param else []), nexus_id, *item_ids, *kinds]
    index = {c.pk: n for n, c in enumerate(columns)}
    by_name = {c.name: n for n, c in enumerate(columns)}
    day_of = day_reader(zoneinfo.ZoneInfo(time_zone))
    column_kind, board_kind, added_kind = (
        str(TransitionKind.COLUMN),
        str(TransitionKind.TEAM_COLUMN),
        str(TransitionKind.TEAM_ADDED),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    for seq, (item_id, kind, at, col_id, to_name, team_id, team_status, live, involved) in enumerate(rows):
        key = str(item_id)
        if kind == column_kind:
            if live:
                column = index.get(col_id) if col_id is not None else None
                if column is None:
                    column = by_name.get(to_name)
                out.events[key].append(metrics.ItemEvent(key, day_of(at), column, seq))
            continue
        if team_id is None:
            continue
        out.with_rows.add(team_id)
        if kind in _HISTORY:
            out.with_history.add(team_id)
        elif kind == added_kind:
            out.created_squares.add((item_id, team_id))
        if live and involved:
            state = team_status if kind == board_kind else to_name
            out.team_events[team_id].append(
                metrics.ItemEvent(key, day_of(at), team_level.state_index(state), seq)
            )
    return out
