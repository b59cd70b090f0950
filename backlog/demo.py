"""The demo Nexus: the real Eclipse JDT history (Lamkanfi, Pérez, Demeyer, MSR 2013) as six Scrum Teams.

Replayed to 2008-06-30 and shifted to today, so that the 516 items in progress at that date are in
progress now with their real Work Item Ages.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from django.contrib.auth.models import User
from django.db import transaction

from backlog.importer import WorkflowFile, history_import
from backlog.models import GoalStatus, Nexus, ProductGoal, Role, ScrumTeam
from backlog.services import goal_create, membership_add
from nexus_site.extensions import DemoContext

DATA_DIR = Path(__file__).resolve().parent / "data" / "eclipse-jdt"
DEMO_SLUG = "eclipse-jdt"
CUTOFF = date(2008, 6, 30)
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
