"""The Definition of Done services: the Nexus Integration Team owns the Nexus's criteria, teams add
stricter ones and never remove or weaken the Nexus's, every write a new kept version."""

from __future__ import annotations

import pytest

from backlog.errors import DomainError, NotAllowed, PreconditionFailed
from backlog.models import NexusChangeCounter
from integration.models import DoneCriterion, DoneVersion
from integration.services_dod import criterion_add, criterion_remove, criterion_update, dod_current_version
from tests.factories import nexus_build
from tests.integration.helpers import people

pytestmark = pytest.mark.django_db


def _seq(nexus):
    return NexusChangeCounter.objects.filter(nexus=nexus).values_list("seq", flat=True).first() or 0


def test_nit_owns_the_nexus_dod_and_each_write_is_a_version():
    nexus = nexus_build()
    p = people(nexus)
    before = _seq(nexus)
    first = criterion_add(nexus=nexus, text="Code reviewed", actor=p["nit"])
    criterion_add(nexus=nexus, text="Deployed to staging", actor=p["nit"])
    criterion_add(nexus=nexus, text="Tests green", actor=p["nit"], position=0)
    assert list(DoneCriterion.objects.filter(nexus=nexus).values_list("text", flat=True)) == [
        "Tests green",
        "Code reviewed",
        "Deployed to staging",
    ]
    criterion_update(criterion=first, actor=p["nit"], text="Code reviewed by two people", position=2)
    versions = list(DoneVersion.objects.filter(nexus=nexus).order_by("number"))
    assert [v.number for v in versions] == [1, 2, 3, 4]
    assert versions[-1].created_by == p["nit"]
    assert [c["text"] for c in versions[-1].criteria] == [
        "Tests green",
        "Deployed to staging",
        "Code reviewed by two people",
    ]
    assert [c["text"] for c in versions[0].criteria] == ["Code reviewed"]  # kept as it was
    assert dod_current_version(nexus_id=nexus.pk).number == 4
    assert _seq(nexus) == before + 4


def test_a_team_adds_stricter_criteria_but_never_touches_the_nexus_ones():
    nexus = nexus_build()
    p = people(nexus)
    nexus_c = criterion_add(nexus=nexus, text="Code reviewed", actor=p["nit"])
    own = criterion_add(nexus=nexus, text="Accessibility checked", actor=p["dev_a"], team=p["team_a"])
    assert own.team == p["team_a"]
    with pytest.raises(NotAllowed, match="never remove or weaken"):
        criterion_remove(criterion=nexus_c, actor=p["dev_a"])
    with pytest.raises(NotAllowed, match="never remove or weaken"):
        criterion_update(criterion=nexus_c, actor=p["dev_a"], text="Reviewed if time allows")
    with pytest.raises(NotAllowed, match="never remove or weaken"):
        criterion_add(nexus=nexus, text="x", actor=p["po"])
    with pytest.raises(NotAllowed, match="Team A's Developers"):
        criterion_remove(criterion=own, actor=p["dev_b"])
    with pytest.raises(NotAllowed):
        criterion_add(nexus=nexus, text="x", actor=p["stake"], team=p["team_a"])
    assert DoneCriterion.objects.get(pk=nexus_c.pk).text == "Code reviewed"
    assert DoneVersion.objects.filter(nexus=nexus).count() == 2  # nothing half-saved
    criterion_remove(criterion=own, actor=p["dev_a"])
    assert not DoneCriterion.objects.filter(pk=own.pk).exists()
    assert DoneVersion.objects.filter(nexus=nexus).count() == 3


def test_bad_input_names_the_field():
    nexus = nexus_build()
    other = nexus_build()
    with pytest.raises(DomainError) as e:
        criterion_add(nexus=nexus, text="  ", actor=None)
    assert e.value.field == "text"
    with pytest.raises(DomainError) as e:
        criterion_add(nexus=nexus, text="x" * 501, actor=None)
    assert e.value.field == "text"
    with pytest.raises(DomainError) as e:
        criterion_add(nexus=nexus, text="ok", actor=None, team=other.teams.first())
    assert e.value.field == "team"
    c = criterion_add(nexus=nexus, text="ok", actor=None)
    with pytest.raises(PreconditionFailed):
        criterion_update(criterion=c, actor=None, text="new", expected_version=7)
