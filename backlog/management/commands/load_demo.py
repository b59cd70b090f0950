"""`python manage.py load_demo`: the demo Nexus from the real Eclipse JDT history, demo users, then what
every other app adds to it: the demo steps declared through `nexus_site.extensions`, by `order`
(`backlog`'s is first).

Idempotent and quick when the demo is loaded already. Demo data only: the users' password is `demo`
unless `DEMO_PASSWORD` is set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from backlog.demo import DEMO_SLUG
from nexus_site import extensions
from nexus_site.extensions import DemoContext


class Command(BaseCommand):
    help = (
        "Load the demo Nexus (Eclipse JDT history replayed to 2008-06-30, shifted to today) and demo users."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", type=Path, default=None, help="another event log (tests use a slice)")
        parser.add_argument("--slug", default=DEMO_SLUG)

    def handle(self, *args: Any, **opts: Any) -> None:
        ctx = DemoContext(slug=opts["slug"], password=settings.DEMO_PASSWORD, path=opts["file"])
        for step in extensions.demo_steps():
            result = step.run(ctx)
            if result:
                self.stdout.write(result)
