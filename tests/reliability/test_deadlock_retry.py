"""A real deadlock on PostgreSQL surfaces as a retry inside the write service, never as an error.

Another transaction (a raw connection, as another process would be) takes the Nexus's change counter
row, then wants the PBI's row; the service (`pbi_update`) takes the PBI's row, then wants the counter
(`nexus_changed`): a lock cycle. The other transaction waits longer before checking for deadlocks
(`deadlock_timeout`), so PostgreSQL aborts the service's transaction (40P01); `retry_transient` runs
it again once the other one has committed, and both changes are kept.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest
from django.db import connection

from backlog.models import NexusChangeCounter, ProductBacklogItem
from backlog.services import pbi_create, pbi_update
from nexus_site import db
from tests.factories import nexus_build

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL deadlock"),
]


def _raw() -> psycopg.Connection[Any]:
    s = connection.settings_dict
    return psycopg.connect(
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        user=s["USER"],
        password=s["PASSWORD"] or None,
        dbname=s["NAME"],
    )


def test_a_deadlocked_service_runs_again_and_both_changes_are_kept(caplog):
    nexus = nexus_build(slug="deadlock")
    item = pbi_create(nexus=nexus, title="Before", actor=None)
    assert NexusChangeCounter.objects.filter(nexus=nexus).exists()
    other = _raw()
    errors: list[BaseException] = []

    def service() -> None:
        try:
            pbi_update(item=ProductBacklogItem.objects.get(pk=item.pk), actor=None, title="After")
        except BaseException as exc:  # the test reports it
            errors.append(exc)
        finally:
            connection.close()

    with other.transaction():
        other.execute("SET LOCAL deadlock_timeout = '10s'")  # the service detects the cycle first
        other.execute("UPDATE backlog_nexuschangecounter SET seq = seq + 1 WHERE nexus_id = %s", [nexus.pk])
        thread = threading.Thread(target=service)
        with caplog.at_level("WARNING", logger="nexus_site.db"):
            thread.start()
            time.sleep(0.5)  # the service holds the PBI's row and waits for the counter
            other.execute(
                "SELECT id FROM backlog_productbacklogitem WHERE id = %s FOR UPDATE", [item.pk]
            )  # the cycle: PostgreSQL aborts the service's transaction after its deadlock_timeout (1 s)
            other.execute(
                "UPDATE backlog_productbacklogitem SET blocked_reason = '' WHERE id = %s", [item.pk]
            )
        # leaving the block commits; the service's second attempt then goes through
    thread.join(timeout=30)
    other.close()
    assert not thread.is_alive()
    assert errors == []
    assert any("deadlock detected" in r.getMessage() for r in caplog.records), "no deadlock was provoked"
    item.refresh_from_db()
    assert item.title == "After"
    assert item.version == 2


def test_transient_errors_are_told_apart():
    from django.db import OperationalError

    deadlock = OperationalError("deadlock detected")
    deadlock.__cause__ = psycopg.errors.DeadlockDetected("deadlock detected")
    assert db.is_transient(deadlock)
    assert db.is_transient(OperationalError("database is locked"))
    assert not db.is_transient(OperationalError("connection refused"))
    assert db.is_unavailable(OperationalError("connection refused"))
