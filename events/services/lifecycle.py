"""Start and close a Sprint (`events.services`): the plan frozen at the start, what was done and where each
unfinished PBI went frozen at the close; a closed Sprint is never rewritten."""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction
from django.utils import timezone

from backlog.errors import Conflict, DomainError
from backlog.models import (
    ProductBacklogItem,
    TeamInvolvement,
)
from backlog.services.common import nexus_changed, nexus_lock
from backlog.services.webhooks import webhook_event_record
from events.models import (
    ScopeChangeKind,
    SnapshotKind,
    Sprint,
    SprintEvent,
    SprintItem,
    SprintScopeChange,
    SprintSnapshot,
    SprintState,
)
from events.services.common import (
    DESTINATION_BACKLOG,
    DESTINATION_NEXT,
    DESTINATIONS,
    Actor,
    _actor,
    _check_event,
    _check_version,
    _finish_position,
    _lock_sprint,
    _team_goal_list,
    _touch,
    planning_rights,
    sprint_payload,
    whole_sprint_check,
)
from nexus_site.db import retry_transient

# --- Start and close -----------------------------------------------------------------------------------


def _teams_by_item(item_ids: list[int]) -> dict[int, list[int]]:
    teams: dict[int, list[int]] = {}
    for item_id, team_id in (
        TeamInvolvement.objects.filter(item_id__in=item_ids)
        .order_by("team__name")
        .values_list("item_id", "team_id")
    ):
        teams.setdefault(item_id, []).append(team_id)
    return teams


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def sprint_start(*, sprint: Sprint, actor: Actor, expected_version: int | None = None) -> Sprint:
    """Start a planned Sprint: state `active`, `started_at` now, and the plan frozen in the `start`
    snapshot (`SprintSnapshot`: each PBI with its title and teams, the Nexus Sprint Goal, the team
    Sprint Goals). The snapshot is never rewritten.

    Raises `NotAllowed` (403, `sprint`) unless `actor` plans the whole Sprint (the Product Owner, the
    Nexus Integration Team, superusers, the system: not a team's representative); `Conflict` (`state`)
    when the Sprint is not planned, or another Sprint of the Nexus is active (close that one first);
    `PreconditionFailed` (`If-Match`) as `sprint_update`."""
    whole_sprint_check(rights=planning_rights(user=actor, nexus_id=sprint.nexus_id), what="start a Sprint")
    nexus_lock(sprint.nexus_id)
    _lock_sprint(sprint)
    _check_version(sprint, expected_version)
    if sprint.state != SprintState.PLANNED:
        raise Conflict(
            f"Sprint {sprint.number} is {sprint.state}: only a planned Sprint starts.", field="state"
        )
    active = Sprint.objects.filter(nexus_id=sprint.nexus_id, state=SprintState.ACTIVE).first()
    if active is not None:
        raise Conflict(
            f"Sprint {active.number} is active: a Nexus has one active Sprint. Close it first.", field="state"
        )
    now = timezone.now()
    items = list(
        ProductBacklogItem.objects.filter(sprint_rows__sprint=sprint)
        .order_by("rank")
        .values_list("pk", "title")
    )
    teams = _teams_by_item([pk for pk, _ in items])
    SprintSnapshot.objects.create(
        sprint=sprint,
        kind=SnapshotKind.START,
        taken_at=now,
        data={
            "items": [{"id": pk, "title": title, "teams": teams.get(pk, [])} for pk, title in items],
            "goal": sprint.goal,
            "team_goals": _team_goal_list(sprint),
        },
    )
    sprint.state = SprintState.ACTIVE
    sprint.started_at = now
    sprint.version += 1
    sprint.save(update_fields=["state", "started_at", "version", "updated_at"])
    webhook_event_record(
        nexus_id=sprint.nexus_id, event="sprint.started", payload={"sprint": sprint_payload(sprint)}
    )
    nexus_changed(sprint.nexus_id)
    return sprint


def sprint_next(*, sprint: Sprint) -> Sprint | None:
    """The planned Sprint that follows `sprint` (the lowest number above it), if any."""
    return (
        Sprint.objects.filter(nexus_id=sprint.nexus_id, number__gt=sprint.number, state=SprintState.PLANNED)
        .order_by("number")
        .first()
    )


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def sprint_close(
    *,
    sprint: Sprint,
    actor: Actor,
    destinations: Mapping[int, str] | None = None,
    expected_version: int | None = None,
    event: str = SprintEvent.REVIEW,
) -> Sprint:
    """Close the active Sprint and freeze its outcome in the `close` snapshot (`SprintSnapshot`): the PBIs
    done (in the Nexus's finish column, `WorkflowColumn.is_finish`, or a column after it, when the
    Sprint closes) and those not done, each with where it went: `destinations[item_id]` is `"next"` (the
    default: carried over to the next planned Sprint, `carried_out` here and `carried_in` there) or
    `"backlog"` (`returned` to the Product Backlog). Deleted PBIs of the scope are listed apart
    (`deleted`) and go nowhere. The closed Sprint keeps its scope; nothing rewrites it later.

    Raises `NotAllowed` (403, `sprint`) unless `actor` plans the whole Sprint (as `sprint_start`);
    `Conflict` (`state`) when the Sprint is not active; `DomainError` (`destinations`) for a
    destination that is not `next`/`backlog`, an item not in the Sprint or already Done, and when some
    unfinished PBI goes to `next` but the Nexus has no planned next Sprint (create one first, or send it
    back to the Product Backlog); `PreconditionFailed` (`If-Match`) as `sprint_update`. Queries: a fixed
    number, whatever the size of the scope."""
    _check_event(event)
    whole_sprint_check(rights=planning_rights(user=actor, nexus_id=sprint.nexus_id), what="close a Sprint")
    destinations = dict(destinations or {})
    nexus_lock(sprint.nexus_id)
    _lock_sprint(sprint)
    _check_version(sprint, expected_version)
    if sprint.state != SprintState.ACTIVE:
        raise Conflict(
            f"Sprint {sprint.number} is {sprint.state}: only the active Sprint closes.", field="state"
        )
    for key, value in destinations.items():
        if value not in DESTINATIONS:
            raise DomainError(
                f"destinations[{key}] is {value!r}: an unfinished PBI goes to “next” or “backlog”.",
                field="destinations",
            )
    finish = _finish_position(sprint.nexus_id)
    scope = list(
        SprintItem.objects.filter(sprint=sprint)
        .order_by("item__rank")
        .values_list("item_id", "item__column__position", "item__deleted_at")
    )
    in_scope = {item_id for item_id, _, _ in scope}
    stray = sorted(set(destinations) - in_scope)
    if stray:
        raise DomainError(f"Item {stray[0]} is not in Sprint {sprint.number}.", field="destinations")
    done = [i for i, pos, deleted in scope if deleted is None and finish is not None and pos >= finish]
    deleted = [i for i, _, d in scope if d is not None]
    not_done = [i for i, pos, d in scope if d is None and (finish is None or pos < finish)]
    done_asked = sorted(set(destinations) & set(done))
    if done_asked:
        raise DomainError(f"Item {done_asked[0]} is Done: it goes nowhere.", field="destinations")
    to_next = [i for i in not_done if destinations.get(i, DESTINATION_NEXT) == DESTINATION_NEXT]
    nxt = sprint_next(sprint=sprint)
    if to_next and nxt is None:
        raise DomainError(
            f"{len(to_next)} unfinished PBI(s) would be carried over to the next Sprint, but the Nexus has "
            "no planned next Sprint: create it first, or send them back to the Product Backlog "
            '(destinations: {item id: "backlog"}).',
            field="destinations",
        )
    if nxt is not None:
        _lock_sprint(nxt)
    now = timezone.now()
    teams = _teams_by_item(not_done)
    who = _actor(actor)
    changes: list[SprintScopeChange] = []
    for item_id in not_done:
        kind = ScopeChangeKind.CARRIED_OUT if item_id in to_next else ScopeChangeKind.RETURNED
        on = teams.get(item_id, [])
        changes.append(
            SprintScopeChange(
                sprint=sprint, item_id=item_id, kind=kind, actor=who, at=now, event=event, teams=on
            )
        )
    if nxt is not None and to_next:
        already = set(
            SprintItem.objects.filter(sprint=nxt, item_id__in=to_next).values_list("item_id", flat=True)
        )
        SprintItem.objects.bulk_create(
            SprintItem(sprint=nxt, item_id=i, added_at=now) for i in to_next if i not in already
        )
        changes += [
            SprintScopeChange(
                sprint=nxt,
                item_id=i,
                kind=ScopeChangeKind.CARRIED_IN,
                actor=who,
                at=now,
                event=event,
                teams=teams.get(i, []),
            )
            for i in to_next
        ]
    SprintScopeChange.objects.bulk_create(changes)
    to_next_set = set(to_next)
    SprintSnapshot.objects.create(
        sprint=sprint,
        kind=SnapshotKind.CLOSE,
        taken_at=now,
        data={
            "done": done,
            "not_done": [
                {
                    "id": i,
                    "destination": DESTINATION_NEXT if i in to_next_set else DESTINATION_BACKLOG,
                    "sprint": nxt.pk if i in to_next_set and nxt is not None else None,
                }
                for i in not_done
            ],
            "deleted": deleted,
            "goal": sprint.goal,
            "team_goals": _team_goal_list(sprint),
        },
    )
    sprint.state = SprintState.CLOSED
    sprint.closed_at = now
    sprint.version += 1
    sprint.save(update_fields=["state", "closed_at", "version", "updated_at"])
    if nxt is not None and to_next:
        _touch(nxt)
    webhook_event_record(
        nexus_id=sprint.nexus_id,
        event="sprint.closed",
        payload={
            "sprint": sprint_payload(sprint),
            "done": done,
            "not_done": len(not_done),
            "next_sprint": nxt.pk if nxt is not None and to_next else None,
        },
    )
    nexus_changed(sprint.nexus_id)
    return sprint
