"""`python manage.py flow_report --nexus SLUG [--team NAME [--level team|nexus]] [--label VALUE]
[--class-of-service COS] [--as-of DATE] [--from DATE] [--to DATE] [--mc-days N] [--mc-items N]
[--mc-history-days N]`

Prints the flow figures as JSON with exactly the keys of `flow.report.REPORT_KEYS`, computed from the
transition log (replayed as of `--as-of`, default today in the Nexus's time zone). The REST API
(`GET /api/v1/nexuses/{nexus_slug}/flow/`) serves the same figures.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backlog.errors import DomainError
from backlog.models import Nexus
from flow.forms import FlowQueryForm
from flow.report import flow_compute, report_dict

#: Command option (dest) -> query parameter of `FlowQueryForm`.
OPTIONS = {
    "team": "team",
    "level": "level",
    "label": "label",
    "class_of_service": "class_of_service",
    "as_of": "as_of",
    "from_": "from",
    "to": "to",
    "mc_days": "mc_days",
    "mc_items": "mc_items",
    "mc_history_days": "mc_history_days",
}


class Command(BaseCommand):
    help = (
        "Print the flow metrics of a Nexus as JSON: finished items, Cycle Time percentiles, mean weekly "
        "Throughput, complete weeks, mean daily WIP, WIP on the as-of date, the daily series with the CFD, "
        "Work Item Ages, and the Monte Carlo forecasts (Kanban Guide for Scrum Teams; exact conventions "
        "in flow.metrics)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--nexus", required=True, help="slug of the Nexus")
        parser.add_argument("--team", help="only the items of this Scrum Team (name or slug)")
        parser.add_argument(
            "--level",
            help="a team's figures from its own flow (team) or the Nexus columns of its items (nexus); "
            "default: its own flow when it has team-level history (flow.team_level)",
        )
        parser.add_argument("--label", help="only the items with this label")
        parser.add_argument(
            "--class-of-service", dest="class_of_service", help="standard, expedite, fixed_date or intangible"
        )
        parser.add_argument("--as-of", dest="as_of", help="replay as of the end of this day (YYYY-MM-DD)")
        parser.add_argument("--from", dest="from_", help="first day of the series (YYYY-MM-DD)")
        parser.add_argument("--to", help="last day of the series (YYYY-MM-DD)")
        parser.add_argument("--mc-days", dest="mc_days", help="how many items in the next N days")
        parser.add_argument("--mc-items", dest="mc_items", help="when will N items be done")
        parser.add_argument(
            "--mc-history-days",
            dest="mc_history_days",
            help="days of Throughput history resampled (default 90)",
        )
        parser.add_argument("--indent", type=int, default=None, help="pretty-print with this indent")

    def handle(self, *args: Any, **opts: Any) -> None:
        nexus = Nexus.objects.filter(slug=opts["nexus"]).first()
        if nexus is None:
            raise CommandError(f"--nexus: no Nexus with the slug {opts['nexus']!r}.")
        data = {param: opts[dest] for dest, param in OPTIONS.items() if opts.get(dest) not in (None, "")}
        form = FlowQueryForm(data, nexus=nexus)
        if not form.is_valid():
            problems = "; ".join(
                f"--{e['field'].replace('_', '-')}: {e['reason']}" for e in form.error_list()
            )
            raise CommandError(problems)
        try:
            flow = flow_compute(nexus=nexus, query=form.query())
        except DomainError as exc:
            raise CommandError(f"--{(exc.field or 'query').replace('_', '-')}: {exc.message}") from exc
        self.stdout.write(json.dumps(report_dict(flow), indent=opts["indent"]))
