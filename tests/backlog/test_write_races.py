"""Writes that checked or saved a row they had not locked (PostgreSQL, each side in its own thread and
connection): a webhook edit that undid a concurrent secret rotation, two closes of the same Product
Goal that both succeeded."""

from __future__ import annotations

import pytest
from django.db import connection

from backlog.models_api import Webhook
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
