"""Two flow recomputes of the same Nexus at once (PostgreSQL, each in its own thread and connection):
the job that stores last must have read the newest transition log."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from backlog.models import ProductBacklogItem
from backlog.services import pbi_create, pbi_transition
from flow import receivers, services
from flow.models import ItemFlow
from flow.services import recompute
from tests.factories import column, nexus_build

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="advisory locks need PostgreSQL"),
]


def test_an_older_recompute_cannot_store_after_a_newer_one(monkeypatch):
    # The change below must not start a recompute of its own (eager Celery would run it inline).
    monkeypatch.setattr(receivers, "recompute_request", lambda **kwargs: False)
    nexus = nexus_build(teams=1)
    item = pbi_create(nexus=nexus, title="A", actor=None)
    pbi_transition(item=item, to_column=column(nexus, "In Progress"), actor=None)

    loaded, release = threading.Event(), threading.Event()
    load_events = recompute.load_events

    def slow_load(*args, **kwargs):
        events = load_events(*args, **kwargs)
        if threading.current_thread().name == "older":
            loaded.set()
            release.wait(10)  # the older job holds what it read while the newer one runs
        return events

    monkeypatch.setattr(recompute, "load_events", slow_load)
    errors: list[BaseException] = []

    def job() -> None:
        try:
            services.flow_recompute(nexus_id=nexus.pk)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    older = threading.Thread(target=job, name="older")
    older.start()
    assert loaded.wait(10)
    # Meanwhile the item finishes, and a newer job starts.
    pbi_transition(
        item=ProductBacklogItem.objects.get(pk=item.pk), to_column=column(nexus, "Done"), actor=None
    )
    newer = threading.Thread(target=job, name="newer")
    newer.start()
    newer.join(timeout=2)  # without the lock it stores now; with it, it waits for the older one
    release.set()
    older.join(timeout=30)
    newer.join(timeout=30)
    assert not any(t.is_alive() for t in (older, newer)), "a recompute hung"
    assert not errors, errors
    assert ItemFlow.objects.get(item_id=item.pk).finished_on is not None  # the newest log won
