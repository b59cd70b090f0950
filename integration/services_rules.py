"""Who may do what with the Integrated Increments (Nexus Guide: the Nexus Integration Team is accountable
for integration, the Developers do the work): the Product Owner and the Nexus Integration Team create,
integrate, mark Done and release (`can_manage_increments`, rule `increment_manage`); Developers and Scrum
Masters confirm the Nexus's criteria and their own team's (`confirm_refusal`, rule `increment_confirm`);
Stakeholders read. `actor=None` is the system (the demo). Used by `integration.services_increments`."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser, User

from backlog.errors import NotAllowed
from backlog.models import Membership, Nexus, Role

Actor = User | AnonymousUser | None

#: Permission rule: create increments, integrate PBIs, mark Done, release (`IntegrationConfig.ready`).
INCREMENT_MANAGE_RULE = "increment_manage"
#: Permission rule: confirm criteria of an increment's Definition of Done.
INCREMENT_CONFIRM_RULE = "increment_confirm"
#: Who manages increments (the Product Owner and the Nexus Integration Team, accountable for integration).
MANAGE_ROLES = frozenset({Role.PRODUCT_OWNER, Role.NIT_MEMBER})
#: Who confirms criteria (those who do the work and those accountable for it; Stakeholders read).
CONFIRM_ROLES = frozenset({Role.PRODUCT_OWNER, Role.NIT_MEMBER, Role.DEVELOPER, Role.SCRUM_MASTER})


def _roles(user: Actor, nexus_id: int) -> list[tuple[str, int | None]]:
    if not isinstance(user, User) or not user.is_authenticated:
        return []
    return list(Membership.objects.filter(nexus_id=nexus_id, user=user).values_list("role", "team_id"))


def can_manage_increments(*, user: Actor, nexus: Nexus) -> bool:
    """Whether `user` may create increments, integrate PBIs, mark them Done and release them: the
    Product Owner, Nexus Integration Team members, administrators. One query."""
    if user is None or getattr(user, "is_superuser", False):
        return True
    return any(role in MANAGE_ROLES for role, _ in _roles(user, nexus.pk))


def can_confirm(*, user: Actor, nexus: Nexus) -> bool:
    """Whether `user` may confirm some criterion in the Nexus (the API rule; the criterion itself is
    checked by `confirm_refusal`). One query."""
    if user is None or getattr(user, "is_superuser", False):
        return True
    return any(role in CONFIRM_ROLES for role, _ in _roles(user, nexus.pk))


def confirm_refusal(*, actor: Actor, nexus_id: int, criterion: dict[str, Any]) -> str | None:
    """Why `actor` may not confirm `criterion` (an entry of a version's `criteria`), or None: the
    Nexus's criteria any Developer, Scrum Master, Nexus Integration Team member or the Product Owner;
    a team's stricter criterion that team's Developers and Scrum Master, the Nexus Integration Team and
    the Product Owner. One query."""
    if actor is None or getattr(actor, "is_superuser", False):
        return None
    roles = _roles(actor, nexus_id)
    if not roles:
        return "You are not a member of this Nexus." if isinstance(actor, User) else "Sign in to confirm."
    if any(role in MANAGE_ROLES for role, _ in roles):
        return None
    workers = {t for role, t in roles if role in (Role.DEVELOPER, Role.SCRUM_MASTER)}
    if not workers:
        return "Stakeholders see the Definition of Done; the Developers confirm its criteria."
    team = criterion.get("team")
    if team is None or team in workers:
        return None
    return (
        f"This is {criterion.get('team_name') or 'another team'}'s criterion: its own Developers confirm it."
    )


def _manage_check(actor: Actor, nexus: Nexus) -> None:
    if not can_manage_increments(user=actor, nexus=nexus):
        raise NotAllowed(
            "Only the Product Owner and the Nexus Integration Team create, integrate, mark Done and "
            "release Integrated Increments.",
            field="increment",
        )
