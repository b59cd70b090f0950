"""Writes of the Nexus board's shared state during the Nexus Daily Scrum (`events.models.BoardState`):
starting its 15-minute timebox timer (which records the start of the Nexus Daily Scrum) and walking the
board (the card every viewer sees highlighted). Keyword-only, transactional; each advances the Nexus's
change counter (`backlog.services.common.nexus_changed`) so every open board shows the change at its
next poll. Who may: every member of the Nexus but Stakeholders (they watch the event)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from backlog.errors import DomainError, NotAllowed
from backlog.models import Nexus, ProductBacklogItem, Role
from backlog.selectors import roles_of
from backlog.services.common import nexus_changed, nexus_lock
from events.models import BoardState
from events.services.common import Actor
from nexus_site.db import retry_transient

#: The timebox of the Nexus Daily Scrum, in minutes (Nexus Guide: 15 minutes or less).
TIMEBOX_MINUTES = 15


def board_can_drive(*, user: Actor, nexus: Nexus) -> bool:
    """Whether `user` may start the board's timer and walk the board: members other than Stakeholders,
    and superusers."""
    if user is None or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return bool(roles_of(user=user, nexus=nexus) - {Role.STAKEHOLDER})


def _state(nexus: Nexus, actor: Actor) -> BoardState:
    if not board_can_drive(user=actor, nexus=nexus):
        raise NotAllowed("Stakeholders watch the Nexus Daily Scrum; members of the Nexus run the board.")
    nexus_lock(nexus.pk)
    state, _created = BoardState.objects.select_for_update().get_or_create(nexus=nexus)
    return state


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def daily_scrum_start(*, nexus: Nexus, actor: Actor) -> BoardState:
    """Start (or restart) the board's 15-minute timer now: the start of a Nexus Daily Scrum. Clears the
    walk. Raises `NotAllowed` (403) for a Stakeholder or a non-member."""
    state = _state(nexus, actor)
    state.daily_scrum_started_at = timezone.now()
    state.daily_scrum_started_by = actor if actor is not None and actor.is_authenticated else None
    state.walk_item = None
    state.save()
    nexus_changed(nexus.pk)
    return state


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def board_walk_set(*, nexus: Nexus, item_id: int | None, actor: Actor) -> BoardState:
    """Put the walk of the board on the PBI `item_id` (None: end the walk). Raises `DomainError`
    (`item`) for a PBI of another Nexus or a deleted one, `NotAllowed` (403) as `daily_scrum_start`."""
    state = _state(nexus, actor)
    if item_id is not None:
        alive = ProductBacklogItem.objects.alive().filter(pk=item_id, backlog__nexus=nexus).exists()
        if not alive:
            raise DomainError(f"There is no PBI #{item_id} on this Nexus's board.", field="item")
    if state.walk_item_id == item_id:
        return state
    state.walk_item_id = item_id
    state.save()
    nexus_changed(nexus.pk)
    return state
