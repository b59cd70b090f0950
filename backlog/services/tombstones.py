"""Tombstones: every deletion of a synced row leaves one, so that sync clients see it
(`GET .../{resource}/deleted/?since=`, `nexus_site.api.base.TombstonesMixin`).

One `post_delete` receiver (`on_deleted`) is connected for each registered model, so every path that
deletes is covered: the services, the Django admin, and cascades (deleting a Scrum Team deletes its
memberships and flow settings). `backlog` registers its own models in `BacklogConfig.ready`; an app
above it registers its own with `tombstones_register` (flow: `flow_settings`), since `backlog` imports
no other app. PBIs are soft-deleted (`deleted_at`) and need no tombstone here.

When a Nexus is deleted, its tombstones go too (`on_nexus_deleted`): its whole API answers 404 then.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.db.models import Model
from django.db.models.signals import post_delete

from backlog.models import Nexus, ProductBacklog, ProductGoal
from backlog.models_api import Tombstone, TombstoneKind
from backlog.services.common import nexus_changed

KIND_PATTERN = re.compile(r"[a-z][a-z_]{0,19}")
#: kind -> (model, nexus_id_of(instance) -> the Nexus's id, or None to leave no tombstone)
_REGISTRY: dict[str, tuple[type[Model], Callable[[Any], int | None]]] = {}


def tombstones_register(model: type[Model], kind: str, nexus_id_of: Callable[[Any], int | None]) -> None:
    """Leave a tombstone of `kind` whenever a `model` row is deleted: a `TombstoneKind` for `backlog`'s
    models, a name of its own (lower case, 20 characters at most, e.g. `flow_settings`) for another
    app's; the `deleted/` list of its API resource names the same kind (`TombstonesMixin`).

    `nexus_id_of(instance)` gives the id of the Nexus the deleted row belonged to (None: leave no
    tombstone, e.g. when the Nexus itself is going). Idempotent for the same model and kind; raises
    `ValueError` for a malformed kind or a kind registered for another model."""
    if not KIND_PATTERN.fullmatch(kind):
        raise ValueError(f"A tombstone kind is a lower-case name of at most 20 characters, not {kind!r}.")
    if kind in _REGISTRY and _REGISTRY[kind][0] is not model:
        raise ValueError(f"The tombstone kind {kind!r} is registered for {_REGISTRY[kind][0].__name__}.")
    _REGISTRY[kind] = (model, nexus_id_of)
    post_delete.connect(on_deleted, sender=model, dispatch_uid=f"backlog.tombstones.{kind}")


def kind_of(model: type[Model]) -> str | None:
    """The tombstone kind registered for `model`, if any."""
    return next((kind for kind, (registered, _) in _REGISTRY.items() if registered is model), None)


def on_deleted(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    """`post_delete` of a registered model: record a `Tombstone` (one INSERT, in the deleting
    transaction, so a rolled-back deletion leaves none) and advance the Nexus's change counter
    (`nexus_changed`), so that a deletion in the admin or by a cascade counts as a change too; not
    while the Nexus itself is being deleted (`origin`, the row `delete()` was called on: its counter
    goes with it)."""
    kind = kind_of(sender)
    if kind is None or instance.pk is None:
        return
    nexus_id = _REGISTRY[kind][1](instance)
    if nexus_id is None:
        return
    Tombstone.objects.create(nexus_id=nexus_id, kind=kind, object_id=instance.pk)
    origin = kwargs.get("origin")
    if not (isinstance(origin, Nexus) or getattr(origin, "model", None) is Nexus):
        nexus_changed(nexus_id)


def on_nexus_deleted(sender: type[Model], instance: Nexus, **kwargs: Any) -> None:
    """`post_delete` of a Nexus: remove its tombstones, including those its cascade has just written
    (its rows are deleted before it)."""
    Tombstone.objects.filter(nexus_id=instance.pk).delete()


def goal_nexus_id(goal: ProductGoal) -> int | None:
    """The Nexus of a deleted Product Goal (`goal.backlog.nexus_id`), read without loading a backlog
    that is being deleted too: from the cached backlog if any, else one query; None if the backlog is
    gone already (then so is the Nexus, or it is going)."""
    cached = goal._state.fields_cache.get("backlog")
    if cached is not None:
        return int(cached.nexus_id)
    return ProductBacklog.objects.filter(pk=goal.backlog_id).values_list("nexus_id", flat=True).first()


def register_backlog_models() -> None:
    """Register the tombstones of `backlog`'s own synced models and the Nexus's clean-up (called from
    `BacklogConfig.ready`)."""
    from backlog.models import Label, Membership, ScrumTeam, WorkflowColumn
    from backlog.models_api import Webhook

    def by_nexus(row: Any) -> int:
        return int(row.nexus_id)

    tombstones_register(ScrumTeam, TombstoneKind.TEAM, by_nexus)
    tombstones_register(Membership, TombstoneKind.MEMBERSHIP, by_nexus)
    tombstones_register(ProductGoal, TombstoneKind.GOAL, goal_nexus_id)
    tombstones_register(WorkflowColumn, TombstoneKind.COLUMN, by_nexus)
    tombstones_register(Label, TombstoneKind.LABEL, by_nexus)
    tombstones_register(Webhook, TombstoneKind.WEBHOOK, by_nexus)
    post_delete.connect(on_nexus_deleted, sender=Nexus, dispatch_uid="backlog.tombstones.nexus")
