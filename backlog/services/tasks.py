"""Tasks of a Scrum Team's Sprint Backlog: the steps of its work on one PBI (title, done or not, who).

A task belongs to a PBI and a team forecast on it (the team's square), not to a Sprint: a PBI carried
over keeps its tasks. Who adds and changes a team's tasks is who changes its squares
(`squares.square_refusal`: the team's Developers and Scrum Masters, the Product Owner, the Nexus
Integration Team). A task is not a state of the PBI, so it writes no row of the transition log; it
advances the Nexus's change counter (pages showing it revalidate).
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from backlog.errors import DomainError, PreconditionFailed
from backlog.models import Membership, ProductBacklogItem, ScrumTeam, Task, TeamInvolvement
from backlog.services.common import UNSET, Unset, nexus_changed
from backlog.services.squares import Actor, square_check
from nexus_site.db import retry_transient


def _check_assignee(team: ScrumTeam, assignee: User | None) -> None:
    if assignee is not None and not Membership.objects.filter(nexus_id=team.nexus_id, user=assignee).exists():
        raise DomainError("The person a task is given to is a member of the Nexus.", field="assignee")


def _clean_title(title: str) -> str:
    title = (title or "").strip()
    if not title:
        raise DomainError("A task needs a title.", field="title")
    if len(title) > 200:
        raise DomainError("The title is longer than 200 characters.", field="title")
    return title


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def task_create(
    *, item: ProductBacklogItem, team: ScrumTeam, title: str, actor: Actor, assignee: User | None = None
) -> Task:
    """Add a task to `team`'s work on `item`, not done, optionally given to `assignee` (a member of the
    Nexus). Raises `NotAllowed` (403, `team`) for an actor who may not change the team's squares;
    `DomainError` naming the field: an empty or too long title, a deleted item (`item`), a team not
    forecast on the item (`team`), an assignee outside the Nexus."""
    square_check(actor=actor, team=team)
    locked = ProductBacklogItem.objects.select_for_update(of=("self",), no_key=True).get(pk=item.pk)
    if locked.deleted_at is not None:
        raise DomainError("This item has been deleted.", field="item")
    if not TeamInvolvement.objects.filter(item=locked, team=team).exists():
        raise DomainError(f"{team.name} is not forecast on this item.", field="team")
    _check_assignee(team, assignee)
    task = Task.objects.create(item=locked, team=team, title=_clean_title(title), assignee=assignee)
    nexus_changed(team.nexus_id)
    return task


@retry_transient  # a deadlock or serialization failure: run again (nexus_site.db)
@transaction.atomic
def task_update(
    *,
    task: Task,
    actor: Actor,
    title: str | Unset = UNSET,
    done: bool | Unset = UNSET,
    assignee: User | Unset | None = UNSET,
    expected_version: int | None = None,
) -> Task:
    """Change a task: `title`, `done`, `assignee` (None: nobody). `UNSET` leaves a field as it is; a
    change moves `version` on. With `expected_version` (the API's `If-Match`), raises
    `PreconditionFailed` (412) when the task changed meanwhile. Raises `NotAllowed` (403) as
    `task_create`; `DomainError` naming the field for a bad title or assignee, `id` for a task deleted
    meanwhile."""
    locked = Task.objects.select_for_update().select_related("team").filter(pk=task.pk).first()
    if locked is None:
        raise DomainError("This task has been deleted.", field="id")
    square_check(actor=actor, team=locked.team)
    if expected_version is not None and locked.version != expected_version:
        raise PreconditionFailed(
            f"The task is at version {locked.version}, not {expected_version}: someone changed it after "
            "you read it. Nothing was changed; read it again and re-apply your change.",
            current_version=locked.version,
            field="If-Match",
        )
    fields: list[str] = []
    if not isinstance(title, Unset):
        locked.title = _clean_title(title)
        fields.append("title")
    if not isinstance(done, Unset) and done != locked.done:
        locked.done = done
        fields.append("done")
    if not isinstance(assignee, Unset) and (assignee.pk if assignee else None) != locked.assignee_id:
        _check_assignee(locked.team, assignee)
        locked.assignee = assignee
        fields.append("assignee")
    if fields:
        locked.version += 1
        locked.save(update_fields=[*fields, "version", "updated_at"])
        nexus_changed(locked.team.nexus_id)
    return locked
