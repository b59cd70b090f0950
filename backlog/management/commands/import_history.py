"""`python manage.py import_history FILE --nexus SLUG --workflow WORKFLOW.json [--team-field COLUMN]
[--label-field COLUMN ...] [--replay-until DATE [--shift-to-today]] [--time-zone TZ]`"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backlog.errors import DomainError
from backlog.importer import WorkflowFile, history_import


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--replay-until: {value!r} is not a date (YYYY-MM-DD)") from exc


class Command(BaseCommand):
    help = (
        "Import a work-item event log (CSV or CSV.gz: item_id, from_state, to_state, timestamp, ...) into a "
        "Nexus, mapping raw states to Definition of Workflow columns with a workflow JSON. Idempotent; "
        "all or nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--nexus", required=True, help="slug of the Nexus (created if it does not exist)")
        parser.add_argument(
            "--workflow", required=True, type=Path, help="workflow JSON (columns, mapping, ...)"
        )
        parser.add_argument(
            "--team-field", default=None, help="CSV column naming the Scrum Team of each item"
        )
        parser.add_argument(
            "--label-field", action="append", default=None, help="CSV column(s) whose values become labels"
        )
        parser.add_argument("--replay-until", type=_date, default=None, help="ignore events after this date")
        parser.add_argument(
            "--shift-to-today", action="store_true", help="move all timestamps so the cut-off date is today"
        )
        parser.add_argument("--time-zone", default="UTC", help="time zone of a new Nexus (IANA name)")
        parser.add_argument("--name", default=None, help="name of a new Nexus")
        parser.add_argument("--description", default="", help="description of a new Nexus")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            workflow = WorkflowFile.load(opts["workflow"])
            report = history_import(
                path=opts["file"],
                nexus_slug=opts["nexus"],
                workflow=workflow,
                team_field=opts["team_field"],
                label_fields=tuple(opts["label_field"] or ("labels",)),
                replay_until=opts["replay_until"],
                shift_to_today=opts["shift_to_today"],
                time_zone=opts["time_zone"],
                nexus_name=opts["name"],
                description=opts["description"],
            )
        except DomainError as exc:
            raise CommandError(f"{opts['file']}: {exc.message} — nothing was imported.") from exc
        self.stdout.write(report.summary())
