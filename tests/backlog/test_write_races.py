"""Writes that checked or saved a row they had not locked (PostgreSQL, each side in its own thread and
connection): a webhook edit that undid a concurrent secret rotation, two closes of the same Product
Goal that both succeeded."""

from __future__ import annotations

import pytest
from django.db import connection

from backlog.errors import DomainError
from backlog.models import GoalStatus, ProductGoal
from backlog.models_api import Webhook
from backlog.services import goal_close, goal_create, goal_update
from backlog.services.webhooks import webhook_create, webhook_rotate_secret, webhook_update
from tests.backlog.test_structure_races import _first_holds_then_second
from tests.factories import nexus_build

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


@pytest.fixture(autouse=True)
def _local_targets(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True


def test_a_webhook_edit_does_not_undo_a_concurrent_secret_rotation():
    nexus = nexus_build(teams=0)
    hook = webhook_create(nexus=nexus, url="http://127.0.0.1:9/a", events=["item.created"], actor=None)
    # As the API's PATCH does: the row is read, then (meanwhile) the secret is rotated, then the edit.
    read_by_the_edit = Webhook.objects.get(pk=hook.pk)
    rotated: dict[str, str] = {}

    def rotate() -> None:
        rotated["secret"] = webhook_rotate_secret(webhook=Webhook.objects.get(pk=hook.pk)).secret

    failed = _first_holds_then_second(
        rotate, lambda: webhook_update(webhook=read_by_the_edit, description="Paused for the demo")
    )
    assert failed is None, repr(failed)
    hook.refresh_from_db()
    assert hook.secret == rotated["secret"]
    assert hook.description == "Paused for the demo"
    assert read_by_the_edit.secret == rotated["secret"]  # the returned object is the row as saved


def test_a_webhook_edit_keeps_fields_it_does_not_change():
    nexus = nexus_build(teams=0)
    hook = webhook_create(nexus=nexus, url="http://127.0.0.1:9/a", events=["item.created"], actor=None)
    stale = Webhook.objects.get(pk=hook.pk)
    webhook_update(webhook=Webhook.objects.get(pk=hook.pk), url="http://127.0.0.1:9/b")
    webhook_update(webhook=stale, is_active=False)
    hook.refresh_from_db()
    assert (hook.url, hook.is_active) == ("http://127.0.0.1:9/b", False)


def test_two_concurrent_closes_of_a_product_goal_one_wins():
    nexus = nexus_build(teams=0)
    goal = goal_create(nexus=nexus, text="Ship the Integrated Increment")
    # Both read the goal while it is active, then each closes it.
    first, second = ProductGoal.objects.get(pk=goal.pk), ProductGoal.objects.get(pk=goal.pk)
    refused = _first_holds_then_second(
        lambda: goal_close(goal=first, status=GoalStatus.ACHIEVED),
        lambda: goal_close(goal=second, status=GoalStatus.ABANDONED),
    )
    assert isinstance(refused, DomainError), repr(refused)
    assert refused.field == "status"
    goal.refresh_from_db()
    assert goal.status == GoalStatus.ACHIEVED


def test_an_edit_of_a_goal_being_closed_is_refused():
    nexus = nexus_build(teams=0)
    goal = goal_create(nexus=nexus, text="Ship it")
    first, second = ProductGoal.objects.get(pk=goal.pk), ProductGoal.objects.get(pk=goal.pk)
    refused = _first_holds_then_second(
        lambda: goal_close(goal=first, status=GoalStatus.ABANDONED),
        lambda: goal_update(goal=second, text="Ship it twice"),
    )
    assert isinstance(refused, DomainError), repr(refused)
    assert refused.field == "text"
    goal.refresh_from_db()
    assert (goal.status, goal.text) == (GoalStatus.ABANDONED, "Ship it")
