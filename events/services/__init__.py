"""Every write to a Nexus's Sprints (Nexus Guide): create and edit a Sprint (dates, the Nexus Sprint Goal,
the team Sprint Goals), plan a Product Backlog Item into it and out again, start it, close it, delete a
planned one. Keyword-only, typed, transactional; each raises a `backlog.errors.DomainError` subclass
with a message a person can read and the field at fault.

Rules, all checked under the Nexus's row lock (`backlog.services.common.nexus_lock`), so that two
concurrent requests cannot both pass them:

- at most one active Sprint per Nexus (also a partial unique constraint, `sprint_one_active_per_nexus`);
- the dates of a Nexus's Sprints never overlap (calendar days in the Nexus's time zone, inclusive);
- a closed Sprint is never changed again: not its dates, goals or scope, and not its snapshots;
- a PBI is in the scope of at most one planned or active Sprint at a time;
- every change of scope is a typed, append-only `SprintScopeChange` row (who, when, at which event);
- who (`planning_rights`): the Product Owner, Nexus Integration Team members, superusers and the system
  (`actor=None`) plan the whole Sprint; each Scrum Team's representatives (its Developers and Scrum
  Masters) plan PBIs into their own team's lane, take them out of it and write their team's Sprint
  Goal, nothing else (403 naming `team`, `goal`, `team_goals` or `sprint`); anyone else reads.

Lock order (as in `backlog.services.common`): an item, then the Nexus, then the Sprint rows (by number),
the change counter last (`nexus_changed`, deferred to the end through `items_changed_batched`).
"""

from __future__ import annotations

from events.services.common import (
    DESTINATION_BACKLOG,
    DESTINATION_NEXT,
    DESTINATIONS,
    PLANNING_ROLES,
    REPRESENTATIVE_ROLES,
    SPRINT_LANES_RULE,
    SPRINT_PLANNING_RULE,
    Actor,
    PlanningRights,
    TeamGoals,
    can_plan_lanes,
    can_plan_sprints,
    planning_rights,
    sprint_payload,
)
from events.services.lifecycle import (
    sprint_close,
    sprint_next,
    sprint_start,
)
from events.services.scope import (
    sprint_plan,
    sprint_unplan,
)
from events.services.sprints import (
    sprint_create,
    sprint_delete,
    sprint_update,
)

__all__ = [
    "DESTINATIONS",
    "DESTINATION_BACKLOG",
    "DESTINATION_NEXT",
    "PLANNING_ROLES",
    "REPRESENTATIVE_ROLES",
    "SPRINT_LANES_RULE",
    "SPRINT_PLANNING_RULE",
    "Actor",
    "PlanningRights",
    "TeamGoals",
    "can_plan_lanes",
    "can_plan_sprints",
    "planning_rights",
    "sprint_close",
    "sprint_create",
    "sprint_delete",
    "sprint_next",
    "sprint_payload",
    "sprint_plan",
    "sprint_start",
    "sprint_unplan",
    "sprint_update",
]
