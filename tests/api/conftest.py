"""Fixtures of the API tests: a Nexus with one person per role, and token clients for them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.api.helpers import people, token_client
from tests.factories import nexus_build


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    """Users are made by the dozen here; PBKDF2's million rounds would dominate the run."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def nx(db: None) -> Any:
    """A Nexus with three Scrum Teams and five PBIs in Ready."""
    return nexus_build(items=5)


@pytest.fixture
def who(nx: Any) -> dict[str, Any]:
    """One user per role of `nx` (po, sm, dev, nit, stakeholder, outsider, admin)."""
    return people(nx)


@pytest.fixture
def api(who: dict[str, Any]) -> Callable[[str], APIClient]:
    """`api("po")`: a token client of that role's user (cached per role)."""
    cache: dict[str, APIClient] = {}

    def get(role: str) -> APIClient:
        if role not in cache:
            cache[role] = token_client(who[role])
        return cache[role]

    return get
