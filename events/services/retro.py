"""Every write of the Nexus Sprint Retrospective (Nexus Guide), per Sprint: record cross-team issues
(part 1), a Scrum Team's own items linked to them (part 2), agree Nexus improvement actions that become a
Product Backlog Item or a tracked action (part 3), and follow the tracked actions across Sprints until done
(status open → done or dropped, each change a typed `ImprovementActionChange` row). Keyword-only, typed,
transactional; each raises a `backlog.errors.DomainError` subclass naming the field at fault (400),
`NotAllowed` (403), `Conflict` (409: the state forbids it) or `PreconditionFailed` (412: `If-Match`).

Who may do what (`retro_refusal`, `retro_team_refusal`; the rules registered in `EventsConfig.ready`):

| what                                                  | who                                          |
|-------------------------------------------------------|----------------------------------------------|
| cross-team issues, improvement actions (`retro_record`) | the representatives: every member but        |
|                                                       | Stakeholders (`backlog.selectors.can_edit_items`) |
| a Scrum Team's items (`retro_team`)                   | that team's Developers and Scrum Master, the  |
|                                                       | Product Owner, the Nexus Integration Team     |
| an action that becomes a PBI                          | also `backlog.selectors.can_create_items`     |

Superusers may do everything; `actor=None` is the system (the demo). A retrospective belongs to a Sprint
that has started (active or closed); a planned Sprint has none yet (409 naming `sprint`).

Lock order: an action's row (`select_for_update`), then the change counter last (`nexus_changed`); an
action that becomes a PBI is created first through `backlog.services.pbi_create` (which takes the
backlog's lock), then the action row.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from backlog.errors import Conflict, DomainError, NotAllowed, PreconditionFailed
from backlog.models import Membership, Nexus, Role, ScrumTeam, Source
from backlog.selectors import backlog_rights, roles_of
from backlog.services import pbi_create
from backlog.services.common import UNSET, Unset, nexus_changed
from backlog.services.webhooks import webhook_event_record
from events.models import (
    ActionChangeKind,
    ActionKind,
    ActionStatus,
    ImprovementAction,
    ImprovementActionChange,
    RetroItem,
    RetroPart,
    Sprint,
    SprintState,
)
from nexus_site.db import retry_transient

Actor = User | AnonymousUser | None

#: The permission rule of cross-team issues and improvement actions (API), `retro_refusal`'s.
RETRO_RULE = "retro_record"

EVENT_AGREED = "retro_action.agreed"
EVENT_DONE = "retro_action.done"
EVENT_DROPPED = "retro_action.dropped"

#: Longest texts (characters).
TEXT_MAX = 500
TITLE_MAX = 200


def _actor(actor: Actor) -> User | None:
    return actor if isinstance(actor, User) else None


def retro_refusal(*, actor: Actor, nexus: Nexus) -> str | None:
    """Why `actor` may not record cross-team issues or agree and follow improvement actions in `nexus`'s
    retrospectives (a message for a person), or None if they may: every member but Stakeholders and
    Executive Action Team members (`backlog.selectors.backlog_rights(...).can_edit`), superusers, the
    system (`None`). One query (none for the system or a superuser)."""
    if actor is None:
        return None
    if not getattr(actor, "is_authenticated", False):
        return "Sign in to take part in the Nexus Sprint Retrospective."
    if backlog_rights(user=actor, nexus=nexus).can_edit:
        return None
    return "The Scrum Teams' representatives record the Nexus Sprint Retrospective; Stakeholders read it."


def can_record_retro(*, user: Actor, nexus: Nexus) -> bool:
    """Whether `user` may record cross-team issues and agree and follow improvement actions (see
    `retro_refusal`)."""
    return user is not None and retro_refusal(actor=user, nexus=nexus) is None


def retro_team_refusal(*, actor: Actor, team: ScrumTeam) -> str | None:
    """Why `actor` may not record `team`'s own retrospective items (part 2), or None if they may: the
    team's Developers and Scrum Master, the Product Owner and the Nexus Integration Team (who facilitate),
    superusers, the system. One query."""
    if actor is None:
        return None
    if not isinstance(actor, User):
        return "Sign in to take part in the Nexus Sprint Retrospective."
    if actor.is_superuser:
        return None
    roles = list(Membership.objects.filter(nexus_id=team.nexus_id, user=actor).values_list("role", "team_id"))
    if any(role in (Role.PRODUCT_OWNER, Role.NIT_MEMBER) for role, _ in roles):
        return None
    if any(t == team.pk for role, t in roles if role in (Role.DEVELOPER, Role.SCRUM_MASTER)):
        return None
    if any(role in (Role.DEVELOPER, Role.SCRUM_MASTER) for role, _ in roles):
        return f"Only {team.name}'s Developers and Scrum Master record {team.name}'s retrospective items."
    if roles:
        return "Stakeholders read the Scrum Teams' retrospective items."
    return "You are not a member of this Nexus."


def team_ids_for_retro(*, user: Actor, nexus: Nexus) -> set[int] | None:
    """The ids of the Scrum Teams whose items `user` may record, or None for every team (Product Owner,
    Nexus Integration Team, superusers). One query (none for a superuser)."""
    if user is None or getattr(user, "is_superuser", False):
        return None
    if not isinstance(user, User):
        return set()
    roles = list(Membership.objects.filter(nexus=nexus, user=user).values_list("role", "team_id"))
    if any(role in (Role.PRODUCT_OWNER, Role.NIT_MEMBER) for role, _ in roles):
        return None
    return {t for role, t in roles if role in (Role.DEVELOPER, Role.SCRUM_MASTER) and t is not None}


# --- helpers -------------------------------------------------------------------------------------------


def _check(refusal: str | None, field: str) -> None:
    if refusal:
        raise NotAllowed(refusal, field=field)


def _text(value: str | None, *, field: str, max_length: int, what: str) -> str:
    text = (value or "").strip()
    if not text:
        raise DomainError(f"Give the {what} a {field}.", field=field)
    if len(text) > max_length:
        raise DomainError(f"The {field} is {len(text)} characters; at most {max_length}.", field=field)
    return text


def _check_started(sprint: Sprint) -> None:
    if sprint.state == SprintState.PLANNED:
        raise Conflict(
            f"Sprint {sprint.number} has not started: its Nexus Sprint Retrospective comes at its end.",
            field="sprint",
        )


def _check_version(row: RetroItem | ImprovementAction, expected: int | None, what: str) -> None:
    if expected is not None and row.version != expected:
        raise PreconditionFailed(
            f"The {what} is at version {row.version}, not {expected}: someone changed it after you read "
            "it. Nothing was changed; read it again and re-apply your change.",
            current_version=row.version,
            field="If-Match",
        )


def _cross_team_issue(sprint: Sprint, issue: RetroItem | int | None) -> RetroItem | None:
    if issue is None:
        return None
    pk = issue.pk if isinstance(issue, RetroItem) else int(issue)
    found = RetroItem.objects.filter(pk=pk, sprint=sprint, part=RetroPart.CROSS_TEAM).first()
    if found is None:
        raise DomainError(
            f"No cross-team issue {pk} in the retrospective of Sprint {sprint.number}.",
            field="cross_team_issue",
        )
    return found


def _owner(nexus: Nexus, owner: User | None) -> User:
    if owner is None:
        raise DomainError("An improvement action needs an owner who sees it through.", field="owner")
    if not owner.is_superuser and not roles_of(user=owner, nexus=nexus):
        raise DomainError(f"{owner.username} is not a member of this Nexus.", field="owner")
    return owner


def _save(row: RetroItem | ImprovementAction, fields: list[str]) -> None:
    row.version += 1
    row.save(update_fields=[*fields, "version", "updated_at"])


def action_payload(action: ImprovementAction) -> dict[str, Any]:
    """The action in a webhook body: `{"retro_action": {"id", "title", "kind", "status", "owner"
    (username or null), "sprint" (number of the Sprint it was agreed in), "item" (PBI id or null)}}`."""
    return {
        "retro_action": {
            "id": action.pk,
            "title": action.title,
            "kind": action.kind,
            "status": action.status,
            "owner": action.owner.username if action.owner_id and action.owner else None,
            "sprint": action.sprint.number,
            "item": action.item_id,
        }
    }


def _hook(action: ImprovementAction, event: str) -> None:
    webhook_event_record(nexus_id=action.nexus_id, event=event, payload=action_payload(action))


# --- parts 1 and 2: items ------------------------------------------------------------------------------


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def retro_item_add(
    *,
    sprint: Sprint,
    actor: Actor,
    text: str,
    team: ScrumTeam | None = None,
    cross_team_issue: RetroItem | int | None = None,
    at: Any = None,
) -> RetroItem:
    """Record an item in `sprint`'s retrospective: without `team` a cross-team issue (part 1, by the
    representatives: `retro_refusal`), with `team` that Scrum Team's own item (part 2, `retro_team_refusal`),
    optionally linked to a cross-team issue of the same Sprint. `at` (UTC) defaults to now.

    Raises `NotAllowed` (field `team` or `part`), `Conflict` (`sprint`: not started), `DomainError`
    (`text` empty or longer than `TEXT_MAX`; `team` of another Nexus; `cross_team_issue` not one of this
    Sprint's, or given for a cross-team issue)."""
    nexus = sprint.nexus
    if team is not None:
        if team.nexus_id != sprint.nexus_id:
            raise DomainError(f"No Scrum Team {team.pk} in this Nexus.", field="team")
        _check(retro_team_refusal(actor=actor, team=team), "team")
    else:
        _check(retro_refusal(actor=actor, nexus=nexus), "part")
        if cross_team_issue is not None:
            raise DomainError(
                "A cross-team issue links to no other; team items link to it.", field="cross_team_issue"
            )
    _check_started(sprint)
    value = _text(text, field="text", max_length=TEXT_MAX, what="retrospective item")
    link = _cross_team_issue(sprint, cross_team_issue)
    item = RetroItem.objects.create(
        nexus=nexus,
        sprint=sprint,
        part=RetroPart.TEAM if team is not None else RetroPart.CROSS_TEAM,
        team=team,
        text=value,
        cross_team_issue=link,
        author=_actor(actor),
        created_at=at or timezone.now(),
    )
    nexus_changed(nexus.pk)
    return item


def _item_refusal(item: RetroItem, actor: Actor) -> None:
    if item.team_id is not None:
        assert item.team is not None
        _check(retro_team_refusal(actor=actor, team=item.team), "team")
    else:
        _check(retro_refusal(actor=actor, nexus=item.nexus), "part")


def _lock_item(item: RetroItem) -> RetroItem:
    locked = RetroItem.objects.select_for_update(of=("self",)).select_related("nexus", "sprint", "team")
    found = locked.filter(pk=item.pk).first()
    if found is None:
        raise Conflict("That retrospective item was deleted meanwhile.", field="id")
    return found


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def retro_item_update(
    *,
    item: RetroItem,
    actor: Actor,
    text: str | Unset = UNSET,
    cross_team_issue: RetroItem | int | Unset | None = UNSET,
    expected_version: int | None = None,
) -> RetroItem:
    """Change an item's `text` or (a team item's) linked cross-team issue (None: unlink). `UNSET` leaves
    a field. Same rules and errors as `retro_item_add`; `PreconditionFailed` (412) when `expected_version`
    is not the item's."""
    item = _lock_item(item)
    _item_refusal(item, actor)
    _check_version(item, expected_version, "retrospective item")
    fields: list[str] = []
    if not isinstance(text, Unset):
        value = _text(text, field="text", max_length=TEXT_MAX, what="retrospective item")
        if value != item.text:
            item.text = value
            fields.append("text")
    if not isinstance(cross_team_issue, Unset):
        if item.part == RetroPart.CROSS_TEAM and cross_team_issue is not None:
            raise DomainError(
                "A cross-team issue links to no other; team items link to it.", field="cross_team_issue"
            )
        link = _cross_team_issue(item.sprint, cross_team_issue)
        if (link.pk if link else None) != item.cross_team_issue_id:
            item.cross_team_issue = link
            fields.append("cross_team_issue")
    if fields:
        _save(item, fields)
        nexus_changed(item.nexus_id)
    return item


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def retro_item_delete(*, item: RetroItem, actor: Actor, expected_version: int | None = None) -> None:
    """Delete an item recorded by mistake (who may record it may delete it); its team items' links to it
    are cleared and a tombstone is left for sync. Gone already: nothing happens."""
    found = RetroItem.objects.filter(pk=item.pk).first()
    if found is None:
        return
    item = _lock_item(found)
    _item_refusal(item, actor)
    _check_version(item, expected_version, "retrospective item")
    nexus_id = item.nexus_id
    # The rows that named it lose the link: a write of theirs (version, `updated_at`) for sync clients.
    now = timezone.now()
    for model in (RetroItem, ImprovementAction):
        model.objects.filter(cross_team_issue=item).update(
            cross_team_issue=None, version=F("version") + 1, updated_at=now
        )
    item.delete()
    nexus_changed(nexus_id)


# --- part 3: improvement actions ---------------------------------------------------------------------


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def action_agree(
    *,
    sprint: Sprint,
    actor: Actor,
    title: str,
    owner: User | None,
    kind: str = ActionKind.ACTION,
    cross_team_issue: RetroItem | int | None = None,
    source: str = Source.UI,
    at: Any = None,
) -> ImprovementAction:
    """Agree a Nexus improvement action at `sprint`'s retrospective, with an `owner` (a member). `kind`
    `pbi`: a Product Backlog Item of that title is created at the bottom of the Product Backlog through
    `backlog.services.pbi_create` (logged with `source`), which needs `can_create_items`; `action`: it is
    tracked here, open until done or dropped. The history gets an `agreed` row; webhooks
    `retro_action.agreed`.

    Raises `NotAllowed` (`part`; `kind` when the actor may not create PBIs), `Conflict` (`sprint` not
    started), `DomainError` (`title` empty or too long, `owner` missing or not a member, `kind` unknown,
    `cross_team_issue` not one of this Sprint's)."""
    nexus = sprint.nexus
    _check(retro_refusal(actor=actor, nexus=nexus), "part")
    _check_started(sprint)
    if kind not in ActionKind.values:
        raise DomainError(
            f"An improvement action's kind is one of {', '.join(ActionKind.values)}.", field="kind"
        )
    value = _text(title, field="title", max_length=TITLE_MAX, what="improvement action")
    owner = _owner(nexus, owner)
    link = _cross_team_issue(sprint, cross_team_issue)
    now = at or timezone.now()
    item = None
    if kind == ActionKind.PBI:
        if actor is not None and not backlog_rights(user=actor, nexus=nexus).can_create:
            raise NotAllowed("Only members but Stakeholders add Product Backlog Items.", field="kind")
        item = pbi_create(nexus=nexus, title=value, actor=actor, source=source)
    action = ImprovementAction.objects.create(
        nexus=nexus,
        sprint=sprint,
        title=value,
        kind=kind,
        owner=owner,
        cross_team_issue=link,
        item=item,
        agreed_by=_actor(actor),
        agreed_at=now,
    )
    ImprovementActionChange.objects.create(
        action=action,
        kind=ActionChangeKind.AGREED,
        to_status=ActionStatus.OPEN,
        sprint=sprint,
        actor=_actor(actor),
        at=now,
    )
    _hook(action, EVENT_AGREED)
    nexus_changed(nexus.pk)
    return action


def _lock_action(action: ImprovementAction) -> ImprovementAction:
    locked = ImprovementAction.objects.select_for_update(of=("self",)).select_related(
        "nexus", "sprint", "owner"
    )
    found = locked.filter(pk=action.pk).first()
    if found is None:
        raise Conflict("That improvement action was deleted meanwhile.", field="id")
    return found


def _retro_sprint(nexus: Nexus, sprint: Sprint | None) -> Sprint | None:
    """The Sprint whose retrospective a change is made at: the one given, else the Nexus's latest started
    Sprint (the active one, else the last closed)."""
    if sprint is not None:
        if sprint.nexus_id != nexus.pk:
            raise DomainError(f"No Sprint {sprint.pk} in this Nexus.", field="sprint")
        return sprint
    return (
        Sprint.objects.filter(nexus=nexus, state__in=(SprintState.ACTIVE, SprintState.CLOSED))
        .order_by("-number")
        .first()
    )


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def action_set_status(
    *,
    action: ImprovementAction,
    actor: Actor,
    status: str,
    sprint: Sprint | None = None,
    note: str = "",
    expected_version: int | None = None,
    at: Any = None,
) -> ImprovementAction:
    """Mark a tracked action `done` or `dropped` (or `open` again), at the retrospective of `sprint`
    (default: the Nexus's latest started Sprint), with an optional `note` (why). Appends a `status` row
    (from, to) to its history; webhooks `retro_action.done` / `retro_action.dropped`.

    Raises `NotAllowed` (`part`), `Conflict` (`kind`: a PBI's progress is followed on the Product Backlog;
    `status`: it has that status already), `DomainError` (`status` unknown, `note` too long),
    `PreconditionFailed` (412)."""
    action = _lock_action(action)
    _check(retro_refusal(actor=actor, nexus=action.nexus), "part")
    _check_version(action, expected_version, "improvement action")
    if status not in ActionStatus.values:
        raise DomainError(f"The status is one of {', '.join(ActionStatus.values)}.", field="status")
    if action.kind == ActionKind.PBI:
        raise Conflict(
            f"“{action.title}” became a Product Backlog Item: follow it on the Product Backlog.", field="kind"
        )
    if status == action.status:
        raise Conflict(f"“{action.title}” is {action.get_status_display().lower()} already.", field="status")
    if len(note) > TEXT_MAX:
        raise DomainError(f"The note is {len(note)} characters; at most {TEXT_MAX}.", field="note")
    now = at or timezone.now()
    retro = _retro_sprint(action.nexus, sprint)
    before = action.status
    action.status = status
    if status == ActionStatus.OPEN:
        action.closed_at, action.closed_sprint = None, None
    else:
        action.closed_at, action.closed_sprint = now, retro
    _save(action, ["status", "closed_at", "closed_sprint"])
    ImprovementActionChange.objects.create(
        action=action,
        kind=ActionChangeKind.STATUS,
        from_status=before,
        to_status=status,
        sprint=retro,
        actor=_actor(actor),
        at=now,
        note=note.strip(),
    )
    if status == ActionStatus.DONE:
        _hook(action, EVENT_DONE)
    elif status == ActionStatus.DROPPED:
        _hook(action, EVENT_DROPPED)
    nexus_changed(action.nexus_id)
    return action


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def action_update(
    *,
    action: ImprovementAction,
    actor: Actor,
    title: str | Unset = UNSET,
    owner: User | Unset | None = UNSET,
    expected_version: int | None = None,
) -> ImprovementAction:
    """Change an action's `title` or `owner` (a member; a new owner is an `owner` row of its history).
    Same errors as `action_agree`, and `PreconditionFailed` (412)."""
    action = _lock_action(action)
    _check(retro_refusal(actor=actor, nexus=action.nexus), "part")
    _check_version(action, expected_version, "improvement action")
    fields: list[str] = []
    if not isinstance(title, Unset):
        value = _text(title, field="title", max_length=TITLE_MAX, what="improvement action")
        if value != action.title:
            action.title = value
            fields.append("title")
    if not isinstance(owner, Unset):
        new = _owner(action.nexus, owner)
        if new.pk != action.owner_id:
            before = action.owner.username if action.owner else ""
            action.owner = new
            fields.append("owner")
            ImprovementActionChange.objects.create(
                action=action,
                kind=ActionChangeKind.OWNER,
                from_status=action.status,
                to_status=action.status,
                actor=_actor(actor),
                at=timezone.now(),
                note=f"{before or 'nobody'} → {new.username}",
            )
    if fields:
        _save(action, fields)
        nexus_changed(action.nexus_id)
    return action
