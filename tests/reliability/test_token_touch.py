"""Recording an API token's last use never waits for the token's row: a request holding it for its
whole transaction (a POST with an `Idempotency-Key`) made every other request of the same token queue
behind it (the load test's 50 clients on one token: 60-second answers)."""

from __future__ import annotations

import time

import pytest
from django.db import connection

from backlog.models_api import ApiToken
from tests.api.helpers import token_client
from tests.factories import nexus_build
from tests.reliability.test_deadlock_retry import _raw

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks"),
]


def test_a_request_does_not_wait_for_the_token_row_held_by_another():
    nexus = nexus_build(slug="touch")
    po = nexus.memberships.get(role="product_owner").user
    client = token_client(po)
    token = ApiToken.objects.get(user=po)
    assert token.last_used_at is None
    with connection.cursor() as cursor:  # without the fix: fail after 3 s instead of hanging the test
        cursor.execute("SET lock_timeout = '3s'")
    other = _raw()
    try:
        with other.transaction():
            other.execute("SELECT id FROM backlog_apitoken WHERE id = %s FOR UPDATE", [token.pk])
            t0 = time.monotonic()
            response = client.get(f"/api/v1/nexuses/{nexus.slug}/items/")
            took = time.monotonic() - t0
    finally:
        other.close()
    assert response.status_code == 200
    assert took < 5, f"the request waited {took:.1f} s for the token's row"
    client.get(f"/api/v1/nexuses/{nexus.slug}/items/")  # the row is free now: the use is recorded
    token.refresh_from_db()
    assert token.last_used_at is not None
