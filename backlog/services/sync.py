"""Services for sync clients and the REST API: upsert by `external_id`, deletion with a version check,
and personal API tokens. The all-or-nothing bulk upsert is in `backlog.services.bulk`.

They compose the item services of `backlog.services.items` (there is one way to write an item: an
existing item is changed by `pbi_update`, with its change detection and version check); what they add
is matching on `external_id`.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from backlog.errors import DomainError, NotAllowed, PreconditionFailed
from backlog.models import Nexus, ProductBacklogItem, Source
from backlog.models_api import ApiToken, IdempotencyRecord
from backlog.services.common import items_changed_batched
from backlog.services.items import (
    Actor,
    ItemChanges,
    WriteResult,
    pbi_create,
    pbi_update,
)
from backlog.services.ordering import lock_backlog
from nexus_site.db import retry_transient

EXTERNAL_ID_MAX = 100


class ItemGone(DomainError):
    """The PBI with that external id was deleted; a deleted PBI is not recreated (HTTP 409)."""

    status_code = 409


def _clean_external_id(external_id: str) -> str:
    ext = (external_id or "").strip()
    if not ext:
        raise DomainError("An external id is needed to upsert.", field="external_id")
    if "\x00" in ext:
        raise DomainError("An external id cannot contain NUL characters.", field="external_id")
    if len(ext) > EXTERNAL_ID_MAX:
        raise DomainError(
            f"The external id is longer than {EXTERNAL_ID_MAX} characters.", field="external_id"
        )
    return ext


def _upsert_locked(
    *,
    nexus: Nexus,
    external_id: str,
    existing: ProductBacklogItem | None,
    changes: ItemChanges,
    actor: Actor,
    expected_version: int | None,
    source: str,
) -> WriteResult:
    if existing is not None and existing.deleted_at is not None:
        raise ItemGone(
            f"The item with the external id {external_id!r} was deleted on "
            f"{existing.deleted_at:%Y-%m-%d %H:%M} UTC; deleted items are not recreated.",
            field="external_id",
        )
    if existing is not None:
        fields = {k: v for k, v in changes.fields.items() if k != "external_id"}
        changes = ItemChanges(fields, changes.labels, changes.teams, changes.column)
        return pbi_update(
            item=existing, changes=changes, actor=actor, expected_version=expected_version, source=source
        )
    if expected_version is not None:
        raise PreconditionFailed(
            f"If-Match names version {expected_version}, but no item has the external id {external_id!r}.",
            current_version=0,
            field="If-Match",
        )
    fields = {k: v for k, v in changes.fields.items() if k not in ("title", "external_id")}
    title = changes.fields.get("title")
    if title is None:
        raise DomainError("A new Product Backlog Item needs a title.", field="title")
    item = pbi_create(
        nexus=nexus,
        title=title,
        actor=actor,
        source=source,
        column=changes.column,
        labels=changes.labels or (),
        teams=changes.teams or (),
        external_id=external_id,
        **fields,
    )
    return WriteResult(item, created=True, changed=True)


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
@items_changed_batched()  # one change counted, after every lock (`nexus_changed`)
def pbi_upsert(
    *,
    nexus: Nexus,
    external_id: str,
    changes: ItemChanges,
    actor: Actor,
    expected_version: int | None = None,
    source: str = Source.API,
) -> WriteResult:
    """Create the PBI with this `external_id` in the Nexus (at the bottom of the Product Backlog) or,
    if it exists, apply `changes` to it (`pbi_update`). Re-sending the same data changes nothing.

    Holds the Product Backlog lock, so two concurrent upserts of a new external id create one item.
    Raises `ItemGone` (409) when the item was deleted, `PreconditionFailed` (412) for a stale
    `expected_version` or an `expected_version` for an item that does not exist, `DomainError` naming
    the field for invalid input (a new item needs `title`).
    """
    ext = _clean_external_id(external_id)
    lock_backlog(nexus.backlog.pk)
    existing = ProductBacklogItem.objects.filter(backlog__nexus=nexus, external_id=ext).first()
    return _upsert_locked(
        nexus=nexus,
        external_id=ext,
        existing=existing,
        changes=changes,
        actor=actor,
        expected_version=expected_version,
        source=source,
    )


# --- Personal API tokens ---------------------------------------------------------------------------

TOKEN_PREFIX = "nxf_"
#: How often `last_used_at` is written at most (a write on every request would be wasted work).
TOKEN_TOUCH_EVERY = timedelta(minutes=1)


def token_hash(key: str) -> str:
    """SHA-256 (hex) of a token: what is stored. Tokens carry 256 random bits, so a fast hash is safe."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a personal API token for `user`; returns the row and the token itself, which is not
    stored and cannot be shown again. Raises `DomainError` for an empty or over-long name."""
    name = (name or "").strip()
    if not name:
        raise DomainError("Give the token a name, e.g. the script or machine that will use it.", field="name")
    if len(name) > 100:
        raise DomainError("The name is longer than 100 characters.", field="name")
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=key[:12], key_hash=token_hash(key))
    return token, key


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def token_revoke(*, token: ApiToken, actor: User) -> ApiToken:
    """Revoke a token (it stops working at once; the row stays listed). Only its owner or a superuser
    may; raises `NotAllowed` otherwise. Revoking a revoked token changes nothing."""
    if token.user_id != actor.pk and not actor.is_superuser:
        raise NotAllowed("Only the token's owner can revoke it.", field="token")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def token_authenticate(*, key: str) -> ApiToken | None:
    """The active token whose hash matches `key` (with its user), or None. Records `last_used_at`
    at most once per `TOKEN_TOUCH_EVERY`. One query, two when it records the use."""
    if not key.startswith(TOKEN_PREFIX) or len(key) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=token_hash(key), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > TOKEN_TOUCH_EVERY:
        # Never wait for the row: a request holding it (its whole transaction, e.g. a POST with an
        # Idempotency-Key) would make every other request of the token queue behind it, a convoy the
        # load test found (50 clients on one token). Whoever holds it records the use. One statement
        # (SKIP LOCKED cannot wait or fail on the lock): no savepoint needed inside a caller's transaction.
        with transaction.atomic(savepoint=False):
            free = ApiToken.objects.select_for_update(skip_locked=True).filter(pk=token.pk).values("pk")
            ApiToken.objects.filter(pk__in=free).update(last_used_at=now)
        token.last_used_at = now
    return token


def idempotency_records_prune() -> int:
    """Delete idempotency records older than `API_IDEMPOTENCY_TTL` seconds; returns how many."""
    cutoff = timezone.now() - timedelta(seconds=settings.API_IDEMPOTENCY_TTL)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
