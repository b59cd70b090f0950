"""Splitting a Product Backlog Item into children placed directly under it."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction

from backlog.errors import DomainError
from backlog.models import ColumnCategory, ProductBacklogItem, Source, TransitionKind
from backlog.services.common import items_changed_batched
from backlog.services.dependencies import dependencies_carry_on_split
from backlog.services.items import pbi_create
from backlog.services.log import _log_many, _row
from backlog.services.ordering import family_block, lock_backlog
from nexus_site.db import retry_transient


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
@items_changed_batched()  # one change counted, after every child's locks (`nexus_changed`)
def pbi_split(
    *,
    item: ProductBacklogItem,
    titles: list[str],
    actor: User | AnonymousUser | None,
    source: str = Source.UI,
    dependencies: dict[int, list[int]] | None = None,
) -> list[ProductBacklogItem]:
    """Split `item` into children, one per title, placed directly under it (after its children that
    follow it already), in the given order. Each child has `item` as parent and takes its labels,
    class of service and forecast Scrum Teams; it starts in the parent's column when that is not
    started yet, else in the first column of the Definition of Workflow. Raises `DomainError`
    (field `titles`) for no title, more than 50, or a title the item service refuses, and (field
    `item`) for a finished or deleted item. Each open dependency of `item` is carried by the children
    `dependencies` chooses for it (dependency id → 0-based indexes into `titles`' children; default:
    all of them; `backlog.services.dependencies.dependencies_carry_on_split`, which raises `DomainError`
    naming `dependencies` for a bad choice). Logged: a `split` row per child on `item`, and each child's
    creation (with `item` as its parent)."""
    names = [t.strip() for t in titles if t and t.strip()]
    if not names:
        raise DomainError("Give at least one title: one child per line.", field="titles")
    if len(names) > 50:
        raise DomainError("Split into at most 50 children at a time.", field="titles")
    backlog = lock_backlog(item.backlog_id)
    current = ProductBacklogItem.objects.select_related("column", "backlog__nexus").filter(pk=item.pk).first()
    if current is None or current.deleted_at is not None:
        raise DomainError("This item has been deleted.", field="item")
    if current.column.category == ColumnCategory.DONE:
        raise DomainError("A finished item cannot be split.", field="item")
    family = family_block(current)
    anchor = family[-1] if family else current
    labels = list(current.labels.values_list("name", flat=True))
    teams = [inv.team for inv in current.involvements.select_related("team")]
    column = current.column if current.column.category == ColumnCategory.NOT_STARTED else None
    children = []
    for name in names:
        try:
            child = pbi_create(
                nexus=backlog.nexus,
                title=name,
                actor=actor,
                source=source,
                after=anchor,
                column=column,
                labels=labels,
                teams=teams,
                parent=current,
                class_of_service=current.class_of_service,
            )
        except DomainError as exc:
            raise DomainError(f"{name[:60]!r}: {exc.message}", field="titles") from exc
        children.append(child)
        anchor = child
    # On the item split, one row per child (each child's creation logged its parent).
    _log_many(
        _row(item=current, kind=TransitionKind.SPLIT, actor=actor, source=source, at=c.created_at, child=c)
        for c in children
    )
    dependencies_carry_on_split(
        item=current, children=children, carry=dependencies, actor=actor, source=source
    )
    return children
