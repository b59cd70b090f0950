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
|                 | teams, memberships and Definition of Workflow)           |                               |

A view states its rules in `rules = {action: rule}`; without an entry, reads need `view` and writes
`edit_items`. The tombstone lists (`{resource}/deleted/`) need what reading the resource needs: `view`,
`product_owner` for webhooks. Later capabilities (Sprints, flow figures) reuse the same rules, or add
theirs with `rule_register` (`flow_settings`: the Product Owner, the Nexus Integration Team and superusers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from backlog import selectors
from backlog.models import Nexus

VIEW, EDIT_ITEMS, PRODUCT_OWNER, ADMIN = "view", "edit_items", "product_owner", "admin"
CREATE_ITEMS = "create_items"

#: rule -> (check(user, nexus), message when refused)
RULES: dict[str, tuple[Callable[[Any, Nexus], bool], str]] = {
    VIEW: (lambda user, nexus: True, ""),
    EDIT_ITEMS: (
        lambda user, nexus: selectors.can_edit_items(user=user, nexus=nexus),
        "Stakeholders see the Product Backlog; the Nexus's other members change it.",
    ),
    CREATE_ITEMS: (
        lambda user, nexus: selectors.can_create_items(user=user, nexus=nexus),
        "Stakeholders see the Product Backlog; the Nexus's other members add items to it.",
    ),
    PRODUCT_OWNER: (
        lambda user, nexus: selectors.can_order_backlog(user=user, nexus=nexus),
        "Only the Product Owner does this (orders the Product Backlog, sets the Product Goal, "
        "manages webhooks).",
    ),
    ADMIN: (
        lambda user, nexus: bool(getattr(user, "is_superuser", False)),
        "Only an administrator changes the Nexus's structure: the Nexus itself, its Scrum Teams, "
        "memberships and Definition of Workflow (as in the Django admin).",
    ),
}


def rule_register(name: str, check: Callable[[Any, Nexus], bool], message: str) -> None:
    """Add a rule for another app's resources (e.g. `flow_settings`): `check(user, nexus)` decides,
    `message` says why when it refuses (the 403's `message`). Raises `ValueError` for a name taken
    by another check."""
    if name in RULES and RULES[name][0] is not check:
        raise ValueError(f"The permission rule {name!r} exists already.")
    RULES[name] = (check, message)


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
        check, message = RULES[rule_for(view, request)]
        if not check(request.user, nexus):
            self.message = message
            return False
        return True
