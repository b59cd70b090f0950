"""`flow`'s demo step, the last of `load_demo`: figures left pending by the steps before it (whose
recompute would run in a daemon thread the command does not wait for) are recomputed before the command
ends; current figures are left alone."""

from __future__ import annotations

import pytest
from django.utils import timezone

from flow.demo import demo_step
from flow.models import FlowSnapshot, FlowState
from nexus_site.extensions import DemoContext, demo_steps
from tests.factories import nexus_build

pytestmark = pytest.mark.django_db


def test_pending_figures_are_recomputed_and_current_ones_left_alone():
    nexus = nexus_build(items=4)
    FlowState.objects.update_or_create(
        nexus=nexus, defaults={"pending_since": timezone.now(), "computed_at": None}
    )
    ctx = DemoContext(slug=nexus.slug, password="demo")
    assert "brought up to date" in demo_step(ctx)
    state = FlowState.objects.get(nexus=nexus)
    assert state.pending_since is None
    assert state.computed_at is not None
    assert FlowSnapshot.objects.filter(nexus=nexus, team__isnull=True).exists()
    assert demo_step(ctx) == ""  # current: nothing to do
    assert demo_step(DemoContext(slug="no-such-nexus", password="demo")) == ""


def test_it_is_the_last_demo_step():
    steps = demo_steps()
    assert steps[-1].name == "flow figures up to date"
    assert all(s.order < steps[-1].order for s in steps[:-1])
