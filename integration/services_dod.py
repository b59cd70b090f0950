"""Every write to a Nexus's Definition of Done (Nexus Guide: the Nexus Integration Team is accountable for
the Definition of Done of the Integrated Increment; each Scrum Team may apply a stricter one).

Rules, checked under the Nexus's row lock (`backlog.services.common.nexus_lock`):

- the Nexus's own criteria (`team` null) are added, changed, reordered and removed only by members of
  the Nexus Integration Team (and administrators; `actor=None` is the system: the demo, imports);
- a Scrum Team's Developers and Scrum Masters (and the Nexus Integration Team) add, change and remove
  their team's stricter criteria; a team can never remove or weaken the Nexus's: any write of a Nexus
  criterion by someone else is refused (`NotAllowed`, 403, naming the reason);
- each write makes a new `DoneVersion` (the whole Definition of Done, who, when), numbered from 1.

Each write advances the change counter (`nexus_changed`), last.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from backlog.errors import DomainError, NotAllowed
from backlog.models import Membership, Nexus, Role, ScrumTeam
from backlog.services.common import nexus_changed, nexus_lock, version_check
from integration.models import DoneCriterion, DoneVersion
from nexus_site.db import retry_transient

Actor = User | AnonymousUser | None

#: The permission rule "edits the Nexus's Definition of Done" (registered in `IntegrationConfig.ready`).
DOD_EDIT_RULE = "dod_edit"
#: Longest criterion text (characters).
MAX_TEXT = 500


def dod_refusal(*, actor: Actor, nexus: Nexus, team: ScrumTeam | None) -> str | None:
    """Why `actor` may not write the criteria of `team` (None: the Nexus's own) in `nexus`, or None if
    they may. The Nexus's criteria: Nexus Integration Team members and administrators. A team's:
    that team's Developers and Scrum Masters, and the Nexus Integration Team. `actor=None` (the system)
    may. One query (none for the system or an administrator)."""
    if actor is None:
        return None
    if not isinstance(actor, User) or not actor.is_authenticated:
        return "Sign in to change the Definition of Done."
    if actor.is_superuser:
        return None
    roles = list(Membership.objects.filter(nexus=nexus, user=actor).values_list("role", "team_id"))
    if any(role == Role.NIT_MEMBER for role, _ in roles):
        return None
    if team is None:
        if roles:
            return (
                "The Nexus Integration Team owns the Nexus's Definition of Done: a Scrum Team may add "
                "stricter criteria of its own, never remove or weaken the Nexus's."
            )
        return "You are not a member of this Nexus."
    if any(t == team.pk for role, t in roles if role in (Role.DEVELOPER, Role.SCRUM_MASTER)):
        return None
    if roles:
        return (
            f"Only {team.name}'s Developers and Scrum Master (and the Nexus Integration Team) change its "
            "criteria."
        )
    return "You are not a member of this Nexus."


def can_edit_nexus_dod(*, user: Actor, nexus: Nexus) -> bool:
    """Whether `user` may edit the Nexus's own criteria (`dod_refusal` with no team)."""
    return dod_refusal(actor=user if user is not None else AnonymousUser(), nexus=nexus, team=None) is None


def _check(actor: Actor, nexus: Nexus, team: ScrumTeam | None) -> None:
    refusal = dod_refusal(actor=actor, nexus=nexus, team=team)
    if refusal:
        raise NotAllowed(refusal, field="team")


def _clean_text(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise DomainError("A criterion needs a text.", field="text")
    if len(text) > MAX_TEXT:
        raise DomainError(f"A criterion is at most {MAX_TEXT} characters.", field="text")
    return text


def dod_criteria(*, nexus_id: int) -> list[dict[str, Any]]:
    """The Nexus's whole Definition of Done now, as a version stores it: `[{"id", "text", "team",
    "team_name"}]`, the Nexus's criteria first (by position), then each team's (by team name, position).
    One query."""
    rows = (
        DoneCriterion.objects.filter(nexus_id=nexus_id)
        .select_related("team")
        .order_by("team__name", "position", "id")
    )
    out = [
        {"id": c.pk, "text": c.text, "team": c.team_id, "team_name": c.team.name if c.team else ""}
        for c in rows
    ]
    return [c for c in out if c["team"] is None] + [c for c in out if c["team"] is not None]


def _version_new(*, nexus_id: int, actor: Actor, note: str) -> DoneVersion:
    last = DoneVersion.objects.filter(nexus_id=nexus_id).aggregate(m=Max("number"))["m"] or 0
    return DoneVersion.objects.create(
        nexus_id=nexus_id,
        number=last + 1,
        criteria=dod_criteria(nexus_id=nexus_id),
        note=note[:200],
        created_by=actor if isinstance(actor, User) else None,
        created_at=timezone.now(),
    )


def dod_current_version(*, nexus_id: int) -> DoneVersion:
    """The Definition of Done version in force (the newest); version 1 (empty) is made for a Nexus
    that never had one. Call inside a transaction holding the Nexus lock when writing."""
    current = DoneVersion.objects.filter(nexus_id=nexus_id).order_by("-number").first()
    if current is None:
        current = _version_new(nexus_id=nexus_id, actor=None, note="Empty Definition of Done")
    return current


def _lock_team(nexus: Nexus, team: ScrumTeam | int | None) -> ScrumTeam | None:
    if team is None:
        return None
    team_id = team if isinstance(team, int) else team.pk
    found = ScrumTeam.objects.filter(pk=team_id, nexus=nexus).first()
    if found is None:
        raise DomainError("That Scrum Team is not in this Nexus.", field="team")
    return found


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def criterion_add(
    *, nexus: Nexus, text: str, actor: Actor, team: ScrumTeam | int | None = None, position: int | None = None
) -> DoneCriterion:
    """Add a criterion: the Nexus's own (`team` None, Nexus Integration Team only) or a team's stricter
    one, at `position` among the same owner's (default: last). Makes a new Definition of Done version.
    Raises `NotAllowed` (403, `team`), `DomainError` (`text` empty or too long, `team` of another Nexus,
    `position` negative)."""
    clean = _clean_text(text)
    owner = _lock_team(nexus, team)
    _check(actor, nexus, owner)
    nexus_lock(nexus.pk)
    siblings = list(
        DoneCriterion.objects.filter(nexus=nexus, team=owner).order_by("position", "id").select_for_update()
    )
    if position is not None and position < 0:
        raise DomainError("A position is 0 or more.", field="position")
    at = len(siblings) if position is None else min(position, len(siblings))
    criterion = DoneCriterion(nexus=nexus, team=owner, text=clean, position=at)
    for i, sibling in enumerate(siblings[at:], start=at + 1):
        DoneCriterion.objects.filter(pk=sibling.pk).update(position=i)
    criterion.save()
    who = owner.name if owner else "the Nexus"
    _version_new(nexus_id=nexus.pk, actor=actor, note=f"Added to {who}: {clean}")
    nexus_changed(nexus.pk)
    return criterion


def _lock_criterion(criterion: DoneCriterion) -> DoneCriterion:
    locked = (
        DoneCriterion.objects.select_for_update(of=("self",))
        .select_related("team")
        .filter(pk=criterion.pk)
        .first()
    )
    if locked is None:
        raise DomainError("That criterion was removed meanwhile.", field="criterion")
    return locked


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def criterion_update(
    *,
    criterion: DoneCriterion,
    actor: Actor,
    text: str | None = None,
    position: int | None = None,
    expected_version: int | None = None,
) -> DoneCriterion:
    """Change a criterion's text and/or position among its owner's (None: unchanged). A Scrum Team can
    never change the Nexus's criteria (`NotAllowed`, 403). Makes a new Definition of Done version when
    something changed. Raises `PreconditionFailed` (412) for a stale `expected_version`, `DomainError`
    for a bad `text` or `position`."""
    nexus = Nexus.objects.get(pk=criterion.nexus_id)
    _check(actor, nexus, criterion.team)
    clean = None if text is None else _clean_text(text)
    nexus_lock(nexus.pk)
    locked = _lock_criterion(criterion)
    version_check(locked, expected_version)
    changed = []
    if clean is not None and clean != locked.text:
        locked.text = clean
        changed.append("text")
    if position is not None:
        if position < 0:
            raise DomainError("A position is 0 or more.", field="position")
        order = [
            c
            for c in DoneCriterion.objects.filter(nexus=nexus, team_id=locked.team_id)
            .order_by("position", "id")
            .select_for_update()
            if c.pk != locked.pk
        ]
        order.insert(min(position, len(order)), locked)
        for i, c in enumerate(order):
            if c.pk != locked.pk and c.position != i:
                DoneCriterion.objects.filter(pk=c.pk).update(position=i)
        if locked.position != order.index(locked):
            locked.position = order.index(locked)
            changed.append("position")
    if not changed:
        return locked
    locked.version += 1
    locked.save(update_fields=[*changed, "version", "updated_at"])
    _version_new(nexus_id=nexus.pk, actor=actor, note=f"Changed: {locked.text}")
    nexus_changed(nexus.pk)
    criterion.__dict__.update(locked.__dict__)
    return locked


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def criterion_remove(*, criterion: DoneCriterion, actor: Actor, expected_version: int | None = None) -> None:
    """Remove a criterion (a tombstone is left for sync). A Scrum Team can never remove the Nexus's
    (`NotAllowed`, 403, naming the reason). Makes a new Definition of Done version; increments
    created before keep the version they carry. Raises `PreconditionFailed` (412) for a stale
    `expected_version`."""
    nexus = Nexus.objects.get(pk=criterion.nexus_id)
    _check(actor, nexus, criterion.team)
    nexus_lock(nexus.pk)
    locked = _lock_criterion(criterion)
    version_check(locked, expected_version, undone="Nothing was removed")
    text = locked.text
    locked.delete()
    for i, c in enumerate(
        DoneCriterion.objects.filter(nexus=nexus, team_id=criterion.team_id).order_by("position", "id")
    ):
        if c.position != i:
            DoneCriterion.objects.filter(pk=c.pk).update(position=i)
    _version_new(nexus_id=nexus.pk, actor=actor, note=f"Removed: {text}")
    nexus_changed(nexus.pk)
