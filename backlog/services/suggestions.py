"""Suggested dependencies (issue 12): a person confirms one (it becomes a dependency, found at the current
Nexus event) or dismisses it (that pair of PBIs is never suggested again). Reads:
`backlog.suggestions.selectors`.

- confirm: `dependency_create` with its rules and refusals (400 naming the field, 403, 409 for a
  duplicate or a cycle), `found_at` the event at which the person confirms it;
- dismiss: members other than Stakeholders (`dependency_add_refusal`, as adding a dependency), within one
  Nexus, never a PBI with itself or a deleted PBI (400 naming `item` / `other`). Idempotent: dismissing a
  dismissed pair returns the stored row. A dismissal does not advance the Nexus's change counter: the
  suggestions read the dismissed pairs at every read, so the suggestion index (built per counter
  value) is not rebuilt for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from backlog.errors import DomainError, NotAllowed
from backlog.models import (
    Dependency,
    DependencyKind,
    FoundAt,
    ProductBacklogItem,
    Source,
    SuggestionDismissal,
)
from backlog.services.dependencies import Actor, dependency_add_refusal, dependency_create
from nexus_site.db import retry_transient

#: How a confirmed suggestion is recorded, from the PBI asked about ("this") and the suggested one:
#: "depends_on": this PBI depends on the suggested one; "dependent": the suggested one depends on this
#: PBI; "integrates_with": the two must integrate together.
CONFIRM_AS = ("depends_on", "dependent", "integrates_with")


@dataclass(frozen=True, slots=True)
class _Pair:
    nexus_id: int
    low: int
    high: int


def _pair(item: ProductBacklogItem, other: ProductBacklogItem) -> _Pair:
    """The two live PBIs of one Nexus, or `DomainError` naming the field."""
    if item.pk == other.pk:
        raise DomainError("A PBI is not suggested as a dependency of itself.", field="other")
    rows = {
        pk: (nexus_id, deleted)
        for pk, nexus_id, deleted in ProductBacklogItem.objects.filter(
            pk__in=[item.pk, other.pk]
        ).values_list("pk", "backlog__nexus_id", "deleted_at")
    }
    if item.pk not in rows or rows[item.pk][1] is not None:
        raise DomainError("This PBI has been deleted.", field="item")
    if other.pk not in rows or rows[other.pk][0] != rows[item.pk][0]:
        raise DomainError("That PBI is not in this Nexus.", field="other")
    if rows[other.pk][1] is not None:
        raise DomainError("That PBI has been deleted.", field="other")
    return _Pair(rows[item.pk][0], min(item.pk, other.pk), max(item.pk, other.pk))


def suggestion_confirm(
    *,
    item: ProductBacklogItem,
    other: ProductBacklogItem,
    actor: Actor,
    found_at: str = FoundAt.REFINEMENT,
    confirm_as: str = "depends_on",
    note: str = "",
    source: str = Source.UI,
) -> Dependency:
    """Confirm the suggestion of `other` for `item`: record the dependency (`confirm_as`, one of
    `CONFIRM_AS`), found by `actor` now at the Nexus event `found_at` (`FoundAt`). Returns the new open
    `Dependency`. Raises `DomainError` (400) for an unknown `confirm_as` (that field) and whatever
    `dependency_create` raises (400 naming the field, 403, 409 for a duplicate or a cycle)."""
    if confirm_as not in CONFIRM_AS:
        raise DomainError(f"Confirm as one of {', '.join(CONFIRM_AS)}.", field="confirm_as")
    if item.pk == other.pk:
        raise DomainError("A PBI cannot depend on itself.", field="other")
    kind = DependencyKind.INTEGRATES_WITH if confirm_as == "integrates_with" else DependencyKind.DEPENDS_ON
    waiting, waited_on = (other, item) if confirm_as == "dependent" else (item, other)
    return dependency_create(
        item=waiting,
        depends_on=waited_on,
        kind=kind,
        found_at=found_at,
        note=note,
        actor=actor,
        source=source,
    )


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def suggestion_dismiss(
    *, item: ProductBacklogItem, other: ProductBacklogItem, actor: Actor
) -> SuggestionDismissal:
    """Dismiss the suggestion of `other` for `item`: the pair is never suggested again, either way round.
    Returns the stored `SuggestionDismissal` (the existing one when the pair was dismissed already).
    Raises `DomainError` (400, `item` / `other`): the same PBI, another Nexus, a deleted PBI;
    `NotAllowed` (403): a Stakeholder or non-member. Two to four queries."""
    pair = _pair(item, other)
    refusal = dependency_add_refusal(actor=actor, nexus_id=pair.nexus_id)
    if refusal:
        raise NotAllowed(refusal.replace("add them", "judge the suggestions"), field="item")
    existing = SuggestionDismissal.objects.filter(item_low_id=pair.low, item_high_id=pair.high).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():  # a concurrent dismissal of the same pair: keep theirs
            return SuggestionDismissal.objects.create(
                nexus_id=pair.nexus_id,
                item_low_id=pair.low,
                item_high_id=pair.high,
                dismissed_by=actor if isinstance(actor, User) else None,
                dismissed_at=timezone.now(),
            )
    except IntegrityError:
        return SuggestionDismissal.objects.get(item_low_id=pair.low, item_high_id=pair.high)
