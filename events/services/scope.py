"""A Sprint's scope (`events.services`): plan a Product Backlog Item into a planned or active Sprint for
its teams, and out again; every change is a typed, append-only `SprintScopeChange` row.

Who (`events.services.common.planning_rights`): the Product Owner, Nexus Integration Team members,
superusers and the system (`actor=None`) plan into every team's lane; a Developer or Scrum Master
(a team's representative) only into their own team's lane, and takes only their own team's lane card
out; anyone else reads. A refusal is `NotAllowed` (403) naming `team`, with nothing saved."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from backlog.errors import Conflict, DomainError, NotAllowed
from backlog.models import (
    ProductBacklogItem,
    ScrumTeam,
    Source,
    TeamInvolvement,
    TeamStatus,
)
from backlog.services import involvement_add, involvement_remove
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
    _team_names,
    _touch,
    lanes_check,
    planning_check,
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

    Who: a team's representative (Developer, Scrum Master) plans into their own team's lane only: every
    team of `teams` must be theirs, and so must every team already forecast on a PBI that enters the
    Sprint (it enters those lanes too); the Product Owner, the Nexus Integration Team, superusers and
    the system plan into any.

    Raises `NotAllowed` (403) for an actor who plans no lane (`team`), or not every lane it would enter
    (`team`, naming the team); `DomainError` for a deleted item or one of another Nexus (`item`), no team
    at all or a team not in the Nexus (`teams`), an unknown `event`; `Conflict` for a closed Sprint
    (`sprint`), an item that is Done or in another planned or active Sprint (`item`). Nothing is saved
    when it raises."""
    _check_event(event)
    teams = list(teams)
    rights = planning_check(actor=actor, nexus_id=sprint.nexus_id)
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
    row = SprintItem.objects.filter(sprint=sprint, item=locked).first()
    lanes_check(rights=rights, team_ids=team_ids)
    forecast = sorted(on_item - rights.teams) if rights.teams is not None and row is None else []
    if forecast:  # entering the Sprint, the PBI enters the lanes of the teams forecast on it too
        names = _team_names(forecast)
        raise NotAllowed(
            f"“{locked.title}” is forecast for {names} too: planned into the Sprint it would enter "
            f"{names}'s lane, which only {names}'s representatives, the Product Owner and the Nexus "
            "Integration Team plan into. Nothing was changed.",
            field="team",
        )
    for team in sorted(known.values(), key=lambda t: t.name):
        if team.pk not in on_item:
            involvement_add(item=locked, team=team, actor=actor, source=source)
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
    *,
    sprint: Sprint,
    item: ProductBacklogItem,
    actor: Actor,
    team: ScrumTeam | None = None,
    event: str = SprintEvent.PLANNING,
) -> None:
    """Take a PBI out of a planned or active Sprint (`removed` scope change at `event`), or, with `team`,
    out of that team's lane only.

    Without `team` the PBI leaves the Sprint, and so every team lane it is in; its squares stay (the
    teams remain forecast on the item in the Product Backlog). With `team`, when other teams are on the
    PBI, only `team`'s square goes (`backlog.services.involvement_remove`: the PBI stays in the Sprint,
    in the other lanes; no scope change); when `team` is its last team, the PBI leaves the Sprint and
    `team`'s square goes too if it has not started.

    Who: a team's representative (Developer, Scrum Master) takes only their own team's lane card out:
    `team` theirs, or without `team` every team on the PBI theirs (a PBI in no lane is not theirs); the
    Product Owner, the Nexus Integration Team, superusers and the system any.

    Raises `NotAllowed` (403, `team`) for an actor who may not take it out of those lanes, nothing
    changed; `Conflict` for a closed Sprint (`sprint`); `DomainError` (`item`) for an item not in the
    Sprint's scope, (`team`) for a team of another Nexus, (`event`) for an unknown event."""
    _check_event(event)
    rights = planning_check(actor=actor, nexus_id=sprint.nexus_id)
    if team is not None and team.nexus_id != sprint.nexus_id:
        raise DomainError("That Scrum Team is not in this Nexus.", field="team")
    locked = _lock_item(item.pk)
    # Lock order: the item, its squares, the Nexus, the Sprint.
    squares = {
        square.team_id: square for square in TeamInvolvement.objects.select_for_update().filter(item=locked)
    }
    nexus_lock(sprint.nexus_id)
    _lock_sprint(sprint)
    if sprint.state == SprintState.CLOSED:
        raise _closed_refusal(sprint, "its scope is kept as it was")
    row = SprintItem.objects.filter(sprint=sprint, item=locked).first()
    if row is None:
        raise DomainError(f"That item is not in Sprint {sprint.number}.", field="item")
    if team is None:
        if rights.teams is not None and not squares:
            raise NotAllowed(
                f"“{locked.title}” is in no team's lane: the Product Owner or the Nexus Integration Team "
                "takes it out. Nothing was changed.",
                field="team",
            )
        lanes_check(rights=rights, team_ids=set(squares), doing="take PBIs out of {team}'s lane")
    else:
        lanes_check(rights=rights, team_ids={team.pk}, doing="take PBIs out of {team}'s lane")
        mine = squares.get(team.pk)
        if set(squares) - {team.pk}:  # other teams keep it in the Sprint: only this lane's square goes
            if mine is not None:
                involvement_remove(involvement=mine, actor=actor)
            return
    row.delete()
    SprintScopeChange.objects.create(
        sprint=sprint,
        item=locked,
        kind=ScopeChangeKind.REMOVED,
        actor=_actor(actor),
        at=timezone.now(),
        event=event,
        teams=sorted(squares),
    )
    _touch(sprint)
    nexus_changed(sprint.nexus_id)
    if team is not None:
        mine = squares.get(team.pk)
        if mine is not None and mine.status == TeamStatus.NOT_STARTED:
            involvement_remove(involvement=mine, actor=actor)
