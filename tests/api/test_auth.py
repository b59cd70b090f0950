"""Authentication: personal API tokens (stored hashed, shown once, revocable; the command and the
settings page), and the browser session with CSRF."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from backlog.models import ApiToken, ProductBacklogItem
from backlog.services.sync import token_create, token_hash
from tests.api.helpers import base


def test_tokens_are_stored_hashed_and_work_until_revoked(nx, who):
    token, key = token_create(user=who["dev"], name="ci")
    assert key.startswith("nxf_")
    assert len(key) > 40
    row = ApiToken.objects.get(pk=token.pk)
    assert key not in (row.key_hash, row.prefix)
    assert row.key_hash == token_hash(key)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(base(nx) + "/items/").status_code == 200
    row.refresh_from_db()
    assert row.last_used_at is not None
    ApiToken.objects.filter(pk=row.pk).update(revoked_at="2020-01-01T00:00Z")
    assert client.get(base(nx) + "/items/").status_code == 401


def test_inactive_users_tokens_do_not_work(nx, who):
    _token, key = token_create(user=who["dev"], name="ci")
    who["dev"].is_active = False
    who["dev"].save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(base(nx) + "/items/").status_code == 401


def test_command_prints_only_the_token(nx, who):
    out = io.StringIO()
    call_command("api_token", "create", who["po"].username, "--name", "script", stdout=out)
    key = out.getvalue().strip()
    assert re.fullmatch(r"nxf_[A-Za-z0-9_-]{43}", key)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(base(nx) + "/").status_code == 200
    listed = io.StringIO()
    call_command("api_token", "list", who["po"].username, stdout=listed)
    assert key[:12] in listed.getvalue()
    assert key not in listed.getvalue()
    call_command("api_token", "revoke", key[:12], stdout=io.StringIO())
    assert client.get(base(nx) + "/").status_code == 401
    with pytest.raises(CommandError):
        call_command("api_token", "create", "nobody")


def test_settings_page_creates_shows_once_and_revokes(nx, who, client):
    client.force_login(who["dev"])
    page = client.get("/settings/api-tokens/")
    assert page.status_code == 200
    created = client.post("/settings/api-tokens/", {"name": "laptop"}, follow=True)
    assert created.redirect_chain[-1][1] == 302  # post, redirect, get: a reload resubmits nothing
    shown = re.search(r'id="new-token">([^<]+)<', created.content.decode())
    assert shown is not None
    key = shown.group(1)
    assert key.startswith("nxf_")
    assert key not in client.get("/settings/api-tokens/").content.decode()  # shown once
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get(base(nx) + "/items/").status_code == 200
    token = ApiToken.objects.get(user=who["dev"], name="laptop")
    assert client.post(f"/settings/api-tokens/{token.pk}/revoke/").status_code == 302
    assert api.get(base(nx) + "/items/").status_code == 401
    # someone else's token is not found on my page
    other, _ = token_create(user=who["sm"], name="theirs")
    assert client.post(f"/settings/api-tokens/{other.pk}/revoke/").status_code == 404
    assert client.post("/settings/api-tokens/", {"name": ""}).status_code == 200


def test_session_auth_needs_csrf_on_writes(nx, who):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(who["dev"])
    assert client.get(base(nx) + "/items/").status_code == 200
    refused = client.post(base(nx) + "/items/", {"title": "No CSRF"}, format="json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["message"]
    client.get("/settings/api-tokens/")  # sets the csrftoken cookie
    csrf = client.cookies["csrftoken"].value
    ok = client.post(base(nx) + "/items/", {"title": "With CSRF"}, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert ok.status_code == 201
    assert ProductBacklogItem.objects.filter(title="With CSRF").exists()


def test_session_and_idempotency_key_together(nx, who):
    client = APIClient()
    client.force_login(who["dev"])
    for _ in range(2):
        response = client.post(
            base(nx) + "/items/", {"title": "Once"}, format="json", HTTP_IDEMPOTENCY_KEY="s-1"
        )
        assert response.status_code == 201
    assert ProductBacklogItem.objects.filter(title="Once").count() == 1


def test_pages_need_login(client, nx):
    assert client.get("/settings/api-tokens/").status_code == 302
    assert client.get(f"/n/{nx.slug}/webhooks/").status_code == 302
