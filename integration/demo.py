"""The demo step of `integration` (`load_demo`, order 30, after events' 20): the demo Nexus's Definition
of Done and the Integrated Increments of its closed Sprints.

- **Definition of Done**: `NEXUS_CRITERIA` (the Nexus's, added by the Nexus Integration Team member
  `nit`) and one stricter criterion of the first Scrum Team (by name) that has one in `TEAM_CRITERIA`,
  added by its Developer; each a version, through `integration.services_dod`.
- **Increments**: each closed Sprint gets one Done Integrated Increment built from what really finished in
  it (the `done` list of its close snapshot, `events.models.SprintSnapshot`), marked Done at the real
  time its last PBI finished (the transition log's entry into the finish column, else the Sprint's
  close), every criterion confirmed shortly before by `nit` (the team's one by its Developer), released
  on the Sprint's last day. The PBIs finished in the demo history already: they are not moved again.
  Written in bulk in one transaction (as the events step writes its Sprints): one service call per row
  would take minutes for the ~26 Sprints' PBIs.

Idempotent: a Nexus with a Definition of Done keeps it; a Sprint with an increment keeps it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max

from backlog.models import Membership, Nexus, Role, ScrumTeam, Transition, TransitionKind, WorkflowColumn
from backlog.services.common import nexus_changed, nexus_lock
from events.models import SnapshotKind, Sprint, SprintSnapshot, SprintState
from integration.models import (
    CriterionConfirmation,
    DoneCriterion,
    IncrementEvent,
    IncrementEventKind,
    IncrementItem,
    IncrementState,
    IntegratedIncrement,
)
from integration.services_dod import criterion_add, dod_current_version

#: The demo Nexus's Definition of Done (the Nexus Integration Team's), in order.
NEXUS_CRITERIA = (
    "The fix is reviewed by a committer of another Scrum Team than its author's",
    "A regression test reproduces the bug and passes",
    "The nightly integration build of every JDT component is green",
    "No new compiler warning in the changed bundles",
    "The change is in the N&N or the release notes where users see it",
)
#: One stricter criterion per Scrum Team name; the first team of the Nexus found here gets its own.
TEAM_CRITERIA = {
    "Core": "Compiler changes pass the full JCK conformance suite",
    "UI": "Quick fixes and refactorings are checked with the keyboard only",
}


def _user(username: str) -> User | None:
    return User.objects.filter(username=username).first()


def dod_demo(*, nexus: Nexus) -> str:
    """The demo Definition of Done (see the module); nothing when the Nexus has one."""
    if DoneCriterion.objects.filter(nexus=nexus).exists():
        return ""
    nit = _user("nit")
    for text in NEXUS_CRITERIA:
        criterion_add(nexus=nexus, text=text, actor=nit)
    team = next(
        (t for t in ScrumTeam.objects.filter(nexus=nexus).order_by("name") if t.name in TEAM_CRITERIA), None
    )
    if team is not None:
        dev = (
            Membership.objects.filter(nexus=nexus, team=team, role=Role.DEVELOPER)
            .select_related("user")
            .first()
        )
        criterion_add(nexus=nexus, text=TEAM_CRITERIA[team.name], team=team, actor=dev.user if dev else None)
    extra = f", 1 of {team.name}" if team else ""
    return f"Definition of Done: {len(NEXUS_CRITERIA)} criteria of the Nexus{extra}."


def _finished_at(nexus: Nexus, item_ids: list[int]) -> dict[int, datetime]:
    """When each PBI last entered the finish column (or a column after it). One query."""
    finish = WorkflowColumn.objects.filter(nexus=nexus, is_finish=True).first()
    if finish is None or not item_ids:
        return {}
    rows = (
        Transition.objects.filter(
            item_id__in=item_ids, kind=TransitionKind.COLUMN, to_column__position__gte=finish.position
        )
        .values("item_id")
        .annotate(at=Max("at"))
    )
    return {r["item_id"]: r["at"] for r in rows}


@transaction.atomic
def increments_demo(*, nexus: Nexus) -> str:
    """A Done Integrated Increment per closed Sprint without one (see the module), in bulk."""
    nexus_lock(nexus.pk)
    version = dod_current_version(nexus_id=nexus.pk)
    have = set(IntegratedIncrement.objects.filter(nexus=nexus).values_list("sprint_id", flat=True))
    sprints = [
        s
        for s in Sprint.objects.filter(nexus=nexus, state=SprintState.CLOSED).order_by("number")
        if s.pk not in have
    ]
    if not sprints:
        return ""
    snapshots = {
        s.sprint_id: s.data
        for s in SprintSnapshot.objects.filter(sprint__in=sprints, kind=SnapshotKind.CLOSE).only(
            "sprint_id", "data"
        )
    }
    integrated = set(IncrementItem.objects.filter(increment__nexus=nexus).values_list("item_id", flat=True))
    # A PBI reopened and finished again is Done in several Sprints' snapshots: it belongs to the
    # increment of the last one (its final finish, the one flow counts).
    done_ids: dict[int, list[int]] = {s.pk: [] for s in sprints}
    for s in reversed(sprints):
        for i in snapshots.get(s.pk, {}).get("done", []):
            if i not in integrated:
                integrated.add(i)
                done_ids[s.pk].append(i)
    all_ids = [i for ids in done_ids.values() for i in ids]
    finished = _finished_at(nexus, all_ids)
    live = set(
        Transition.objects.filter(item_id__in=all_ids).values_list("item_id", flat=True).distinct()
    )  # items still there (not deleted since)
    nit = _user("nit")
    devs: dict[int | None, Any] = {
        m.team_id: m.user
        for m in Membership.objects.filter(nexus=nexus, role=Role.DEVELOPER)
        .select_related("user")
        .order_by("id")
    }
    number = (IntegratedIncrement.objects.filter(nexus=nexus).aggregate(m=Max("number"))["m"] or 0) + 1
    increments, plans = [], []
    for sprint in sprints:
        ids = [i for i in done_ids[sprint.pk] if i in live]
        if not ids:
            continue
        closed = sprint.closed_at or sprint.updated_at
        done_at = max((finished[i] for i in ids if i in finished), default=closed)
        done_at = min(done_at, closed)
        started = sprint.started_at or done_at - timedelta(days=sprint.length_days)
        increments.append(
            IntegratedIncrement(
                nexus=nexus,
                sprint=sprint,
                number=number,
                name=f"Sprint {sprint.number} service build",
                dod_version=version,
                state=IncrementState.DONE,
                created_by=nit,
                created_at=started,
                done_at=done_at,
                done_by=nit,
                released_on=sprint.end_date,
                version=2 + len(ids) + len(version.criteria),
            )
        )
        plans.append((ids, started, done_at))
        number += 1
    IntegratedIncrement.objects.bulk_create(increments)
    rows_items, rows_conf, rows_events = [], [], []
    for increment, (ids, started, done_at) in zip(increments, plans, strict=True):
        rows_events.append(
            IncrementEvent(increment=increment, kind=IncrementEventKind.CREATED, actor=nit, at=started)
        )
        for i in ids:
            at = min(max(finished.get(i, done_at), started), done_at)
            rows_items.append(
                IncrementItem(increment=increment, item_id=i, integrated_at=at, integrated_by=nit)
            )
            rows_events.append(
                IncrementEvent(
                    increment=increment, kind=IncrementEventKind.INTEGRATED, actor=nit, at=at, item_id=i
                )
            )
        for k, c in enumerate(version.criteria):
            who = devs.get(c["team"], nit) if c["team"] else nit
            at = done_at - timedelta(minutes=10 * (len(version.criteria) - k))
            rows_conf.append(
                CriterionConfirmation(
                    increment=increment,
                    criterion=c["id"],
                    text=c["text"],
                    confirmed_by=who,
                    confirmed_at=at,
                    evidence_url=(
                        f"https://download.eclipse.org/eclipse/downloads/drops/I{done_at:%Y%m%d}-0800/"
                        if k == 2
                        else ""
                    ),
                )
            )
            rows_events.append(
                IncrementEvent(
                    increment=increment,
                    kind=IncrementEventKind.CONFIRMED,
                    actor=who,
                    at=at,
                    criterion=c["id"],
                )
            )
        rows_events.append(
            IncrementEvent(increment=increment, kind=IncrementEventKind.DONE, actor=nit, at=done_at)
        )
    IncrementItem.objects.bulk_create(rows_items, batch_size=2000)
    CriterionConfirmation.objects.bulk_create(rows_conf, batch_size=2000)
    IncrementEvent.objects.bulk_create(rows_events, batch_size=2000)
    nexus_changed(nexus.pk)
    return f"{len(increments)} Done Integrated Increments ({len(rows_items)} PBIs) for the closed Sprints."


def demo_step(ctx: Any) -> str:
    """`integration`'s step of `load_demo` (see the module). Returns console lines."""
    nexus = Nexus.objects.filter(slug=ctx.slug).first()
    if nexus is None:
        return ""
    lines = [dod_demo(nexus=nexus), increments_demo(nexus=nexus)]
    out = " ".join(line for line in lines if line)
    return out or "Definition of Done and Integrated Increments are loaded already."
