"""The API's one permission scheme: the same role checks as the pages (`backlog.selectors`).

Every view under `/api/v1/nexuses/{nexus_slug}/` resolves its Nexus with `nexus_get_for_user`, so
another Nexus's data is invisible (404), never forbidden. Then each action needs one *rule*:

| rule            | who                                                      | check                         |
|-----------------|----------------------------------------------------------|-------------------------------|
| `view`          | every member (and superusers)                            | `nexus_get_for_user`          |
| `edit_items`    | members except Stakeholders                              | `selectors.can_edit_items`    |
| `create_items`  | members except Stakeholders: add PBIs (POST, upserts)    | `selectors.can_create_items`  |
| `product_owner` | the Product Owner (and superusers): order, goal, hooks   | `selectors.can_order_backlog` |
| `admin`         | superusers: the Nexus's structure (the Nexus itself, its | `user.is_superuser`           |
|                 | teams and memberships)                                   |                               |
| `workflow`      | the Nexus Integration Team (and superusers): the         | `selectors.`                  |
|                 | Definition of Workflow's columns                         | `can_change_workflow`         |
| `squares`       | members except Stakeholders: team squares, team boards   | `selectors.can_edit_items`    |
|                 | and team columns; the service then lets Developers and   | + `squares.square_refusal`    |
|                 | Scrum Masters change only their own team's (403)         |   (per team, in the service)  |

A view states its rules in `rules = {action: rule}`; without an entry, reads need `view` and writes
`edit_items`. The tombstone lists (`{resource}/deleted/`) need what reading the resource needs: `view`,
`product_owner` for webhooks. Later capabilities (Sprints, flow figures) reuse the same rules, or add
theirs through `nexus_site.extensions` (`Extension(rules=...)` in their `AppConfig.ready()`; flow:
`flow_settings`, the Product Owner, the Nexus Integration Team and superusers).
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from backlog import selectors
from nexus_site import extensions
from nexus_site.extensions import PermissionRule

VIEW, EDIT_ITEMS, PRODUCT_OWNER, ADMIN = "view", "edit_items", "product_owner", "admin"
CREATE_ITEMS = "create_items"
SQUARES = "squares"
WORKFLOW = "workflow"


def backlog_rules() -> tuple[PermissionRule, ...]:
    """The rules of the table above, which `backlog` registers (`BacklogConfig.ready`)."""
    return (
        PermissionRule(VIEW, lambda user, nexus: True, ""),
        PermissionRule(
            EDIT_ITEMS,
            lambda user, nexus: selectors.can_edit_items(user=user, nexus=nexus),
            "Stakeholders see the Product Backlog; the Nexus's other members change it.",
        ),
        PermissionRule(
            CREATE_ITEMS,
            lambda user, nexus: selectors.can_create_items(user=user, nexus=nexus),
            "Stakeholders see the Product Backlog; the Nexus's other members add items to it.",
        ),
        PermissionRule(
            PRODUCT_OWNER,
            lambda user, nexus: selectors.can_order_backlog(user=user, nexus=nexus),
            "Only the Product Owner does this (orders the Product Backlog, sets the Product Goal, "
            "manages webhooks).",
        ),
        PermissionRule(
            SQUARES,
            lambda user, nexus: selectors.can_edit_items(user=user, nexus=nexus),
            "Stakeholders see the team squares and boards; the Scrum Teams change them (Developers their "
            "own team's; the Product Owner and the Nexus Integration Team any team's).",
        ),
        PermissionRule(
            WORKFLOW,
            lambda user, nexus: selectors.can_change_workflow(user=user, nexus=nexus),
            "Only the Nexus Integration Team (or an administrator) changes the Definition of Workflow.",
        ),
        PermissionRule(
            ADMIN,
            lambda user, nexus: bool(getattr(user, "is_superuser", False)),
            "Only an administrator changes the Nexus's structure: the Nexus itself, its Scrum Teams and "
            "memberships (as in the Django admin).",
        ),
    )


def rule_message(name: str) -> str:
    """Why the rule `name` refuses (the 403's `message`); empty for an unknown rule."""
    rule = extensions.rules().get(name)
    return rule.message if rule else ""


def rule_for(view: Any, request: Request) -> str:
    """The rule the view's current action needs (`view.rules`, else by HTTP method)."""
    action = getattr(view, "action", None) or (request.method or "").lower()
    rules: dict[str, str] = getattr(view, "rules", {})
    if action in rules:
        return rules[action]
    return VIEW if request.method in SAFE_METHODS else EDIT_ITEMS


class NexusRolePermission(BasePermission):
    """Authenticated, the Nexus visible to the user (else 404), and the action's rule satisfied
    (else 403 with the reason). The view provides `nexus` (see `NexusScopedMixin`)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        nexus = view.nexus  # raises Http404 when invisible
        rule = extensions.rules()[rule_for(view, request)]
        if not rule.check(request.user, nexus):
            self.message = rule.message
            return False
        return True
