"""Tombstones: every deletion of a synced row leaves one, so that sync clients see it
(`GET .../{resource}/deleted/?since=`, `nexus_site.api.base.TombstonesMixin`).

One `post_delete` receiver (`on_deleted`) looks up the deleted row's model among the declared ones, so
every path that deletes is covered: the services, the Django admin, and cascades (deleting a Scrum
Team deletes its memberships and flow settings). Each app declares its models' kinds through
`nexus_site.extensions` (`Extension(tombstones=...)` in its `AppConfig.ready()`; `backlog`:
`backlog_tombstones()`, flow: `flow_settings`), since `backlog` imports no other app.
PBIs are soft-deleted (`deleted_at`) and need no tombstone here.

When a Nexus is deleted, its tombstones go too (`on_nexus_deleted`): its whole API answers 404 then.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from django.db.models.signals import post_delete

from backlog.models import Nexus, ProductBacklog, ProductGoal
from backlog.models_api import Tombstone, TombstoneKind
from backlog.services.common import nexus_changed
from nexus_site import extensions
from nexus_site.extensions import Extension, TombstoneSpec


def kind_of(model: type[Model]) -> str | None:
    """The tombstone kind registered for `model` (`nexus_site.extensions`), if any."""
    declared = extensions.tombstone_kind_of(model)
    return declared.kind if declared else None


def on_deleted(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    """`post_delete` of a model whose deletions leave tombstones (`Extension(tombstones=...)`): record
    a `Tombstone` (one INSERT, in the deleting transaction, so a rolled-back deletion leaves none) and
    advance the Nexus's change counter (`nexus_changed`), so that a deletion in the admin or by a
    cascade counts as a change too; not while the Nexus itself is being deleted (`origin`, the row
    `delete()` was called on: its counter goes with it)."""
    declared = extensions.tombstone_kind_of(sender)
    if declared is None or instance.pk is None:
        return
    nexus_id = declared.nexus_id_of(instance)
    if nexus_id is None:
        return
    Tombstone.objects.create(nexus_id=nexus_id, kind=declared.kind, object_id=instance.pk)
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


def backlog_tombstones() -> tuple[TombstoneSpec, ...]:
    """The tombstones of `backlog`'s own synced models, which `BacklogConfig.ready` registers."""
    from backlog.models import Label, Membership, ScrumTeam, TeamColumn, WorkflowColumn
    from backlog.models_api import Webhook

    def by_nexus(row: Any) -> int:
        return int(row.nexus_id)

    return (
        TombstoneSpec(ScrumTeam, TombstoneKind.TEAM, by_nexus),
        TombstoneSpec(Membership, TombstoneKind.MEMBERSHIP, by_nexus),
        TombstoneSpec(ProductGoal, TombstoneKind.GOAL, goal_nexus_id),
        TombstoneSpec(WorkflowColumn, TombstoneKind.COLUMN, by_nexus),
        TombstoneSpec(Label, TombstoneKind.LABEL, by_nexus),
        TombstoneSpec(Webhook, TombstoneKind.WEBHOOK, by_nexus),
        TombstoneSpec(TeamColumn, TombstoneKind.TEAM_COLUMN, by_nexus),
    )


def _connect(ext: Extension) -> None:
    for spec in ext.tombstones:
        post_delete.connect(on_deleted, sender=spec.model, dispatch_uid=f"backlog.tombstones.{spec.kind}")


def receivers_connect() -> None:
    """Connect `on_deleted` to each model declared now or later (only those: a receiver for every
    model would turn Django's fast cascade deletes into row-by-row ones), and the Nexus's clean-up
    (called from `BacklogConfig.ready`)."""
    extensions.extension_listen(_connect)
    post_delete.connect(on_nexus_deleted, sender=Nexus, dispatch_uid="backlog.tombstones.nexus")
