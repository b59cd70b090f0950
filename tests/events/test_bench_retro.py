"""The retrospective's bench row runs on a small Nexus (the timings of `make bench` are not asserted)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from events.bench_retro import run
from events.models import ImprovementAction, RetroItem
from events.services import sprint_close
from nexus_site.bench import BenchContext
from tests.events.sprint_helpers import sprint_build
from tests.factories import nexus_build

pytestmark = pytest.mark.django_db


def test_the_row_runs_on_a_small_nexus():
    nexus = nexus_build(teams=3, items=5, slug="bench-retro-small")
    ctx = BenchContext(nexus=nexus)
    owner = User.objects.get(username="po-bench-retro-small")
    client = Client()
    client.force_login(owner)
    ctx.extra.update(po_client=client, po_user=owner)  # what `bench_client` keeps for the bench Nexus
    assert run(ctx)[0].note.endswith("skipped")
    first = sprint_build(nexus, started=True)
    sprint_close(sprint=first, actor=None)
    second = sprint_build(nexus, started=True)
    sprint_close(sprint=second, actor=None)
    [row] = run(ctx)
    assert row.name.startswith("Nexus Sprint Retrospective page")
    assert row.queries is not None
    assert RetroItem.objects.filter(sprint=second).count() == 90
    assert ImprovementAction.objects.filter(sprint=first, status="open").count() == 30
