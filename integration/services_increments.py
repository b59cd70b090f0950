"""Every write to a Nexus's Integrated Increments (Nexus Guide: the Nexus produces at least one Done
Integrated Increment every Sprint; it may be delivered before the Sprint ends).

- `increment_create`: an open increment of a started Sprint, carrying the Definition of Done version in
  force (`services_dod.dod_current_version`).
- `increment_integrate`: a PBI enters it only when every team square is filled (ready to integrate or
  Done; `backlog.services.squares.FILLED`); a PBI is in one increment only.
- `increment_confirm`: a criterion of its version confirmed (who, when, an optional evidence link);
  confirming twice is refused (409).
- `increment_done`: only when every criterion is confirmed (409 naming the others); then each of its
  PBIs gets its squares ticked (Done, with `square_set`'s log rows, in bulk: backlog's
  `squares_done_bulk`) and
  enters the Nexus's finished column through the one move service (`pbi_transition`, source
  `system`, logged), so flow metrics and the increment agree. Webhook `increment.done`.
- `increment_release`: a Done increment released to stakeholders on a date. Webhook
  `increment.released`.

Who (`integration.services_rules`): the Product Owner and the Nexus Integration Team create, integrate,
mark Done and release (`can_manage_increments`); Developers and Scrum Masters confirm the Nexus's
criteria and their own team's (`confirm_refusal`); Stakeholders read. `actor=None` is the system (the demo).

Lock order (as every item write): the items (by id), the Nexus (`nexus_lock`), the increment, the
change counter last (`items_changed_batched`). Every write logs an `IncrementEvent` row.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from backlog.errors import Conflict, DomainError, NotAllowed
from backlog.models import (
    Nexus,
    ProductBacklogItem,
    Source,
    TeamInvolvement,
    TeamStatus,
    WorkflowColumn,
)
from backlog.services import pbi_transition
from backlog.services.common import (
    items_changed_batched,
    nexus_changed,
    nexus_lock,
    notify_item_event,
    notify_items_changed,
    version_check,
)
from backlog.services.squares import FILLED, squares_done_bulk
from backlog.services.webhooks import webhook_event_record
from events.models import Sprint, SprintState
from flow.history import nexus_today
from integration.models import (
    CriterionConfirmation,
    IncrementEvent,
    IncrementEventKind,
    IncrementItem,
    IncrementState,
    IntegratedIncrement,
)
from integration.services_dod import dod_current_version
from integration.services_rules import (  # who manages and who confirms (re-exported for the pages)
    _manage_check,
    can_confirm,
    can_manage_increments,
    confirm_refusal,
)
from nexus_site.db import retry_transient

Actor = User | AnonymousUser | None


def _user(actor: Actor) -> User | None:
    return actor if isinstance(actor, User) else None


def _log(increment: IntegratedIncrement, kind: str, actor: Actor, at: Any, **kw: Any) -> None:
    IncrementEvent.objects.create(increment=increment, kind=kind, actor=_user(actor), at=at, **kw)


def _lock(increment: IntegratedIncrement) -> IntegratedIncrement:
    """The increment's row, locked (take the Nexus lock first); `increment` refreshed from it."""
    locked = IntegratedIncrement.objects.select_for_update(no_key=True).filter(pk=increment.pk).first()
    if locked is None:
        raise Conflict("That Integrated Increment was deleted meanwhile.", field="increment")
    increment.__dict__.update({k: v for k, v in locked.__dict__.items() if not k.startswith("_")})
    return increment


def _touch(increment: IntegratedIncrement, now: Any) -> None:
    IntegratedIncrement.objects.filter(pk=increment.pk).update(version=F("version") + 1, updated_at=now)
    increment.version += 1
    increment.updated_at = now


def _payload(increment: IntegratedIncrement) -> dict[str, Any]:
    return {
        "increment": {
            "id": increment.pk,
            "number": increment.number,
            "sprint": increment.sprint_id,
            "state": increment.state,
            "released_on": increment.released_on,
            "dod_version": increment.dod_version.number,
        }
    }


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def increment_create(*, sprint: Sprint, actor: Actor, name: str = "") -> IntegratedIncrement:
    """A new open Integrated Increment of a started (active or closed) Sprint, numbered after the
    Nexus's last, carrying the Definition of Done version in force. Raises `NotAllowed` (403),
    `Conflict` (409, `sprint`) for a Sprint not started yet, `DomainError` (`name` over 200 characters)."""
    nexus = Nexus.objects.get(pk=sprint.nexus_id)
    _manage_check(actor, nexus)
    name = (name or "").strip()
    if len(name) > 200:
        raise DomainError("A name is at most 200 characters.", field="name")
    nexus_lock(nexus.pk)
    state = Sprint.objects.filter(pk=sprint.pk).values_list("state", flat=True).first()
    if state is None:
        raise Conflict("That Sprint was deleted meanwhile.", field="sprint")
    if state == SprintState.PLANNED:
        raise Conflict(
            f"Sprint {sprint.number} has not started: its Integrated Increments come once it runs.",
            field="sprint",
        )
    last = IntegratedIncrement.objects.filter(nexus=nexus).aggregate(m=Max("number"))["m"] or 0
    now = timezone.now()
    increment = IntegratedIncrement.objects.create(
        nexus=nexus,
        sprint=sprint,
        number=last + 1,
        name=name,
        dod_version=dod_current_version(nexus_id=nexus.pk),
        created_by=_user(actor),
        created_at=now,
    )
    _log(increment, IncrementEventKind.CREATED, actor, now)
    nexus_changed(nexus.pk)
    return increment


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def increment_integrate(
    *,
    increment: IntegratedIncrement,
    item: ProductBacklogItem,
    actor: Actor,
    expected_version: int | None = None,
) -> IncrementItem:
    """Integrate a PBI into an open increment. Refused: `NotAllowed` (403); `DomainError` (`item`) for a
    deleted PBI or one of another Nexus; `Conflict` (409) when the increment is Done (`state`), the PBI
    is in an increment already (`item`), or a team square is not filled (`item`, naming the teams);
    `PreconditionFailed` (412) for a stale `expected_version`."""
    nexus = Nexus.objects.get(pk=increment.nexus_id)
    _manage_check(actor, nexus)
    locked_item = (
        ProductBacklogItem.objects.select_for_update(of=("self",), no_key=True)
        .select_related("backlog")
        .filter(pk=item.pk)
        .first()
    )
    if locked_item is None or locked_item.deleted_at is not None:
        raise DomainError("This item has been deleted.", field="item")
    if locked_item.backlog.nexus_id != nexus.pk:
        raise DomainError("That PBI belongs to another Nexus.", field="item")
    nexus_lock(nexus.pk)
    _lock(increment)
    version_check(increment, expected_version, undone="Nothing was integrated")
    if increment.state != IncrementState.OPEN:
        raise Conflict(
            f"Increment {increment.number} is Done: nothing more is integrated into it.", field="state"
        )
    other = IncrementItem.objects.filter(item=locked_item).select_related("increment").first()
    if other is not None:
        raise Conflict(
            f"This PBI is integrated into Increment {other.increment.number} already.", field="item"
        )
    open_squares = list(
        TeamInvolvement.objects.filter(item=locked_item)
        .exclude(status__in=FILLED)
        .order_by("team__name")
        .values_list("team__name", "status")
    )
    if open_squares:
        labels = dict(TeamStatus.choices)
        which = ", ".join(f"{n} ({str(labels.get(s, s)).lower()})" for n, s in open_squares)
        raise Conflict(
            "A PBI is integrated only when every Scrum Team on it is ready to integrate or Done; "
            f"not yet: {which}.",
            field="item",
        )
    now = timezone.now()
    row = IncrementItem.objects.create(
        increment=increment, item=locked_item, integrated_at=now, integrated_by=_user(actor)
    )
    _log(increment, IncrementEventKind.INTEGRATED, actor, now, item=locked_item)
    _touch(increment, now)
    nexus_changed(nexus.pk)
    return row


def _evidence(url: str) -> str:
    url = (url or "").strip()
    if not url:
        return ""
    if not url.lower().startswith(("http://", "https://")) or len(url) > 500 or " " in url:
        raise DomainError(
            "The evidence link is an http(s) URL of at most 500 characters.", field="evidence_url"
        )
    return url


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def increment_confirm(
    *,
    increment: IntegratedIncrement,
    criterion: int,
    actor: Actor,
    evidence_url: str = "",
    expected_version: int | None = None,
) -> CriterionConfirmation:
    """Confirm a criterion (its id in the increment's Definition of Done version) with who, when and an
    optional evidence link (a CI run, a test report: http(s)). Refused: `DomainError` (`criterion` not
    in the version, `evidence_url` malformed); `NotAllowed` (403, `confirm_refusal`); `Conflict` (409)
    when the criterion is confirmed already (`criterion`, naming who and when) or the increment is
    Done (`state`); `PreconditionFailed` (412)."""
    increment = IntegratedIncrement.objects.select_related("dod_version").get(pk=increment.pk)
    entry = next((c for c in increment.dod_version.criteria if c["id"] == criterion), None)
    if entry is None:
        raise DomainError(
            f"Criterion {criterion} is not in Definition of Done version {increment.dod_version.number}, "
            "which this increment carries.",
            field="criterion",
        )
    refusal = confirm_refusal(actor=actor, nexus_id=increment.nexus_id, criterion=entry)
    if refusal:
        raise NotAllowed(refusal, field="criterion")
    url = _evidence(evidence_url)
    nexus_lock(increment.nexus_id)
    _lock(increment)
    version_check(increment, expected_version, undone="Nothing was confirmed")
    done = CriterionConfirmation.objects.filter(increment=increment, criterion=criterion).first()
    if done is not None:
        who = done.confirmed_by.get_username() if done.confirmed_by_id and done.confirmed_by else "the system"
        raise Conflict(
            f"'{entry['text']}' was confirmed already, by {who} on {done.confirmed_at:%Y-%m-%d %H:%M} UTC.",
            field="criterion",
        )
    if increment.state != IncrementState.OPEN:
        raise Conflict(f"Increment {increment.number} is Done already.", field="state")
    now = timezone.now()
    row = CriterionConfirmation.objects.create(
        increment=increment,
        criterion=criterion,
        text=entry["text"],
        confirmed_by=_user(actor),
        confirmed_at=now,
        evidence_url=url,
    )
    _log(increment, IncrementEventKind.CONFIRMED, actor, now, criterion=criterion)
    _touch(increment, now)
    nexus_changed(increment.nexus_id)
    return row


def unconfirmed(increment: IntegratedIncrement) -> list[dict[str, Any]]:
    """The criteria of the increment's version not confirmed yet (entries of `criteria`). One query
    (plus one for the version when not loaded)."""
    confirmed = set(
        CriterionConfirmation.objects.filter(increment=increment).values_list("criterion", flat=True)
    )
    return [c for c in increment.dod_version.criteria if c["id"] not in confirmed]


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
@items_changed_batched()
def increment_done(
    *, increment: IntegratedIncrement, actor: Actor, expected_version: int | None = None
) -> IntegratedIncrement:
    """Mark the increment Done: every criterion of its version must be confirmed (else `Conflict`,
    409, `criteria`, naming them) and it must hold a PBI (`Conflict`, `items`). Then each PBI's squares
    are ticked (Done, source `system`, logged as `square_set` logs; `squares_done_bulk`) and the PBI enters
    the Nexus's finished column
    (`pbi_transition`, source `system`, logged) unless it is there or past it already: flow metrics and
    the increment agree. Webhook `increment.done`. Raises `NotAllowed` (403), `Conflict` (`state`:
    Done already), `PreconditionFailed` (412), and what the moves raise (a hard WIP limit of the
    finished column: `WipLimitReached`, 409, nothing saved)."""
    nexus = Nexus.objects.get(pk=increment.nexus_id)
    _manage_check(actor, nexus)
    item_ids = list(
        IncrementItem.objects.filter(increment=increment)
        .order_by("item_id")
        .values_list("item_id", flat=True)
    )
    items = list(
        ProductBacklogItem.objects.select_for_update(of=("self",), no_key=True)
        .filter(pk__in=item_ids)
        .order_by("pk")
        .select_related("column", "backlog")
    )
    squares = list(
        TeamInvolvement.objects.select_for_update(of=("self",))
        .filter(item_id__in=item_ids)
        .exclude(status=TeamStatus.DONE)
        .select_related("team_column")
        .order_by("item_id", "pk")
    )
    nexus_lock(nexus.pk)
    _lock(increment)
    version_check(increment, expected_version, undone="Nothing was marked Done")
    if increment.state != IncrementState.OPEN:
        raise Conflict(f"Increment {increment.number} is Done already.", field="state")
    if (
        list(
            IncrementItem.objects.filter(increment=increment)
            .order_by("item_id")
            .values_list("item_id", flat=True)
        )
        != item_ids
    ):
        raise Conflict("PBIs were integrated meanwhile: look at the increment again.", field="items")
    if not items:
        raise Conflict(
            "No PBI is integrated into this increment yet: there is nothing to be Done.", field="items"
        )
    missing = unconfirmed(increment)
    if missing:
        raise Conflict(
            f"Every criterion of the Definition of Done must be confirmed first; not yet: "
            f"{'; '.join(c['text'] for c in missing)}.",
            field="criteria",
        )
    finish = WorkflowColumn.objects.filter(nexus=nexus, is_finish=True).first()
    now = timezone.now()
    squares_done_bulk(squares=squares, at=now)
    if finish is not None:
        for item in items:
            if item.column.position < finish.position:
                pbi_transition(item=item, to_column=finish, actor=None, source=Source.SYSTEM)
    # A new version for every PBI whose squares changed (`pbi_transition` gave the moved ones theirs).
    ProductBacklogItem.objects.filter(pk__in=item_ids).exclude(updated_at__gte=now).update(
        version=F("version") + 1, updated_at=now
    )
    notify_items_changed(nexus.pk, items=item_ids)  # flow: these items (batched: one counter advance)
    for item_id in sorted({sq.item_id for sq in squares}):
        notify_item_event(nexus.pk, item_id, "square_changed")
    now = timezone.now()
    IntegratedIncrement.objects.filter(pk=increment.pk).update(
        state=IncrementState.DONE, done_at=now, done_by=_user(actor)
    )
    increment.state, increment.done_at, increment.done_by = IncrementState.DONE, now, _user(actor)
    _log(increment, IncrementEventKind.DONE, actor, now)
    _touch(increment, now)
    nexus_changed(nexus.pk)
    webhook_event_record(
        nexus_id=nexus.pk, event="increment.done", payload=_payload(increment), nexus_slug=nexus.slug
    )
    return increment


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def increment_release(
    *,
    increment: IntegratedIncrement,
    actor: Actor,
    released_on: date | None = None,
    expected_version: int | None = None,
) -> IntegratedIncrement:
    """Mark a Done increment released to stakeholders on `released_on` (a calendar day in the Nexus's
    time zone; default today there). Raises `NotAllowed` (403), `Conflict` (409, `state`) when it is
    not Done or released already, `PreconditionFailed` (412). Webhook `increment.released`."""
    nexus = Nexus.objects.get(pk=increment.nexus_id)
    _manage_check(actor, nexus)
    nexus_lock(nexus.pk)
    _lock(increment)
    version_check(increment, expected_version, undone="Nothing was released")
    if increment.state != IncrementState.DONE:
        raise Conflict("Only a Done Integrated Increment is released: mark it Done first.", field="state")
    if increment.released_on is not None:
        raise Conflict(
            f"Increment {increment.number} was released on {increment.released_on} already.", field="state"
        )
    day = released_on or nexus_today(nexus)
    now = timezone.now()
    IntegratedIncrement.objects.filter(pk=increment.pk).update(released_on=day)
    increment.released_on = day
    _log(increment, IncrementEventKind.RELEASED, actor, now)
    _touch(increment, now)
    nexus_changed(nexus.pk)
    webhook_event_record(
        nexus_id=nexus.pk, event="increment.released", payload=_payload(increment), nexus_slug=nexus.slug
    )
    return increment


__all__ = [
    "can_confirm",
    "can_manage_increments",
    "confirm_refusal",
    "increment_confirm",
    "increment_create",
    "increment_done",
    "increment_integrate",
    "increment_release",
    "unconfirmed",
]
