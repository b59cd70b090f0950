"""Concurrent increment writes from several threads (each with its own connection) on PostgreSQL: the
Nexus and increment row locks serialise them; exactly one wins, the other is refused naming the field,
nothing half-saved."""

from __future__ import annotations

import pytest
from django.db import connection

from integration.models import CriterionConfirmation, IncrementItem, IntegratedIncrement
from integration.services_increments import increment_confirm, increment_create, increment_integrate
from tests.events.test_sprint_races import _race
from tests.factories import nexus_build
from tests.integration.helpers import dod_build, increment_build

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


def test_two_concurrent_confirmations_of_one_criterion_one_wins():
    nexus = nexus_build(items=2)
    dod_build(nexus)
    increment, _ = increment_build(nexus, n_items=1)
    criterion = increment.dod_version.criteria[0]["id"]

    def confirm():
        return increment_confirm(
            increment=IntegratedIncrement.objects.get(pk=increment.pk), criterion=criterion, actor=None
        )

    results, refused = _race([confirm, confirm])
    assert len(results) == 1
    assert [e.field for e in refused] == ["criterion"]
    assert CriterionConfirmation.objects.filter(increment=increment).count() == 1


def test_one_pbi_into_two_increments_at_once_one_wins():
    nexus = nexus_build(items=3)
    a, _ = increment_build(nexus, n_items=1)
    b = increment_create(sprint=a.sprint, actor=None)
    c = increment_create(sprint=a.sprint, actor=None)
    item = list(nexus.backlog.items.order_by("rank"))[1]

    results, refused = _race(
        [
            lambda: increment_integrate(
                increment=IntegratedIncrement.objects.get(pk=b.pk), item=item, actor=None
            ),
            lambda: increment_integrate(
                increment=IntegratedIncrement.objects.get(pk=c.pk), item=item, actor=None
            ),
        ]
    )
    assert len(results) == 1
    assert [e.field for e in refused] == ["item"]
    assert IncrementItem.objects.filter(item=item).count() == 1
