"""Celery tasks of the backlog app: thin wrappers around `backlog.services`. Idempotent, safe to retry.

Webhook deliveries are queued on commit (`backlog.services.webhooks._dispatch`), so a worker never
sees a delivery row that is not committed.
"""

from __future__ import annotations

from celery import Task, shared_task

import nexus_site.celery  # noqa: F401  the project's app: a task sent from here goes to its broker
from backlog.services import sync, webhooks


@shared_task(bind=True, name="backlog.deliver_webhook", acks_late=True, max_retries=None)
def deliver_webhook(self: Task, delivery_id: int) -> str:
    """One attempt at a webhook delivery; on failure, retry later with exponential back-off (the
    service decides when, and when to give up). Eagerly run (no broker), a failed delivery waits for
    the sweep or a manual "Retry now" instead of blocking the request with retries."""
    outcome = webhooks.webhook_deliver(delivery_id=delivery_id)
    if outcome.retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="backlog.webhooks_retry_due")
def webhooks_retry_due() -> int:
    """Periodic: re-queue pending deliveries whose retry is overdue (lost while the broker was down)."""
    return webhooks.webhook_retry_due()


@shared_task(name="backlog.idempotency_prune")
def idempotency_prune() -> int:
    """Periodic: delete idempotency records older than `API_IDEMPOTENCY_TTL` seconds."""
    return sync.idempotency_records_prune()


@shared_task(name="backlog.suggestions_rebuild")
def suggestions_rebuild(nexus_id: int) -> int:
    """Rebuild the Nexus's suggested-dependencies index for its current change counter and store it
    (`backlog.suggestions.suggestion_index_rebuild`); nothing to do when it is already stored, so a
    burst of changes costs one build. Returns the PBIs indexed (0 for a missing Nexus)."""
    from backlog.suggestions import suggestion_index_rebuild

    index = suggestion_index_rebuild(nexus_id=nexus_id)
    return 0 if index is None else len(index)
