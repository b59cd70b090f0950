"""`python manage.py check_nexus [--nexus SLUG] [--repair-figures]`: replay each Nexus's transition log
and compare it with the stored state (the checks every app registers through `nexus_site.extensions`:
`backlog`'s items, ranks and tombstones, flow's stored figures...). Prints one line per mismatch and
exits 1 if any, 0 otherwise (2 for an unknown Nexus). Never changes history; `--repair-<what>` lets the
check that declared it rewrite derived rows (`--repair-figures`: flow recomputes the figures).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backlog.models import Nexus
from nexus_site import extensions


class Command(BaseCommand):
    help = "Check that each Nexus's stored state agrees with its transition log; exit 1 naming each mismatch."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--nexus", metavar="SLUG", help="check only this Nexus")
        for repair in sorted({c.repair for c in extensions.consistency_checks() if c.repair}):
            parser.add_argument(
                f"--repair-{repair}",
                action="store_true",
                dest=f"repair_{repair}",
                help=f"rewrite the stored {repair} where they disagree (history is never changed)",
            )

    def handle(self, *args: Any, **opts: Any) -> None:
        nexuses = Nexus.objects.order_by("slug")
        if opts["nexus"]:
            nexuses = nexuses.filter(slug=opts["nexus"])
            if not nexuses.exists():
                raise CommandError(f"No Nexus with the slug {opts['nexus']!r}.", returncode=2)
        failed = 0
        for nexus in nexuses:
            self.stdout.write(f"Nexus {nexus.slug}:")
            for check in extensions.consistency_checks():
                repair = bool(check.repair and opts.get(f"repair_{check.repair}"))
                result = check.run(nexus, repair)
                status = "FAIL" if result.mismatches else "ok"
                self.stdout.write(f"  [{status}] {check.name}")
                for line in result.mismatches:
                    self.stdout.write(f"    mismatch: {line}")
                for line in result.notes:
                    self.stdout.write(f"    note: {line}")
                for line in result.repaired:
                    self.stdout.write(f"    repaired: {line}")
                failed += len(result.mismatches)
        if failed:
            self.stdout.write(self.style.ERROR(f"{failed} mismatch(es) found."))
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS("Every check passed."))
