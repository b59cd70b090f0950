"""A Sprint's scope (`events.services`): plan a Product Backlog Item into a planned or active Sprint for
its teams, and out again; every change is a typed, append-only `SprintScopeChange` row."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from backlog.errors import Conflict, DomainError
from backlog.models import (
    ProductBacklogItem,
    ScrumTeam,
    Source,
    TeamInvolvement,
)
from backlog.services import involvement_add
from backlog.services.common import items_changed_batched, nexus_changed, nexus_lock
from backlog.services.webhooks import webhook_event_record
from events.models import (
    OPEN_STATES,
    ScopeChangeKind,
    Sprint,
    SprintEvent,
    SprintItem,
    SprintScopeChange,
    SprintState,
)
from events.services.common import (
    Actor,
    _actor,
    _check_event,
    _closed_refusal,
    _finish_position,
    _lock_sprint,
    _touch,
    sprint_payload,
)
from nexus_site.db import retry_transient

# --- Scope ---------------------------------------------------------------------------------------------


def _lock_item(item_id: int) -> ProductBacklogItem:
    return (
        ProductBacklogItem.objects.select_for_update(of=("self",), no_key=True)
        .select_related("backlog", "column")
        .get(pk=item_id)
    )


def _open_sprint_of(item_id: int, *, exclude: int | None = None) -> Sprint | None:
    rows = Sprint.objects.filter(scope__item_id=item_id, state__in=OPEN_STATES)
    if exclude is not None:
        rows = rows.exclude(pk=exclude)
    return rows.first()


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
@items_changed_batched()  # one change counted, after every lock (the squares' services count too)
def sprint_plan(
    *,
    sprint: Sprint,
    item: ProductBacklogItem,
    teams: Iterable[ScrumTeam],
    actor: Actor,
    event: str = SprintEvent.PLANNING,
    source: str = Source.UI,
) -> SprintItem:
    """Plan a PBI into a planned or active Sprint, forecasting `teams` on it: each team not yet on the
    item gets its square (`backlog.services.involvement_add`, logged in the transition log); teams on it
    already keep theirs. Logs an `added` scope change (at `event`) when the item enters the scope;
    planning an item already in this Sprint only adds the missing squares. Returns its `SprintItem`.

    Raises `DomainError` for a deleted item or one of another Nexus (`item`), no team at all or a team
    not in the Nexus (`teams`), an unknown `event`; `Conflict` for a closed Sprint (`sprint`), an item
    that is Done or in another planned or active Sprint (`item`)."""
    _check_event(event)
    teams = list(teams)
    locked = _lock_item(item.pk)
    if locked.backlog.nexus_id != sprint.nexus_id:
        raise DomainError("That item is not in this Nexus's Product Backlog.", field="item")
    if locked.deleted_at is not None:
        raise DomainError("This item has been deleted.", field="item")
    nexus_lock(sprint.nexus_id)
    _lock_sprint(sprint)
    if sprint.state == SprintState.CLOSED:
        raise _closed_refusal(sprint, "nothing can be planned into it")
    finish = _finish_position(sprint.nexus_id)
    if finish is not None and locked.column.position >= finish:
        raise Conflict(f"“{locked.title}” is Done already: there is nothing left to plan.", field="item")
    other = _open_sprint_of(locked.pk, exclude=sprint.pk)
    if other is not None:
        raise Conflict(
            f"“{locked.title}” is in Sprint {other.number} already: a PBI is in one open Sprint at a time. "
            "Take it out of that Sprint first.",
            field="item",
        )
    team_ids = {t.pk for t in teams}
    known = {t.pk: t for t in ScrumTeam.objects.filter(nexus_id=sprint.nexus_id, pk__in=team_ids)}
    if len(known) != len(team_ids):
        raise DomainError("That Scrum Team is not in this Nexus (any more).", field="teams")
    on_item = set(TeamInvolvement.objects.filter(item=locked).values_list("team_id", flat=True))
    if not team_ids and not on_item:
        raise DomainError("Say which Scrum Teams will work on the item (one at least).", field="teams")
    for team in sorted(known.values(), key=lambda t: t.name):
        if team.pk not in on_item:
            involvement_add(item=locked, team=team, actor=actor, source=source)
    row = SprintItem.objects.filter(sprint=sprint, item=locked).first()
    changed = row is None or bool(team_ids - on_item)
    if row is None:
        now = timezone.now()
        row = SprintItem.objects.create(sprint=sprint, item=locked, added_at=now)
        SprintScopeChange.objects.create(
            sprint=sprint,
            item=locked,
            kind=ScopeChangeKind.ADDED,
            actor=_actor(actor),
            at=now,
            event=event,
            teams=sorted(on_item | team_ids),
        )
        _touch(sprint)
        webhook_event_record(
            nexus_id=sprint.nexus_id,
            event="sprint.planned",
            payload={
                "sprint": sprint_payload(sprint),
                "item": locked.pk,
                "teams": sorted(on_item | team_ids),
            },
            item_id=locked.pk,
        )
    elif team_ids - on_item:
        _touch(sprint)
    if changed:  # planning a planned PBI again with no new team changes nothing: nothing to count
        nexus_changed(sprint.nexus_id)
    return row


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def sprint_unplan(
    *, sprint: Sprint, item: ProductBacklogItem, actor: Actor, event: str = SprintEvent.PLANNING
) -> None:
    """Take a PBI out of a planned or active Sprint (`removed` scope change at `event`). Its squares
    stay: the teams remain forecast on the item in the Product Backlog.

    Raises `Conflict` for a closed Sprint (`sprint`), `DomainError` (`item`) for an item not in the
    Sprint's scope, (`event`) for an unknown event."""
    _check_event(event)
    locked = _lock_item(item.pk)
    nexus_lock(sprint.nexus_id)
    _lock_sprint(sprint)
    if sprint.state == SprintState.CLOSED:
        raise _closed_refusal(sprint, "its scope is kept as it was")
    row = SprintItem.objects.filter(sprint=sprint, item=locked).first()
    if row is None:
        raise DomainError(f"That item is not in Sprint {sprint.number}.", field="item")
    row.delete()
    SprintScopeChange.objects.create(
        sprint=sprint,
        item=locked,
        kind=ScopeChangeKind.REMOVED,
        actor=_actor(actor),
        at=timezone.now(),
        event=event,
        teams=sorted(TeamInvolvement.objects.filter(item=locked).values_list("team_id", flat=True)),
    )
    _touch(sprint)
    nexus_changed(sprint.nexus_id)
