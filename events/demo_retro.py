"""The demo step of the Nexus Sprint Retrospective (`load_demo`, order 45, after the Sprints and the
integration issues): on the demo Nexus, the last closed Sprint's retrospective with cross-team issues, each
Scrum Team's items (some linked to them) and improvement actions; two earlier retrospectives whose actions
are followed across Sprints: one marked done at the last retrospective, two still open (carried, first on
the page). Everything goes through `events.services.retro` with the times of each Sprint's last afternoon.
Idempotent: a Nexus with retrospective items keeps them."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta

from django.contrib.auth.models import User
from django.db import transaction

from backlog.models import Nexus, ScrumTeam
from events.models import RetroItem, Sprint, SprintState
from events.services.retro import action_agree, action_set_status, retro_item_add
from nexus_site.extensions import DemoContext

#: The last closed Sprint's cross-team issues (part 1).
CROSS_TEAM = [
    "The nightly integration build was red for three days after Core's parser change; each team's own "
    "build was green.",
    "UI and Text changed the content assist popup API in the same Sprint and found out at integration.",
    "PBIs waited two to four days for a review by another team's Developer.",
]
#: (team slug, text, index of the cross-team issue it relates to or None).
TEAM_ITEMS: list[tuple[str, str, int | None]] = [
    ("core", "We merged the parser change on the Sprint's last Thursday: too late for UI to adapt.", 0),
    ("core", "Pairing with Debug on the evaluation engine went well; keep it.", None),
    ("ui", "Our formatter tests only run nightly, so we saw the break a day late.", 0),
    ("ui", "We did not know Text was touching the popup API.", 1),
    ("text", "Content assist work was refined without UI in the room.", 1),
    ("debug", "Reviews from Core took three days on average.", 2),
    ("apt", "The annotation processing backlog was ready early: we pulled work from Core.", None),
    ("doc", "Release notes were written after the Sprint Review again.", None),
]


def _at(sprint: Sprint, tz: zoneinfo.ZoneInfo, minutes: int = 0) -> datetime:
    """The Sprint's retrospective: its last day at 14:00 in the Nexus's time zone, plus `minutes`."""
    return datetime.combine(sprint.end_date, time(14, 0), tzinfo=tz) + timedelta(minutes=minutes)


def demo_step(ctx: DemoContext) -> str:
    """See the module. Returns a console line."""
    nexus = Nexus.objects.filter(slug=ctx.slug).first()
    if nexus is None:
        return ""
    existing = RetroItem.objects.filter(nexus=nexus).count()
    if existing:
        return f"The demo retrospectives are loaded already ({existing} items)."
    closed = list(Sprint.objects.filter(nexus=nexus, state=SprintState.CLOSED).order_by("-number")[:4])
    if len(closed) < 4:
        return "No retrospectives: the demo Nexus has fewer than four closed Sprints."
    with transaction.atomic():
        made = _retrospectives(nexus, closed)
    first, latest = closed[3].number, closed[0].number
    return f"Nexus Sprint Retrospectives of Sprints {first} to {latest}: {made} items and actions."


def _retrospectives(nexus: Nexus, closed: list[Sprint]) -> int:
    tz = zoneinfo.ZoneInfo(nexus.time_zone)
    users = {
        u.username: u
        for u in User.objects.filter(
            username__in=["nit", "po", *[f"dev-{t}" for t in ("core", "ui", "text", "debug", "apt", "doc")]]
        )
    }
    nit, po = users.get("nit"), users.get("po")
    teams = {t.slug: t for t in ScrumTeam.objects.filter(nexus=nexus)}
    last, previous, _, older = closed
    made = 0
    # Three Sprints ago: pairing across Text and UI, still open (the oldest carried action).
    issue = retro_item_add(
        sprint=older,
        actor=nit,
        text="Text and UI learn of each other's editor changes at integration.",
        at=_at(older, tz),
    )
    action_agree(
        sprint=older,
        actor=nit,
        title="Pair a Text and a UI Developer on every editor API change",
        owner=users.get("dev-text") or nit,
        cross_team_issue=issue,
        at=_at(older, tz, 40),
    )
    made += 2
    # The Sprint before the last: late merges; two actions, one done at the last retrospective.
    issue = retro_item_add(
        sprint=previous,
        actor=nit,
        text="The integration build broke twice after merges on the Sprint's last day.",
        at=_at(previous, tz),
    )
    merge_early = action_agree(
        sprint=previous,
        actor=nit,
        title="Merge to master by the Sprint's second-to-last day",
        owner=nit,
        cross_team_issue=issue,
        at=_at(previous, tz, 30),
    )
    action_agree(
        sprint=previous,
        actor=po,
        title="Announce API changes at the Nexus Daily Scrum before merging them",
        owner=users.get("dev-core") or nit,
        cross_team_issue=issue,
        at=_at(previous, tz, 35),
    )
    made += 3
    # The last closed Sprint: the three parts.
    issues = [
        retro_item_add(sprint=last, actor=nit, text=text, at=_at(last, tz, n))
        for n, text in enumerate(CROSS_TEAM)
    ]
    for n, (slug, text, link) in enumerate(TEAM_ITEMS):
        team = teams.get(slug)
        if team is None:
            continue
        retro_item_add(
            sprint=last,
            actor=users.get(f"dev-{slug}") or nit,
            text=text,
            team=team,
            cross_team_issue=issues[link] if link is not None else None,
            at=_at(last, tz, 10 + n),
        )
        made += 1
    action_set_status(
        action=merge_early,
        actor=nit,
        status="done",
        sprint=last,
        note="No merge on the last day in this Sprint; the build stayed green at the Sprint Review.",
        at=_at(last, tz, 25),
    )
    action_agree(
        sprint=last,
        actor=nit,
        title="Run the integration build on every merge, not nightly",
        owner=nit,
        cross_team_issue=issues[0],
        at=_at(last, tz, 40),
    )
    action_agree(
        sprint=last,
        actor=po,
        title="Refine PBIs that touch the content assist API with UI and Text together",
        owner=po or nit,
        cross_team_issue=issues[1],
        at=_at(last, tz, 45),
    )
    action_agree(
        sprint=last,
        actor=nit,
        title="Review requests across teams answered within one working day",
        owner=users.get("dev-debug") or nit,
        cross_team_issue=issues[2],
        at=_at(last, tz, 50),
    )
    return made + len(issues) + 3
