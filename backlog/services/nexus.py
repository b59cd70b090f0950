"""Services for the Nexus, its Scrum Teams, memberships and Product Goals, and the creation of its
Definition of Workflow (later changes of the workflow: `backlog.services.workflow`)."""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from backlog.errors import Conflict, DomainError
from backlog.models import (
    ColumnCategory,
    GoalStatus,
    Membership,
    Nexus,
    ProductBacklog,
    ProductGoal,
    Role,
    ScrumTeam,
    TeamInvolvement,
    Transition,
    WipLimitKind,
    WorkflowColumn,
)
from backlog.services.common import (
    UNSET,
    Unset,
    items_changed_batched,
    nexus_changed,
    nexus_lock,
    notify_items_changed,
    structure_check,
)
from backlog.services.team_columns import team_columns_default
from nexus_site.db import retry_transient

TEAM_ROLES = {Role.DEVELOPER, Role.SCRUM_MASTER}


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a Definition of Workflow to create: name, category, optional WIP limit."""

    name: str
    category: str = ColumnCategory.IN_PROGRESS
    wip_limit: int | None = None
    is_start: bool = False
    is_finish: bool = False
    is_ready: bool = False


def _validate_columns(columns: Sequence[ColumnSpec]) -> None:
    if not columns:
        raise DomainError("A Definition of Workflow needs at least one column.", field="columns")
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise DomainError("Column names must be unique.", field="columns")
    starts = [i for i, c in enumerate(columns) if c.is_start]
    finishes = [i for i, c in enumerate(columns) if c.is_finish]
    if len(starts) != 1 or len(finishes) != 1:
        raise DomainError("Mark exactly one column as started and one as finished.", field="columns")
    if starts[0] > finishes[0]:
        raise DomainError("The started column must come before the finished column.", field="columns")


def _check_time_zone(time_zone: str) -> None:
    try:
        zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise DomainError(f"Unknown time zone {time_zone!r}.", field="time_zone") from exc


def _check_sprint_length(days: int) -> None:
    if not 1 <= days <= 31:
        raise DomainError("A Sprint lasts one month or less (1 to 31 days).", field="sprint_length_days")


def _check_wip_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise DomainError("A WIP limit is at least 1; leave it empty for none.", field="wip_limit")


def _check_wip_limit_kind(kind: str) -> None:
    if kind not in WipLimitKind.values:
        raise DomainError("The WIP limit kind is 'hard' or 'soft'.", field="wip_limit_kind")


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def nexus_create(
    *,
    name: str,
    slug: str | None = None,
    description: str = "",
    time_zone: str = "UTC",
    sprint_length_days: int = 14,
    columns: Sequence[ColumnSpec],
) -> Nexus:
    """Create a Nexus with its Product Backlog and Definition of Workflow (`columns`, left to right).

    Raises `DomainError` for an unknown time zone, a taken slug or an invalid workflow.
    """
    _check_time_zone(time_zone)
    _check_sprint_length(sprint_length_days)
    _validate_columns(columns)
    slug = slug or slugify(name)
    if Nexus.objects.filter(slug=slug).exists():
        raise DomainError(f"A Nexus with the slug {slug!r} exists already.", field="slug")
    nexus = Nexus.objects.create(
        name=name,
        slug=slug,
        description=description,
        time_zone=time_zone,
        sprint_length_days=sprint_length_days,
    )
    ProductBacklog.objects.create(nexus=nexus)
    WorkflowColumn.objects.bulk_create(
        WorkflowColumn(
            nexus=nexus,
            name=c.name,
            position=i,
            category=c.category,
            wip_limit=c.wip_limit,
            is_start=c.is_start,
            is_finish=c.is_finish,
            is_ready=c.is_ready,
        )
        for i, c in enumerate(columns)
    )
    nexus_changed(nexus.pk)
    return nexus


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def nexus_update(
    *,
    nexus: Nexus,
    name: str | Unset = UNSET,
    description: str | Unset = UNSET,
    time_zone: str | Unset = UNSET,
    sprint_length_days: int | Unset = UNSET,
    wip_limit: int | Unset | None = UNSET,
    wip_limit_kind: str | Unset = UNSET,
) -> Nexus:
    """Change a Nexus's `name`, `description`, `time_zone` (IANA name), `sprint_length_days` (calendar
    days, 1 to 31), `wip_limit` (items in progress across all teams, at least 1; None for none) or
    `wip_limit_kind` (`hard`: a move past the limit is refused; `soft`: warned; part of the Definition
    of Workflow, Kanban Guide for Scrum Teams). `UNSET` leaves a field as it is. The slug never
    changes: URLs, pages and sync clients name the Nexus by it.

    Runs under a lock on the Nexus row, the one the WIP checks of moves take, so a new Nexus WIP limit
    or kind applies to the next move. A change of time zone (flow metrics count calendar days in it) or of
    Sprint length (the horizon of the stored Monte Carlo forecasts) asks for a flow recompute
    (`notify_items_changed`). Returns the updated Nexus. Raises `DomainError` naming the field: an
    empty name, an unknown time zone, a Sprint length outside 1..31, a WIP limit below 1, a WIP limit
    kind other than hard or soft.
    """
    locked = Nexus.objects.select_for_update(no_key=True).get(pk=nexus.pk)
    changed: list[str] = []
    if not isinstance(name, Unset):
        name = name.strip()
        if not name:
            raise DomainError("A Nexus needs a name.", field="name")
        if len(name) > 200:
            raise DomainError("The name is longer than 200 characters.", field="name")
        locked.name = name
        changed.append("name")
    if not isinstance(description, Unset):
        locked.description = description.strip()
        changed.append("description")
    if not isinstance(time_zone, Unset):
        _check_time_zone(time_zone)
        if time_zone != locked.time_zone:
            locked.time_zone = time_zone
            changed.append("time_zone")
    if not isinstance(sprint_length_days, Unset):
        _check_sprint_length(sprint_length_days)
        if sprint_length_days != locked.sprint_length_days:
            locked.sprint_length_days = sprint_length_days
            changed.append("sprint_length_days")
    if not isinstance(wip_limit, Unset):
        _check_wip_limit(wip_limit)
        locked.wip_limit = wip_limit
        changed.append("wip_limit")
    if not isinstance(wip_limit_kind, Unset):
        _check_wip_limit_kind(wip_limit_kind)
        if wip_limit_kind != locked.wip_limit_kind:
            locked.wip_limit_kind = wip_limit_kind
            changed.append("wip_limit_kind")
    if changed:
        locked.save(update_fields=[*changed, "updated_at"])  # `auto_now` writes only if listed
    if {"time_zone", "sprint_length_days"} & set(changed):
        notify_items_changed(locked.pk)
    elif changed:
        nexus_changed(locked.pk)
    return locked


def team_slug(name: str) -> str:
    """The slug of a Scrum Team called `name` (stripped): Django's `slugify`, "team" when that is empty,
    at most 80 characters. Two names with the same slug cannot both be teams of one Nexus ("Parser" and
    "parser"); the importer treats such values as one Scrum Team."""
    return (slugify(name.strip()) or "team")[:80]


def _team_name(nexus_id: int, name: str, *, exclude: int | None = None) -> tuple[str, str]:
    """A Scrum Team's name (stripped) and slug (from the name), checked to be free in the Nexus."""
    name = name.strip()
    if not name:
        raise DomainError("A Scrum Team needs a name.", field="name")
    if len(name) > 100:
        raise DomainError("The name is longer than 100 characters.", field="name")
    slug = team_slug(name)
    taken = ScrumTeam.objects.filter(nexus_id=nexus_id).filter(Q(slug=slug) | Q(name=name))
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise DomainError(f"The Nexus has a Scrum Team called {name!r} already.", field="name")
    return name, slug


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def team_create(*, nexus: Nexus, name: str, wip_limit: int | None = None) -> ScrumTeam:
    """Add a Scrum Team to the Nexus, with its own Definition of Workflow: the four states of a team
    square as columns (`squares.DEFAULT_TEAM_COLUMNS`); its slug follows its name. Raises `DomainError`
    when the name is empty or taken."""
    name, slug = _team_name(nexus.pk, name)
    _check_wip_limit(wip_limit)
    team = ScrumTeam.objects.create(nexus=nexus, name=name, slug=slug, wip_limit=wip_limit)
    team_columns_default(team=team)
    nexus_changed(nexus.pk)
    return team


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def team_update(
    *,
    team: ScrumTeam,
    name: str | Unset = UNSET,
    wip_limit: int | Unset | None = UNSET,
    wip_limit_kind: str | Unset = UNSET,
) -> ScrumTeam:
    """Rename a Scrum Team (its slug follows the name, as in `team_create`) or change its WIP limit
    (PBIs it has in progress, at least 1; None for none) or its kind (`hard`: a move past it is
    refused; `soft`: warned). `UNSET` leaves a field as it is.

    Takes the Nexus row's lock first, as the WIP checks of moves do, so a new limit or kind applies to
    the next move. Returns the updated team. Raises `DomainError` naming the field: an empty name, a
    name (or slug) another team of the Nexus has, a WIP limit below 1, a kind other than hard or soft;
    `team` when the team was deleted meanwhile.
    """
    nexus_lock(team.nexus_id)
    locked = ScrumTeam.objects.select_for_update(no_key=True).filter(pk=team.pk).first()
    if locked is None:
        raise DomainError("That Scrum Team is not in this Nexus (any more).", field="team")
    fields: list[str] = []
    if not isinstance(name, Unset):
        locked.name, locked.slug = _team_name(locked.nexus_id, name, exclude=locked.pk)
        fields += ["name", "slug"]
    if not isinstance(wip_limit, Unset):
        _check_wip_limit(wip_limit)
        locked.wip_limit = wip_limit
        fields.append("wip_limit")
    if not isinstance(wip_limit_kind, Unset):
        _check_wip_limit_kind(wip_limit_kind)
        if wip_limit_kind != locked.wip_limit_kind:
            locked.wip_limit_kind = wip_limit_kind
            fields.append("wip_limit_kind")
    if fields:
        try:
            with transaction.atomic():
                locked.save(update_fields=[*fields, "updated_at"])
        except IntegrityError as exc:  # a concurrent create or rename to the same name
            raise DomainError(
                f"The Nexus has a Scrum Team called {locked.name!r} already.", field="name"
            ) from exc
        nexus_changed(locked.nexus_id)
    return locked


def team_delete_refusal(*, team: ScrumTeam) -> str | None:
    """Why `team` cannot be deleted (a message for a person), or None if it can: it is forecast on a
    PBI, live or deleted (`TeamInvolvement`), or the transition log names it (a team status change, or
    the team forecast on or taken off a PBI: history that the team-level flow figures read).
    The admin uses it to offer deletion only when `team_delete` would succeed. Two queries."""
    items = TeamInvolvement.objects.filter(team=team).count()
    if not items and not Transition.objects.filter(team=team).exists():
        return None
    worked = f"is forecast on {items} PBI(s)" if items else "appears in the transition log"
    return (
        f"{team.name} {worked}: deleting it would lose who did that work, or was forecast to. Keep the "
        "team (rename it, or remove its members)."
    )


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
@items_changed_batched()  # the cascade's tombstones count the change (`on_deleted`): once, at the end
def team_delete(*, team: ScrumTeam) -> None:
    """Delete a Scrum Team that has never worked on a PBI; its memberships (and its flow settings) go
    with it, each leaving a tombstone for sync (`backlog.services.tombstones`).

    Raises `Conflict` (409, field `id`) when `team_delete_refusal` gives a reason: the history of the
    Product Backlog and the flow figures must never lose who did the work. Deleting a team that is
    gone already changes nothing.
    """
    nexus_lock(team.nexus_id)  # writes that would make something refer to the team wait, or see it gone
    locked = ScrumTeam.objects.select_for_update().filter(pk=team.pk).first()
    if locked is None:  # deleted meanwhile: nothing to do, and no second tombstone
        return
    refusal = team_delete_refusal(team=locked)
    if refusal:
        raise Conflict(refusal, field="id")
    locked.delete()


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def membership_add(*, nexus: Nexus, user: User, role: str, team: ScrumTeam | None = None) -> Membership:
    """Give `user` a role in the Nexus (idempotent: an identical membership is returned as it is).

    Developers and Scrum Masters belong to a team of this Nexus; other roles to none. Raises
    `DomainError` when the team does not fit the role, `Conflict` (HTTP 409) when the Nexus has another
    Product Owner already.
    """
    if role not in Role.values:
        raise DomainError(f"Unknown role {role!r}.", field="role")
    if role in TEAM_ROLES and team is None:
        raise DomainError("A Developer or Scrum Master belongs to a Scrum Team.", field="team")
    if role not in TEAM_ROLES:
        team = None
    if team is not None:  # of this Nexus, and not deleted meanwhile (checked under the Nexus lock)
        team = structure_check(nexus_id=nexus.pk, teams=[team], teams_field="team")[1][team.pk]
    existing = Membership.objects.filter(nexus=nexus, user=user, role=role, team=team).first()
    if existing:
        return existing
    if role == Role.PRODUCT_OWNER and Membership.objects.filter(nexus=nexus, role=role).exists():
        raise Conflict("A Nexus has exactly one Product Owner, and this one has one already.", field="role")
    try:
        with transaction.atomic():
            membership = Membership.objects.create(nexus=nexus, user=user, role=role, team=team)
    except IntegrityError as exc:  # a concurrent add of the same membership or Product Owner
        raise Conflict("That membership exists already.", field="role") from exc
    nexus_changed(nexus.pk)
    return membership


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    """Take a role away: delete the membership (it leaves a tombstone for sync). To change a
    membership's role or team, remove it and add the new one (`membership_add`). Removing the
    Product Owner leaves the Nexus without one until another is added (its home page warns). Removing
    a membership that is gone already changes nothing."""
    locked = Membership.objects.select_for_update().filter(pk=membership.pk).first()
    if locked is not None:  # else removed meanwhile: nothing to do, and no second tombstone
        locked.delete()


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def goal_create(*, nexus: Nexus, text: str) -> ProductGoal:
    """Set the Product Goal. Raises `DomainError` for an empty text, `Conflict` (HTTP 409) if one is still
    active: close it first (`goal_close`)."""
    text = text.strip()
    if not text:
        raise DomainError("A Product Goal needs a text.", field="text")
    backlog = ProductBacklog.objects.select_for_update(no_key=True).get(nexus=nexus)
    if backlog.goals.filter(status=GoalStatus.ACTIVE).exists():
        raise Conflict(
            "The Product Backlog has an active Product Goal: mark it achieved or abandoned first.",
            field="text",
        )
    goal = ProductGoal.objects.create(backlog=backlog, text=text)
    nexus_changed(nexus.pk)
    return goal


def _goal_lock(goal: ProductGoal) -> None:
    """Lock the goal's row until the transaction ends and refresh `goal` from it, so its status is
    checked as it is now: of two concurrent closes (or a close and an edit) the second waits for the
    first, then sees the goal closed."""
    goal.refresh_from_db(from_queryset=ProductGoal.objects.select_for_update(no_key=True))


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def goal_update(*, goal: ProductGoal, text: str) -> ProductGoal:
    """Change the active Product Goal's text (`goal` is refreshed under a lock on its row, updated and
    returned). Raises `DomainError` for an empty text, `Conflict` (HTTP 409) for a closed goal (closed
    meanwhile included)."""
    text = text.strip()
    if not text:
        raise DomainError("A Product Goal needs a text.", field="text")
    _goal_lock(goal)
    if goal.status != GoalStatus.ACTIVE:
        raise Conflict("Only the active Product Goal can be edited.", field="text")
    goal.text = text
    goal.save(update_fields=["text", "updated_at"])  # `auto_now` writes only if listed
    nexus_changed(goal.backlog.nexus_id)
    return goal


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def goal_close(*, goal: ProductGoal, status: str) -> ProductGoal:
    """Mark the active Product Goal achieved or abandoned (kept in the history). The status is checked
    under a lock on the goal's row (`goal` is refreshed from it, updated and returned): of two
    concurrent closes, one succeeds and the other gets a `Conflict` (HTTP 409) naming `status`."""
    if status not in (GoalStatus.ACHIEVED, GoalStatus.ABANDONED):
        raise DomainError("A Product Goal is closed as achieved or abandoned.", field="status")
    _goal_lock(goal)
    if goal.status != GoalStatus.ACTIVE:
        raise Conflict("That Product Goal is closed already.", field="status")
    goal.status = status
    goal.closed_at = timezone.now()
    goal.save(update_fields=["status", "closed_at", "updated_at"])
    nexus_changed(goal.backlog.nexus_id)
    return goal
