"""Concurrent Sprint writes from several threads (each with its own connection) on PostgreSQL: the Nexus
row lock serialises them, so exactly one of two conflicting writes wins and the other is refused with the
field named."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from backlog.errors import DomainError
from events.models import Sprint, SprintItem, SprintState
from events.services import sprint_create, sprint_plan, sprint_start
from tests.events.sprint_helpers import START, day, items, teams
from tests.factories import nexus_build

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


def _race(workers):
    """Run each worker in its own thread at the same moment; return (results, domain errors)."""
    barrier = threading.Barrier(len(workers))
    results: list[object] = []
    refused: list[DomainError] = []
    errors: list[BaseException] = []

    def wrapped(fn):
        try:
            barrier.wait(timeout=10)
            results.append(fn())
        except DomainError as exc:
            refused.append(exc)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=wrapped, args=(fn,)) for fn in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    if errors:
        raise errors[0]
    return results, refused


def test_two_concurrent_starts_one_wins():
    nexus = nexus_build()
    a = sprint_create(nexus=nexus, actor=None, start_date=START)
    b = sprint_create(nexus=nexus, actor=None)
    results, refused = _race(
        [
            lambda: sprint_start(sprint=Sprint.objects.get(pk=a.pk), actor=None),
            lambda: sprint_start(sprint=Sprint.objects.get(pk=b.pk), actor=None),
        ]
    )
    assert len(results) == 1
    assert len(refused) == 1
    assert refused[0].field == "state"
    assert Sprint.objects.filter(nexus=nexus, state=SprintState.ACTIVE).count() == 1


def test_the_same_sprint_started_twice_at_once_starts_once():
    nexus = nexus_build()
    a = sprint_create(nexus=nexus, actor=None, start_date=START)
    results, refused = _race([lambda: sprint_start(sprint=Sprint.objects.get(pk=a.pk), actor=None)] * 2)
    assert len(results) == 1
    assert len(refused) == 1
    assert a.snapshots.count() == 1


def test_two_concurrent_creates_with_overlapping_dates_one_wins():
    nexus = nexus_build()
    results, refused = _race(
        [
            lambda: sprint_create(nexus=nexus, actor=None, start_date=START),
            lambda: sprint_create(nexus=nexus, actor=None, start_date=day(7)),
        ]
    )
    assert len(results) == 1
    assert len(refused) == 1
    assert refused[0].field == "start_date"
    assert Sprint.objects.filter(nexus=nexus).count() == 1


def test_one_item_planned_into_two_sprints_at_once_lands_in_one():
    nexus = nexus_build(items=1)
    item = items(nexus)[0]
    a = sprint_create(nexus=nexus, actor=None, start_date=START)
    b = sprint_create(nexus=nexus, actor=None)
    team_a, team_b = teams(nexus)[:2]
    results, refused = _race(
        [
            lambda: sprint_plan(sprint=Sprint.objects.get(pk=a.pk), item=item, teams=[team_a], actor=None),
            lambda: sprint_plan(sprint=Sprint.objects.get(pk=b.pk), item=item, teams=[team_b], actor=None),
        ]
    )
    assert len(results) == 1
    assert len(refused) == 1
    assert refused[0].field == "item"
    assert SprintItem.objects.filter(item=item).count() == 1
