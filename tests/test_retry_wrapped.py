"""A deadlock or serialization failure is a retry inside the service, never a 500: every public write
service that opens its own transaction has `nexus_site.db.retry_transient` as its outermost decorator
(outside `transaction.atomic`, so each attempt is a new transaction), and a new one cannot be
forgotten. Read from the source of every services module of the apps (`<app>/services.py`,
`<app>/services/*.py`, `<app>/services_*.py`). And `retry_transient` itself: it runs a transient
failure again, but never inside a caller's transaction (the caller's is aborted too; whoever opened
it retries, or the middleware answers 503)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.db import OperationalError, transaction

from nexus_site import db

ROOT = Path(__file__).resolve().parent.parent
APPS = ("backlog", "events", "flow", "integration")

#: Functions that open a transaction and are not wrapped, and why.
NOT_WRAPPED = {
    # A hook the write services call inside their own transaction (which retry_transient wraps).
    "backlog/services/webhooks.py:webhook_event_record",
    # Run by a Celery worker, not a request: a delivery failed on a database error stays pending and
    # the sweep queues it again; the sweep runs again at its next beat.
    "backlog/services/webhooks.py:webhook_deliver",
    "backlog/services/webhooks.py:webhook_retry_due",
    # One UPDATE of the token's row taken with SKIP LOCKED: it never waits for a lock, so it can be
    # in no lock cycle.
    "backlog/services/sync.py:token_authenticate",
}


def _modules() -> list[Path]:
    found: set[Path] = set()
    for app in APPS:
        folder = ROOT / app
        found.update(folder.glob("services.py"))
        found.update(folder.glob("services/*.py"))
        found.update(folder.glob("services_*.py"))
    return sorted(found)


def _opens_a_transaction(fn: ast.FunctionDef) -> bool:
    """Decorated with `transaction.atomic`, or calls `transaction.atomic(...)` in its body."""
    if any(ast.unparse(d) == "transaction.atomic" for d in fn.decorator_list):
        return True
    return any(
        isinstance(node, ast.Call) and ast.unparse(node.func) == "transaction.atomic" for node in ast.walk(fn)
    )


def _write_services() -> list[tuple[str, ast.FunctionDef]]:
    services = []
    for path in _modules():
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
                continue
            if _opens_a_transaction(node):
                services.append((f"{path.relative_to(ROOT)}:{node.name}", node))
    return services


def test_every_write_service_that_opens_a_transaction_retries_a_transient_conflict():
    services = _write_services()
    assert len(services) > 60  # the modules were found (pbi_create, sprint_create, issue_raise...)
    names = {name for name, _ in services}
    assert {
        "backlog/services/items.py:pbi_create",
        "backlog/services/bulk.py:pbi_bulk_upsert",
        "events/services/sprints.py:sprint_create",
        "integration/services_issues.py:issue_raise",
        "flow/services/settings.py:flow_settings_set",
    } <= names
    assert names >= NOT_WRAPPED, NOT_WRAPPED - names  # the exemptions name existing functions
    unwrapped = [
        name
        for name, fn in services
        if name not in NOT_WRAPPED
        and not (fn.decorator_list and ast.unparse(fn.decorator_list[0]) == "retry_transient")
    ]
    assert unwrapped == [], "not wrapped by @retry_transient (outermost decorator): " + ", ".join(unwrapped)


def _deadlock() -> OperationalError:
    import psycopg

    exc = OperationalError("deadlock detected")
    exc.__cause__ = psycopg.errors.DeadlockDetected("deadlock detected")
    return exc


@pytest.mark.django_db(transaction=True)
def test_retry_transient_runs_again_outside_a_transaction_and_never_inside_one(monkeypatch):
    monkeypatch.setattr(db, "FIRST_WAIT", 0.001)
    calls: list[int] = []

    @db.retry_transient
    @transaction.atomic
    def service() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _deadlock()
        return "done"

    assert service() == "done"
    assert len(calls) == 3  # two conflicts, then it went through

    calls.clear()
    with pytest.raises(OperationalError), transaction.atomic():
        service()  # in a caller's transaction: the error goes up at once
    assert len(calls) == 1

    calls.clear()

    @db.retry_transient
    def always() -> None:
        calls.append(1)
        raise _deadlock()

    with pytest.raises(OperationalError):
        always()
    assert len(calls) == db.ATTEMPTS  # then the last failure is raised (the middleware answers 503)
