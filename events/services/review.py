"""Every write to the Nexus Sprint Review's stakeholder notes (`events.models_review`): add a note, edit
it while open, make it into a new Product Backlog Item, link it to an existing PBI (changing that PBI's
title and description in the same step), delete one recorded by mistake. Keyword-only, typed,
transactional; each raises a `backlog.errors.DomainError` subclass naming the field at fault (400),
`NotAllowed` (403), `Conflict` (409: the note has an outcome already, the Sprint is not reviewable),
`PreconditionFailed` (412: `If-Match`).

Who may do what (the same functions as the page and the API's rules):

| write             | who                                                            | rule              |
|-------------------|----------------------------------------------------------------|-------------------|
| add a note        | every member of the Nexus (Stakeholders give the feedback)     | `view`            |
| edit a note       | members but Stakeholders (`backlog.selectors.can_edit_items`)  | `edit_items`      |
| make it a new PBI | `backlog.selectors.can_create_items`, the one rule on who      | `create_items`    |
|                   | creates PBIs (through `backlog.services.pbi_create`)           |                   |
| link it to a PBI  | `backlog.selectors.can_edit_items` (through `pbi_update`)      | `edit_items`      |
| delete a note     | the Product Owner and the Nexus Integration Team               | `sprint_planning` |

Superusers may do everything; `actor=None` (demo data, scripts) skips the role checks.

Lock order: the note's row first (only these services lock it), then what the backlog service takes
(the Product Backlog row, the item); the Nexus's change counter last (`items_changed_batched`). Each
write appends one typed `ReviewNoteEntry` and records the webhook event `review_note.added` or
`review_note.acted` (`backlog.services.webhooks`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.utils import timezone

from backlog.errors import Conflict, DomainError, NotAllowed, PreconditionFailed
from backlog.models import Nexus, ProductBacklogItem, Source
from backlog.selectors import can_create_items, can_edit_items, roles_of
from backlog.services import pbi_create
from backlog.services.common import UNSET, Unset, items_changed_batched, nexus_changed
from backlog.services.items import pbi_update
from backlog.services.webhooks import webhook_event_record
from events.models import NoteOutcome, ReviewNote, ReviewNoteEntry, ReviewNoteEntryKind, Sprint, SprintState
from events.services.common import can_plan_sprints
from nexus_site.db import retry_transient

Actor = User | AnonymousUser | None

#: Webhook events of the review notes (registered in `EventsConfig.ready`).
EVENT_NOTE_ADDED = "review_note.added"
EVENT_NOTE_ACTED = "review_note.acted"

#: Longest note text and stakeholder name accepted.
TEXT_MAX = 5000
STAKEHOLDER_MAX = 150


def can_add_review_notes(*, user: Actor, nexus: Nexus) -> bool:
    """Every member of the Nexus (any role: Stakeholders give the feedback) and superusers record
    stakeholder feedback at the Nexus Sprint Review."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if getattr(user, "is_superuser", False):
        return True
    return bool(roles_of(user=user, nexus=nexus))


def _user(actor: Actor) -> User | None:
    return actor if isinstance(actor, User) else None


def _text(value: str | None, *, field: str, max_length: int, required: bool) -> str:
    text = (value or "").strip()
    if required and not text:
        raise DomainError("Write down the feedback: the note is empty.", field=field)
    if len(text) > max_length:
        raise DomainError(f"The {field} is {len(text)} characters; at most {max_length}.", field=field)
    return text


def _lock(note: ReviewNote, expected_version: int | None) -> ReviewNote:
    try:
        locked = ReviewNote.objects.select_for_update(no_key=True).select_related("nexus").get(pk=note.pk)
    except ReviewNote.DoesNotExist as exc:
        raise Conflict("That review note was deleted meanwhile.", field="note") from exc
    if expected_version is not None and locked.version != expected_version:
        raise PreconditionFailed(
            f"The review note is at version {locked.version}, not {expected_version}: someone changed it "
            "after you read it. Nothing was changed; read it again and re-apply your change.",
            current_version=locked.version,
            field="If-Match",
        )
    return locked


def _check_open(note: ReviewNote) -> None:
    if note.outcome != NoteOutcome.OPEN:
        raise Conflict(
            f"This feedback was {note.get_outcome_display().lower()} already (PBI {note.item_id}): it is "
            "history. Record a new note for new feedback.",
            field="outcome",
        )


def _save(note: ReviewNote, fields: list[str]) -> None:
    note.version += 1
    note.save(update_fields=[*fields, "version", "updated_at"])


def note_payload(note: ReviewNote) -> dict[str, Any]:
    """The note in a webhook body: `{"review_note": {"id", "sprint" (id), "sprint_number", "text",
    "stakeholder", "outcome", "item" (PBI id or null)}}`."""
    return {
        "review_note": {
            "id": note.pk,
            "sprint": note.sprint_id,
            "text": note.text,
            "stakeholder": note.stakeholder,
            "outcome": note.outcome,
            "item": note.item_id,
        }
    }


def _hook(note: ReviewNote, event: str) -> None:
    webhook_event_record(
        nexus_id=note.nexus_id, event=event, payload=note_payload(note), item_id=note.item_id
    )


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def review_note_add(
    *, sprint: Sprint, text: str, actor: Actor, stakeholder: str = "", at: datetime | None = None
) -> ReviewNote:
    """Record stakeholder feedback given at `sprint`'s Nexus Sprint Review: `text` (required, at most
    5,000 characters), `stakeholder` who gave it (optional, at most 150), by `actor` (the author);
    `at` backdates it (demo data; default now). Logs `added`, fires `review_note.added`.

    Raises `NotAllowed` (403) for a non-member, `DomainError` naming `text` or `stakeholder`,
    `Conflict` naming `sprint` for a Sprint not yet started (a review is of work done: active or
    closed Sprints)."""
    nexus = sprint.nexus
    if actor is not None and not can_add_review_notes(user=actor, nexus=nexus):
        raise NotAllowed("Only members of the Nexus record feedback at its Sprint Review.", field="text")
    body = _text(text, field="text", max_length=TEXT_MAX, required=True)
    who = _text(stakeholder, field="stakeholder", max_length=STAKEHOLDER_MAX, required=False)
    if sprint.state == SprintState.PLANNED:
        raise Conflict(
            f"Sprint {sprint.number} has not started: its Nexus Sprint Review comes at its end.",
            field="sprint",
        )
    now = at or timezone.now()
    note = ReviewNote.objects.create(
        nexus=nexus, sprint=sprint, text=body, stakeholder=who, author=_user(actor), at=now
    )
    ReviewNoteEntry.objects.create(note=note, kind=ReviewNoteEntryKind.ADDED, actor=_user(actor), at=now)
    nexus_changed(nexus.pk)
    _hook(note, EVENT_NOTE_ADDED)
    return note


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def review_note_edit(
    *,
    note: ReviewNote,
    actor: Actor,
    text: str | Unset = UNSET,
    stakeholder: str | Unset = UNSET,
    expected_version: int | None = None,
) -> ReviewNote:
    """Correct an open note's `text` or `stakeholder` (members but Stakeholders). Logs `edited` with
    each changed value before and after; changing nothing keeps the version. Raises `NotAllowed`,
    `DomainError` (`text`, `stakeholder`), `Conflict` (`outcome`: it has an outcome already),
    `PreconditionFailed`."""
    if actor is not None and not can_edit_items(user=actor, nexus=note.nexus):
        raise NotAllowed(
            "Stakeholders give feedback; the Nexus's other members correct the notes.", field="text"
        )
    note = _lock(note, expected_version)
    _check_open(note)
    changed: dict[str, list[str]] = {}
    if not isinstance(text, Unset):
        new = _text(text, field="text", max_length=TEXT_MAX, required=True)
        if new != note.text:
            changed["text"] = [note.text, new]
            note.text = new
    if not isinstance(stakeholder, Unset):
        new = _text(stakeholder, field="stakeholder", max_length=STAKEHOLDER_MAX, required=False)
        if new != note.stakeholder:
            changed["stakeholder"] = [note.stakeholder, new]
            note.stakeholder = new
    if not changed:
        return note
    _save(note, list(changed))
    ReviewNoteEntry.objects.create(
        note=note, kind=ReviewNoteEntryKind.EDITED, actor=_user(actor), at=note.updated_at, data=changed
    )
    nexus_changed(note.nexus_id)
    return note


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
@items_changed_batched()  # the change counter after the backlog's locks
def review_note_to_pbi(
    *,
    note: ReviewNote,
    actor: Actor,
    title: str = "",
    description: str = "",
    expected_version: int | None = None,
    at: datetime | None = None,
) -> ReviewNote:
    """Make an open note into a new Product Backlog Item, created through `backlog.services.pbi_create`
    (bottom of the Product Backlog, first column, source `ui`) with `title` (default: the note's first
    line, cut to 300 characters) and `description` (default: the note, with who gave it and at which
    Sprint's review). Who may: `backlog.selectors.can_create_items`, the one rule on who creates PBIs.
    Logs `new_pbi`, fires `review_note.acted`.

    Raises `NotAllowed` (403, field `item`), `Conflict` (`outcome`: it has an outcome already),
    `PreconditionFailed`, and what `pbi_create` raises (`DomainError` naming `title`...)."""
    nexus = note.nexus
    if actor is not None and not can_create_items(user=actor, nexus=nexus):
        raise NotAllowed(
            "Stakeholders see the Product Backlog; the Nexus's other members add items to it.", field="item"
        )
    note = _lock(note, expected_version)
    _check_open(note)
    title = (title or "").strip() or note.text.strip().splitlines()[0][:300]
    if not description:
        who = f" ({note.stakeholder})" if note.stakeholder else ""
        description = (
            f"Stakeholder feedback{who} at the Nexus Sprint Review of Sprint {note.sprint.number}:\n\n"
        )
        description += note.text
    item = pbi_create(
        nexus=nexus, title=title, actor=actor, source=Source.UI, description=description[:100_000]
    )
    now = at or timezone.now()
    note.outcome, note.item, note.acted_at = NoteOutcome.NEW_PBI, item, now
    _save(note, ["outcome", "item", "acted_at"])
    ReviewNoteEntry.objects.create(
        note=note,
        kind=ReviewNoteEntryKind.NEW_PBI,
        actor=_user(actor),
        at=now,
        data={"item": item.pk, "fields": ["title", "description"]},
    )
    nexus_changed(nexus.pk)
    _hook(note, EVENT_NOTE_ACTED)
    return note


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
@items_changed_batched()  # the change counter after the item's lock
def review_note_link(
    *,
    note: ReviewNote,
    item: ProductBacklogItem,
    actor: Actor,
    title: str | Unset = UNSET,
    description: str | Unset = UNSET,
    expected_version: int | None = None,
    item_version: int | None = None,
    at: datetime | None = None,
) -> ReviewNote:
    """Link an open note to an existing PBI of the same Nexus that the feedback changes, and change the
    PBI's `title` and/or `description` in the same step through `backlog.services.items.pbi_update`
    (the one update service; `item_version` is its `If-Match`). Who may: `can_edit_items`. Logs
    `linked` with the PBI's changed fields, fires `review_note.acted`.

    Raises `NotAllowed` (403, field `item`), `DomainError` naming `item` (another Nexus's, deleted),
    `Conflict` (`outcome`), `PreconditionFailed` (the note's version; or the PBI's, `item_version`),
    and what `pbi_update` raises (`DomainError` naming `title`...)."""
    nexus = note.nexus
    if actor is not None and not can_edit_items(user=actor, nexus=nexus):
        raise NotAllowed(
            "Stakeholders see the Product Backlog; the Nexus's other members change its items.", field="item"
        )
    if item.backlog.nexus_id != nexus.pk or item.deleted_at is not None:
        raise DomainError("No such Product Backlog Item in this Nexus.", field="item")
    note = _lock(note, expected_version)
    _check_open(note)
    fields: dict[str, Any] = {}
    if not isinstance(title, Unset):
        fields["title"] = title
    if not isinstance(description, Unset):
        fields["description"] = description
    before = (ProductBacklogItem.objects.filter(pk=item.pk).values(*fields).first() or {}) if fields else {}
    result = pbi_update(item=item, actor=actor, expected_version=item_version, source=Source.UI, **fields)
    changed = [f for f in fields if getattr(result.item, f) != before.get(f)]
    now = at or timezone.now()
    note.outcome, note.item, note.acted_at = NoteOutcome.CHANGED_PBI, result.item, now
    _save(note, ["outcome", "item", "acted_at"])
    ReviewNoteEntry.objects.create(
        note=note,
        kind=ReviewNoteEntryKind.LINKED,
        actor=_user(actor),
        at=now,
        data={"item": item.pk, "fields": changed},
    )
    nexus_changed(nexus.pk)
    _hook(note, EVENT_NOTE_ACTED)
    return note


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def review_note_delete(*, note: ReviewNote, actor: Actor, expected_version: int | None = None) -> None:
    """Delete a note recorded by mistake, with its history (the Product Owner and the Nexus Integration
    Team); a PBI made from it stays. Leaves a tombstone (`review_note`) for sync clients. Raises
    `NotAllowed`, `PreconditionFailed`."""
    if actor is not None and not can_plan_sprints(user=actor, nexus=note.nexus):
        raise NotAllowed(
            "Only the Product Owner and the Nexus Integration Team delete review notes.", field="note"
        )
    note = _lock(note, expected_version)
    nexus_id = note.nexus_id
    note.delete()
    nexus_changed(nexus_id)
