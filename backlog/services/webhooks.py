"""Outbound webhooks: a Nexus registers URLs; every PBI change (`backlog.signals.item_event`) becomes a
`WebhookDelivery` per subscribed webhook, delivered by Celery (`backlog.tasks.deliver_webhook`) as a
signed JSON POST, retried with exponential back-off, and logged (attempts, status, error).

Event types: the PBI events (`item.*`) are built in; a later capability (Sprints, integration issues)
declares its own in its `AppConfig.ready()` through `nexus_site.extensions`
(`Extension(webhook_events=(WebhookEventType("sprint.started", "Sprint started"),))`) and sends them
with `webhook_event_record(nexus_id=..., event=..., payload=...)`:
subscriptions, signing, retries, the delivery log and the API come with it.

Signature: header `X-Nexus-Signature: t=<unix seconds>,v1=<hex>` where `v1` is
HMAC-SHA256(secret, "<t>.<raw body>"). A receiver recomputes it with the webhook's secret, compares in
constant time and rejects old timestamps (`webhook_signature_verify` does exactly that).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from backlog.errors import Conflict, DomainError
from backlog.models import Nexus, ProductBacklogItem
from backlog.models_api import DeliveryStatus, Webhook, WebhookDelivery, WebhookEvent
from backlog.services.common import nexus_changed
from nexus_site import extensions
from nexus_site.db import retry_transient
from nexus_site.extensions import WebhookEventType

log = logging.getLogger(__name__)

#: Attempts per delivery before it is marked failed (the first try plus retries).
MAX_ATTEMPTS = 6
#: Back-off before retry n (1-based): `WEBHOOK_BACKOFF_BASE` (10 s) x 4^(n-1), at most BACKOFF_MAX, with
#: +-20 % jitter: about 10 s, 40 s, 2.7 min, 11 min, 43 min.
BACKOFF_MAX = 3600
TIMEOUT_SECONDS = 10
SIGNATURE_TOLERANCE = 300
USER_AGENT = "NexusFlow-Webhook/1"


def _secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _private_targets_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOK_ALLOW_PRIVATE_TARGETS", settings.DEBUG))


def webhook_url_check(url: str) -> str:
    """Validate a webhook URL: http(s), at most 500 characters and, unless the setting
    `WEBHOOK_ALLOW_PRIVATE_TARGETS` is on (default: on with DEBUG), not a loopback, private or
    link-local address (no requests into the server's own network). Returns the URL; raises
    `DomainError(field="url")`."""
    url = (url or "").strip()
    if len(url) > 500:
        raise DomainError("The URL is longer than 500 characters.", field="url")
    try:
        URLValidator(schemes=["http", "https"])(url)
    except Exception as exc:
        raise DomainError("Enter an http:// or https:// URL.", field="url") from exc
    if not _private_targets_allowed():
        host = urllib.parse.urlsplit(url).hostname or ""
        try:
            addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
        except (socket.gaierror, UnicodeError) as exc:
            raise DomainError(f"The host {host!r} does not resolve.", field="url") from exc
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if not ip.is_global:
                raise DomainError(
                    f"The host {host!r} is a private or local address; webhooks go to public hosts.",
                    field="url",
                )
    return url


def backlog_webhook_events() -> tuple[WebhookEventType, ...]:
    """The PBI events `backlog` sends (`WebhookEvent`), which `BacklogConfig.ready` registers first."""
    return tuple(WebhookEventType(str(value), str(label)) for value, label in WebhookEvent.choices)


def webhook_event_types() -> list[tuple[str, str]]:
    """`[(event type, label)]` of every event a webhook can subscribe to, PBI events first: those
    declared through `nexus_site.extensions` (`Extension(webhook_events=...)`)."""
    return [(e.event, e.label) for e in extensions.webhook_event_types()]


def _event_known(event: str) -> bool:
    return any(e.event == event for e in extensions.webhook_event_types())


def _clean_events(events: Sequence[str]) -> list[str]:
    events = list(dict.fromkeys(events))
    unknown = [e for e in events if not _event_known(e)]
    if unknown:
        choices = ", ".join(event for event, _ in webhook_event_types())
        raise DomainError(f"Unknown event {unknown[0]!r}; choose from {choices}.", field="events")
    if not events:
        raise DomainError("Subscribe to at least one event.", field="events")
    return events


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def webhook_create(
    *, nexus: Nexus, url: str, events: Sequence[str], actor: User | None, description: str = ""
) -> Webhook:
    """Register a webhook for the Nexus. Its secret is generated here (read it from the returned
    object once; it is shown only at creation). Raises `DomainError` for a bad URL or event list."""
    if len(description) > 200:
        raise DomainError("The description is longer than 200 characters.", field="description")
    _forget_hooks(nexus.pk)
    hook = Webhook.objects.create(
        nexus=nexus,
        url=webhook_url_check(url),
        events=_clean_events(events),
        description=description.strip(),
        secret=_secret(),
        created_by=actor,
    )
    nexus_changed(nexus.pk)
    return hook


def _lock(webhook: Webhook) -> None:
    """Lock the webhook's row until the transaction ends and refresh `webhook` from it. Raises
    `Conflict` (409) if it was deleted meanwhile."""
    try:
        webhook.refresh_from_db(from_queryset=Webhook.objects.select_for_update(no_key=True))
    except Webhook.DoesNotExist:
        raise Conflict("That webhook was deleted meanwhile.", field="webhook") from None


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def webhook_update(
    *,
    webhook: Webhook,
    url: str | None = None,
    events: Sequence[str] | None = None,
    is_active: bool | None = None,
    description: str | None = None,
) -> Webhook:
    """Change a webhook's URL, events, description or whether it is active (None = unchanged).

    Locks the webhook's row and re-reads it first (`webhook` is refreshed in place and returned), then
    writes only the fields changed here: a concurrent `webhook_rotate_secret` either committed before
    (its secret is kept) or waits for this one. Raises `DomainError` for a bad URL, event list or
    description, and `Conflict` (409) if the webhook was deleted meanwhile."""
    changes: dict[str, Any] = {}
    if url is not None:
        changes["url"] = webhook_url_check(url)
    if events is not None:
        changes["events"] = _clean_events(events)
    if is_active is not None:
        changes["is_active"] = is_active
    if description is not None:
        if len(description) > 200:
            raise DomainError("The description is longer than 200 characters.", field="description")
        changes["description"] = description.strip()
    _lock(webhook)
    for name, value in changes.items():
        setattr(webhook, name, value)
    if changes:
        webhook.save(update_fields=[*changes, "updated_at"])
    _forget_hooks(webhook.nexus_id)
    nexus_changed(webhook.nexus_id)
    return webhook


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def webhook_rotate_secret(*, webhook: Webhook) -> Webhook:
    """Give the webhook a new secret (deliveries not yet sent are signed with it). Locks the webhook's
    row (see `webhook_update`) and writes only the secret. Raises `Conflict` if it was deleted
    meanwhile."""
    _lock(webhook)
    webhook.secret = _secret()
    webhook.save(update_fields=["secret", "updated_at"])
    _forget_hooks(webhook.nexus_id)
    nexus_changed(webhook.nexus_id)
    return webhook


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def webhook_delete(*, webhook: Webhook) -> None:
    """Delete the webhook and its delivery log (its tombstone advances the change counter)."""
    _forget_hooks(webhook.nexus_id)
    webhook.delete()


def item_payload(item: ProductBacklogItem) -> dict[str, Any]:
    """The `item` of a webhook payload: the PBI's identity and main fields at the time of the event.
    Fetch `GET /api/v1/nexuses/{nexus}/items/{id}/` for everything else."""
    return {
        "id": item.pk,
        "external_id": item.external_id,
        "title": item.title,
        "column": item.column_id,
        "column_name": item.column.name,
        "rank": item.rank,
        "version": item.version,
        "is_blocked": item.is_blocked,
        "updated_at": item.updated_at,
        "deleted_at": item.deleted_at,
    }


def _dispatch(delivery_ids: Sequence[int]) -> None:
    """Hand deliveries to Celery once the surrounding transaction commits. If the broker is down they
    stay pending, due at once, and `webhook_retry_due` (every `SWEEP_SECONDS`) sends them when it is
    back."""
    from kombu.exceptions import OperationalError as BrokerError  # with Celery: not at Django's start

    from backlog.tasks import deliver_webhook

    def send() -> None:
        for pk in delivery_ids:
            try:
                deliver_webhook.delay(pk)
            except BrokerError as exc:
                log.warning("Webhook delivery %s left pending: broker unreachable (%s)", pk, exc)
                # Due for the periodic sweep at once (not after SWEEP_GRACE): it was never queued, so
                # it runs within one sweep interval of the broker being back.
                WebhookDelivery.objects.filter(pk=pk, status=DeliveryStatus.PENDING).update(
                    next_attempt_at=timezone.now() - SWEEP_GRACE - timedelta(seconds=1)
                )

    transaction.on_commit(send)


#: A Nexus's active webhooks are read at most once per this many seconds per process (a bulk write of
#: 1,000 items sends 1,000 events in a burst); the services that change webhooks forget it at once.
HOOKS_MEMO_SECONDS = 1.0
_hooks_memo: dict[int, tuple[float, list[Webhook]]] = {}


def _active_hooks(nexus_id: int) -> list[Webhook]:
    now = time.monotonic()
    hit = _hooks_memo.get(nexus_id)
    if hit is not None and now - hit[0] < HOOKS_MEMO_SECONDS:
        return hit[1]
    hooks = list(Webhook.objects.filter(nexus_id=nexus_id, is_active=True))
    _hooks_memo[nexus_id] = (now, hooks)
    return hooks


def _forget_hooks(nexus_id: int) -> None:
    """Drop the memo now and again when the transaction commits (a concurrent event may refill it)."""
    _hooks_memo.pop(nexus_id, None)
    transaction.on_commit(lambda: _hooks_memo.pop(nexus_id, None))


def _subscribed(nexus_id: int, event: str) -> list[Webhook]:
    return [h for h in _active_hooks(nexus_id) if event in h.events]


def webhook_event_record(
    *,
    nexus_id: int,
    event: str,
    payload: dict[str, Any],
    item_id: int | None = None,
    nexus_slug: str | None = None,
) -> list[int]:
    """Record one delivery of `event` per active webhook of the Nexus subscribed to it, and queue them
    for Celery once the transaction commits. The body sent is `{"event", "occurred_at" (UTC,
    ISO-8601), "nexus" (slug), **payload}` plus the delivery `id` (`webhook_deliver`); `payload` must
    be JSON-serialisable with `DjangoJSONEncoder` (dates, decimals). `item_id` links the delivery to a
    PBI in the delivery log. Returns the new delivery ids (none when nobody subscribed: at most one
    query per second then, `HOOKS_MEMO_SECONDS`). Raises `ValueError` for an event type no app declared
    (`nexus_site.extensions`)."""
    if not _event_known(event):
        raise ValueError(f"Unknown webhook event type {event!r}: register it first.")
    hooks = _subscribed(nexus_id, event)
    if not hooks:
        return []
    if nexus_slug is None:
        nexus_slug = Nexus.objects.values_list("slug", flat=True).get(pk=nexus_id)
    now = timezone.now()
    body = {"event": event, "occurred_at": now, "nexus": nexus_slug, **payload}
    plain = json.loads(json.dumps(body, cls=DjangoJSONEncoder))
    with transaction.atomic():
        deliveries = WebhookDelivery.objects.bulk_create(
            WebhookDelivery(
                webhook=h,
                event=event,
                item_id=item_id,
                payload=plain,
                created_at=now,
                next_attempt_at=now,
            )
            for h in hooks
        )
        ids = [d.pk for d in deliveries]
        _dispatch(ids)
    return ids


def item_event_record(*, nexus_id: int, item_id: int, event: str) -> list[int]:
    """The PBI event `item.<event>` (`created`, `updated`, `moved`, `transitioned`, `deleted`) for the
    webhooks subscribed to it, with the item as it is now (`item_payload`) under `item`. Reads the
    item only when some webhook is subscribed. Returns the new delivery ids."""
    event_type = f"item.{event}"
    if not _subscribed(nexus_id, event_type):
        return []
    item = ProductBacklogItem.objects.select_related("backlog__nexus", "column").filter(pk=item_id).first()
    if item is None:
        return []
    return webhook_event_record(
        nexus_id=nexus_id,
        event=event_type,
        payload={"item": item_payload(item)},
        item_id=item_id,
        nexus_slug=item.backlog.nexus.slug,
    )


def on_item_event(sender: Any, *, nexus_id: int, item_id: int, event: str, **kwargs: Any) -> None:
    """Receiver of `backlog.signals.item_event` (connected in `BacklogConfig.ready`)."""
    item_event_record(nexus_id=nexus_id, item_id=item_id, event=event)


def webhook_sign(*, secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The `X-Nexus-Signature` header value for `body`: `t=<unix seconds>,v1=<hex HMAC-SHA256>`."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def webhook_signature_verify(
    *, secret: str, header: str, body: bytes, tolerance: int = SIGNATURE_TOLERANCE, now: float | None = None
) -> bool:
    """Check an `X-Nexus-Signature` header against the raw body, in constant time, refusing
    timestamps more than `tolerance` seconds away from `now` (replays)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance:
        return False
    expected = webhook_sign(secret=secret, body=body, timestamp=t).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect answers 3xx: counted as a failed attempt


_opener = urllib.request.build_opener(_NoRedirect)


def backoff_seconds(attempt: int) -> int:
    """Seconds to wait after failed attempt number `attempt` (1-based), with +-20 % jitter."""
    base = min(BACKOFF_MAX, settings.WEBHOOK_BACKOFF_BASE * 4 ** (attempt - 1))
    return max(1, round(base * random.uniform(0.8, 1.2)))


@dataclass(frozen=True)
class DeliveryOutcome:
    """One attempt: `status` after it, `retry_in` seconds until the next one (None when done)."""

    status: str
    retry_in: int | None = None


def webhook_deliver(*, delivery_id: int) -> DeliveryOutcome:
    """Make one attempt at a delivery: POST the signed payload, record status code or error. On
    success mark it succeeded; on failure schedule the next attempt with back-off, or mark it failed
    after `MAX_ATTEMPTS`. Idempotent for finished deliveries (they are not sent again)."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .select_related("webhook")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return DeliveryOutcome(delivery.status if delivery else "missing")
        delivery.attempts += 1
        attempt = delivery.attempts
        webhook = delivery.webhook
        delivery.save(update_fields=["attempts", "updated_at"])
    body = json.dumps({"id": delivery.pk, **delivery.payload}, separators=(",", ":")).encode()
    code: int | None = None
    error = ""
    if not webhook.is_active:
        error = "The webhook is inactive."
    else:
        try:
            webhook_url_check(webhook.url)
            request = urllib.request.Request(
                webhook.url,
                data=body,
                method="POST",
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": USER_AGENT,
                    "X-Nexus-Event": delivery.event,
                    "X-Nexus-Delivery": str(delivery.pk),
                    "X-Nexus-Signature": webhook_sign(secret=webhook.secret, body=body),
                },
            )
            with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
                code = response.status
        except urllib.error.HTTPError as exc:
            code, error = exc.code, f"HTTP {exc.code} {exc.reason}"
        except DomainError as exc:
            error = exc.message
        except (OSError, ValueError) as exc:  # URLError, timeouts, refused connections
            error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    now = timezone.now()
    delivery.last_status_code = code
    if code is not None and 200 <= code < 300:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DeliveryStatus.SUCCEEDED, now, None
        delivery.last_error = ""
        retry_in = None
    elif attempt >= MAX_ATTEMPTS or not webhook.is_active:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        delivery.last_error = (error or f"HTTP {code}")[:1000]
        retry_in = None
    else:
        retry_in = backoff_seconds(attempt)
        delivery.next_attempt_at = now + timedelta(seconds=retry_in)
        delivery.last_error = (error or f"HTTP {code}")[:1000]
    delivery.save(
        update_fields=[
            "status",
            "delivered_at",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "updated_at",
        ]
    )
    return DeliveryOutcome(delivery.status, retry_in)


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def webhook_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now (from the delivery log): it becomes pending with a fresh attempt
    budget and is queued; the payload is the same, so the receiver can de-duplicate on its id."""
    delivery.status, delivery.attempts, delivery.next_attempt_at = DeliveryStatus.PENDING, 0, timezone.now()
    delivery.save(update_fields=["status", "attempts", "next_attempt_at", "updated_at"])
    _dispatch([delivery.pk])
    return delivery


#: A pending delivery whose retry is this late was lost (broker down, worker killed): the sweep re-queues.
SWEEP_GRACE = timedelta(minutes=2)


def webhook_retry_due(*, limit: int = 500) -> int:
    """Re-queue pending deliveries whose next attempt is overdue by `SWEEP_GRACE` (the periodic
    sweep). Returns how many were queued."""
    cutoff = timezone.now() - SWEEP_GRACE
    ids = list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lt=cutoff)
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    with transaction.atomic():
        _dispatch(ids)
    return len(ids)
