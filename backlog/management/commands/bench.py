"""`python manage.py bench` (`make bench`): build the synthetic Nexus into the bench database (which it
recreates), then print a table of timings and SQL query counts. Each app adds rows in `<app>/bench.py`
(a `run(ctx) -> list[Row]` function), declared through `nexus_site.extensions`
(`Extension(bench_rows=...)`). Never run it against a database you care about: it is emptied."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from backlog.benchgen import generate
from backlog.demo import DATA_DIR
from backlog.importer import WorkflowFile, history_import
from backlog.models import Nexus, ProductBacklogItem, Transition
from nexus_site import extensions
from nexus_site.bench import BenchContext, Row, once, postgres_admin, table, tasks_queued


def _recreate_database() -> None:
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        return
    name = db["NAME"]
    if not str(name).endswith("bench"):
        raise CommandError(
            f"Refusing to empty the database {name!r}: the bench database's name ends in 'bench'."
        )
    connection.close()
    postgres_admin([f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'])


class Command(BaseCommand):
    help = (
        "Generate the synthetic bench Nexus in its own database and print timings (median, p95) and queries."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--only", default="", help="comma-separated row groups to run (default: all; e.g. backlog,flow)"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        _recreate_database()
        call_command("migrate", verbosity=0)
        rows: list[Row] = []
        row, generated = once("generate synthetic Nexus (9 teams, 10,000 open PBIs)", generate)
        nexus = cast(Nexus, generated)
        n_items = ProductBacklogItem.objects.filter(backlog__nexus=nexus).count()
        n_tr = Transition.objects.filter(item__backlog__nexus=nexus).count()
        row.note = f"{n_items:,} PBIs, {n_tr:,} transitions"
        rows.append(row)
        row, report = once(
            "import JDT history (10,814 items, 32,099 events)",
            lambda: history_import(
                path=DATA_DIR / "transitions.csv.gz",
                nexus_slug="jdt",
                team_field="component",
                workflow=WorkflowFile.load(DATA_DIR / "bugzilla_confirmed.json"),
                label_fields=("severity",),
            ),
        )
        row.note = f"{report.items_created:,} items, {report.events_added:,} events"  # type: ignore[attr-defined]
        rows.append(row)
        ctx = BenchContext(nexus=nexus, jdt_nexus=report.nexus)  # type: ignore[attr-defined]
        only = {m.strip() for m in opts["only"].split(",") if m.strip()}
        for group in extensions.bench_rows():
            if only and group.name not in only:
                continue
            with tasks_queued():  # as in production: a write queues its tasks (a flow recompute), never waits
                rows.extend(group.run(ctx))
        self.stdout.write(f"\nBenchmarks on {connection.vendor} ({connection.settings_dict['NAME']})\n")
        self.stdout.write(table(rows) + "\n")
