"""Two people add A→B and B→A at the same moment (threads, each with its own connection, on
PostgreSQL): the cycle check runs under the Nexus lock, so exactly one lands and the other is refused
with the cycle; and a dependency added while its PBI is being deleted ends removed, never open on a
deleted PBI."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from django.db import connection, connections

from backlog.errors import Conflict
from backlog.models import Dependency, DependencyStatus
from backlog.services import pbi_create, pbi_delete
from backlog.services.dependencies import dependency_create
from tests.factories import nexus_build

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


def _at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released together; their results (or exceptions) in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = calls[i]()
        except Exception as exc:  # reported in the results
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a dependency write hung"
    return results


def test_concurrent_a_to_b_and_b_to_a_cannot_both_pass():
    nexus = nexus_build()
    for round_ in range(5):
        a = pbi_create(nexus=nexus, title=f"A{round_}", actor=None)
        b = pbi_create(nexus=nexus, title=f"B{round_}", actor=None)
        results = _at_once(
            [
                partial(dependency_create, item=a, depends_on=b, actor=None),
                partial(dependency_create, item=b, depends_on=a, actor=None),
            ]
        )
        landed = [r for r in results if isinstance(r, Dependency)]
        refused = [r for r in results if isinstance(r, Exception)]
        assert len(landed) == 1, results
        assert len(refused) == 1
        assert isinstance(refused[0], Conflict)
        assert "cycle" in refused[0].message
        assert Dependency.objects.filter(item__in=[a, b], status="open").count() == 1


def test_concurrent_create_and_delete_leave_no_open_dependency_on_a_deleted_pbi():
    nexus = nexus_build()
    for round_ in range(5):
        a = pbi_create(nexus=nexus, title=f"A{round_}", actor=None)
        b = pbi_create(nexus=nexus, title=f"B{round_}", actor=None)
        _at_once(
            [
                partial(dependency_create, item=a, depends_on=b, actor=None),
                partial(pbi_delete, item=b, actor=None),
            ]
        )
        assert not Dependency.objects.filter(depends_on=b, status=DependencyStatus.OPEN).exists()
