"""Celery tasks of the flow app: thin wrappers around `flow.services`. Idempotent, safe to retry."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError as DatabaseError

import nexus_site.celery  # noqa: F401  the project's app: a task sent from here goes to its broker
from flow import services


@shared_task(
    name="flow.recompute_nexus",
    acks_late=True,
    autoretry_for=(DatabaseError,),
    max_retries=3,
    default_retry_delay=30,
)
def recompute_nexus(nexus_id: int) -> dict[str, object]:
    """The coalesced job of one Nexus (`services.recompute_request`): the summaries refreshed from the
    stored rows, or the full recompute (`services.recompute_job`). Returns the as-of date, item count
    and timings of a full recompute, or {"refreshed": outcome} (the stored summary is in `FlowState`)."""
    summary = services.recompute_job(nexus_id=nexus_id)
    return {k: summary[k] for k in ("as_of", "items", "timings", "refreshed") if k in summary}


@shared_task(name="flow.recompute_all")
def recompute_all() -> int:
    """Nightly: recompute every Nexus (also picks up recomputes left pending while the broker was down)."""
    return services.flow_recompute_all()


@shared_task(name="flow.recompute_due")
def recompute_due() -> int:
    """Hourly: recompute the Nexuses whose day has turned in their time zone, or left pending."""
    return services.flow_recompute_due()
