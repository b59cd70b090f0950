"""Nexuses with a dated history for the flow tests, written through `import_history` (the one way to
bring a past into the transition log): a small CSV and a four-column Definition of Workflow."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from django.core.management import call_command

from backlog.models import Nexus

#: Backlog -> Doing (started) -> Review -> Done (finished)
WORKFLOW = {
    "columns": ["Backlog", "Doing", "Review", "Done"],
    "mapping": {"Backlog": "Backlog", "Doing": "Doing", "Review": "Review", "Done": "Done"},
    "started": "Doing",
    "done": "Done",
}
D0 = date(2024, 1, 1)  # a Monday


def d(n: int, base: date = D0) -> date:
    """Day n of an example: d(1) is `base`."""
    return base + timedelta(days=n - 1)


def history_nexus(
    tmp_path: Path,
    items: dict[str, tuple[str, str, list[tuple[date, str]]]],
    *,
    slug: str = "hist",
    time_zone: str = "UTC",
    hour: int = 10,
) -> Nexus:
    """Import `items`: external id -> (team, labels separated by ';', [(day, column), ...]) as a Nexus.

    Each event happens at `hour`:00 UTC on its day (several on one day keep their order).
    """
    wf = tmp_path / f"{slug}-workflow.json"
    wf.write_text(json.dumps(WORKFLOW), encoding="utf-8")
    lines = ["item_id,from_state,to_state,timestamp,team,labels,title"]
    for ext, (team, labels, events) in items.items():
        previous = ""
        for minute, (day, column) in enumerate(events):
            lines.append(
                f"{ext},{previous},{column},{day.isoformat()}T{hour:02d}:{minute:02d}:00Z,{team},{labels},{ext}"
            )
            previous = column
    csv_path = tmp_path / f"{slug}.csv"
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    call_command(
        "import_history",
        str(csv_path),
        "--nexus",
        slug,
        "--workflow",
        str(wf),
        "--team-field",
        "team",
        "--label-field",
        "labels",
        "--time-zone",
        time_zone,
    )
    return Nexus.objects.get(slug=slug)


def example_items() -> dict[str, tuple[str, str, list[tuple[date, str]]]]:
    """The hand-worked example of the filter tests (as of day 10):

    A (Core, ui):  Backlog d1, Doing d2, Done d4           -> Cycle Time 3
    B (Core, api): Backlog d1, Doing d3, Done d3           -> Cycle Time 1 (same-day finish)
    C (UI, ui):    Backlog d1, Doing d2                    -> in progress, age 9 on d10
    D (UI, api):   Backlog d2                              -> not started
    """
    return {
        "A": ("Core", "ui", [(d(1), "Backlog"), (d(2), "Doing"), (d(4), "Done")]),
        "B": ("Core", "api", [(d(1), "Backlog"), (d(3), "Doing"), (d(3), "Done")]),
        "C": ("UI", "ui", [(d(1), "Backlog"), (d(2), "Doing")]),
        "D": ("UI", "api", [(d(2), "Backlog")]),
    }


def many_items(n: int = 120) -> dict[str, tuple[str, str, list[tuple[date, str]]]]:
    """`n` items over five Scrum Teams and seven labels, started and finished on spread days: to show
    that a page or an answer reads the same few stored rows however much history there is."""
    return {
        f"N{i}": (
            f"T{i % 5}",
            f"l{i % 7}",
            [(d(1), "Backlog"), (d(2 + i % 30), "Doing"), (d(2 + i % 30 + i % 9), "Done")],
        )
        for i in range(n)
    }


def report(slug: str, *args: str) -> dict:
    """`flow_report --nexus slug ...` parsed."""
    from io import StringIO

    out = StringIO()
    call_command("flow_report", "--nexus", slug, *args, stdout=out)
    return json.loads(out.getvalue())


def stored_days(snapshot_ids) -> list[tuple]:
    """The stored daily series of the snapshots `snapshot_ids` (ids or `FlowSnapshot`s) as one tuple per
    day, ordered by snapshot id then day: (snapshot id, day, wip, wip_eod, throughput, CFD counts as a
    list), read back through `flow.series`, the way the readers see them."""
    from flow import series as flow_series

    ids = [getattr(s, "pk", s) for s in snapshot_ids]
    out: list[tuple] = []
    for pk, loaded in sorted(flow_series.load(ids).items()):
        out += [(pk, *day) for day in flow_series.days_of(*loaded)]
    return out


def nexus_days(nexus) -> list[tuple]:
    """Every stored day of a Nexus's scopes, ordered by scope (the Nexus's first, then the teams' by
    id) then day: (team id or None, day, wip, wip_eod, throughput, CFD counts)."""
    from flow.models import FlowSnapshot

    team_of = dict(FlowSnapshot.objects.filter(nexus=nexus).values_list("pk", "team_id"))
    rows = [(team_of[pk], *rest) for pk, *rest in stored_days(team_of)]
    return sorted(rows, key=lambda r: (r[0] is not None, r[0] or 0, r[1]))
