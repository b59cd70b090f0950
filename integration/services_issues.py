"""Every write to a Nexus's integration issues: raise, change, escalate (Scrum Team → Nexus → Executive
Action Team, Scrum@Scale), record a decision of the Executive Action Team, resolve or close as won't fix,
delete; and the Nexus's WIP limit on open integration issues. Keyword-only, typed, transactional; each
raises a `backlog.errors.DomainError` subclass naming the field at fault (400), `NotAllowed` (403),
`Conflict` (409: the issue's state forbids it), `PreconditionFailed` (412: `If-Match`),
`WipLimitReached` (409: a hard limit is full).

Every write takes the Nexus row lock (`backlog.services.common.nexus_lock`) first, so that the WIP check
and the count of open issues cannot race; then the issue's row; it appends one typed
`IntegrationIssueEntry`, advances the Nexus's change counter last (`nexus_changed`) and records the
webhook events `integration_issue.raised`, `.escalated` and `.resolved` (`backlog.services.webhooks`).

Who may do what (the permission rules registered in `IntegrationConfig.ready`, the same functions the
pages use):

| rule                 | who                                                                          |
|----------------------|------------------------------------------------------------------------------|
| `issues_raise`       | members but Stakeholders (Developers, Scrum Masters, the Product Owner, the   |
|                      | Nexus Integration Team, Executive Action Team members): raise, change, resolve |
|                      | an issue at level 1 or 2                                                      |
| `issues_escalate`    | the Product Owner, Scrum Masters, the Nexus Integration Team: escalate, delete |
| `issues_eat`         | Executive Action Team members: decide and resolve at level 3                  |

Superusers may do everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.utils import timezone

from backlog.errors import Conflict, DomainError, NotAllowed, PreconditionFailed, WipLimitReached
from backlog.models import Nexus, ProductBacklogItem, Role, ScrumTeam, WipLimitKind
from backlog.selectors import roles_of
from backlog.services.common import UNSET, Unset, nexus_changed, nexus_lock
from backlog.services.webhooks import webhook_event_record
from integration.models_issues import (
    TOP_LEVEL,
    IntegrationIssue,
    IntegrationIssueEntry,
    IntegrationIssueWipLimit,
    IssueEntryKind,
    IssueEvent,
    IssueLevel,
    IssueStatus,
)
from integration.selectors_issues import issue_wip
from nexus_site.db import retry_transient

Actor = User | AnonymousUser | None

RAISE_RULE = "issues_raise"
ESCALATE_RULE = "issues_escalate"
EAT_RULE = "issues_eat"

RAISE_ROLES = frozenset(
    {Role.PRODUCT_OWNER, Role.SCRUM_MASTER, Role.DEVELOPER, Role.NIT_MEMBER, Role.EAT_MEMBER}
)
ESCALATE_ROLES = frozenset({Role.PRODUCT_OWNER, Role.SCRUM_MASTER, Role.NIT_MEMBER})
EAT_ROLES = frozenset({Role.EAT_MEMBER})

EVENT_RAISED = "integration_issue.raised"
EVENT_ESCALATED = "integration_issue.escalated"
EVENT_RESOLVED = "integration_issue.resolved"

CLOSED_STATUSES = (IssueStatus.RESOLVED, IssueStatus.WONT_FIX)


def _has(user: User | AnonymousUser | None, nexus: Nexus, roles: frozenset[str]) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if getattr(user, "is_superuser", False):
        return True
    return bool(roles_of(user=user, nexus=nexus) & roles)


def can_raise_issues(*, user: User | AnonymousUser | None, nexus: Nexus) -> bool:
    """Members but Stakeholders (and superusers) raise, change and resolve integration issues below the
    Executive Action Team."""
    return _has(user, nexus, RAISE_ROLES)


def can_escalate_issues(*, user: User | AnonymousUser | None, nexus: Nexus) -> bool:
    """The Product Owner, Scrum Masters and the Nexus Integration Team (and superusers) escalate and
    delete integration issues (Scrum@Scale: the Scrum Master escalates what the team cannot remove; the
    Scrum of Scrums what the Nexus cannot)."""
    return _has(user, nexus, ESCALATE_ROLES)


def can_decide_issues(*, user: User | AnonymousUser | None, nexus: Nexus) -> bool:
    """Executive Action Team members of the Nexus (and superusers) record decisions on, and resolve,
    the issues escalated to level 3."""
    return _has(user, nexus, EAT_ROLES)


# --- helpers -------------------------------------------------------------------------------------------


def _actor(actor: Actor) -> User | None:
    return actor if isinstance(actor, User) else None


def _lock(issue: IntegrationIssue) -> IntegrationIssue:
    nexus_lock(issue.nexus_id)
    try:
        issue.refresh_from_db(from_queryset=IntegrationIssue.objects.select_for_update(no_key=True))
    except IntegrationIssue.DoesNotExist as exc:
        raise Conflict("That integration issue was deleted meanwhile.", field="issue") from exc
    return issue


def _check_version(issue: IntegrationIssue, expected_version: int | None) -> None:
    if expected_version is not None and issue.version != expected_version:
        raise PreconditionFailed(
            f"The integration issue is at version {issue.version}, not {expected_version}: someone changed "
            "it after you read it. Nothing was changed; read it again and re-apply your change.",
            current_version=issue.version,
            field="If-Match",
        )


def _check_open(issue: IntegrationIssue, what: str) -> None:
    if issue.status != IssueStatus.OPEN:
        raise Conflict(
            f"“{issue.title}” is {issue.get_status_display().lower()}: {what}. A closed issue is history; "
            "raise a new one.",
            field="status",
        )


def _log(
    issue: IntegrationIssue, kind: str, actor: Actor, at: datetime, note: str = "", **data: Any
) -> IntegrationIssueEntry:
    return IntegrationIssueEntry.objects.create(
        issue=issue, kind=kind, actor=_actor(actor), at=at, level=issue.level, note=note, data=data
    )


def _save(issue: IntegrationIssue, fields: list[str]) -> None:
    issue.version += 1
    issue.save(update_fields=[*fields, "version", "updated_at"])


def issue_payload(issue: IntegrationIssue) -> dict[str, Any]:
    """The issue in a webhook body: `{"integration_issue": {"id", "title", "level", "status", "owner"
    (username or null), "resolution", "decision"}}`."""
    return {
        "integration_issue": {
            "id": issue.pk,
            "title": issue.title,
            "level": issue.level,
            "status": issue.status,
            "owner": issue.owner.username if issue.owner_id and issue.owner else None,
            "resolution": issue.resolution,
            "decision": issue.decision,
        }
    }


def _hook(issue: IntegrationIssue, event: str, **extra: Any) -> None:
    webhook_event_record(nexus_id=issue.nexus_id, event=event, payload={**issue_payload(issue), **extra})


def _text(value: str | None, *, field: str, required: bool = False, max_length: int | None = None) -> str:
    text = (value or "").strip()
    if required and not text:
        raise DomainError(f"Give the integration issue a {field}.", field=field)
    if max_length is not None and len(text) > max_length:
        raise DomainError(f"The {field} is {len(text)} characters; at most {max_length}.", field=field)
    return text


def _teams(nexus: Nexus, teams: Iterable[ScrumTeam | int], field: str = "teams") -> list[ScrumTeam]:
    ids = {t.pk if isinstance(t, ScrumTeam) else int(t) for t in teams}
    found = list(ScrumTeam.objects.filter(nexus=nexus, pk__in=ids))
    missing = ids - {t.pk for t in found}
    if missing:
        raise DomainError(f"No Scrum Team {sorted(missing)[0]} in this Nexus.", field=field)
    return found


def _items(nexus: Nexus, items: Iterable[ProductBacklogItem | int]) -> list[ProductBacklogItem]:
    ids = {i.pk if isinstance(i, ProductBacklogItem) else int(i) for i in items}
    found = list(ProductBacklogItem.objects.alive().filter(backlog__nexus=nexus, pk__in=ids))
    missing = ids - {i.pk for i in found}
    if missing:
        raise DomainError(f"No Product Backlog Item {sorted(missing)[0]} in this Nexus.", field="items")
    return found


def _member(nexus: Nexus, user: User | None, field: str) -> User | None:
    if user is None:
        return None
    if not user.is_superuser and not roles_of(user=user, nexus=nexus):
        raise DomainError(f"{user.username} is not a member of this Nexus.", field=field)
    return user


# --- WIP limit -----------------------------------------------------------------------------------------


def _wip_warnings(nexus_id: int) -> list[str]:
    """Under the Nexus lock: raises `WipLimitReached` (field `limit`) when a hard limit is full, returns
    a warning when a soft one is."""
    count, limit = issue_wip(nexus_id)
    if limit is None or count < limit.limit:
        return []
    msg = f"The Nexus is at its WIP limit on open integration issues ({count} of {limit.limit})."
    if limit.kind == WipLimitKind.HARD:
        raise WipLimitReached(msg + " Resolve one first.", field="limit")
    return [msg]


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def issue_wip_limit_set(
    *, nexus: Nexus, actor: Actor, limit: int | None, kind: str = WipLimitKind.SOFT
) -> None:
    """Set (or with `limit=None` remove) the Nexus's WIP limit on open integration issues; `kind` is
    `hard` (raising one more is refused) or `soft` (a warning). Only the Product Owner, Scrum Masters,
    the Nexus Integration Team and superusers (`NotAllowed`); `DomainError` (`limit`, `kind`) for a
    negative limit or an unknown kind."""
    if actor is not None and not can_escalate_issues(user=actor, nexus=nexus):
        raise NotAllowed(
            "Only the Product Owner, Scrum Masters and the Nexus Integration Team set this limit.",
            field="limit",
        )
    if kind not in WipLimitKind.values:
        raise DomainError(f"A WIP limit is hard or soft, not {kind!r}.", field="kind")
    if limit is not None and limit < 1:
        raise DomainError("A WIP limit is at least 1 (or none).", field="limit")
    nexus_lock(nexus.pk)
    if limit is None:
        IntegrationIssueWipLimit.objects.filter(nexus=nexus).delete()
    else:
        IntegrationIssueWipLimit.objects.update_or_create(
            nexus=nexus, defaults={"limit": limit, "kind": kind}
        )
    nexus_changed(nexus.pk)


# --- writes --------------------------------------------------------------------------------------------


@dataclass
class Raised:
    """What `issue_raise` returns: the new issue and the soft WIP limit warnings (may be empty)."""

    issue: IntegrationIssue
    warnings: list[str]


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def issue_raise(
    *,
    nexus: Nexus,
    actor: Actor,
    title: str,
    description: str = "",
    event: str = IssueEvent.OTHER,
    team: ScrumTeam | int | None = None,
    teams: Iterable[ScrumTeam | int] = (),
    items: Iterable[ProductBacklogItem | int] = (),
    owner: User | None = None,
    level: int = IssueLevel.TEAM,
    at: datetime | None = None,
) -> Raised:
    """Raise an integration issue in the Nexus, by `actor` (with `team`, their Scrum Team, optional),
    at the Nexus event `event` (`IssueEvent`), at `level` 1 (the Scrum Team, the default) or 2 (the
    Nexus); `teams` and `items` are the Scrum Teams and PBIs it concerns; `owner` who works on it.
    `at` backdates it (demo data; default now, UTC). Logs `raised`, fires `integration_issue.raised`.

    Raises `DomainError` naming `title` (empty, over 200 characters), `event`, `level` (not 1 or 2),
    `team`/`teams`/`items` (not of this Nexus), `owner` (not a member); `WipLimitReached` (`limit`,
    409) when the Nexus's hard WIP limit on open issues is full. A soft limit answers warnings."""
    title = _text(title, field="title", required=True, max_length=200)
    if event not in IssueEvent.values:
        raise DomainError(f"Raised at which event? One of {', '.join(IssueEvent.values)}.", field="event")
    if level not in (IssueLevel.TEAM, IssueLevel.NEXUS):
        raise DomainError(
            "An issue is raised at level 1 (the Scrum Team) or 2 (the Nexus); the Executive Action Team gets "
            "it by escalation.",
            field="level",
        )
    nexus_lock(nexus.pk)
    team_obj = _teams(nexus, [team], "team")[0] if team is not None else None
    team_list = _teams(nexus, teams)
    item_list = _items(nexus, items)
    owner = _member(nexus, owner, "owner")
    warnings = _wip_warnings(nexus.pk)
    now = at or timezone.now()
    issue = IntegrationIssue.objects.create(
        nexus=nexus,
        title=title,
        description=_text(description, field="description"),
        raised_by=_actor(actor),
        raised_by_team=team_obj,
        event=event,
        owner=owner,
        level=level,
        raised_at=now,
        level_2_at=now if level == IssueLevel.NEXUS else None,
    )
    if team_list:
        issue.teams.set(team_list)
    if item_list:
        issue.items.set(item_list)
    _log(issue, IssueEntryKind.RAISED, actor, now)
    nexus_changed(nexus.pk)
    _hook(issue, EVENT_RAISED)
    return Raised(issue=issue, warnings=warnings)


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def issue_update(
    *,
    issue: IntegrationIssue,
    actor: Actor,
    expected_version: int | None = None,
    title: str | Unset = UNSET,
    description: str | Unset = UNSET,
    event: str | Unset = UNSET,
    owner: User | Unset | None = UNSET,
    teams: Iterable[ScrumTeam | int] | Unset = UNSET,
    items: Iterable[ProductBacklogItem | int] | Unset = UNSET,
) -> IntegrationIssue:
    """Change an open issue's title, description, event, owner, teams or PBIs (`teams`/`items` replace
    them). Logs `changed` with the fields that changed (`{"fields": [...]}`); nothing changed, nothing
    logged. Raises `PreconditionFailed` (412), `Conflict` (`status`: closed) and the `DomainError`s of
    `issue_raise`."""
    _lock(issue)
    _check_version(issue, expected_version)
    _check_open(issue, "it is not changed any more")
    nexus = issue.nexus
    changed: list[str] = []
    if not isinstance(title, Unset):
        new = _text(title, field="title", required=True, max_length=200)
        if new != issue.title:
            issue.title = new
            changed.append("title")
    if not isinstance(description, Unset):
        new = _text(description, field="description")
        if new != issue.description:
            issue.description = new
            changed.append("description")
    if not isinstance(event, Unset) and event != issue.event:
        if event not in IssueEvent.values:
            raise DomainError(f"Raised at which event? One of {', '.join(IssueEvent.values)}.", field="event")
        issue.event = event
        changed.append("event")
    if not isinstance(owner, Unset) and (owner.pk if owner else None) != issue.owner_id:
        issue.owner = _member(nexus, owner, "owner")
        changed.append("owner")
    relations: list[str] = []
    if not isinstance(teams, Unset):
        team_list = _teams(nexus, teams)
        if {t.pk for t in team_list} != set(issue.teams.values_list("pk", flat=True)):
            issue.teams.set(team_list)
            relations.append("teams")
    if not isinstance(items, Unset):
        item_list = _items(nexus, items)
        if {i.pk for i in item_list} != set(issue.items.values_list("pk", flat=True)):
            issue.items.set(item_list)
            relations.append("items")
    if not changed and not relations:
        return issue
    _save(issue, changed)
    _log(issue, IssueEntryKind.CHANGED, actor, timezone.now(), fields=[*changed, *relations])
    nexus_changed(issue.nexus_id)
    return issue


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def issue_escalate(
    *,
    issue: IntegrationIssue,
    actor: Actor,
    note: str = "",
    expected_version: int | None = None,
    at: datetime | None = None,
) -> IntegrationIssue:
    """Escalate an open issue one level up (1 → 2 → 3), recording when (`at`, default now) and who, with
    an optional `note` (why). Fires `integration_issue.escalated` (`{"from_level": n}` added).

    Raises `Conflict` naming `status` (resolved or won't fix) or `level` (already at 3, the Executive
    Action Team: there is no level above it), `PreconditionFailed` (412)."""
    _lock(issue)
    _check_version(issue, expected_version)
    _check_open(issue, "it is not escalated")
    if issue.level >= TOP_LEVEL:
        raise Conflict(
            f"“{issue.title}” is with the Executive Action Team already (level 3): there is no level "
            "above it.",
            field="level",
        )
    now = at or timezone.now()
    before = issue.level
    issue.level = before + 1
    if issue.level == IssueLevel.NEXUS:
        issue.level_2_at = now
    else:
        issue.level_3_at = now
    _save(issue, ["level", "level_2_at", "level_3_at"])
    _log(
        issue,
        IssueEntryKind.ESCALATED,
        actor,
        now,
        _text(note, field="note"),
        **{"from": before, "to": issue.level},
    )
    nexus_changed(issue.nexus_id)
    _hook(issue, EVENT_ESCALATED, from_level=before)
    return issue


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def issue_decide(
    *, issue: IntegrationIssue, actor: Actor, decision: str, expected_version: int | None = None
) -> IntegrationIssue:
    """Record a decision of the Executive Action Team on an open level-3 issue (the issue keeps its
    latest decision in `decision`; each one is a `decision` entry of its history).

    Raises `DomainError` (`decision` empty), `Conflict` (`status` closed; `level` below 3: the Executive
    Action Team decides what was escalated to it), `NotAllowed` (not an Executive Action Team member of
    the Nexus), `PreconditionFailed` (412)."""
    text = _text(decision, field="decision", required=True, max_length=5000)
    _lock(issue)
    if actor is not None and not can_decide_issues(user=actor, nexus=issue.nexus):
        raise NotAllowed("Only the Executive Action Team records decisions.", field="decision")
    _check_version(issue, expected_version)
    _check_open(issue, "no decision is recorded any more")
    if issue.level != TOP_LEVEL:
        raise Conflict(
            f"“{issue.title}” is at level {issue.level}: the Executive Action Team decides the issues "
            "escalated to it (level 3).",
            field="level",
        )
    issue.decision = text
    _save(issue, ["decision"])
    _log(issue, IssueEntryKind.DECISION, actor, timezone.now(), text)
    nexus_changed(issue.nexus_id)
    return issue


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def issue_resolve(
    *,
    issue: IntegrationIssue,
    actor: Actor,
    resolution: str,
    status: str = IssueStatus.RESOLVED,
    expected_version: int | None = None,
) -> IntegrationIssue:
    """Close an open issue as `resolved` (the default) or `wont_fix`, with a resolution note (required:
    how it was removed, or why not). At level 3 only the Executive Action Team (and superusers) closes it.
    Fires `integration_issue.resolved` (with its `status`).

    Raises `DomainError` (`resolution` empty; `status` not resolved/wont_fix), `Conflict` (`status`: closed
    already), `NotAllowed` (level 3 and not an Executive Action Team member), `PreconditionFailed`."""
    if status not in CLOSED_STATUSES:
        raise DomainError("An issue is closed as resolved or wont_fix.", field="status")
    text = _text(resolution, field="resolution", required=True, max_length=5000)
    _lock(issue)
    _check_version(issue, expected_version)
    _check_open(issue, "it was closed already")
    if (
        issue.level == TOP_LEVEL
        and actor is not None
        and not can_decide_issues(user=actor, nexus=issue.nexus)
    ):
        raise NotAllowed(
            "The issue is with the Executive Action Team (level 3): only its members close it.",
            field="status",
        )
    now = timezone.now()
    issue.status, issue.resolution, issue.closed_at = status, text, now
    _save(issue, ["status", "resolution", "closed_at"])
    kind = IssueEntryKind.RESOLVED if status == IssueStatus.RESOLVED else IssueEntryKind.WONT_FIX
    _log(issue, kind, actor, now, text)
    nexus_changed(issue.nexus_id)
    _hook(issue, EVENT_RESOLVED)
    return issue


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def issue_delete(*, issue: IntegrationIssue, actor: Actor, expected_version: int | None = None) -> None:
    """Delete an issue raised by mistake (with its history); leaves a tombstone
    (`integration_issue`) for sync clients. Raises `PreconditionFailed` (412)."""
    _lock(issue)
    _check_version(issue, expected_version)
    nexus_id = issue.nexus_id
    issue.delete()
    nexus_changed(nexus_id)
