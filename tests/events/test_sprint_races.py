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


def test_one_item_planned_into_one_sprint_by_two_teams_at_once_gets_both_squares():
    from backlog.models import TeamInvolvement
    from events.models import SprintScopeChange

    nexus = nexus_build(items=1)
    item = items(nexus)[0]
    sprint = sprint_create(nexus=nexus, actor=None, start_date=START)
    team_a, team_b = teams(nexus)[:2]
    results, refused = _race(
        [
            lambda: sprint_plan(
                sprint=Sprint.objects.get(pk=sprint.pk), item=item, teams=[team_a], actor=None
            ),
            lambda: sprint_plan(
                sprint=Sprint.objects.get(pk=sprint.pk), item=item, teams=[team_b], actor=None
            ),
        ]
    )
    assert len(results) == 2
    assert not refused
    assert set(TeamInvolvement.objects.filter(item=item).values_list("team_id", flat=True)) == {
        team_a.pk,
        team_b.pk,
    }
    assert SprintScopeChange.objects.filter(sprint=sprint, item=item, kind="added").count() == 1


def test_planning_while_the_sprint_closes_is_either_carried_or_refused():
    from events.services import sprint_close

    nexus = nexus_build(items=2)
    first, second = items(nexus)
    sprint = sprint_create(nexus=nexus, actor=None, start_date=START)
    sprint_plan(sprint=sprint, item=first, teams=teams(nexus)[:1], actor=None)
    sprint_start(sprint=sprint, actor=None)
    nxt = sprint_create(nexus=nexus, actor=None)
    results, refused = _race(
        [
            lambda: sprint_close(sprint=Sprint.objects.get(pk=sprint.pk), actor=None),
            lambda: sprint_plan(
                sprint=Sprint.objects.get(pk=sprint.pk), item=second, teams=teams(nexus)[:1], actor=None
            ),
        ]
    )
    sprint.refresh_from_db()
    assert sprint.state == SprintState.CLOSED
    carried = set(SprintItem.objects.filter(sprint=nxt).values_list("item_id", flat=True))
    if refused:  # the close came first: planning into the closed Sprint is refused
        assert refused[0].field == "sprint"
        assert carried == {first.pk}
    else:  # the plan came first: the close carried both over
        assert carried == {first.pk, second.pk}
    assert len(results) + len(refused) == 2
