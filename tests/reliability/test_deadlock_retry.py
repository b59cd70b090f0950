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

from backlog.models import NexusChangeCounter, ProductBacklogItem, TeamInvolvement, TeamStatus, Transition
from backlog.models_dependency import DependencyChange, DependencyStatus
from backlog.services import pbi_create, pbi_update
from backlog.services.dependencies import dependency_create, dependency_set_status
from backlog.services.squares import square_set
from nexus_site import db
from tests.api.helpers import token_client
from tests.factories import column, nexus_build, team

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


def _wait_for_a_lock_wait(other: psycopg.Connection[Any], timeout: float = 20) -> None:
    """Until another backend of the test database waits for a lock (the writer waiting for the counter)."""
    watcher = _raw()
    watcher.autocommit = True
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            row = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND pid <> %s",
                [other.info.backend_pid],
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.05)
    finally:
        watcher.close()
    raise AssertionError("the writer never waited for the counter's lock")


#: What the other transaction locks first: the Nexus's change counter (what `nexus_changed` takes), or
#: the Nexus row (what `nexus_lock` takes: the square changes wait there).
COUNTER = "UPDATE backlog_nexuschangecounter SET seq = seq + 1 WHERE nexus_id = %s"
NEXUS_ROW = "SELECT id FROM backlog_nexus WHERE id = %s FOR UPDATE"
#: What it locks then, the service holding it: the PBI's row (by default), or another row.
ITEM_ROW = "SELECT id FROM backlog_productbacklogitem WHERE id = %s FOR UPDATE"


def _deadlock_against(
    item: ProductBacklogItem | None,
    nexus_id: int,
    write: Any,
    caplog: Any,
    first: str = COUNTER,
    then: tuple[str, int] | None = None,
) -> list[BaseException]:
    """Run `write()` in a thread while another transaction makes a lock cycle with it (see the module;
    `first` is the row the other takes first, by the Nexus's id, `then` the statement and id of the row
    it wants next, by default `item`'s); returns what `write` raised."""
    other = _raw()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            write()
        except BaseException as exc:  # the test reports it
            errors.append(exc)
        finally:
            connection.close()

    with other.transaction():
        other.execute("SET LOCAL deadlock_timeout = '10s'")  # the service detects the cycle first
        other.execute(first, [nexus_id])
        thread = threading.Thread(target=run)
        with caplog.at_level("WARNING", logger="nexus_site.db"):
            thread.start()
            _wait_for_a_lock_wait(other)  # the service holds the PBI's row and waits for the counter
            # The cycle: PostgreSQL aborts the service's transaction after its deadlock_timeout (1 s).
            assert then is not None or item is not None
            statement, row_id = then or (ITEM_ROW, item.pk if item is not None else 0)
            other.execute(statement, [row_id])
        # leaving the block commits; the service's second attempt then goes through
    thread.join(timeout=30)
    other.close()
    assert not thread.is_alive()
    provoked = [r.getMessage() for r in caplog.records] + [str(e) for e in errors]
    assert any("deadlock detected" in m for m in provoked), "no deadlock was provoked"
    return errors


def test_a_deadlocked_service_runs_again_and_both_changes_are_kept(caplog):
    nexus = nexus_build(slug="deadlock")
    item = pbi_create(nexus=nexus, title="Before", actor=None)
    assert NexusChangeCounter.objects.filter(nexus=nexus).exists()
    seq = NexusChangeCounter.objects.get(nexus=nexus).seq

    def write() -> None:
        pbi_update(item=ProductBacklogItem.objects.get(pk=item.pk), actor=None, title="After")

    assert _deadlock_against(item, nexus.pk, write, caplog) == []
    item.refresh_from_db()
    assert item.title == "After"
    assert item.version == 2
    assert NexusChangeCounter.objects.get(nexus=nexus).seq == seq + 2  # the other's and the service's


def test_a_deadlocked_api_request_with_an_idempotency_key_is_retried_whole(caplog):
    nexus = nexus_build(slug="deadlock-api")
    item = pbi_create(nexus=nexus, title="Before", actor=None)
    po = nexus.memberships.get(role="product_owner").user
    client = token_client(po)
    done = column(nexus, "In Progress")
    answers: list[Any] = []

    def write() -> None:
        answers.append(
            client.post(
                f"/api/v1/nexuses/{nexus.slug}/items/{item.pk}/transition/",
                {"column": done.pk},
                format="json",
                HTTP_IDEMPOTENCY_KEY="deadlock-1",
            )
        )

    assert _deadlock_against(item, nexus.pk, write, caplog) == []
    assert answers[0].status_code == 200, answers[0].content
    item.refresh_from_db()
    assert item.column_id == done.pk
    assert Transition.objects.filter(item=item, kind="column").count() == 2  # creation + this move, once


def test_a_deadlocked_square_change_runs_again(caplog):
    """`square_set` (and `team_item_move`) lock the PBI and its square, then the Nexus row
    (`nexus_lock`): a transaction holding the Nexus row and wanting the PBI makes a cycle."""
    nexus = nexus_build(slug="deadlock-square")
    item = pbi_create(nexus=nexus, title="Squared", actor=None, teams=[team(nexus, "Team A")])
    square = TeamInvolvement.objects.get(item=item)
    assert square.status == TeamStatus.NOT_STARTED

    def write() -> None:
        square_set(involvement=square, status=TeamStatus.IN_PROGRESS, actor=None)

    assert _deadlock_against(item, nexus.pk, write, caplog, first=NEXUS_ROW) == []
    square.refresh_from_db()
    assert square.status == TeamStatus.IN_PROGRESS
    assert Transition.objects.filter(item=item, kind="team_status").count() == 1  # once


def test_a_deadlocked_dependency_change_runs_again(caplog):
    """`dependency_set_status` takes the Nexus row (`nexus_lock`), then the dependency's: a transaction
    holding the dependency's row and wanting the Nexus row makes a cycle."""
    nexus = nexus_build(slug="deadlock-dependency")
    a = pbi_create(nexus=nexus, title="A", actor=None)
    b = pbi_create(nexus=nexus, title="B", actor=None)
    dependency = dependency_create(item=a, depends_on=b, actor=None)

    def write() -> None:
        dependency_set_status(dependency=dependency, status=DependencyStatus.RESOLVED, actor=None)

    lock_dependency = "SELECT id FROM backlog_dependency WHERE id = %s FOR UPDATE"
    # The other takes the dependency's row first (its id where the helper puts the Nexus's).
    errors = _deadlock_against(
        a, dependency.pk, write, caplog, first=lock_dependency, then=(NEXUS_ROW, nexus.pk)
    )
    assert errors == []
    dependency.refresh_from_db()
    assert dependency.status == DependencyStatus.RESOLVED
    assert DependencyChange.objects.filter(dependency=dependency, kind="resolved").count() == 1  # once


def _row_lock(model: Any) -> str:
    return f"SELECT id FROM {model._meta.db_table} WHERE id = %s FOR UPDATE"


def test_a_deadlocked_sprint_change_runs_again(caplog):
    """Events: `sprint_update` takes the Nexus row (`nexus_lock`), then the Sprint's: a transaction
    holding the Sprint's row and wanting the Nexus row makes a cycle."""
    from events.models import Sprint
    from events.services import sprint_create, sprint_update

    nexus = nexus_build(slug="deadlock-sprint")
    sprint = sprint_create(nexus=nexus, actor=None, goal="Before")

    def write() -> None:
        sprint_update(sprint=Sprint.objects.get(pk=sprint.pk), actor=None, goal="After")

    errors = _deadlock_against(
        None, sprint.pk, write, caplog, first=_row_lock(Sprint), then=(NEXUS_ROW, nexus.pk)
    )
    assert errors == []
    sprint.refresh_from_db()
    assert (sprint.goal, sprint.version) == ("After", 2)  # changed once


def test_a_deadlocked_integration_issue_change_runs_again(caplog):
    """Integration: `issue_update` takes the Nexus row, then the issue's: a transaction holding the
    issue's row and wanting the Nexus row makes a cycle."""
    from integration.models_issues import IntegrationIssue, IntegrationIssueEntry
    from integration.services_issues import issue_raise, issue_update

    nexus = nexus_build(slug="deadlock-issue")
    issue = issue_raise(nexus=nexus, actor=None, title="Before").issue

    def write() -> None:
        issue_update(issue=IntegrationIssue.objects.get(pk=issue.pk), actor=None, title="After")

    errors = _deadlock_against(
        None, issue.pk, write, caplog, first=_row_lock(IntegrationIssue), then=(NEXUS_ROW, nexus.pk)
    )
    assert errors == []
    issue.refresh_from_db()
    assert issue.title == "After"
    assert IntegrationIssueEntry.objects.filter(issue=issue, kind="changed").count() == 1  # once


def test_transient_errors_are_told_apart():
    from django.db import OperationalError

    deadlock = OperationalError("deadlock detected")
    deadlock.__cause__ = psycopg.errors.DeadlockDetected("deadlock detected")
    assert db.is_transient(deadlock)
    serialization = OperationalError("could not serialize access due to concurrent update")
    serialization.__cause__ = psycopg.errors.SerializationFailure("could not serialize access")
    assert db.is_transient(serialization)
    assert db.is_transient(OperationalError("database is locked"))
    assert not db.is_transient(OperationalError("connection refused"))
    assert db.is_unavailable(OperationalError("connection refused"))
