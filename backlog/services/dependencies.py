"""Dependencies between Product Backlog Items: create, resolve, remove, reopen; what a split and a
delete do to them. Model: `backlog.models_dependency`.

Rules (issue 12; the Nexus Guide's Cross-Team Refinement makes dependencies transparent):

- refused with a reason (`DomainError`, 400, naming the field): on itself (`depends_on`), across Nexuses
  (`depends_on`), on a deleted PBI (`item` or `depends_on`), an unknown kind or event; a duplicate (409,
  `depends_on`); a `depends_on` edge that closes a cycle of open `depends_on` edges (409, `depends_on`,
  naming the path);
- the checks run under the Nexus lock (`nexus_lock`), so two concurrent requests A→B and B→A cannot both
  pass: the second one waits for the first to commit and then sees its edge;
- who: members other than Stakeholders add (`can_create_items`); the Product Owner, the Nexus Integration
  Team and the Developers of a team forecast on either PBI (its squares) resolve, remove and reopen
  (`NotAllowed`, 403, otherwise). `actor=None` is the system (demo, imports): always allowed;
- each change writes a `DependencyChange` row, advances the Nexus's change counter (`nexus_changed`) and
  records the webhook event `dependency.created` / `.resolved` / `.removed` (a reopen: `.created`);
- a removed dependency leaves a tombstone (kind `dependency`) for sync clients
  (`dependencies/deleted/`); reopening brings it back through `updated_since`.

Lock order: the Product Backlog, an item, the Nexus, then dependency rows, the change counter last.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.utils import timezone

from backlog.errors import Conflict, DomainError, NotAllowed, PreconditionFailed
from backlog.models import (
    READ_ONLY_ROLES,
    Dependency,
    DependencyChange,
    DependencyChangeKind,
    DependencyKind,
    DependencyStatus,
    FoundAt,
    Membership,
    ProductBacklogItem,
    Role,
    Source,
    TeamInvolvement,
)
from backlog.models_api import Tombstone
from backlog.services.common import nexus_changed, nexus_lock
from nexus_site.db import retry_transient

Actor = User | AnonymousUser | None

#: The tombstone kind of a removed dependency (`GET .../dependencies/deleted/`).
DEPENDENCY_TOMBSTONE = "dependency"
#: The webhook event types of dependencies (registered by `BacklogConfig.ready`).
DEPENDENCY_EVENTS = (
    ("dependency.created", "A dependency between two PBIs found (or reopened)"),
    ("dependency.resolved", "A dependency resolved"),
    ("dependency.removed", "A dependency removed (re-sliced, a PBI deleted, or a mistake)"),
)
#: `found_by_name` of the dependencies the demo loader adds.
DEMO_FINDER = "demo loader"


# --- The cycle check (a pure function: the bench times it) ---------------------------------------------


def cycle_path(edges: Iterable[tuple[int, int]], item_id: int, depends_on_id: int) -> list[int] | None:
    """Whether adding the edge `item_id → depends_on_id` ("item depends on depends_on") to the directed
    graph `edges` (pairs `(a, b)`: a depends on b) closes a cycle: the path `[depends_on_id, ...,
    item_id]` already in the graph if so (then the new edge closes it), else None. Iterative depth-first
    search from `depends_on_id`, linear in the edges (2,000 edges: well under a millisecond)."""
    if item_id == depends_on_id:
        return [item_id]
    graph: dict[int, list[int]] = defaultdict(list)
    for a, b in edges:
        graph[a].append(b)
    parent: dict[int, int | None] = {depends_on_id: None}
    stack = [depends_on_id]
    while stack:
        node = stack.pop()
        for nxt in graph.get(node, ()):
            if nxt in parent:
                continue
            parent[nxt] = node
            if nxt == item_id:
                path = [nxt]
                back: int | None = node
                while back is not None:
                    path.append(back)
                    back = parent[back]
                return path[::-1]
            stack.append(nxt)
    return None


def _open_edges(nexus_id: int) -> list[tuple[int, int]]:
    return list(
        Dependency.objects.filter(
            nexus_id=nexus_id, kind=DependencyKind.DEPENDS_ON, status=DependencyStatus.OPEN
        ).values_list("item_id", "depends_on_id")
    )


def _cycle_check(nexus_id: int, item_id: int, depends_on_id: int) -> None:
    path = cycle_path(_open_edges(nexus_id), item_id, depends_on_id)
    if path is not None:
        chain = " → ".join(f"#{i}" for i in [item_id, *path])
        raise Conflict(
            f"That would close a cycle of dependencies ({chain}): a PBI would wait on itself. Resolve or "
            "remove one of them, or re-slice the work.",
            field="depends_on",
        )


# --- Who may -----------------------------------------------------------------------------------------


def dependency_add_refusal(*, actor: Actor, nexus_id: int) -> str | None:
    """Why `actor` may not add a dependency in the Nexus, or None: every member but Stakeholders may
    (as `selectors.can_create_items`), administrators and the system (`actor=None`) too. One query."""
    if actor is None:
        return None
    if not isinstance(actor, User):
        return "Sign in to add a dependency."
    if actor.is_superuser:
        return None
    roles = set(Membership.objects.filter(nexus_id=nexus_id, user=actor).values_list("role", flat=True))
    if roles - READ_ONLY_ROLES:  # Stakeholders and Executive Action Team members read
        return None
    if roles:
        return "Stakeholders see the dependencies; the Nexus's other members add them."
    return "You are not a member of this Nexus."


def dependency_change_refusal(*, actor: Actor, dependency: Dependency) -> str | None:
    """Why `actor` may not resolve, remove or reopen `dependency`, or None: the Product Owner, Nexus
    Integration Team members, administrators and the system may, and the Developers of a Scrum Team
    forecast on either PBI (its team squares). Two queries at most."""
    if actor is None:
        return None
    if not isinstance(actor, User):
        return "Sign in to change a dependency."
    if actor.is_superuser:
        return None
    roles = list(
        Membership.objects.filter(nexus_id=dependency.nexus_id, user=actor).values_list("role", "team_id")
    )
    if any(role in (Role.PRODUCT_OWNER, Role.NIT_MEMBER) for role, _ in roles):
        return None
    mine = {team_id for role, team_id in roles if role == Role.DEVELOPER}
    if mine:
        sides = set(
            TeamInvolvement.objects.filter(
                item_id__in=[dependency.item_id, dependency.depends_on_id]
            ).values_list("team_id", flat=True)
        )
        if mine & sides:
            return None
        return (
            "Only the Developers of a team on either PBI (and the Product Owner and the Nexus Integration "
            "Team) resolve or remove this dependency; your team is on neither."
        )
    if roles:
        return "Only the Product Owner, the Nexus Integration Team and the Developers of either side do this."
    return "You are not a member of this Nexus."


def dependency_can_change(*, actor: Actor, dependency: Dependency) -> bool:
    """Whether `dependency_change_refusal` lets `actor` change it (for pages offering the controls)."""
    return dependency_change_refusal(actor=actor, dependency=dependency) is None


# --- Writes ------------------------------------------------------------------------------------------


def _user(actor: Actor) -> User | None:
    return actor if isinstance(actor, User) else None


def dependency_payload(dependency: Dependency) -> dict[str, Any]:
    """The webhook body's `dependency`: `{"id", "item", "depends_on", "kind", "status", "found_at",
    "found_on", "version"}` (ids of PBIs; `found_on` UTC)."""
    return {
        "id": dependency.pk,
        "item": dependency.item_id,
        "depends_on": dependency.depends_on_id,
        "kind": dependency.kind,
        "status": dependency.status,
        "found_at": dependency.found_at,
        "found_on": dependency.found_on,
        "version": dependency.version,
    }


def _event(dependency: Dependency, event: str) -> None:
    from backlog.services.webhooks import webhook_event_record

    webhook_event_record(
        nexus_id=dependency.nexus_id,
        event=event,
        payload={"dependency": dependency_payload(dependency)},
        item_id=dependency.item_id,
    )


def _log(
    dependency: Dependency,
    kind: str,
    *,
    actor: Actor,
    source: str,
    at: Any,
    from_status: str = "",
    event: str = "",
    reason: str = "",
    origin: Dependency | None = None,
) -> None:
    DependencyChange.objects.create(
        dependency=dependency,
        nexus_id=dependency.nexus_id,
        kind=kind,
        at=at,
        actor=_user(actor),
        source=source,
        event=event,
        from_status=from_status,
        to_status=dependency.status,
        item_id_then=dependency.item_id,
        depends_on_id_then=dependency.depends_on_id,
        origin=origin,
        reason=reason[:300],
    )


def _live_pair(nexus_id: int, item_id: int, depends_on_id: int, kind: str) -> Dependency | None:
    return (
        Dependency.objects.filter(nexus_id=nexus_id, item_id=item_id, depends_on_id=depends_on_id, kind=kind)
        .exclude(status=DependencyStatus.REMOVED)
        .first()
    )


def _ordered(kind: str, item_id: int, depends_on_id: int) -> tuple[int, int]:
    if kind == DependencyKind.INTEGRATES_WITH and item_id > depends_on_id:
        return depends_on_id, item_id
    return item_id, depends_on_id


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def dependency_create(
    *,
    item: ProductBacklogItem,
    depends_on: ProductBacklogItem,
    actor: Actor,
    kind: str = DependencyKind.DEPENDS_ON,
    found_at: str = FoundAt.REFINEMENT,
    source: str = Source.UI,
    note: str = "",
    found_by_name: str = "",
) -> Dependency:
    """Record that `item` depends on `depends_on` (`kind="depends_on"`) or that the two must integrate
    together (`"integrates_with"`; stored with the smaller id first), found by `actor` at the Nexus event
    `found_at` (`FoundAt`), now. Returns the new open `Dependency`.

    Raises `DomainError` (400): an unknown `kind` or `found_at` (that field), a note over 300
    characters (`note`), `depends_on` the item itself or of another Nexus (`depends_on`), either PBI
    deleted (`item` / `depends_on`); `Conflict` (409, `depends_on`): the same dependency exists (open or
    resolved), or the edge would close a cycle of open `depends_on` edges; `NotAllowed` (403): a
    Stakeholder or non-member (`dependency_add_refusal`). Checked under the Nexus lock."""
    if kind not in DependencyKind.values:
        raise DomainError(f"Kind must be one of {', '.join(DependencyKind.values)}.", field="kind")
    if found_at not in FoundAt.values:
        raise DomainError(f"The event must be one of {', '.join(FoundAt.values)}.", field="found_at")
    if len(note) > 300:
        raise DomainError("Keep the note to 300 characters.", field="note")
    if item.pk == depends_on.pk:
        raise DomainError("A PBI cannot depend on itself.", field="depends_on")
    nexus_id = (
        ProductBacklogItem.objects.filter(pk=item.pk).values_list("backlog__nexus_id", flat=True).first()
    )
    if nexus_id is None:
        raise DomainError("That PBI does not exist.", field="item")
    refusal = dependency_add_refusal(actor=actor, nexus_id=nexus_id)
    if refusal:
        raise NotAllowed(refusal, field="item")
    nexus_lock(nexus_id)
    # Re-read both under the lock: a deletion that committed meanwhile is seen here; one in progress
    # waits for this lock before it removes the item's dependencies (`dependencies_on_item_deleted`).
    rows = {
        pk: (nx, deleted)
        for pk, nx, deleted in ProductBacklogItem.objects.filter(pk__in=[item.pk, depends_on.pk]).values_list(
            "pk", "backlog__nexus_id", "deleted_at"
        )
    }
    if item.pk not in rows or rows[item.pk][1] is not None:
        raise DomainError("This PBI has been deleted.", field="item")
    if depends_on.pk not in rows or rows[depends_on.pk][0] != nexus_id:
        raise DomainError(
            "That PBI is not in this Nexus: dependencies stay within one Nexus.", field="depends_on"
        )
    if rows[depends_on.pk][1] is not None:
        raise DomainError("That PBI has been deleted.", field="depends_on")
    a, b = _ordered(kind, item.pk, depends_on.pk)
    if _live_pair(nexus_id, a, b, kind) is not None:
        raise Conflict("This dependency exists already (open or resolved).", field="depends_on")
    if kind == DependencyKind.DEPENDS_ON:
        _cycle_check(nexus_id, a, b)
    now = timezone.now()
    dependency = Dependency.objects.create(
        nexus_id=nexus_id,
        item_id=a,
        depends_on_id=b,
        kind=kind,
        found_by=_user(actor),
        found_by_name=found_by_name[:100],
        found_at=found_at,
        found_on=now,
        note=note,
    )
    _log(dependency, DependencyChangeKind.CREATED, actor=actor, source=source, at=now, event=found_at)
    nexus_changed(nexus_id)
    _event(dependency, "dependency.created")
    return dependency


_KIND_OF = {
    DependencyStatus.RESOLVED: DependencyChangeKind.RESOLVED,
    DependencyStatus.REMOVED: DependencyChangeKind.REMOVED,
    DependencyStatus.OPEN: DependencyChangeKind.REOPENED,
}
_EVENT_OF = {
    DependencyStatus.RESOLVED: "dependency.resolved",
    DependencyStatus.REMOVED: "dependency.removed",
    DependencyStatus.OPEN: "dependency.created",
}


def _apply_status(
    locked: Dependency, status: str, *, actor: Actor, source: str, at: Any, event: str = "", reason: str = ""
) -> None:
    """Write the new `status` of a locked dependency, its log row, tombstone and webhook event."""
    before = locked.status
    locked.status = status
    if status == DependencyStatus.RESOLVED:
        locked.resolved_at, locked.removed_at = at, None
    elif status == DependencyStatus.REMOVED:
        locked.removed_at = at
    else:
        locked.resolved_at = locked.removed_at = None
    locked.version += 1
    locked.save(update_fields=["status", "resolved_at", "removed_at", "version", "updated_at"])
    _log(
        locked,
        _KIND_OF[DependencyStatus(status)],
        actor=actor,
        source=source,
        at=at,
        from_status=before,
        event=event,
        reason=reason,
    )
    if status == DependencyStatus.REMOVED:
        Tombstone.objects.create(
            nexus_id=locked.nexus_id, kind=DEPENDENCY_TOMBSTONE, object_id=locked.pk, deleted_at=at
        )
    _event(locked, _EVENT_OF[DependencyStatus(status)])


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def dependency_set_status(
    *,
    dependency: Dependency,
    status: str,
    actor: Actor,
    source: str = Source.UI,
    event: str = "",
    reason: str = "",
    expected_version: int | None = None,
) -> Dependency:
    """Resolve (`status="resolved"`), remove (`"removed"`) or reopen (`"open"`) a dependency. Setting
    the status it has changes nothing. `event` (optional, a `FoundAt`) is the Nexus event at which it
    happened; `reason` (optional, up to 300 characters) why.

    Raises `DomainError` (400): an unknown `status`, `event`, or a reason too long; `NotAllowed` (403,
    `dependency_change_refusal`); `PreconditionFailed` (412, `If-Match`) when `expected_version`
    differs; `Conflict` (409): reopening when either PBI is deleted (`status`), when the same dependency
    is live again (`status`), or when its edge would close a cycle (`depends_on`). Under the Nexus lock."""
    if status not in DependencyStatus.values:
        raise DomainError(f"Status must be one of {', '.join(DependencyStatus.values)}.", field="status")
    if event and event not in FoundAt.values:
        raise DomainError(f"The event must be one of {', '.join(FoundAt.values)}.", field="event")
    if len(reason) > 300:
        raise DomainError("Keep the reason to 300 characters.", field="reason")
    refusal = dependency_change_refusal(actor=actor, dependency=dependency)
    if refusal:
        raise NotAllowed(refusal, field="dependency")
    nexus_lock(dependency.nexus_id)
    locked = Dependency.objects.select_for_update().get(pk=dependency.pk)
    if expected_version is not None and locked.version != expected_version:
        raise PreconditionFailed(
            f"The dependency is at version {locked.version}, not {expected_version}: someone changed it "
            "after you read it. Nothing was changed; read it again.",
            current_version=locked.version,
            field="If-Match",
        )
    if locked.status == status:
        return locked
    if status == DependencyStatus.OPEN:
        deleted = ProductBacklogItem.objects.filter(
            pk__in=[locked.item_id, locked.depends_on_id], deleted_at__isnull=False
        ).exists()
        if deleted:
            raise Conflict(
                "A PBI of this dependency has been deleted: it cannot be reopened.", field="status"
            )
        if locked.status == DependencyStatus.REMOVED:
            again = _live_pair(locked.nexus_id, locked.item_id, locked.depends_on_id, locked.kind)
            if again is not None:
                raise Conflict(f"The same dependency is live again (#{again.pk}).", field="status")
        if locked.kind == DependencyKind.DEPENDS_ON:
            _cycle_check(locked.nexus_id, locked.item_id, locked.depends_on_id)
    _apply_status(locked, status, actor=actor, source=source, at=timezone.now(), event=event, reason=reason)
    nexus_changed(locked.nexus_id)
    return locked


def dependency_resolve(*, dependency: Dependency, actor: Actor, **kwargs: Any) -> Dependency:
    """`dependency_set_status(status="resolved")`."""
    return dependency_set_status(
        dependency=dependency, status=DependencyStatus.RESOLVED, actor=actor, **kwargs
    )


def dependency_remove(*, dependency: Dependency, actor: Actor, **kwargs: Any) -> Dependency:
    """`dependency_set_status(status="removed")`: leaves a tombstone for sync clients."""
    return dependency_set_status(
        dependency=dependency, status=DependencyStatus.REMOVED, actor=actor, **kwargs
    )


def dependency_reopen(*, dependency: Dependency, actor: Actor, **kwargs: Any) -> Dependency:
    """`dependency_set_status(status="open")`."""
    return dependency_set_status(dependency=dependency, status=DependencyStatus.OPEN, actor=actor, **kwargs)


# --- Hooks of the item services (inside their transaction) ------------------------------------------


def dependencies_on_item_deleted(*, item: ProductBacklogItem, actor: Actor, source: str, at: Any) -> int:
    """`pbi_delete`'s step (the item locked; inside its transaction): every live (open or resolved)
    dependency of the deleted PBI becomes `removed` (reason "PBI deleted"), with its log row, tombstone
    and `dependency.removed` event. Takes the Nexus lock. Returns how many. The caller advances the
    change counter."""
    live = Dependency.objects.filter(item_id=item.pk) | Dependency.objects.filter(depends_on_id=item.pk)
    live = live.exclude(status=DependencyStatus.REMOVED)
    # The lock first, always: a dependency being added now either committed before (and is read
    # below) or waits, and then sees the item deleted.
    nexus_lock(item.backlog.nexus_id)
    rows = list(live.select_for_update().order_by("pk"))
    for row in rows:
        _apply_status(
            row, DependencyStatus.REMOVED, actor=actor, source=Source.SYSTEM, at=at, reason="PBI deleted"
        )
    return len(rows)


def dependencies_carry_on_split(
    *,
    item: ProductBacklogItem,
    children: Sequence[ProductBacklogItem],
    carry: Mapping[int, Sequence[int]] | None,
    actor: Actor,
    source: str,
) -> list[Dependency]:
    """`pbi_split`'s step: each open dependency of the split `item` is carried by the children chosen in
    `carry` (dependency id → 0-based indexes into `children`; a dependency left out, or `carry=None`:
    every child carries it; an empty list: none, the item keeps it). A carried dependency is copied to
    each chosen child (a `carried` log row naming its `origin`) and the item's own is removed (reason
    "carried to its children by a split"). Copies of an acyclic graph's node stay acyclic, so no cycle
    check is needed. Raises `DomainError` (`dependencies`) for an index out of range or a dependency
    that is not the item's. Returns the new dependencies. The caller advances the change counter."""
    live = Dependency.objects.filter(item_id=item.pk) | Dependency.objects.filter(depends_on_id=item.pk)
    carry = carry or {}
    open_deps = list(live.filter(status=DependencyStatus.OPEN).order_by("pk"))
    known = {d.pk for d in open_deps}
    for dep_id, indexes in carry.items():
        if dep_id not in known:
            raise DomainError(
                f"Dependency #{dep_id} is not an open dependency of this PBI.", field="dependencies"
            )
        if any(not 0 <= i < len(children) for i in indexes):
            raise DomainError(
                f"Dependency #{dep_id}: choose children among the new ones.", field="dependencies"
            )
    if not open_deps:
        return []
    nexus_lock(item.backlog.nexus_id)
    now = timezone.now()
    made: list[Dependency] = []
    for dep in Dependency.objects.select_for_update().filter(pk__in=known).order_by("pk"):
        chosen = carry.get(dep.pk, range(len(children)))
        if not chosen:
            continue
        for index in dict.fromkeys(chosen):
            child = children[index]
            a, b = (child.pk, dep.depends_on_id) if dep.item_id == item.pk else (dep.item_id, child.pk)
            a, b = _ordered(dep.kind, a, b)
            if _live_pair(dep.nexus_id, a, b, dep.kind) is not None:
                continue
            copy = Dependency.objects.create(
                nexus_id=dep.nexus_id,
                item_id=a,
                depends_on_id=b,
                kind=dep.kind,
                found_by=dep.found_by,
                found_by_name=dep.found_by_name,
                found_at=dep.found_at,
                found_on=dep.found_on,
                note=dep.note,
            )
            _log(copy, DependencyChangeKind.CARRIED, actor=actor, source=source, at=now, origin=dep)
            _event(copy, "dependency.created")
            made.append(copy)
        _apply_status(
            dep,
            DependencyStatus.REMOVED,
            actor=actor,
            source=source,
            at=now,
            reason="carried to its children by a split",
        )
    return made


def dependency_extension() -> Any:
    """What dependencies add to the registry (`nexus_site.extensions`), registered by `BacklogConfig.ready`:
    the webhook events `dependency.created` / `.resolved` / `.removed` and the tombstone kind `dependency`
    (a removal writes it; a cascade deleting the row, e.g. the admin, too)."""
    from nexus_site.extensions import Extension, TombstoneSpec, WebhookEventType

    return Extension(
        app="backlog",
        webhook_events=tuple(WebhookEventType(e, label) for e, label in DEPENDENCY_EVENTS),
        tombstones=(TombstoneSpec(Dependency, DEPENDENCY_TOMBSTONE, lambda row: int(row.nexus_id)),),
    )
