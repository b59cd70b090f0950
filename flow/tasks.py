"""Celery tasks of the flow app: thin wrappers around `flow.services`. Idempotent, safe to retry."""

from __future__ import annotations

from celery import shared_task

from flow import services


@shared_task(name="flow.recompute_nexus", acks_late=True, max_retries=3, default_retry_delay=30)
def recompute_nexus(nexus_id: int) -> dict[str, object]:
    """Recompute and store the flow figures of one Nexus (coalesced by `services.recompute_request`)."""
    return services.flow_recompute(nexus_id=nexus_id)


@shared_task(name="flow.recompute_all")
def recompute_all() -> int:
    """Nightly: recompute every Nexus (also picks up recomputes left pending while the broker was down)."""
    return services.flow_recompute_all()
