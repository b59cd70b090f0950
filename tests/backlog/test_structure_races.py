"""A column or Scrum Team deleted while another transaction makes something refer to it (PostgreSQL,
each side in its own thread and connection): the Nexus lock orders them, so one side gets a clear
refusal (400 naming the field, or 409) and the data stays whole. Without it the deferred foreign key
failed at commit: an IntegrityError, a 500."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial

import pytest
from django.db import connection, connections, transaction

from backlog.errors import Conflict, DomainError
from backlog.models import ProductBacklogItem, Role, ScrumTeam, TeamInvolvement, WorkflowColumn
from backlog.services import (
    ItemChanges,
    column_create,
    column_delete,
    membership_add,
    pbi_create,
    pbi_set_teams,
    pbi_transition,
    team_create,
    team_delete,
)
from backlog.services.bulk import BulkUpsertFailed, pbi_bulk_upsert
from tests.factories import UserFactory, nexus_build

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]

#: How long the first transaction keeps its locks after it has made its change: long enough for the
#: second one to be waiting on them (the outcome is the same if it comes later).
HOLD_SECONDS = 0.5


def _first_holds_then_second(
    first: Callable[[], object], second: Callable[[], object]
) -> BaseException | None:
    """Run `first` in a transaction that stays open `HOLD_SECONDS` after it is done, and `second`
    (in another thread and connection) as soon as `first` is done. Returns what `second` raised;
    re-raises what `first` raised."""
    done = threading.Event()
    outcome: dict[str, BaseException | None] = {"first": None, "second": None}

    def run_first() -> None:
        try:
            with transaction.atomic():
                first()
                done.set()
                time.sleep(HOLD_SECONDS)
        except BaseException as exc:  # reported below
            outcome["first"] = exc
            done.set()
        finally:
            connections.close_all()

    def run_second() -> None:
        done.wait(10)
        try:
            second()
        except BaseException as exc:  # returned to the test
            outcome["second"] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run_first), threading.Thread(target=run_second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a transaction hung"
    if outcome["first"] is not None:
        raise outcome["first"]
    return outcome["second"]


def _an_item(nexus):
    return ProductBacklogItem.objects.filter(backlog__nexus=nexus).earliest("rank")


def test_a_move_into_a_column_being_deleted_is_refused_naming_the_column():
    nexus = nexus_build(items=2)
    qa = column_create(nexus=nexus, name="QA", category="in_progress")
    item = _an_item(nexus)
    refused = _first_holds_then_second(
        lambda: column_delete(column=WorkflowColumn.objects.get(pk=qa.pk)),
        lambda: pbi_transition(item=item, to_column=qa, actor=None),
    )
    assert isinstance(refused, DomainError), repr(refused)
    assert refused.field == "column"
    item.refresh_from_db()
    assert item.column.name == "Ready"
    assert not WorkflowColumn.objects.filter(pk=qa.pk).exists()


def test_an_item_created_in_a_column_being_deleted_is_refused():
    nexus = nexus_build(items=1)
    qa = column_create(nexus=nexus, name="QA", category="in_progress")
    refused = _first_holds_then_second(
        lambda: column_delete(column=WorkflowColumn.objects.get(pk=qa.pk)),
        lambda: pbi_create(nexus=nexus, title="Into QA", column=qa, actor=None),
    )
    assert isinstance(refused, DomainError), repr(refused)
    assert refused.field == "column"
    assert not ProductBacklogItem.objects.filter(title="Into QA").exists()


def test_a_bulk_upsert_into_a_column_being_deleted_names_the_entry():
    nexus = nexus_build(items=1)
    qa = column_create(nexus=nexus, name="QA", category="in_progress")
    entries = [
        ("X-1", ItemChanges(fields={"title": "Fine"})),
        ("X-2", ItemChanges(fields={"title": "QA"}, column=qa)),
    ]
    refused = _first_holds_then_second(
        lambda: column_delete(column=WorkflowColumn.objects.get(pk=qa.pk)),
        lambda: pbi_bulk_upsert(nexus=nexus, entries=entries, actor=None),
    )
    assert isinstance(refused, BulkUpsertFailed), repr(refused)
    assert [(e.index, e.field) for e in refused.errors] == [(1, "column")]
    assert not ProductBacklogItem.objects.filter(external_id__in=["X-1", "X-2"]).exists()


def test_a_team_being_deleted_cannot_be_given_an_item_or_a_member():
    nexus = nexus_build(items=2)
    item = _an_item(nexus)
    for write, field in (
        (lambda team: pbi_set_teams(item=item, teams=[team], actor=None), "teams"),
        (lambda team: pbi_create(nexus=nexus, title="For Z", teams=[team], actor=None), "teams"),
        (
            lambda team: membership_add(
                nexus=nexus, user=UserFactory.create(), role=Role.DEVELOPER, team=team
            ),
            "team",
        ),
    ):
        doomed = team_create(nexus=nexus, name="Team Z")
        refused = _first_holds_then_second(
            partial(team_delete, team=ScrumTeam.objects.get(pk=doomed.pk)), partial(write, doomed)
        )
        assert isinstance(refused, DomainError), repr(refused)
        assert refused.field == field
        assert not ScrumTeam.objects.filter(pk=doomed.pk).exists()
    assert not TeamInvolvement.objects.filter(item=item).exists()


def test_a_team_given_work_meanwhile_is_not_deleted():
    """The other order: the item gets the team first; the deletion waits, sees the work, refuses."""
    nexus = nexus_build(items=2)
    item = _an_item(nexus)
    team = team_create(nexus=nexus, name="Team Z")
    refused = _first_holds_then_second(
        lambda: pbi_set_teams(item=item, teams=[team], actor=None),
        lambda: team_delete(team=ScrumTeam.objects.get(pk=team.pk)),
    )
    assert isinstance(refused, Conflict), repr(refused)
    assert TeamInvolvement.objects.filter(item=item, team=team).exists()


def test_a_column_given_an_item_meanwhile_is_not_deleted():
    nexus = nexus_build(items=2)
    qa = column_create(nexus=nexus, name="QA", category="in_progress")
    item = _an_item(nexus)
    refused = _first_holds_then_second(
        lambda: pbi_transition(item=item, to_column=qa, actor=None),
        lambda: column_delete(column=WorkflowColumn.objects.get(pk=qa.pk)),
    )
    assert isinstance(refused, Conflict), repr(refused)
    item.refresh_from_db()
    assert item.column_id == qa.pk
