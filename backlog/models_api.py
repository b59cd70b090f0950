"""Models of the REST API's own state: personal API tokens, idempotency records, outbound webhooks and
their deliveries, and the tombstones of deleted rows. Imported at the bottom of `backlog.models`, so
they belong to the `backlog` app.

All writes go through `backlog.services.sync` (tokens, items), `backlog.services.webhooks` and
`backlog.services.tombstones` (a `post_delete` receiver).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

#: The help text of every `updated_at` the API lists (drf-spectacular documents the field with it). Here
#: rather than in `backlog.models`, which imports this module.
UPDATED_AT_HELP = (
    "When this row last changed (UTC, ISO-8601 with microseconds); `?updated_since=` filters on it and "
    "sync lists are ordered by (updated_at, id)."
)


class ApiToken(models.Model):
    """A personal API token (`Authorization: Token <token>`). Only the SHA-256 of the token is stored;
    the token itself is shown once, when it is created. `prefix` (the first characters) lets a person
    tell their tokens apart. A revoked token stays listed (with `revoked_at`) and no longer works."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 (hex) of the token")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(models.Model):
    """The first successful response to a POST that carried an `Idempotency-Key` header, kept for
    `API_IDEMPOTENCY_TTL` so a retry with the same key gets the same answer and creates nothing twice.

    Scoped per user. `fingerprint` is the SHA-256 of method, path and body: reusing a key for another
    request is refused. The row is inserted in the same transaction as the request's writes, so a
    concurrent retry waits on the unique index and then replays the stored response."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="the JSON body as sent")
    response_headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_key")]
        indexes = [
            # Pruning expired records.
            models.Index(fields=["created_at"], name="idempotency_created"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


class WebhookEvent(models.TextChoices):
    """Event types a webhook can subscribe to. Later capabilities add theirs (`sprint.started`...)."""

    ITEM_CREATED = "item.created", "PBI created"
    ITEM_UPDATED = "item.updated", "PBI updated (fields, labels, teams or a team's status)"
    ITEM_MOVED = "item.moved", "PBI moved in the Product Backlog order"
    ITEM_TRANSITIONED = "item.transitioned", "PBI moved to another Definition of Workflow column"
    ITEM_DELETED = "item.deleted", "PBI deleted"
    ITEM_SQUARE_CHANGED = (
        "item.square_changed",
        "A team square of a PBI changed (a team's status, or its column on the team's board)",
    )


class Webhook(models.Model):
    """An outbound webhook of a Nexus: `url` receives a signed JSON POST for each subscribed event
    (`events`, a list of `WebhookEvent` values). `secret` signs the body (HMAC-SHA256); it has to be
    kept in clear to sign, is shown once at creation and can be rotated."""

    nexus = models.ForeignKey("backlog.Nexus", on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list)
    secret = models.CharField(max_length=80)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, help_text=UPDATED_AT_HELP)

    class Meta:
        ordering = ["nexus", "id"]
        indexes = [
            # API sync: a Nexus's webhooks by `?updated_since=`, cursor order (updated_at, id).
            models.Index(fields=["nexus", "updated_at", "id"], name="webhook_updated"),
        ]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending (queued or waiting to retry)"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (gave up after the last attempt)"


class WebhookDelivery(models.Model):
    """One event for one webhook: the signed payload (kept as sent, so a retry sends the same body),
    its attempts and their outcome. `next_attempt_at` is when the next retry is due (back-off)."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    item_id = models.BigIntegerField(null=True, blank=True)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True, help_text=UPDATED_AT_HELP)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The delivery log of a webhook, newest first.
            models.Index(fields=["webhook", "-created_at", "-id"], name="delivery_log"),
            # API sync: `?updated_since=` on a webhook's deliveries, cursor order (updated_at, id).
            models.Index(fields=["webhook", "updated_at", "id"], name="delivery_updated"),
            # The sweep that re-queues deliveries whose retry is due.
            models.Index(fields=["next_attempt_at"], name="delivery_due", condition=Q(status="pending")),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.webhook_id} ({self.status})"


class TombstoneKind(models.TextChoices):
    """`backlog`'s synced resources whose deletions leave a `Tombstone` (PBIs are soft-deleted instead:
    their tombstone is the item itself, `deleted_at`). Apps above `backlog` name their own kinds when
    they declare them (`nexus_site.extensions`; flow: `flow_settings`)."""

    TEAM = "team", "Scrum Team"
    MEMBERSHIP = "membership", "Membership"
    GOAL = "goal", "Product Goal"
    COLUMN = "column", "Definition of Workflow column"
    LABEL = "label", "Label"
    WEBHOOK = "webhook", "Webhook"
    TEAM_COLUMN = "team_column", "Column of a Scrum Team's board"


class Tombstone(models.Model):
    """That a row of a synced resource was deleted, so that a sync client removes it from its copy
    (`GET .../{resource}/deleted/?since=`). Written by one `post_delete` receiver for every path that
    deletes (services, the admin, cascades: a deleted Scrum Team's memberships and flow settings);
    `backlog.services.tombstones`.

    `nexus_id` is a plain integer, not a foreign key, so that no cascade depends on it; the tombstones
    of a deleted Nexus are removed with it. `object_id` is the deleted row's id in its own table.
    """

    nexus_id = models.BigIntegerField(help_text="The Nexus the deleted row belonged to (not a foreign key)")
    kind = models.CharField(
        max_length=20, help_text="The resource: a `TombstoneKind`, or a kind another app registered"
    )
    object_id = models.BigIntegerField(help_text="The id the deleted row had")
    deleted_at = models.DateTimeField(default=timezone.now, help_text="When it was deleted (UTC)")

    class Meta:
        indexes = [
            # `{resource}/deleted/?since=`: a Nexus's tombstones of one kind, cursor order (deleted_at, id).
            models.Index(fields=["nexus_id", "kind", "deleted_at", "id"], name="tombstone_sync"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id} deleted at {self.deleted_at:%Y-%m-%d %H:%M}"
