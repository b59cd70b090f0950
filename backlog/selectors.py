"""Reads of the Nexus and its Product Backlog, for pages, the API and other apps (`flow`, `events`,
`integration` read `backlog` through these)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import connection
from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Window,
)
from django.db.models.functions import Coalesce, RowNumber
from django.http import Http404

from backlog.models import (
    READ_ONLY_ROLES,
    ColumnCategory,
    GoalStatus,
    Label,
    Membership,
    Nexus,
    NexusChangeCounter,
    ProductBacklog,
    ProductBacklogItem,
    ProductGoal,
    Role,
    ScrumTeam,
    TeamInvolvement,
    Transition,
    TransitionKind,
    WorkflowColumn,
)

AnyUser = User | AnonymousUser

#: The Nexus Guide's "approximately three to nine Scrum Teams".
TEAMS_MIN, TEAMS_MAX = 3, 9


def nexus_list_for_user(*, user: AnyUser) -> QuerySet[Nexus]:
    """Nexuses the user belongs to (all of them for a superuser), by name."""
    if getattr(user, "is_superuser", False):
        return Nexus.objects.all()
    if not user.is_authenticated:
        return Nexus.objects.none()
    return Nexus.objects.filter(memberships__user=user).distinct()


def nexus_get_for_user(*, user: AnyUser, slug: str) -> Nexus:
    """The Nexus `slug` if the user may see it. Raises `Http404` otherwise: another Nexus's data is
    invisible, not forbidden."""
    nexus = nexus_list_for_user(user=user).filter(slug=slug).first()
    if nexus is None:
        raise Http404("No such Nexus.")
    return nexus


def nexus_change_seq(*, nexus_id: int) -> int:
    """The Nexus's change counter (`NexusChangeCounter.seq`, advanced by every write to its data, in
    commit order; `backlog.services.common.nexus_changed`): anything changed since a reader saw N iff
    this is above N. 0 before the first change. One query."""
    seq = NexusChangeCounter.objects.filter(nexus_id=nexus_id).values_list("seq", flat=True).first()
    return int(seq or 0)


def nexus_change_seq_for_user(*, user: AnyUser, slug: str) -> tuple[int, int] | None:
    """(Nexus id, change counter) of the Nexus `slug` if the user may see it (as `nexus_get_for_user`),
    else None. One query: what a page's ETag needs before the page's own reads
    (`backlog.http.nexus_etag`)."""
    row = nexus_list_for_user(user=user).filter(slug=slug).values_list("pk", "change_counter__seq").first()
    return None if row is None else (int(row[0]), int(row[1] or 0))


def roles_of(*, user: AnyUser, nexus: Nexus) -> set[str]:
    """The roles (`Role` values) the user holds in the Nexus; empty for a non-member."""
    if not user.is_authenticated:
        return set()
    return set(Membership.objects.filter(nexus=nexus, user=user).values_list("role", flat=True))


def can_order_backlog(*, user: AnyUser, nexus: Nexus) -> bool:
    """Only the Product Owner (and superusers) order the Product Backlog (Nexus Guide)."""
    return backlog_rights(user=user, nexus=nexus).can_order


def can_change_workflow(*, user: AnyUser, nexus: Nexus) -> bool:
    """Who changes the Nexus's Definition of Workflow (its columns, their kind and WIP limits): the
    Nexus Integration Team, accountable for how the Nexus works (Nexus Guide; it inspects it at the
    Nexus Sprint Retrospective), and superusers. The one rule for every door: the Retrospective page's
    editor and the API's `columns/` writes (the Django admin is for administrators anyway). One query
    (none for a superuser)."""
    if getattr(user, "is_superuser", False):
        return True
    return Role.NIT_MEMBER in roles_of(user=user, nexus=nexus)


def can_create_items(*, user: AnyUser, nexus: Nexus) -> bool:
    """Who may add Product Backlog Items to the Nexus: every member but Stakeholders (the Product
    Owner, Scrum Masters, Developers and the Nexus Integration Team), and superusers. As in Jira and
    Azure Boards, anyone on the teams may add an item; the Product Owner orders the Product Backlog
    (`can_order_backlog`), so a new item's place is theirs to decide. The one rule for every door
    that can create an item: the backlog page's inline create form (shown and accepted), and the API's
    `POST items/`, `PUT items/by-external-id/{id}/` and `POST items/bulk/` (both upserts need it
    whether they end up creating or only updating: which one is decided under the backlog's lock)."""
    return backlog_rights(user=user, nexus=nexus).can_create


def can_edit_items(*, user: AnyUser, nexus: Nexus) -> bool:
    """Members other than Stakeholders (and Executive Action Team members, who read like them) may
    update Product Backlog Items and their state (who may create them: `can_create_items`)."""
    return backlog_rights(user=user, nexus=nexus).can_edit


@dataclass(frozen=True)
class BacklogRights:
    """What a user may do with a Nexus's Product Backlog: order it (`can_order_backlog`), add items
    (`can_create_items`), change items (`can_edit_items`)."""

    can_order: bool
    can_create: bool
    can_edit: bool


def backlog_rights(*, user: AnyUser, nexus: Nexus) -> BacklogRights:
    """The three rights of `BacklogRights`, from one look-up of the user's roles (one query; none for
    a superuser or an anonymous user). The rules: the Product Owner orders; every member but
    Stakeholders adds and changes items; superusers do everything."""
    if getattr(user, "is_superuser", False):
        return BacklogRights(can_order=True, can_create=True, can_edit=True)
    roles = roles_of(user=user, nexus=nexus)
    members = bool(roles - READ_ONLY_ROLES)
    return BacklogRights(can_order=Role.PRODUCT_OWNER in roles, can_create=members, can_edit=members)


@dataclass(frozen=True)
class NexusHome:
    """What the Nexus home page shows."""

    nexus: Nexus
    goal: ProductGoal | None
    past_goals: list[ProductGoal]
    teams: list[Any]  # ScrumTeam annotated with `members` and `open_items`
    team_warning: str | None
    product_owner: Membership | None
    nit: list[Membership]
    columns: list[WorkflowColumn]
    open_items: int
    in_progress_items: int


def _count_per_team(rows: QuerySet[Any]) -> Coalesce:
    """The number of `rows` (filtered on `team=OuterRef("pk")`) as a subquery for a team's annotation."""
    counted = rows.order_by().values("team").annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def nexus_home_get(*, nexus: Nexus) -> NexusHome:
    """Product Goal, Scrum Teams (with member and open-item counts), Nexus Integration Team, workflow.
    A fixed number of queries, whatever the number of teams, members and items.

    Each team's counts are correlated subqueries: joining memberships and involvements in one query
    multiplied the rows (members x involvements per team) before counting them distinct."""
    goals = list(ProductGoal.objects.filter(backlog__nexus=nexus).order_by("-created_at")[:6])
    goal = next((g for g in goals if g.status == GoalStatus.ACTIVE), None)
    members_of = _count_per_team(Membership.objects.filter(team=OuterRef("pk")))
    open_items_of = _count_per_team(  # one involvement per item and team (`involvement_unique`)
        TeamInvolvement.objects.filter(team=OuterRef("pk"), item__deleted_at__isnull=True).exclude(
            item__column__category=ColumnCategory.DONE
        )
    )
    teams = list(ScrumTeam.objects.filter(nexus=nexus).annotate(members=members_of, open_items=open_items_of))
    n = len(teams)
    warning = None
    if n < TEAMS_MIN or n > TEAMS_MAX:
        warning = (
            f"This Nexus has {n} Scrum Team{'s' if n != 1 else ''}. The Nexus Guide describes approximately "
            f"three to nine Scrum Teams working on a single product."
        )
    members = list(Membership.objects.filter(nexus=nexus).select_related("user", "team"))
    items = ProductBacklogItem.objects.alive().filter(backlog__nexus=nexus)
    counts = items.aggregate(
        open=Count("id", filter=~Q(column__category=ColumnCategory.DONE)),
        wip=Count("id", filter=Q(column__category=ColumnCategory.IN_PROGRESS)),
    )
    return NexusHome(
        nexus=nexus,
        goal=goal,
        past_goals=[g for g in goals if g.status != GoalStatus.ACTIVE],
        teams=teams,
        team_warning=warning,
        product_owner=next((m for m in members if m.role == Role.PRODUCT_OWNER), None),
        nit=[m for m in members if m.role == Role.NIT_MEMBER],
        columns=list(WorkflowColumn.objects.filter(nexus=nexus).order_by("position")),
        open_items=counts["open"],
        in_progress_items=counts["wip"],
    )


def items_with_card_data(qs: QuerySet[ProductBacklogItem]) -> QuerySet[ProductBacklogItem]:
    """Join and prefetch what a row or a card shows (column, labels, team squares): constant queries."""
    return qs.select_related("column").prefetch_related(
        "labels", Prefetch("involvements", queryset=TeamInvolvement.objects.select_related("team"))
    )


def backlog_items(*, nexus: Nexus) -> QuerySet[ProductBacklogItem]:
    """The Product Backlog: live items not finished, in order (rank ascending)."""
    return items_with_card_data(
        ProductBacklogItem.objects.open().filter(backlog__nexus=nexus).order_by("rank")
    )


def workflow_columns(*, nexus: Nexus) -> list[WorkflowColumn]:
    """The Definition of Workflow, left to right."""
    return list(WorkflowColumn.objects.filter(nexus=nexus).order_by("position"))


# --- The Product Backlog page -------------------------------------------------------------------------

#: Rows rendered at most in one window of the backlog page (the page loads the rest as it scrolls).
BACKLOG_WINDOW_MAX = 5000


@dataclass(frozen=True)
class BacklogFilters:
    """Filters of the backlog page. Empty values filter nothing; the order is always the backlog's.

    `q` matches the title or the external id (case-insensitive substring); `label`, `team`, `column`
    are primary keys; `cos` a `ClassOfService` value; `blocked` True = only blocked items, False = only
    unblocked ones, None = both."""

    q: str = ""
    label: int | None = None
    team: int | None = None
    column: int | None = None
    cos: str = ""
    blocked: bool | None = None

    @property
    def active(self) -> bool:
        return bool(self.q or self.label or self.team or self.column or self.cos or self.blocked is not None)

    def apply(self, qs: QuerySet[ProductBacklogItem]) -> QuerySet[ProductBacklogItem]:
        if self.q:
            qs = qs.filter(Q(title__icontains=self.q) | Q(external_id__icontains=self.q))
        if self.label:  # EXISTS rather than a join: no duplicates, no DISTINCT over the backlog
            through = ProductBacklogItem.labels.through.objects
            qs = qs.filter(Exists(through.filter(productbacklogitem_id=OuterRef("pk"), label_id=self.label)))
        if self.team:
            qs = qs.filter(Exists(TeamInvolvement.objects.filter(item_id=OuterRef("pk"), team_id=self.team)))
        if self.column:
            qs = qs.filter(column_id=self.column)
        if self.cos:
            qs = qs.filter(class_of_service=self.cos)
        if self.blocked is not None:
            qs = qs.filter(is_blocked=self.blocked)
        return qs


@dataclass(slots=True)
class BacklogRow:
    """One row of the backlog page, read as plain values (no model instances: a page shows thousands).

    `position` is the 1-based place among all open items of the backlog, whatever the filters;
    `column_name` and `column_ready` describe its Definition of Workflow column; `labels` are names;
    `squares` are (Scrum Team name, `TeamStatus` value) pairs by team name; `depth` is
    the row's indentation under its parent (0 when it does not directly follow its family);
    `parent_title` names the parent of a child shown away from it; `has_children` says whether the
    item has open children."""

    pk: int
    title: str
    external_id: str
    is_blocked: bool
    blocked_reason: str
    size: Any
    class_of_service: str
    parent_id: int | None
    column_name: str
    column_ready: bool
    labels: list[str]
    squares: list[tuple[str, str]]
    position: int
    depth: int = 0
    parent_title: str = ""
    has_children: bool = False


@dataclass
class BacklogWindow:
    """A slice of the ordered Product Backlog as the page shows it.

    `total` counts the items matching the filters, `open_total` all open items; `token` changes
    whenever any item of the backlog is written (see `backlog_token`)."""

    rows: list[BacklogRow]
    offset: int
    limit: int
    total: int
    open_total: int
    token: str
    filters: BacklogFilters

    @property
    def end(self) -> int:
        return self.offset + len(self.rows)

    @property
    def has_more(self) -> bool:
        return self.end < self.total


def backlog_token(*, backlog_id: int) -> str:
    """A fingerprint of the backlog's state: the latest `updated_at` of its items (every service that
    writes an item, deletes included, bumps it). A page sends the token it was rendered with; when it
    still matches, the page was showing the truth. One index probe (index `pbi_updated`). An import
    stamps the items it creates with the time of the import, so it changes the token too."""
    return _token(
        ProductBacklogItem.objects.filter(backlog_id=backlog_id).aggregate(last=Max("updated_at"))["last"]
    )


def _token(last: Any) -> str:
    return f"{last.timestamp():.6f}" if last else "0"


def _open_items(nexus: Nexus) -> QuerySet[ProductBacklogItem]:
    """Open items of the Nexus, filtered on `backlog_id` (a sub-select) so that PostgreSQL walks the
    rank index (`pbi_unique_rank`) instead of sorting the whole backlog."""
    backlog = ProductBacklog.objects.filter(nexus=nexus).values("pk")
    return ProductBacklogItem.objects.open().filter(backlog_id=Subquery(backlog))


def _positions(nexus: Nexus, ids: list[int]) -> dict[int, int]:
    """1-based positions among all open items of the backlog, for the items `ids` (one query)."""
    if not ids:
        return {}
    inner = (
        _open_items(nexus)
        .annotate(pos=Window(RowNumber(), order_by=F("rank").asc()))
        .values_list("id", "pos")
        .order_by()
    )
    sql, params = inner.query.sql_with_params()
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT s.id, s.pos FROM ({sql}) s WHERE s.id IN ({marks})", [*params, *ids])
        return {int(i): int(p) for i, p in cursor.fetchall()}


_ROW_FIELDS = (
    "id",
    "title",
    "external_id",
    "is_blocked",
    "blocked_reason",
    "size",
    "class_of_service",
    "parent_id",
    "column__name",
    "column__is_ready",
)


def _rows(
    values: list[tuple[Any, ...]],
    positions: list[int],
    ids: Any = None,
) -> list[BacklogRow]:
    """Rows from `values_list(*_ROW_FIELDS)` tuples: two more queries (labels, team
    involvements), whatever the number of rows. `ids` selects the rows' labels and involvements: the
    ids (default) or a sub-select giving them (cheaper than thousands of parameters)."""
    ids = ids if ids is not None else [v[0] for v in values]
    labels: dict[int, list[str]] = {}
    squares: dict[int, list[tuple[str, str]]] = {}
    if values:
        through = ProductBacklogItem.labels.through.objects
        for item_id, name in (
            through.filter(productbacklogitem_id__in=ids)
            .order_by("label__name")
            .values_list("productbacklogitem_id", "label__name")
        ):
            labels.setdefault(item_id, []).append(name)
        for item_id, team, status in (
            TeamInvolvement.objects.filter(item_id__in=ids)
            .order_by("team__name")
            .values_list("item_id", "team__name", "status")
        ):
            squares.setdefault(item_id, []).append((team, status))
    return [
        BacklogRow(
            pk,
            title,
            ext,
            blocked,
            reason,
            size,
            cos,
            parent_id,
            column,
            ready,
            labels.get(pk, []),
            squares.get(pk, []),
            position,
        )
        for (pk, title, ext, blocked, reason, size, cos, parent_id, column, ready), position in zip(
            values, positions, strict=True
        )
    ]


def _row_values(qs: QuerySet[ProductBacklogItem]) -> QuerySet[ProductBacklogItem, tuple[Any, ...]]:
    return qs.values_list(*_ROW_FIELDS)


def backlog_window(
    *, nexus: Nexus, filters: BacklogFilters | None = None, offset: int = 0, limit: int = 250
) -> BacklogWindow:
    """Rows `offset` to `offset + limit` of the ordered Product Backlog (open items, rank ascending),
    filtered by `filters`. A fixed number of queries, whatever the size: 6, plus 2 when filtered."""
    filters = filters or BacklogFilters()
    offset = max(0, offset)
    limit = max(1, min(limit, BACKLOG_WINDOW_MAX))
    backlog_id = Subquery(ProductBacklog.objects.filter(nexus=nexus).values("pk"))
    token = _token(
        ProductBacklogItem.objects.filter(backlog_id=backlog_id).aggregate(last=Max("updated_at"))["last"]
    )
    open_qs = _open_items(nexus)
    open_total = open_qs.count()
    matching = filters.apply(open_qs)
    total = matching.count() if filters.active else open_total
    # One row before the window gives the first row its family context.
    start = max(0, offset - 1)
    values = list(_row_values(matching.order_by("rank"))[start : offset + limit])
    previous = values.pop(0) if offset > 0 and values else None
    if filters.active:
        pos = _positions(nexus, [v[0] for v in values])
        positions = [pos.get(v[0], 0) for v in values]
    else:
        positions = list(range(offset + 1, offset + 1 + len(values)))
    # Unfiltered, the window is the same slice of the rank index: select it again in the database.
    ids = None if filters.active else Subquery(open_qs.order_by("rank").values("pk")[offset : offset + limit])
    rows = _rows(values, positions, ids)
    parents = _parents(open_qs)
    _place_in_tree(rows, parents, previous=(previous[0], previous[7]) if previous else None)
    return BacklogWindow(
        rows=rows,
        offset=offset,
        limit=limit,
        total=total,
        open_total=open_total,
        token=token,
        filters=filters,
    )


def _parents(open_qs: QuerySet[ProductBacklogItem]) -> dict[int, tuple[int | None, str]]:
    """Open items that have open children, as {id: (parent id, title)}: the tree's depth, the
    parents' titles, the collapse toggles. One query (index on `parent_id`)."""
    children = open_qs.filter(parent_id__isnull=False).values("parent_id")
    return {
        pk: (parent_id, title)
        for pk, parent_id, title in open_qs.filter(pk__in=children).values_list("id", "parent_id", "title")
    }


def _place_in_tree(
    rows: list[BacklogRow],
    parents: dict[int, tuple[int | None, str]],
    *,
    previous: tuple[int, int | None] | None,
) -> None:
    """Set `has_children`, `depth` and `parent_title` of the rows. A child is indented under its
    parent when it directly follows its family (its parent, a sibling, or a sibling's descendant);
    otherwise it shows at depth 0 with its parent's title. `previous` = (id, parent id) of the row
    before the first one, if any."""
    depth_of: dict[int, int] = {}
    prev = previous
    for row in rows:
        row.has_children = row.pk in parents
        parent = row.parent_id
        if parent is not None and parent in parents:
            in_family = prev is not None and (parent == prev[0] or parent in _ancestors(prev[1], parents))
            if in_family:
                if parent in depth_of:
                    row.depth = depth_of[parent] + 1
                else:  # the parent is above this window: count the open ancestors
                    row.depth = len(_ancestors(parent, parents))
            else:
                row.parent_title = parents[parent][1]
        depth_of[row.pk] = row.depth
        prev = (row.pk, row.parent_id)


def _ancestors(item_id: int | None, parents: dict[int, tuple[int | None, str]]) -> list[int]:
    """`item_id` and its open ancestors, nearest first (at most 6)."""
    chain: list[int] = []
    while item_id is not None and item_id in parents and len(chain) < 6:
        chain.append(item_id)
        item_id = parents[item_id][0]
    return chain


def backlog_row(*, nexus: Nexus, pk: int, position: int) -> BacklogRow:
    """One row of the backlog page for the open item `pk` at `position` (after a move): four queries.
    Raises `ProductBacklogItem.DoesNotExist` when the item is not open."""
    values = list(_row_values(_open_items(nexus).filter(pk=pk)))
    if not values:
        raise ProductBacklogItem.DoesNotExist(pk)
    row = _rows(values, [position])[0]
    row.has_children = ProductBacklogItem.objects.open().filter(parent_id=pk).exists()
    return row


def backlog_filter_choices(*, nexus: Nexus) -> dict[str, list[Any]]:
    """Choices of the backlog page's filters: labels, Scrum Teams, the open columns (three queries)."""
    return {
        "labels": list(Label.objects.filter(nexus=nexus).order_by("name")),
        "teams": list(ScrumTeam.objects.filter(nexus=nexus).order_by("name")),
        "columns": list(
            WorkflowColumn.objects.filter(nexus=nexus)
            .exclude(category=ColumnCategory.DONE)
            .order_by("position")
        ),
    }


def ready_column(*, nexus: Nexus) -> WorkflowColumn | None:
    """The column where refined items wait (the first marked `is_ready`), if the Nexus has one."""
    return WorkflowColumn.objects.filter(nexus=nexus, is_ready=True).order_by("position").first()


def active_goal(*, nexus: Nexus) -> ProductGoal | None:
    """The active Product Goal of the Nexus, if any."""
    return ProductGoal.objects.filter(backlog__nexus=nexus, status=GoalStatus.ACTIVE).first()


def goals_get(*, nexus: Nexus, past: int = 5) -> tuple[ProductGoal | None, list[ProductGoal]]:
    """The active Product Goal (or None) and the latest `past` achieved or abandoned ones (one query)."""
    goals = list(ProductGoal.objects.filter(backlog__nexus=nexus).order_by("-created_at")[: past + 1])
    active = next((g for g in goals if g.status == GoalStatus.ACTIVE), None)
    return active, [g for g in goals if g.status != GoalStatus.ACTIVE][:past]


def pbi_get_for_user(*, user: AnyUser, nexus: Nexus, pk: int) -> ProductBacklogItem:
    """A live item of the Nexus with its column, backlog, parent, labels and team involvements.
    Raises `Http404` for anything else (another Nexus's item is invisible, not forbidden)."""
    item = (
        items_with_card_data(ProductBacklogItem.objects.alive())
        .select_related("backlog", "parent")
        .filter(pk=pk, backlog__nexus=nexus)
        .first()
    )
    if item is None:
        raise Http404("No such Product Backlog Item.")
    return item


def rank_history(*, item: ProductBacklogItem, limit: int = 20) -> list[Transition]:
    """ "Who moved this?": the item's latest moves in the Product Backlog order, newest first."""
    return list(
        Transition.objects.filter(item=item, kind=TransitionKind.RANK)
        .select_related("actor")
        .order_by("-at", "-id")[:limit]
    )
