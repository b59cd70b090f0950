"""The Integrated Increment services: integration needs filled squares, criteria confirmed once each,
Done only when all are, then the PBIs' squares ticked and the PBIs in the finished column through the
one move service (logged, source system), released with a date; webhooks and the change counter."""

from __future__ import annotations

from datetime import date

import pytest

from backlog.errors import Conflict, DomainError, NotAllowed
from backlog.models import (
    NexusChangeCounter,
    Source,
    TeamInvolvement,
    TeamStatus,
    Transition,
    TransitionKind,
    WebhookDelivery,
)
from backlog.services.webhooks import webhook_create
from integration.models import IncrementEvent, IncrementItem, IncrementState
from integration.services_dod import criterion_add, criterion_remove
from integration.services_increments import (
    increment_confirm,
    increment_create,
    increment_done,
    increment_integrate,
    increment_release,
)
from tests.events.sprint_helpers import items, sprint_build
from tests.factories import column, nexus_build
from tests.integration.helpers import dod_build, increment_build, people

pytestmark = pytest.mark.django_db


def _seq(nexus):
    return NexusChangeCounter.objects.filter(nexus=nexus).values_list("seq", flat=True).first() or 0


def test_increment_carries_the_dod_version_in_force():
    nexus = nexus_build(items=3)
    dod_build(nexus)
    increment, _ = increment_build(nexus)
    assert increment.dod_version.number == 2
    criterion_add(nexus=nexus, text="Later criterion", actor=None)
    increment.refresh_from_db()
    assert [c["text"] for c in increment.dod_version.criteria] == ["Code reviewed", "Integration tests green"]


def test_integrating_needs_every_square_filled_and_one_increment_per_pbi():
    nexus = nexus_build(items=3)
    scope = items(nexus)
    sprint = sprint_build(nexus, planned=scope, started=True)
    increment = increment_create(sprint=sprint, actor=None)
    with pytest.raises(Conflict, match="Team A \\(not started\\)") as e:
        increment_integrate(increment=increment, item=scope[0], actor=None)
    assert e.value.field == "item"
    assert not IncrementItem.objects.exists()
    increment, _ = increment_build(nexus, n_items=1, sprint=sprint)
    other = increment_create(sprint=sprint, actor=None)
    with pytest.raises(Conflict, match="integrated into Increment"):
        increment_integrate(increment=other, item=scope[0], actor=None)


def test_planned_sprint_refused():
    nexus = nexus_build(items=1)
    sprint = sprint_build(nexus)
    with pytest.raises(Conflict) as e:
        increment_create(sprint=sprint, actor=None)
    assert e.value.field == "sprint"


def test_confirm_rules_and_done_ticks_squares_and_moves_into_finished_column():
    nexus = nexus_build(items=3)
    p = people(nexus)
    dod_build(nexus)
    criterion_add(nexus=nexus, text="Team A: accessibility", actor=None, team=p["team_a"])
    webhook_create(
        nexus=nexus,
        url="https://example.com/hook",
        events=["increment.done", "increment.released"],
        actor=None,
    )
    increment, scope = increment_build(nexus)
    criteria = increment.dod_version.criteria
    assert len(criteria) == 3
    with pytest.raises(NotAllowed, match="Only the Product Owner"):
        increment_done(increment=increment, actor=p["dev_a"])
    with pytest.raises(Conflict, match="not yet: Code reviewed; Integration tests green; Team A") as ce:
        increment_done(increment=increment, actor=p["po"])
    assert ce.value.field == "criteria"
    with pytest.raises(NotAllowed, match="Stakeholders"):
        increment_confirm(increment=increment, criterion=criteria[0]["id"], actor=p["stake"])
    with pytest.raises(NotAllowed, match="Team A's criterion"):
        increment_confirm(increment=increment, criterion=criteria[2]["id"], actor=p["dev_b"])
    with pytest.raises(DomainError) as e:
        increment_confirm(
            increment=increment, criterion=criteria[0]["id"], actor=p["dev_b"], evidence_url="ftp://x"
        )
    assert e.value.field == "evidence_url"
    with pytest.raises(DomainError) as e:
        increment_confirm(increment=increment, criterion=999999, actor=p["dev_b"])
    assert e.value.field == "criterion"
    row = increment_confirm(
        increment=increment,
        criterion=criteria[0]["id"],
        actor=p["dev_b"],
        evidence_url="https://ci.example.com/1",
    )
    assert row.confirmed_by == p["dev_b"]
    assert row.evidence_url == "https://ci.example.com/1"
    with pytest.raises(Conflict, match="confirmed already, by devb"):
        increment_confirm(increment=increment, criterion=criteria[0]["id"], actor=p["dev_a"])
    increment_confirm(increment=increment, criterion=criteria[1]["id"], actor=p["dev_a"])
    increment_confirm(increment=increment, criterion=criteria[2]["id"], actor=p["dev_a"])
    with pytest.raises(Conflict, match="mark it Done first"):
        increment_release(increment=increment, actor=p["po"])
    # a criterion removed after the increment was created stays in its version
    criterion_remove(criterion=nexus.done_criteria.order_by("pk")[0], actor=None)
    before = _seq(nexus)
    increment_done(increment=increment, actor=p["po"])
    assert _seq(nexus) == before + 1
    increment.refresh_from_db()
    assert increment.state == IncrementState.DONE
    assert increment.done_by == p["po"]
    done = column(nexus, "Done")
    for item in scope:
        item.refresh_from_db()
        assert item.column_id == done.pk
        assert set(TeamInvolvement.objects.filter(item=item).values_list("status", flat=True)) == {
            TeamStatus.DONE
        }
        for square in TeamInvolvement.objects.filter(item=item).select_related("team_column"):
            assert square.team_column is not None
            assert square.team_column.state == TeamStatus.DONE  # the team's Done column of its board
            ticked = Transition.objects.filter(item=item, kind=TransitionKind.TEAM_STATUS, team=square.team)
            assert ticked.order_by("-at", "-id")[0].to_name == TeamStatus.DONE
        assert Transition.objects.filter(
            item=item, kind=TransitionKind.TEAM_COLUMN, team_status="done"
        ).exists()
        move = Transition.objects.filter(item=item, kind=TransitionKind.COLUMN).order_by("-at")[0]
        assert move.to_column_id == done.pk
        assert move.source == Source.SYSTEM
    assert WebhookDelivery.objects.filter(event="increment.done").count() == 1
    with pytest.raises(Conflict, match="Done already"):
        increment_done(increment=increment, actor=p["po"])
    with pytest.raises(Conflict, match="Done"):
        increment_integrate(increment=increment, item=items(nexus)[2], actor=None)
    increment_release(increment=increment, actor=p["nit"], released_on=date(2026, 2, 1))
    increment.refresh_from_db()
    assert increment.released_on == date(2026, 2, 1)
    assert WebhookDelivery.objects.filter(event="increment.released").count() == 1
    with pytest.raises(Conflict, match="released on 2026-02-01 already"):
        increment_release(increment=increment, actor=p["nit"])
    kinds = list(IncrementEvent.objects.filter(increment=increment).values_list("kind", flat=True))
    assert kinds == [
        "created",
        "integrated",
        "integrated",
        "confirmed",
        "confirmed",
        "confirmed",
        "done",
        "released",
    ]


def test_done_without_pbis_refused():
    nexus = nexus_build(items=1)
    sprint = sprint_build(nexus, started=True)
    increment = increment_create(sprint=sprint, actor=None)
    with pytest.raises(Conflict) as e:
        increment_done(increment=increment, actor=None)
    assert e.value.field == "items"
