"""Outbound webhooks: events from the item services, signed deliveries to a local receiver, retries
with back-off, the delivery log (API and page), and delivery through a real Celery worker."""

from __future__ import annotations

import itertools
import json

import pytest

from backlog.models import ProductBacklogItem, Role
from backlog.models_api import DeliveryStatus, Webhook, WebhookDelivery
from backlog.services import pbi_create, pbi_delete, pbi_move, pbi_transition, pbi_update
from backlog.services.webhooks import (
    MAX_ATTEMPTS,
    backoff_seconds,
    webhook_create,
    webhook_deliver,
    webhook_event_record,
    webhook_retry_due,
    webhook_sign,
    webhook_signature_verify,
)
from nexus_site.extensions import Extension, WebhookEventType, extension_register
from tests.api.helpers import base, error_fields
from tests.api.receiver import receiver
from tests.factories import UserFactory, column, membership_add, nexus_build

ALL = ["item.created", "item.updated", "item.moved", "item.transitioned", "item.deleted"]

# Events are sent when the transaction commits, as in production: these tests really commit.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _local_targets(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True


def test_signature_round_trip():
    body = b'{"event":"item.created"}'
    header = webhook_sign(secret="s3cret", body=body, timestamp=1_700_000_000)
    assert webhook_signature_verify(secret="s3cret", header=header, body=body, now=1_700_000_100)
    assert not webhook_signature_verify(secret="s3cret", header=header, body=body + b" ", now=1_700_000_100)
    assert not webhook_signature_verify(secret="other", header=header, body=body, now=1_700_000_100)
    assert not webhook_signature_verify(secret="s3cret", header=header, body=body, now=1_700_001_000)
    assert not webhook_signature_verify(secret="s3cret", header="garbage", body=body)


def test_backoff_grows_and_is_capped(settings):
    settings.WEBHOOK_BACKOFF_BASE = 10
    waits = [backoff_seconds(n) for n in range(1, 7)]
    assert 8 <= waits[0] <= 12
    assert 32 <= waits[1] <= 48
    assert all(a < b for a, b in itertools.pairwise(waits[:5]))
    assert waits[5] <= 3600 * 1.2


def test_each_item_service_records_its_event(nx):
    with receiver() as r:
        hook = webhook_create(nexus=nx, url=r.url, events=ALL, actor=None)
        item = pbi_create(nexus=nx, title="New", actor=None)
        pbi_update(item=item, actor=None, title="Renamed")
        first = ProductBacklogItem.objects.filter(backlog__nexus=nx).order_by("rank").first()
        assert first is not None
        pbi_move(item=item, before_id=first.pk, actor=None)
        pbi_transition(item=item, to_column=column(nx, "In Progress"), actor=None)
        pbi_delete(item=item, actor=None)
        events = list(
            WebhookDelivery.objects.filter(webhook=hook).order_by("id").values_list("event", "status")
        )
        assert events == [(e, DeliveryStatus.SUCCEEDED) for e in ALL]
        assert [json.loads(req.body)["event"] for req in r.requests] == ALL
        for req in r.requests:
            assert webhook_signature_verify(
                secret=hook.secret, header=req.headers["X-Nexus-Signature"], body=req.body
            )
        payload = json.loads(r.requests[1].body)
        assert payload["item"]["title"] == "Renamed"
        assert payload["nexus"] == nx.slug
        assert r.requests[1].headers["X-Nexus-Event"] == "item.updated"
        assert payload["id"] == int(r.requests[1].headers["X-Nexus-Delivery"])


def test_deleting_a_parent_tells_receivers_its_children_changed(nx):
    """The children lose their parent (a new `version`): receivers mirroring them hear of it."""
    parent = pbi_create(nexus=nx, title="Epic", actor=None)
    kids = [pbi_create(nexus=nx, title=f"Story {i}", parent=parent, actor=None) for i in range(2)]
    with receiver() as r:
        hook = webhook_create(nexus=nx, url=r.url, events=ALL, actor=None)
        pbi_delete(item=parent, actor=None)
        sent = sorted(WebhookDelivery.objects.filter(webhook=hook).values_list("event", "item_id"))
        assert sent == sorted([("item.deleted", parent.pk)] + [("item.updated", k.pk) for k in kids])
        bodies = [
            json.loads(req.body) for req in r.requests if json.loads(req.body)["event"] == "item.updated"
        ]
        assert {b["item"]["version"] for b in bodies} == {k.version + 1 for k in kids}


def test_a_square_change_is_delivered_as_item_square_changed(nx):
    """Issue: webhooks can subscribe to `item.square_changed`: a team's square changed (by its status or
    by a move on the team's board) sends one signed delivery naming the PBI; nothing else is sent to a
    webhook subscribed to that event only."""
    from backlog.models import ScrumTeam, TeamColumn, TeamInvolvement
    from backlog.services import involvement_set_status
    from backlog.services.squares import team_item_move

    team = ScrumTeam.objects.filter(nexus=nx).earliest("id")
    item = pbi_create(nexus=nx, title="Pay by invoice", actor=None, teams=[team])
    with receiver() as r:
        hook = webhook_create(nexus=nx, url=r.url, events=["item.square_changed"], actor=None)
        pbi_update(item=item, actor=None, title="Pay by invoice, in two parts")  # not a square change
        involvement_set_status(
            involvement=TeamInvolvement.objects.get(item=item, team=team), status="in_progress", actor=None
        )
        ready = TeamColumn.objects.filter(team=team, state="ready").earliest("position")
        team_item_move(item=item, team=team, to_column=ready, actor=None)
        sent = list(
            WebhookDelivery.objects.filter(webhook=hook).order_by("id").values_list("event", "item_id")
        )
        assert sent == [("item.square_changed", item.pk)] * 2
        bodies = [json.loads(req.body) for req in r.requests]
        assert [b["event"] for b in bodies] == ["item.square_changed"] * 2
        assert bodies[-1]["item"]["id"] == item.pk
        assert r.requests[-1].headers["X-Nexus-Event"] == "item.square_changed"


def test_only_subscribed_events_of_active_webhooks(nx):
    with receiver() as r:
        moved_only = webhook_create(nexus=nx, url=r.url, events=["item.moved"], actor=None)
        paused = webhook_create(nexus=nx, url=r.url, events=ALL, actor=None)
        Webhook.objects.filter(pk=paused.pk).update(is_active=False)
        other = nexus_build()
        webhook_create(nexus=other, url=r.url, events=ALL, actor=None)
        pbi_create(nexus=nx, title="Quiet", actor=None)
        assert not WebhookDelivery.objects.exists()
        assert r.requests == []
        assert moved_only.deliveries.count() == 0


def test_a_rolled_back_write_sends_nothing(nx, api):
    with receiver() as r:
        webhook_create(nexus=nx, url=r.url, events=ALL, actor=None)
        items = [{"external_id": "A", "title": "fine"}, {"external_id": "B", "title": ""}]
        assert api("dev").post(f"{base(nx)}/items/bulk/", {"items": items}, format="json").status_code == 400
        assert not WebhookDelivery.objects.exists()
        assert r.requests == []


def test_failed_attempts_back_off_then_give_up(nx, settings):
    settings.WEBHOOK_BACKOFF_BASE = 10
    with receiver([500] * MAX_ATTEMPTS) as r:
        hook = webhook_create(nexus=nx, url=r.url, events=["item.created"], actor=None)
        pbi_create(nexus=nx, title="Unlucky", actor=None)  # eager: the first attempt runs inline
        delivery = WebhookDelivery.objects.get(webhook=hook)
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
            DeliveryStatus.PENDING,
            1,
            500,
        )
        assert delivery.next_attempt_at is not None
        for _ in range(MAX_ATTEMPTS - 1):
            webhook_deliver(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (
            DeliveryStatus.FAILED,
            MAX_ATTEMPTS,
            None,
        )
        assert "HTTP 500" in delivery.last_error
        assert len(r.requests) == MAX_ATTEMPTS
        assert len({req.body for req in r.requests}) == 1  # the same payload every time
        outcome = webhook_deliver(delivery_id=delivery.pk)
        assert outcome.status == DeliveryStatus.FAILED
        assert len(r.requests) == MAX_ATTEMPTS  # a finished delivery is not sent again


def test_unreachable_receiver_is_recorded(nx):
    hook = webhook_create(nexus=nx, url="http://127.0.0.1:9/closed", events=["item.created"], actor=None)
    pbi_create(nexus=nx, title="Nobody listens", actor=None)
    delivery = WebhookDelivery.objects.get(webhook=hook)
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.last_status_code is None
    assert "refused" in delivery.last_error.lower() or "error" in delivery.last_error.lower()


def test_the_sweep_requeues_overdue_deliveries(nx):
    with receiver([503]) as r:
        hook = webhook_create(nexus=nx, url=r.url, events=["item.created"], actor=None)
        pbi_create(nexus=nx, title="Later", actor=None)
        delivery = WebhookDelivery.objects.get(webhook=hook)
        assert delivery.status == DeliveryStatus.PENDING
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at="2000-01-01T00:00Z")
        assert webhook_retry_due() == 1
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.SUCCEEDED
        assert len(r.requests) == 2


def test_private_targets_are_refused_in_production(nx, api, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    for url in ("http://127.0.0.1:8000/x", "http://localhost/x", "http://10.1.2.3/x", "http://[::1]/x"):
        response = api("po").post(f"{base(nx)}/webhooks/", {"url": url, "events": ALL}, format="json")
        assert response.status_code == 400, url
        assert error_fields(response) == ["url"]


def test_webhook_api(nx, api):
    with receiver([500]) as r:
        created = api("po").post(
            f"{base(nx)}/webhooks/",
            {"url": r.url, "events": ["item.created"], "description": "CI"},
            format="json",
        )
        assert created.status_code == 201, created.content
        hook = created.json()
        assert hook["secret"].startswith("whsec_")
        url = f"{base(nx)}/webhooks/{hook['id']}/"
        assert "secret" not in api("po").get(url).json()
        assert "secret" not in api("po").get(f"{base(nx)}/webhooks/").json()["results"][0]
        api("dev").post(f"{base(nx)}/items/", {"title": "Hooked"}, format="json")
        log = api("po").get(url + "deliveries/").json()["results"]
        assert [(d["event"], d["status"], d["last_status_code"]) for d in log] == [
            ("item.created", "pending", 500)
        ]
        again = api("po").post(url + f"deliveries/{log[0]['id']}/redeliver/")
        assert again.status_code == 202
        assert api("po").get(url + "deliveries/").json()["results"][0]["status"] == "succeeded"
        assert api("po").post(url + "deliveries/999999/redeliver/").status_code == 404
        rotated = api("po").post(url + "rotate-secret/").json()
        assert rotated["secret"] != hook["secret"]
        patched = api("po").patch(url, {"is_active": False, "events": ALL}, format="json").json()
        assert (patched["is_active"], patched["events"]) == (False, ALL)
        assert api("po").delete(url).status_code == 204
        assert not Webhook.objects.exists()


def test_webhook_pages(nx, who, client):
    client.force_login(who["po"])
    page = f"/n/{nx.slug}/webhooks/"
    assert client.get(page).status_code == 200
    with receiver([500]) as r:
        created = client.post(
            page, {"action": "create", "url": r.url, "events": ["item.created", "item.moved"]}, follow=True
        )
        assert created.redirect_chain[-1][1] == 302
        hook = Webhook.objects.get(nexus=nx)
        assert hook.secret in created.content.decode()
        assert hook.secret not in client.get(page).content.decode()  # shown once
        pbi_create(nexus=nx, title="Logged", actor=None)
        log = client.get(f"{page}{hook.pk}/")
        assert "item.created" in log.content.decode()
        assert "HTTP 500" in log.content.decode()
        delivery = WebhookDelivery.objects.get(webhook=hook)
        assert client.post(f"{page}{hook.pk}/deliveries/{delivery.pk}/redeliver/").status_code == 302
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.SUCCEEDED
        assert "Logged" in client.get(f"{page}{hook.pk}/?status=succeeded").content.decode()
        assert "Logged" not in client.get(f"{page}{hook.pk}/?status=failed").content.decode()
    bad = client.post(page, {"action": "create", "url": "not a url", "events": ["item.created"]})
    assert "Enter a valid URL" in bad.content.decode()
    client.post(page, {"action": "toggle", "webhook": hook.pk})
    hook.refresh_from_db()
    assert hook.is_active is False
    client.post(page, {"action": "delete", "webhook": hook.pk})
    assert not Webhook.objects.exists()


def test_webhook_pages_are_for_the_product_owner(nx, who, client):
    client.force_login(who["dev"])
    assert client.get(f"/n/{nx.slug}/webhooks/").status_code == 403
    client.force_login(who["outsider"])
    assert client.get(f"/n/{nx.slug}/webhooks/").status_code == 404


@pytest.fixture
def fast_backoff(monkeypatch):
    """The worker (a subprocess) retries after about 1 s instead of 10 s."""
    monkeypatch.setenv("WEBHOOK_BACKOFF_BASE", "1")
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE_TARGETS", "1")


@pytest.mark.worker
def test_delivery_through_a_real_worker_with_a_retry(fast_backoff, celery_worker_process, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    nexus = nexus_build()
    user = UserFactory.create(username="hooked-dev")
    membership_add(nexus=nexus, user=user, role=Role.NIT_MEMBER)
    from tests.api.helpers import token_client

    client = token_client(user)
    with receiver([503]) as r:
        hook = webhook_create(nexus=nexus, url=r.url, events=["item.created", "item.updated"], actor=None)
        created = client.post(f"{base(nexus)}/items/", {"title": "Via the worker"}, format="json").json()
        client.patch(f"{base(nexus)}/items/{created['id']}/", {"title": "Edited"}, format="json")

        def delivered() -> bool:
            return WebhookDelivery.objects.filter(webhook=hook, status=DeliveryStatus.SUCCEEDED).count() == 2

        celery_worker_process.wait_for(delivered, timeout=60, what="the webhook deliveries")
        first = WebhookDelivery.objects.get(webhook=hook, event="item.created")
        assert first.attempts == 2  # 503, then 200 after the back-off
        assert len(r.requests) == 3
        retried = [req for req in r.requests if req.headers["X-Nexus-Delivery"] == str(first.pk)]
        assert retried[0].body == retried[1].body
        assert retried[1].at - retried[0].at >= 0.7
        for req in r.requests:
            assert webhook_signature_verify(
                secret=hook.secret, header=req.headers["X-Nexus-Signature"], body=req.body
            )
        assert {json.loads(req.body)["event"] for req in r.requests} == {"item.created", "item.updated"}


def webhook_event_type_register(event: str, label: str) -> None:
    """What a later capability's `AppConfig.ready()` does for its event type."""
    extension_register(Extension(app="events", webhook_events=(WebhookEventType(event, label),)))


@pytest.fixture
def sprint_started(extension_registry):
    """A later capability's event type, registered as its `AppConfig.ready()` would (for this test)."""
    webhook_event_type_register("sprint.started", "Sprint started")
    return "sprint.started"


def test_a_later_capability_registers_and_sends_its_own_event_type(nx, api, who, client, sprint_started):
    with receiver() as r:
        created = api("po").post(
            f"{base(nx)}/webhooks/", {"url": r.url, "events": [sprint_started]}, format="json"
        )
        assert created.status_code == 201, created.content
        secret = created.json()["secret"]
        pbi_create(nexus=nx, title="Not subscribed", actor=None)  # an item event: not sent to this hook
        ids = webhook_event_record(nexus_id=nx.pk, event=sprint_started, payload={"sprint": {"number": 7}})
        assert len(ids) == 1
        [sent] = r.requests
        body = json.loads(sent.body)
        assert (body["event"], body["nexus"], body["sprint"]) == (sprint_started, nx.slug, {"number": 7})
        assert body["id"] == ids[0]
        assert webhook_signature_verify(
            secret=secret, header=sent.headers["X-Nexus-Signature"], body=sent.body
        )
    client.force_login(who["po"])
    detail = client.get(f"/n/{nx.slug}/webhooks/{created.json()['id']}/").content.decode()
    assert "sprint.started" in detail
    assert "None" not in detail  # a delivery without an item shows a dash
    assert "Sprint started" in client.get(f"/n/{nx.slug}/webhooks/").content.decode()


def test_event_types_are_checked(nx, api, sprint_started):
    webhook_event_type_register(sprint_started, "Sprint started")  # again, same label: harmless
    with pytest.raises(ValueError, match="exists already"):
        webhook_event_type_register(sprint_started, "Another label")
    for bad in ("sprint", "Sprint.Started", "sprint.started.now", "sprint. started"):
        with pytest.raises(ValueError, match="resource"):
            webhook_event_type_register(bad, "Bad")
    with pytest.raises(ValueError, match="register it first"):
        webhook_event_record(nexus_id=nx.pk, event="sprint.ended", payload={})
    refused = api("po").post(
        f"{base(nx)}/webhooks/", {"url": "http://127.0.0.1:9/h", "events": ["sprint.ended"]}, format="json"
    )
    assert refused.status_code == 400
    assert error_fields(refused) == ["events[0]"]
