"""Test helpers for the REST API, reused by every resource's tests (and by later capabilities)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from rest_framework.test import APIClient

from backlog.models import Nexus, Role
from backlog.services.sync import token_create
from tests.factories import UserFactory, member, team


def token_client(user: User, **headers: str) -> APIClient:
    """An API client that sends `Authorization: Token <a new token of user>`."""
    _token, key = token_create(user=user, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}", **headers)
    return client


def base(nexus: Nexus) -> str:
    return f"/api/v1/nexuses/{nexus.slug}"


def people(nexus: Nexus) -> dict[str, User]:
    """One user per role of the permission matrix: po, sm, dev, nit, stakeholder, outsider, admin, and
    dev_other: a Developer of another team (Team B; sm and dev are of Team A)."""
    slug = nexus.slug
    return {
        "po": User.objects.get(username=f"po-{slug}"),
        "sm": member(nexus, Role.SCRUM_MASTER, username=f"sm-{slug}", team_obj=team(nexus)),
        "dev": member(nexus, Role.DEVELOPER, username=f"dev-{slug}", team_obj=team(nexus)),
        "dev_other": member(nexus, Role.DEVELOPER, username=f"devb-{slug}", team_obj=team(nexus, "Team B")),
        "nit": member(nexus, Role.NIT_MEMBER, username=f"nit-{slug}"),
        "stakeholder": member(nexus, Role.STAKEHOLDER, username=f"sh-{slug}"),
        "outsider": UserFactory.create(username=f"out-{slug}"),
        "admin": UserFactory.create(username=f"admin-{slug}", is_superuser=True, is_staff=True),
    }


def error_fields(response: Any) -> list[str]:
    """The `field` of each error in an API error body (asserting the body has the error shape)."""
    body = response.json()
    assert set(body) >= {"status", "code", "message", "errors"}, body
    assert body["status"] == response.status_code
    return [e["field"] for e in body["errors"]]
