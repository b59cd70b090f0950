"""The demo Nexus: the real Eclipse JDT history (Lamkanfi, Pérez, Demeyer, MSR 2013) as six Scrum Teams.

Replayed to 2008-06-30 and shifted to today, so that the 516 items in progress at that date are in
progress now with their real Work Item Ages.

The Product Backlog also gets a real not-started part: the reports really filed in the `UPCOMING_DAYS`
after the replay date (two Sprints of the Nexus's cadence; 117 reports in the full data), as new PBIs
in the first column (Triage, not started) without their later history: title, Scrum Team (component)
and severity label as filed, ordered by severity (blocker first), then by filing time, below the items
in progress. They are added when the demo loads (their `created_at`), so they never appear in the
replayed past.
"""

from __future__ import annotations

import csv
import gzip
import io
from datetime import date, datetime, timedelta
from pathlib import Path

from django.contrib.auth.models import User
from django.db import transaction

from backlog.importer import WorkflowFile, history_import
from backlog.models import (
    GoalStatus,
    Nexus,
    ProductBacklogItem,
    ProductGoal,
    Role,
    ScrumTeam,
    Source,
    WorkflowColumn,
)
from backlog.services import goal_create, membership_add, pbi_create
from backlog.services.common import items_changed_batched
from nexus_site.extensions import DemoContext

DATA_DIR = Path(__file__).resolve().parent / "data" / "eclipse-jdt"
DEMO_SLUG = "eclipse-jdt"
CUTOFF = date(2008, 6, 30)
#: Reports filed in these many days after `CUTOFF` become the not-started part of the Product Backlog.
UPCOMING_DAYS = 28
#: Bugzilla severities, most severe first: the order of the not-started PBIs.
SEVERITY_ORDER = ("blocker", "critical", "major", "normal", "minor", "trivial", "enhancement")
CREDIT = (
    "Real history of the Eclipse JDT bug reports, from A. Lamkanfi, J. Pérez, S. Demeyer: The Eclipse and "
    "Mozilla Defect Tracking Dataset: a Genuine Dataset for Mining Bug Information (MSR 2013, data track)."
)


def demo_step(ctx: DemoContext) -> str:
    """`backlog`'s demo step (order 0, `nexus_site.extensions`): the Nexus, its history, users, goal."""
    return demo_load(path=ctx.path, slug=ctx.slug, password=ctx.password)


def demo_load(*, path: Path | None = None, slug: str = DEMO_SLUG, password: str = "demo") -> str:
    """Import the demo history (once) and create the demo users; returns a text for the console.
    Idempotent."""
    lines: list[str] = []
    nexus = Nexus.objects.filter(slug=slug).first()
    if nexus is None or not nexus.backlog.items.exists():
        report = history_import(
            path=path or DATA_DIR / "transitions.csv.gz",
            nexus_slug=slug,
            workflow=WorkflowFile.load(DATA_DIR / "bugzilla_confirmed.json"),
            team_field="component",
            label_fields=("severity",),
            replay_until=CUTOFF,
            shift_to_today=True,
            nexus_name="Eclipse JDT",
            description=CREDIT,
        )
        nexus = report.nexus
        lines.append(report.summary())
    else:
        lines.append(f"Demo Nexus '{slug}' is loaded already ({nexus.backlog.items.count()} items).")
    added = upcoming_reports_add(nexus=nexus, path=path or DATA_DIR / "transitions.csv.gz")
    if added:
        lines.append(
            f"{added} reports filed in the {UPCOMING_DAYS} days after {CUTOFF.isoformat()} added as "
            "not-started PBIs (Triage)."
        )
    with transaction.atomic():
        _users(nexus, password)
        if not ProductGoal.objects.filter(backlog=nexus.backlog, status=GoalStatus.ACTIVE).exists():
            goal_create(
                nexus=nexus,
                text="Ship a Java 6 tool set that developers trust: no open critical bug in the compiler, "
                "debugger and editor by the Ganymede release.",
            )
    lines.append(
        f"Demo users (password '{password}'): po (Product Owner), nit (Nexus Integration Team), "
        + ", ".join(f"dev-{t.slug}" for t in ScrumTeam.objects.filter(nexus=nexus))
        + " (Developers), stakeholder, admin (superuser)."
    )
    return "\n".join(lines)


def _open(path: Path) -> io.TextIOBase:
    if str(path).endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def upcoming_reports_add(*, nexus: Nexus, path: Path, days: int = UPCOMING_DAYS) -> int:
    """Add the reports of the event log at `path` first filed in the `days` after `CUTOFF` (UTC dates) as
    not-started PBIs in the Nexus's first column, each with its Scrum Team (`component`) and its severity
    label, without their later history; ordered by severity then filing time, at the bottom of the
    Product Backlog. Through `pbi_create` (logged with source `import`), in one transaction, counted once.
    Idempotent: a report whose `external_id` is in the Nexus already is skipped. Returns how many were
    added."""
    first: dict[str, dict[str, str]] = {}
    with _open(path) as fh:
        for row in csv.DictReader(fh):
            ext = (row.get("item_id") or "").strip()
            if ext and ext not in first:
                first[ext] = row
    until = CUTOFF + timedelta(days=days)
    upcoming = []
    for ext, row in first.items():
        try:
            filed = datetime.fromisoformat((row.get("timestamp") or "").strip())
        except ValueError:
            continue
        if CUTOFF < filed.date() <= until:
            upcoming.append((ext, row, filed))
    if not upcoming:
        return 0
    known = set(
        ProductBacklogItem.objects.filter(
            backlog__nexus=nexus, external_id__in=[ext for ext, _, _ in upcoming]
        ).values_list("external_id", flat=True)
    )

    def severity_rank(row: dict[str, str]) -> int:
        severity = (row.get("severity") or "").strip().lower()
        return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)

    upcoming.sort(key=lambda entry: (severity_rank(entry[1]), entry[2], entry[0]))
    column = WorkflowColumn.objects.filter(nexus=nexus).order_by("position").first()
    teams = {t.name: t for t in ScrumTeam.objects.filter(nexus=nexus)}
    added = 0
    with transaction.atomic(), items_changed_batched():
        for ext, row, _filed in upcoming:
            if ext in known:
                continue
            team = teams.get((row.get("component") or "").strip())
            severity = (row.get("severity") or "").strip()
            pbi_create(
                nexus=nexus,
                title=((row.get("title") or "").strip() or ext)[:300],
                actor=None,
                source=Source.IMPORT,
                column=column,
                labels=[severity] if severity else [],
                teams=[team] if team is not None else [],
                external_id=ext,
            )
            added += 1
    return added


def _users(nexus: Nexus, password: str) -> None:

    def user(username: str, *, superuser: bool = False) -> User:
        obj, created = User.objects.get_or_create(username=username)
        if created or not obj.check_password(password):
            obj.set_password(password)
        obj.is_staff = obj.is_superuser = superuser
        obj.save()
        return obj

    membership_add(nexus=nexus, user=user("po"), role=Role.PRODUCT_OWNER)
    membership_add(nexus=nexus, user=user("nit"), role=Role.NIT_MEMBER)
    membership_add(nexus=nexus, user=user("stakeholder"), role=Role.STAKEHOLDER)
    user("admin", superuser=True)
    for team in ScrumTeam.objects.filter(nexus=nexus):
        membership_add(nexus=nexus, user=user(f"dev-{team.slug}"), role=Role.DEVELOPER, team=team)
