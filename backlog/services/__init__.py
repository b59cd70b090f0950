"""Every write to the Nexus and its Product Backlog. Keyword-only, typed, transactional; each raises a
`backlog.errors.DomainError` subclass with a message a person can read. Views, the API, the admin, tasks
and commands all call these: one public service per verb (`pbi_move` moves an item with its children,
`pbi_update` changes it, `pbi_split` splits it); helpers are private (`_name`)."""

from backlog.services.items import (
    ItemChanges,
    WriteResult,
    involvement_add,
    involvement_remove,
    involvement_set_status,
    pbi_create,
    pbi_delete,
    pbi_restore,
    pbi_set_teams,
    pbi_transition,
    pbi_update,
)
from backlog.services.nexus import (
    ColumnSpec,
    goal_close,
    goal_create,
    goal_update,
    membership_add,
    membership_remove,
    nexus_create,
    nexus_update,
    team_create,
    team_delete,
    team_update,
)
from backlog.services.ordering import MoveResult, backlog_renumber, pbi_move
from backlog.services.split import pbi_split
from backlog.services.workflow import column_create, column_delete, column_update

__all__ = [
    "ColumnSpec",
    "ItemChanges",
    "MoveResult",
    "WriteResult",
    "backlog_renumber",
    "column_create",
    "column_delete",
    "column_update",
    "goal_close",
    "goal_create",
    "goal_update",
    "involvement_add",
    "involvement_remove",
    "involvement_set_status",
    "membership_add",
    "membership_remove",
    "nexus_create",
    "nexus_update",
    "pbi_create",
    "pbi_delete",
    "pbi_move",
    "pbi_restore",
    "pbi_set_teams",
    "pbi_split",
    "pbi_transition",
    "pbi_update",
    "team_create",
    "team_delete",
    "team_update",
]
