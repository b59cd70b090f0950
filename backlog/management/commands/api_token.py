"""`python manage.py api_token create USERNAME [--name NAME]` prints only the new token (for scripts:
`TOKEN=$(python manage.py api_token create po)`); `list USERNAME` shows a user's tokens (never the
tokens themselves); `revoke PREFIX` revokes the token whose prefix is shown by `list`."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from backlog.errors import DomainError
from backlog.models import ApiToken
from backlog.services.sync import token_create, token_revoke


class Command(BaseCommand):
    help = "Create, list or revoke personal API tokens (`create` prints only the token)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a token and print it (only it)")
        create.add_argument("username")
        create.add_argument("--name", default="command line", help="what will use the token")
        listing = sub.add_parser("list", help="a user's tokens: prefix, name, created, last used, status")
        listing.add_argument("username")
        revoke = sub.add_parser("revoke", help="revoke the token with this prefix")
        revoke.add_argument("prefix")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["action"] == "revoke":
            token = ApiToken.objects.select_related("user").filter(prefix=opts["prefix"]).first()
            if token is None:
                raise CommandError(f"No token has the prefix {opts['prefix']!r}.")
            token_revoke(token=token, actor=token.user)
            self.stdout.write(f"Revoked {token.prefix}… ({token.name}) of {token.user.username}.")
            return
        user = User.objects.filter(username=opts["username"]).first()
        if user is None:
            raise CommandError(f"No user called {opts['username']!r}.")
        if opts["action"] == "create":
            try:
                _token, key = token_create(user=user, name=opts["name"])
            except DomainError as exc:
                raise CommandError(exc.message) from exc
            self.stdout.write(key)
            return
        for t in user.api_tokens.all():
            status = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
            used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
            self.stdout.write(
                f"{t.prefix}…  {t.name}  created {t.created_at:%Y-%m-%d}  last used {used}  {status}"
            )
