"""Ordering the Product Backlog with sparse ranks (the approach of Jira's LexoRank, on integers).

A move names where the item goes: `before` (directly above that item) and/or `after` (directly below
it). The item takes the midpoint of its new neighbours' ranks: one row written. When no integer is
left between them, ranks are renumbered in one UPDATE: the items around the gap are spread evenly
(`backlog_rebalance`, a hundred rows or so), or when that finds no room the whole backlog is
renumbered to multiples of `RANK_GAP` (`backlog_renumber`). Every
move holds a lock on the Product Backlog row, so concurrent moves are serialised: none takes the same
gap and none is lost; ranks stay unique (database constraint `pbi_unique_rank`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.contrib.auth.models import AnonymousUser, User
from django.db import connection, transaction
from django.db.models import Count, Max, Min, Q, QuerySet
from django.utils import timezone

from backlog.errors import DomainError
from backlog.models import (
    RANK_GAP,
    ColumnCategory,
    ProductBacklog,
    ProductBacklogItem,
    Source,
    Transition,
    TransitionKind,
    WorkflowColumn,
)
from backlog.services.common import (
    items_changed_batched,
    notify_item_event,
    notify_items_changed,
    version_check,
)
from nexus_site.db import retry_transient


@dataclass(frozen=True)
class MoveResult:
    """What `pbi_move` did. Positions are 1-based places among the backlog's open items (live and not
    finished: the Product Backlog as its page shows it), of the item itself before and after the move.
    `stale` is True when the named neighbours were no longer adjacent (the client's view was out of
    date; the item was placed relative to `before` when given, else `after`). `renumbered` is True when
    the move had to renumber ranks first. `carried` is how many of the item's children moved along with
    it (`family_block`); `before_id`/`after_id` the neighbours it was placed against (resolved from
    `position`, `top` or `bottom` when one of those was given). `in_sync` says whether the client's
    `seen_token` still matched under the lock (its view was the truth before the move); `token` is the
    backlog's `backlog_token` after the move."""

    item: ProductBacklogItem
    from_position: int
    to_position: int
    stale: bool
    renumbered: bool
    carried: int = 0
    before_id: int | None = None
    after_id: int | None = None
    in_sync: bool = False
    token: str = ""


def lock_backlog(backlog_id: int) -> ProductBacklog:
    """Take the Product Backlog row lock (`SELECT ... FOR UPDATE`; on SQLite the write transaction)."""
    return ProductBacklog.objects.select_for_update(no_key=True).get(pk=backlog_id)


def open_columns(*, nexus_id: int) -> QuerySet[WorkflowColumn]:
    """The Nexus's Definition of Workflow columns where open items are: every column but the finished
    ones (`ColumnCategory.DONE`)."""
    return WorkflowColumn.objects.filter(nexus_id=nexus_id).exclude(category=ColumnCategory.DONE)


def open_counts(*, backlog: ProductBacklog, ranks: list[int]) -> list[int]:
    """For each rank, the number of open items of the backlog (live, not finished) ranked above it,
    in one query. Counted per open column (a sub-select of `open_columns`) on the partial index
    `pbi_alive_column_rank`: an index-only scan over the open items only, however many finished items
    the backlog holds (a Nexus's columns hold only its Product Backlog's items)."""
    if not ranks:
        return []
    columns = open_columns(nexus_id=backlog.nexus_id).values("pk")
    counted = ProductBacklogItem.objects.filter(
        column_id__in=columns, deleted_at__isnull=True, rank__lt=max(ranks)
    ).aggregate(**{f"r{i}": Count("rank", filter=Q(rank__lt=rank)) for i, rank in enumerate(ranks)})
    return [int(counted[f"r{i}"]) for i in range(len(ranks))]


def position_of(*, backlog: ProductBacklog, rank: int) -> int:
    """1-based position of `rank` among the open items of the backlog (live, not finished): the
    number the backlog page shows."""
    return open_counts(backlog=backlog, ranks=[rank])[0] + 1


def rank_at_bottom(backlog_id: int) -> int:
    """A free rank below every item (call with the backlog locked)."""
    top = ProductBacklogItem.objects.filter(backlog_id=backlog_id).aggregate(m=Max("rank"))["m"]
    return RANK_GAP if top is None else top + RANK_GAP


def rank_at_top(backlog_id: int) -> int:
    """A free rank above every item (call with the backlog locked)."""
    low = ProductBacklogItem.objects.filter(backlog_id=backlog_id).aggregate(m=Min("rank"))["m"]
    return RANK_GAP if low is None else low - RANK_GAP


def backlog_renumber(*, backlog_id: int) -> int:
    """Renumber every item of the backlog to `RANK_GAP`, `2·RANK_GAP`, ... keeping the order (in one
    UPDATE on PostgreSQL); items whose rank changes get a new `updated_at` and `version` (a sync
    client sees them with `?updated_since=`). Call with the backlog locked. Returns the number of
    rows renumbered."""
    table = ProductBacklogItem._meta.db_table
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The rank constraint is DEFERRABLE INITIALLY IMMEDIATE: checked at the end of the statement.
            cursor.execute(
                f"UPDATE {table} AS t SET rank = s.rank,"
                f" updated_at = CASE WHEN t.rank <> s.rank THEN %s ELSE t.updated_at END,"
                f" version = t.version + CASE WHEN t.rank <> s.rank THEN 1 ELSE 0 END FROM ("
                f" SELECT id, row_number() OVER (ORDER BY rank) * %s AS rank"
                f" FROM {table} WHERE backlog_id = %s) AS s WHERE t.id = s.id",
                [now, RANK_GAP, backlog_id],
            )
            return cursor.rowcount
        # SQLite checks uniqueness row by row: first move every rank out of the way, then renumber.
        cursor.execute(f"SELECT id, rank FROM {table} WHERE backlog_id = %s ORDER BY rank", [backlog_id])
        rows = cursor.fetchall()
        if not rows:
            return 0
        offset = max(rows[-1][1] - rows[0][1], len(rows) * RANK_GAP - rows[0][1]) + 1
        cursor.execute(f"UPDATE {table} SET rank = rank + %s WHERE backlog_id = %s", [offset, backlog_id])
        targets = [(pk, i * RANK_GAP, old) for i, (pk, old) in enumerate(rows, start=1)]
        cursor.executemany(
            f"UPDATE {table} SET rank = %s, updated_at = %s, version = version + 1 WHERE id = %s",
            [(new, now, pk) for pk, new, old in targets if new != old],
        )
        cursor.executemany(
            f"UPDATE {table} SET rank = %s WHERE id = %s",
            [(new, pk) for pk, new, old in targets if new == old],
        )
        return len(rows)


#: Items on each side of an exhausted gap that a local renumbering re-spreads first (then 4x, 16x...).
REBALANCE_WINDOW = 64
#: The smallest gap a local renumbering leaves between neighbours (room for 16 more halvings).
REBALANCE_MIN_GAP = RANK_GAP >> 4


def backlog_rebalance(*, backlog_id: int, rank: int) -> int:
    """Renumber only the neighbourhood of `rank`: the `REBALANCE_WINDOW` items on each side of it
    (all items of the backlog, finished ones too, since ranks are unique among them all) are spread
    evenly between the ranks just outside the window, in one UPDATE, if that leaves gaps of at least
    `REBALANCE_MIN_GAP`; else the window grows fourfold and is tried again (past an end of the
    backlog it may spread freely, so a window always finds room at last). Keeps the order. Call with
    the backlog locked. Items whose rank changes get a new `updated_at` and `version` (a sync client
    sees them with `?updated_since=`). Returns the number of items in the window that was spread; 0
    on SQLite, which checks uniqueness row by row: there, renumber the whole backlog with
    `backlog_renumber`."""
    if connection.vendor != "postgresql":
        return 0
    items = ProductBacklogItem.objects.filter(backlog_id=backlog_id)
    size = REBALANCE_WINDOW
    while True:
        below = list(items.filter(rank__lte=rank).order_by("-rank").values_list("pk", "rank")[: size + 1])
        above = list(items.filter(rank__gt=rank).order_by("rank").values_list("pk", "rank")[: size + 1])
        window = [*reversed(below[:size]), *above[:size]]
        if not window:
            return 0
        n = len(window)
        # Past an end of the backlog the window may spread out freely.
        low = below[size][1] if len(below) > size else window[0][1] - n * RANK_GAP
        high = above[size][1] if len(above) > size else window[-1][1] + n * RANK_GAP
        step = (high - low) // (n + 1)
        if step >= REBALANCE_MIN_GAP:
            break
        if len(below) <= size and len(above) <= size:
            return 0
        size *= 4
    params: list[int] = []
    for i, (pk, old) in enumerate(window, start=1):
        if low + i * step != old:  # rows that keep their rank stay as they are for sync clients
            params += [pk, low + i * step]
    if not params:
        return n
    table = ProductBacklogItem._meta.db_table
    with connection.cursor() as cursor:
        # The rank constraint is DEFERRABLE INITIALLY IMMEDIATE: checked at the end of the statement.
        # Renumbered rows get a new `updated_at` and `version`: `rank` is part of the API's item.
        cursor.execute(
            f"UPDATE {table} AS t SET rank = v.rank, updated_at = %s, version = t.version + 1"
            f" FROM (VALUES {', '.join(['(%s, %s)'] * (len(params) // 2))}) AS v(id, rank) WHERE t.id = v.id",
            [timezone.now(), *params],
        )
        return n


def _make_room(backlog_id: int, *, around: int | None) -> None:
    """The gap at `around` is used up: renumber its neighbourhood, or the whole backlog if need be."""
    if around is None or not backlog_rebalance(backlog_id=backlog_id, rank=around):
        backlog_renumber(backlog_id=backlog_id)


def _neighbour(
    backlog: ProductBacklog, rows: dict[int, ProductBacklogItem], item_id: int | None, role: str
) -> ProductBacklogItem | None:
    """The item named as `role` ("before"/"after") from `rows` (read under the lock), checked."""
    if item_id is None:
        return None
    neighbour = rows.get(item_id)
    if neighbour is None or neighbour.deleted_at is not None:
        raise DomainError(f"The item named as '{role}' ({item_id}) does not exist.", field=role)
    if neighbour.backlog_id != backlog.pk:
        raise DomainError(f"The item named as '{role}' belongs to another Nexus.", field=role)
    return neighbour


def _gap_ranks(
    backlog_id: int,
    item: ProductBacklogItem,
    *,
    before: ProductBacklogItem | None,
    after: ProductBacklogItem | None,
) -> tuple[int | None, int | None]:
    """(upper, lower) ranks that must enclose the item's new rank; None = open-ended."""
    others = ProductBacklogItem.objects.filter(backlog_id=backlog_id).exclude(pk=item.pk)
    if before is not None:
        upper = others.filter(rank__lt=before.rank).order_by("-rank").values_list("rank", flat=True).first()
        return upper, before.rank
    assert after is not None
    lower = others.filter(rank__gt=after.rank).order_by("rank").values_list("rank", flat=True).first()
    return after.rank, lower


def _rank_between(upper: int | None, lower: int | None) -> int | None:
    if upper is None and lower is None:
        return RANK_GAP
    if upper is None:
        assert lower is not None
        return lower - RANK_GAP
    if lower is None:
        return upper + RANK_GAP
    if lower - upper < 2:
        return None
    return (upper + lower) // 2


def _move_locked(
    backlog: ProductBacklog,
    item: ProductBacklogItem,
    *,
    before_id: int | None,
    after_id: int | None,
    actor: User | AnonymousUser | None,
    source: str,
) -> MoveResult:
    """Move one item (not its children) next to `before_id` and/or `after_id`: one row written, plus a
    rank entry in the transition log when its position changes, unless the gap is used up, in which
    case ranks are renumbered first in one UPDATE: the neighbourhood of the gap (`backlog_rebalance`),
    or the whole backlog when that has no room (`backlog_renumber`). If the two neighbours are no
    longer adjacent (stale view), the item is placed relative to `before` (`MoveResult.stale`).
    Runs in the caller's transaction, which holds the backlog's lock (`pbi_move`). Raises
    `DomainError` (field `before`/`after`/`item`) when a neighbour does not exist, belongs to another
    Nexus or is the item itself, or the item is finished or deleted."""
    if before_id is None and after_id is None:
        raise DomainError("Name where the item goes: 'before' and/or 'after'.", field="before")
    if item.pk in (before_id, after_id):
        raise DomainError(
            "An item cannot be placed next to itself.", field="before" if before_id == item.pk else "after"
        )
    # The item and its named neighbours, read under the lock in one query.
    wanted = [pk for pk in (item.pk, before_id, after_id) if pk is not None]
    rows = {row.pk: row for row in ProductBacklogItem.objects.select_related("column").filter(pk__in=wanted)}
    current = rows.get(item.pk)
    if current is None or current.deleted_at is not None:
        raise DomainError("This item has been deleted.", field="item")
    if current.column.category == ColumnCategory.DONE:
        raise DomainError("A finished item is no longer ordered in the Product Backlog.", field="item")
    before = _neighbour(backlog, rows, before_id, "before")
    after = _neighbour(backlog, rows, after_id, "after")
    stale = False
    if before is not None and after is not None:
        between = (
            ProductBacklogItem.objects.filter(backlog=backlog, rank__gt=after.rank, rank__lt=before.rank)
            .exclude(pk=current.pk)
            .exists()
        )
        stale = after.rank > before.rank or between
        after = None  # place relative to `before`
    old_rank = current.rank
    from_position: int | None = None  # counted with the new place, in one query, unless renumbering

    upper, lower = _gap_ranks(backlog.pk, current, before=before, after=after)
    already_there = (upper is None or upper < current.rank) and (lower is None or current.rank < lower)
    renumbered = False
    if not already_there:
        new_rank = _rank_between(upper, lower)
        if new_rank is None:
            from_position = position_of(backlog=backlog, rank=old_rank)
            _make_room(backlog.pk, around=upper if upper is not None else lower)
            renumbered = True
            current.refresh_from_db(fields=["rank"])
            if before is not None:
                before.refresh_from_db(fields=["rank"])
            if after is not None:
                after.refresh_from_db(fields=["rank"])
            upper, lower = _gap_ranks(backlog.pk, current, before=before, after=after)
            new_rank = _rank_between(upper, lower)
            assert new_rank is not None
        now = timezone.now()
        ProductBacklogItem.objects.filter(pk=current.pk).update(
            rank=new_rank, updated_at=now, version=current.version + 1
        )
        current.rank, current.updated_at, current.version = new_rank, now, current.version + 1
    if from_position is None:
        above_old, above_new = open_counts(backlog=backlog, ranks=[old_rank, current.rank])
        # The item itself (open) is counted above its old rank when it moved up.
        from_position = above_old + 1 - (current.rank < old_rank)
        to_position = above_new + 1
    else:
        to_position = position_of(backlog=backlog, rank=current.rank)
    if to_position != from_position:
        Transition.objects.create(
            item=current,
            kind=TransitionKind.RANK,
            at=timezone.now(),
            actor=actor if isinstance(actor, User) else None,
            source=source,
            from_position=from_position,
            to_position=to_position,
        )
        notify_items_changed(backlog.nexus_id, flow=False)
        notify_item_event(backlog.nexus_id, current.pk, "moved")
    return MoveResult(current, from_position, to_position, stale, renumbered)


#: The most children (and grandchildren) that move with their parent.
FAMILY_MAX = 200


def family_block(item: ProductBacklogItem) -> list[ProductBacklogItem]:
    """The open descendants of `item` that directly follow it in the order (children placed under
    their parent, and theirs), in order; they move with it. Reads at most `FAMILY_MAX` items."""
    if not ProductBacklogItem.objects.filter(parent_id=item.pk, deleted_at__isnull=True).exists():
        return []
    following = list(
        ProductBacklogItem.objects.open()
        .filter(backlog_id=item.backlog_id, rank__gt=item.rank)
        .order_by("rank")
        .only("id", "rank", "parent_id", "version", "backlog_id")[:FAMILY_MAX]
    )
    family: list[ProductBacklogItem] = []
    members = {item.pk}
    for other in following:
        if other.parent_id not in members:
            break
        family.append(other)
        members.add(other.pk)
    return family


#: A position past every item: the bottom.
BOTTOM = 2**31 - 1


def _resolve_position(
    backlog_id: int, position: int, exclude: set[int], *, field: str
) -> tuple[int | None, int | None]:
    """(before_id, after_id) that put an item at 1-based `position` among the open items other than
    `exclude`; a position past the end means the bottom. Raises `DomainError` (naming `field`) when
    there is no other open item."""
    others = ProductBacklogItem.objects.open().filter(backlog_id=backlog_id).exclude(pk__in=exclude)
    at = others.order_by("rank").values_list("pk", flat=True)[max(0, position - 1) : max(1, position)]
    if at:
        return at[0], None
    last = others.order_by("-rank").values_list("pk", flat=True).first()
    if last is None:
        raise DomainError("The Product Backlog has no other item to place this one against.", field=field)
    return None, last


#: The placements a move accepts, in the order their fields are named in errors.
PLACEMENTS = ("before", "after", "position", "top", "bottom")


def _placement(
    before_id: int | None, after_id: int | None, position: int | None, top: bool, bottom: bool
) -> str:
    """Which placement a move names: "neighbours" (`before` and/or `after`), "position", "top" or
    "bottom". Raises `DomainError` naming the field when none or several are named."""
    named = [
        name
        for name, given in (
            ("neighbours", before_id is not None or after_id is not None),
            ("position", position is not None),
            ("top", top),
            ("bottom", bottom),
        )
        if given
    ]
    if not named:
        raise DomainError(
            "Say where the item goes: 'before' and/or 'after' (ids of neighbours), 'position' (1 is the "
            "top), 'top' or 'bottom'.",
            field="before",
        )
    if len(named) > 1:
        second = named[1]
        raise DomainError(
            "Name one placement: 'before' and/or 'after', or 'position', or 'top', or 'bottom'.",
            field=second,
        )
    return named[0]


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
@items_changed_batched()  # one change counted, after the family's row locks (`nexus_changed`)
def pbi_move(
    *,
    item: ProductBacklogItem,
    actor: User | AnonymousUser | None,
    source: str = Source.UI,
    before_id: int | None = None,
    after_id: int | None = None,
    position: int | None = None,
    top: bool = False,
    bottom: bool = False,
    expected_version: int | None = None,
    seen_token: str | None = None,
) -> MoveResult:
    """Move `item` in the Product Backlog order, with its children: the one move service, called by
    the backlog page, the REST API, the admin and the benchmarks.

    Exactly one placement: directly above `before_id` and/or directly below `after_id` (ids of
    neighbours; a drop between two rows names both, as Jira's rank API does), or to a 1-based
    `position` among the open items (past the end = the bottom), or `top`, or `bottom`. The item's
    children that directly follow it (`family_block`) move along, in their order, each with its own
    one-row move and rank entry in the transition log (`_move_locked`: the midpoint of the new
    neighbours' ranks; ranks are renumbered when the gap is used up). If the two named neighbours are
    no longer adjacent (stale view) the item is placed relative to `before` and `MoveResult.stale` is
    True.

    `expected_version` (the API's `If-Match`): raises `PreconditionFailed` (412) when the item's
    version differs, and moves nothing. `seen_token` is the `backlog_token` the client's page was
    rendered with; `MoveResult.in_sync` says whether it still matched under the lock.

    Raises `DomainError` naming the field (`before`, `after`, `position`, `top`, `bottom` or `item`)
    for no placement or several, a position below 1, a neighbour that does not exist, belongs to
    another Nexus, is the item itself or one of its own children, a backlog with no other item to
    place it against, and a finished or deleted item.
    """
    from backlog.selectors import backlog_token

    placement = _placement(before_id, after_id, position, top, bottom)
    if position is not None and position < 1:
        raise DomainError("Positions start at 1.", field="position")
    backlog = lock_backlog(item.backlog_id)
    in_sync = seen_token is not None and backlog_token(backlog_id=backlog.pk) == seen_token
    # The item read under the lock: its rank (the children that follow it from there move with it)
    # and its version.
    current = ProductBacklogItem.objects.filter(pk=item.pk).first()
    if current is None or current.deleted_at is not None:
        raise DomainError("This item has been deleted.", field="item")
    version_check(current, expected_version, undone="Nothing was moved")
    family = family_block(current)
    members = {current.pk} | {f.pk for f in family}
    if placement == "position":
        assert position is not None
        before_id, after_id = _resolve_position(backlog.pk, position, members, field="position")
    elif placement == "top":
        before_id, after_id = _resolve_position(backlog.pk, 1, members, field="top")
    elif placement == "bottom":
        before_id, after_id = _resolve_position(backlog.pk, BOTTOM, members, field="bottom")
    if (before_id in members and before_id != current.pk) or (after_id in members and after_id != current.pk):
        raise DomainError(
            "An item cannot be placed among its own children; they move with it.",
            field="before" if before_id in members else "after",
        )
    result = _move_family(
        backlog, current, family, before_id=before_id, after_id=after_id, actor=actor, source=source
    )
    return replace(
        result,
        carried=len(family),
        before_id=before_id,
        after_id=after_id,
        in_sync=in_sync,
        token=backlog_token(backlog_id=backlog.pk),
    )


def _move_family(
    backlog: ProductBacklog,
    item: ProductBacklogItem,
    family: list[ProductBacklogItem],
    *,
    before_id: int | None,
    after_id: int | None,
    actor: User | AnonymousUser | None,
    source: str,
) -> MoveResult:
    """Move `item` and its `family` block next to the neighbours, one `_move_locked` each (the caller
    holds the backlog's lock), in an order that leaves every logged position true: upwards the item
    first, then its children after it; downwards the last child first, then the others and the item
    above it. Returns the item's move (with `stale` and `renumbered` of the whole)."""
    if not family:
        return _move_locked(backlog, item, before_id=before_id, after_id=after_id, actor=actor, source=source)
    anchor_id = before_id if before_id is not None else after_id
    anchor = ProductBacklogItem.objects.filter(pk=anchor_id or 0).values_list("rank", flat=True).first()
    downwards = anchor is not None and anchor > item.rank
    if not downwards:
        first = _move_locked(
            backlog, item, before_id=before_id, after_id=after_id, actor=actor, source=source
        )
        renumbered, previous = first.renumbered, item
        for child in family:
            renumbered |= _move_locked(
                backlog, child, before_id=None, after_id=previous.pk, actor=actor, source=source
            ).renumbered
            previous = child
        return replace(first, renumbered=renumbered)
    *rest, last = family
    first = _move_locked(backlog, last, before_id=before_id, after_id=after_id, actor=actor, source=source)
    renumbered, below = first.renumbered, last
    for member in [*reversed(rest), item]:
        moved = _move_locked(backlog, member, before_id=below.pk, after_id=None, actor=actor, source=source)
        renumbered |= moved.renumbered
        below = member
    return replace(moved, stale=first.stale, renumbered=renumbered)
