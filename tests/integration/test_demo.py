"""The demo step of `integration`: a Definition of Done (Nexus criteria, one stricter team criterion), and a
Done Integrated Increment per closed Sprint built from what really finished in it, without moving PBIs;
idempotent."""

from __future__ import annotations

import pytest

from backlog.models import Role, Transition
from events.services import sprint_close
from integration import demo
from integration.models import DoneCriterion, IncrementItem, IncrementState, IntegratedIncrement
from integration.selectors import health_get
from nexus_site.extensions import DemoContext
from tests.events.sprint_helpers import finish, items, sprint_build, teams
from tests.factories import member, nexus_build

pytestmark = pytest.mark.django_db


def test_demo_step_builds_dod_and_done_increments_from_what_finished():
    nexus = nexus_build(items=6, slug="jdt-demo")
    member(nexus, Role.NIT_MEMBER, username="nit")
    core = teams(nexus)[0]
    member(nexus, Role.DEVELOPER, username="dev-core", team_obj=core)
    scope = items(nexus)
    s1 = sprint_build(nexus, planned=scope[:3], started=True)
    finish(scope[0])
    finish(scope[1])
    sprint_close(sprint=s1, actor=None, destinations={scope[2].pk: "backlog"})
    s2 = sprint_build(nexus, planned=scope[3:5], started=True)
    moves = Transition.objects.count()
    out = demo.demo_step(DemoContext(slug="jdt-demo", password="pw"))
    assert "1 Done Integrated Increments (2 PBIs)" in out
    assert DoneCriterion.objects.filter(nexus=nexus, team=None).count() == 5
    increment = IntegratedIncrement.objects.get(nexus=nexus)
    assert increment.sprint == s1
    assert increment.state == IncrementState.DONE
    assert increment.released_on == s1.end_date
    assert set(IncrementItem.objects.values_list("item_id", flat=True)) == {scope[0].pk, scope[1].pk}
    assert increment.confirmations.count() == len(increment.dod_version.criteria)
    assert Transition.objects.count() == moves  # nothing moved again
    assert not IntegratedIncrement.objects.filter(sprint=s2).exists()
    h = health_get(nexus=nexus)
    assert (h.closed, h.with_done, h.streak) == (1, 1, 1)
    again = demo.demo_step(DemoContext(slug="jdt-demo", password="pw"))
    assert again == "Definition of Done and Integrated Increments are loaded already."
    assert IntegratedIncrement.objects.count() == 1
