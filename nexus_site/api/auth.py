"""Authentication of the API: personal API tokens (`Authorization: Token <token>`), checked against
their SHA-256 (`backlog.services.sync.token_authenticate`), and the browser session (DRF's
`SessionAuthentication`, with CSRF on writes). A missing or wrong token answers 401 with
`WWW-Authenticate: Token`."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from backlog.models_api import ApiToken
from backlog.services.sync import token_authenticate

KEYWORD = "Token"


class TokenAuthentication(BaseAuthentication):
    """`Authorization: Token <token>`: the user who created the token, with their roles."""

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the token as `Authorization: Token <token>` (one space, no quotes)."
            )
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("The token contains characters a token never has.") from exc
        token = token_authenticate(key=key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'{KEYWORD} realm="api"'


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents `TokenAuthentication` in the OpenAPI schema."""

    target_class = "nexus_site.api.auth.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "A personal API token, sent as `Authorization: Token <token>`. Create one on the "
                "'API tokens' page (shown once) or with `python manage.py api_token create USERNAME`."
            ),
        }
