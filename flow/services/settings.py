"""Flow settings of a scope (the Nexus or one Scrum Team): its Service Level Expectation and the kind of
its WIP limit (`flow_settings_set`), and who may set them."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction

from backlog.errors import DomainError, NotAllowed
from backlog.models import Nexus, Role, ScrumTeam, WipLimitKind
from backlog.selectors import roles_of
from backlog.services import nexus_update, team_update
from backlog.services.common import nexus_changed, structure_check
from flow.models import FlowSettings
from nexus_site.db import retry_transient

__all__ = ["FLOW_SETTINGS_RULE", "SETTINGS_ROLES", "can_edit_flow_settings", "flow_settings_set"]

SETTINGS_ROLES = {Role.PRODUCT_OWNER, Role.NIT_MEMBER}


#: The API permission rule of the flow settings (registered in `FlowConfig.ready`).
FLOW_SETTINGS_RULE = "flow_settings"


def can_edit_flow_settings(*, user: User | AnonymousUser, nexus: Nexus) -> bool:
    """The Product Owner, members of the Nexus Integration Team and superusers set SLEs and limit kinds."""
    if getattr(user, "is_superuser", False):
        return True
    return bool(roles_of(user=user, nexus=nexus) & SETTINGS_ROLES)


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def flow_settings_set(
    *,
    nexus: Nexus,
    team: ScrumTeam | None,
    actor: User | AnonymousUser | None,
    sle_percent: int,
    sle_days: int | None,
    wip_limit_kind: str = WipLimitKind.SOFT,
) -> FlowSettings:
    """Set the Service Level Expectation ("`sle_percent`% of items finish within `sle_days` days"; empty
    days = the default from recent Cycle Times) and the kind of the WIP limit of the Nexus (`team` None)
    or of one Scrum Team. The kind is part of the Definition of Workflow and lives in `backlog`: it is
    set through `nexus_update` or `team_update` (`wip_limit_kind`), in the same transaction. Returns the
    scope's row, its `team` and `nexus` as they are now (their `wip_limit_kind` included).

    Raises `NotAllowed` for anyone but the Product Owner, the Nexus Integration Team and admins,
    `DomainError` naming the field for invalid values, or `team` when the Scrum Team is of another
    Nexus or was deleted meanwhile.

    Runs under the Nexus lock (`structure_check`): a concurrent deletion of the team either committed
    before (refused, naming `team`) or waits for this write; and two concurrent writes of the same
    scope are serialised, so the second updates the row the first created (no unique-constraint
    failure, a 500)."""
    if actor is None or not can_edit_flow_settings(user=actor, nexus=nexus):
        raise NotAllowed(
            "Only the Product Owner and the Nexus Integration Team set Service Level Expectations.",
            field=None,
        )
    if team is not None and team.nexus_id != nexus.pk:
        raise DomainError("That Scrum Team is in another Nexus.", field="team")
    if not isinstance(sle_percent, int) or not 1 <= sle_percent <= 100:
        raise DomainError("The percentage is a whole number from 1 to 100.", field="sle_percent")
    if sle_days is not None and (not isinstance(sle_days, int) or not 1 <= sle_days <= 3650):
        raise DomainError(
            "The days are a whole number from 1 to 3650, or empty for the default.", field="sle_days"
        )
    if wip_limit_kind not in WipLimitKind.values:
        raise DomainError("The WIP limit kind is 'hard' or 'soft'.", field="wip_limit_kind")
    _, now_teams = structure_check(nexus_id=nexus.pk, teams=[team] if team else [], teams_field="team")
    if team is not None:
        scope_team: ScrumTeam | None = team_update(team=now_teams[team.pk], wip_limit_kind=wip_limit_kind)
        scope_nexus = nexus
    else:
        scope_team, scope_nexus = None, nexus_update(nexus=nexus, wip_limit_kind=wip_limit_kind)
    row, _ = FlowSettings.objects.update_or_create(
        nexus=nexus,
        team=team,
        defaults={
            "sle_percent": sle_percent,
            "sle_days": sle_days,
            "updated_by": actor if isinstance(actor, User) else None,
        },
    )
    row.nexus, row.team = scope_nexus, scope_team
    nexus_changed(nexus.pk)  # settings are Nexus data; the recompute's stored figures are not
    return row
