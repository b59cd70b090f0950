"""Every change of a PBI is a typed row in the transition log, with actor, source and time, written in
the same transaction as the change (a refused change writes none): teams added and taken off, block
and its reason, parent, split, soft delete and restore. Flow keeps reading only the column rows."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from backlog.errors import DomainError, PreconditionFailed
from backlog.models import ProductBacklogItem, Role, Source, TeamInvolvement, Transition, TransitionKind
from backlog.services import (
    ItemChanges,
    involvement_add,
    involvement_remove,
    involvement_set_status,
    membership_add,
    pbi_create,
    pbi_delete,
    pbi_restore,
    pbi_set_teams,
    pbi_split,
    pbi_update,
)
from backlog.services.bulk import pbi_bulk_upsert
from tests.factories import UserFactory, nexus_build, team

pytestmark = pytest.mark.django_db


def _rows(item: ProductBacklogItem, *kinds: str) -> list[Transition]:
    qs = Transition.objects.filter(item=item).order_by("id")
    return list(qs.filter(kind__in=kinds) if kinds else qs)


def _kinds(item: ProductBacklogItem) -> list[str]:
    return [r.kind for r in _rows(item)]


@pytest.fixture
def nexus() -> Any:
    return nexus_build(items=2)


@pytest.fixture
def dani(nexus: Any) -> Any:
    """A Nexus Integration Team member: changes any team's square (`squares.square_refusal`)."""
    user = UserFactory.create(username="dani")
    membership_add(nexus=nexus, user=user, role=Role.NIT_MEMBER)
    return user


def _item(nexus: Any, **kwargs: Any) -> ProductBacklogItem:
    return pbi_create(nexus=nexus, title="Pay by invoice", actor=None, **kwargs)


# --- Teams ---------------------------------------------------------------------------------------------


def test_setting_the_teams_logs_each_team_added_and_removed(nexus, dani):
    a, b, c = team(nexus, "Team A"), team(nexus, "Team B"), team(nexus, "Team C")
    item = _item(nexus, teams=[a, b])
    added = _rows(item, TransitionKind.TEAM_ADDED)
    assert [(r.team_id, r.to_name) for r in added] == [(a.pk, "not_started"), (b.pk, "not_started")]
    involvement_set_status(
        involvement=TeamInvolvement.objects.get(item=item, team=a), status="done", actor=dani
    )

    pbi_set_teams(item=item, teams=[b, c], actor=dani, source=Source.API)

    removed = _rows(item, TransitionKind.TEAM_REMOVED)
    assert [(r.team_id, r.from_name, r.source, r.actor) for r in removed] == [(a.pk, "done", "api", dani)]
    last = _rows(item, TransitionKind.TEAM_ADDED)[-1]
    assert (last.team_id, last.to_name, last.source, last.actor) == (c.pk, "not_started", "api", dani)
    assert last.at == removed[0].at
    item.refresh_from_db()
    assert set(item.involvements.values_list("team_id", flat=True)) == {b.pk, c.pk}


def test_setting_the_same_teams_changes_and_logs_nothing(nexus):
    a = team(nexus, "Team A")
    item = _item(nexus, teams=[a])
    logged, version = len(_rows(item)), item.version
    pbi_set_teams(item=item, teams=[a], actor=None)
    item.refresh_from_db()
    assert (len(_rows(item)), item.version) == (logged, version)


def test_involvement_add_and_remove_touch_one_team_and_log_it(nexus, dani):
    a, b = team(nexus, "Team A"), team(nexus, "Team B")
    item = _item(nexus, teams=[a])
    involvement = involvement_add(item=item, team=b, status="in_progress", actor=dani, source=Source.API)
    assert involvement.status == "in_progress"
    # The team's work moves on its board, and the PBI, started now, into the started column (system).
    assert _kinds(item)[-4:] == ["team_added", "team_status", "team_column", "column"]
    status = _rows(item, TransitionKind.TEAM_STATUS)[-1]
    assert (status.team_id, status.from_name, status.to_name) == (b.pk, "not_started", "in_progress")
    with pytest.raises(DomainError) as err:
        involvement_add(item=item, team=b, actor=dani)
    assert err.value.field == "team"

    involvement_remove(involvement=involvement, actor=dani, source=Source.API)
    removed = _rows(item, TransitionKind.TEAM_REMOVED)[-1]
    assert (removed.team_id, removed.from_name, removed.source, removed.actor) == (
        b.pk,
        "in_progress",
        "api",
        dani,
    )
    assert list(item.involvements.values_list("team_id", flat=True)) == [a.pk]
    involvement_remove(involvement=involvement, actor=dani)  # gone already: nothing
    assert len(_rows(item, TransitionKind.TEAM_REMOVED)) == 1


def test_squares_and_team_sets_of_a_deleted_item_are_refused(nexus):
    a, b = team(nexus, "Team A"), team(nexus, "Team B")
    item = _item(nexus, teams=[a])
    square = TeamInvolvement.objects.get(item=item)
    pbi_delete(item=item, actor=None)
    logged = len(_rows(item))
    for write in (
        lambda: pbi_set_teams(item=item, teams=[a, b], actor=None),
        lambda: involvement_add(item=item, team=b, actor=None),
        lambda: involvement_set_status(involvement=square, status="done", actor=None),
        lambda: involvement_remove(involvement=square, actor=None),
    ):
        with pytest.raises(DomainError) as err:
            write()
        assert err.value.field == "item"
    square.refresh_from_db()
    assert square.status == "not_started"
    assert list(item.involvements.values_list("team_id", flat=True)) == [a.pk]
    assert len(_rows(item)) == logged


# --- Block and parent ----------------------------------------------------------------------------------


def test_blocked_unblocked_and_the_reason_are_logged(nexus, dani):
    item = _item(nexus)
    pbi_update(item=item, actor=dani, is_blocked=True, blocked_reason="Waiting for the bank")
    pbi_update(item=item, actor=dani, blocked_reason="Waiting for legal")
    pbi_update(item=item, actor=dani, title="Pay by invoice (B2B)")  # nothing logged
    pbi_update(item=item, actor=dani, is_blocked=False)
    rows = _rows(item, TransitionKind.BLOCKED, TransitionKind.UNBLOCKED)
    assert [(r.kind, r.reason, r.actor, r.source) for r in rows] == [
        ("blocked", "Waiting for the bank", dani, "ui"),
        ("blocked", "Waiting for legal", dani, "ui"),
        ("unblocked", "Waiting for legal", dani, "ui"),
    ]
    item.refresh_from_db()
    assert rows[-1].at == item.updated_at


def test_a_parent_change_is_logged_with_both_parents(nexus, dani):
    epic, other = _item(nexus), _item(nexus)
    item = _item(nexus, parent=epic)
    first = _rows(item, TransitionKind.PARENT_CHANGED)
    assert [(r.from_parent_id, r.to_parent_id) for r in first] == [(None, epic.pk)]  # its start
    pbi_update(item=item, actor=dani, parent=other)
    pbi_update(item=item, actor=dani, parent=None)
    rows = _rows(item, TransitionKind.PARENT_CHANGED)[1:]
    assert [(r.from_parent_id, r.to_parent_id, r.actor) for r in rows] == [
        (epic.pk, other.pk, dani),
        (other.pk, None, dani),
    ]


def test_a_creation_logs_the_starting_state(nexus):
    a = team(nexus, "Team A")
    epic = _item(nexus)
    item = _item(nexus, teams=[a], parent=epic, is_blocked=True, blocked_reason="Legal")
    assert _kinds(item) == ["column", "team_added", "blocked", "parent_changed"]
    assert len({r.at for r in _rows(item)}) == 1


def test_the_api_logs_with_source_api(nexus, dani):
    item = _item(nexus)
    pbi_update(
        item=item,
        changes=ItemChanges(fields={"is_blocked": True, "blocked_reason": "x"}),
        actor=dani,
        source=Source.API,
    )
    (row,) = _rows(item, TransitionKind.BLOCKED)
    assert (row.source, row.actor, row.reason) == ("api", dani, "x")


def test_bulk_writes_log_blocks_parents_and_teams(nexus, dani):
    a = team(nexus, "Team A")
    epic = _item(nexus)
    pbi_bulk_upsert(
        nexus=nexus,
        entries=[("ext-1", ItemChanges(fields={"title": "One", "is_blocked": True}, teams=[a]))],
        actor=dani,
    )
    one = ProductBacklogItem.objects.get(external_id="ext-1")
    assert _kinds(one) == ["column", "team_added", "blocked"]
    pbi_bulk_upsert(
        nexus=nexus,
        entries=[("ext-1", ItemChanges(fields={"is_blocked": False, "parent": epic}, teams=[]))],
        actor=dani,
    )
    rows = _rows(one)[3:]
    assert sorted((r.kind, r.source) for r in rows) == [
        ("parent_changed", "api"),
        ("team_removed", "api"),
        ("unblocked", "api"),
    ]


# --- Split, delete, restore ----------------------------------------------------------------------------


def test_a_split_logs_a_row_per_child_on_the_item(nexus, dani):
    item = _item(nexus)
    children = pbi_split(item=item, titles=["Invoice PDF", "Invoice e-mail"], actor=dani)
    rows = _rows(item, TransitionKind.SPLIT)
    assert [(r.child_id, r.actor, r.source) for r in rows] == [(c.pk, dani, "ui") for c in children]
    for child in children:
        (parent,) = _rows(child, TransitionKind.PARENT_CHANGED)
        assert (parent.from_parent_id, parent.to_parent_id) == (None, item.pk)


def test_delete_and_restore_are_logged(nexus, dani):
    item = _item(nexus)
    child = _item(nexus, parent=item)
    pbi_delete(item=item, actor=dani, source=Source.ADMIN)
    pbi_delete(item=item, actor=dani)  # deleted already: nothing
    (deleted,) = _rows(item, TransitionKind.DELETED)
    item.refresh_from_db()
    assert (deleted.actor, deleted.source, deleted.at) == (dani, "admin", item.deleted_at)
    orphaned = _rows(child, TransitionKind.PARENT_CHANGED)[-1]
    assert (orphaned.from_parent_id, orphaned.to_parent_id, orphaned.source) == (item.pk, None, "system")

    restored_item = pbi_restore(item=item, actor=dani, source=Source.ADMIN)
    pbi_restore(item=item, actor=dani)  # live already: nothing
    assert restored_item.deleted_at is None
    (restored,) = _rows(item, TransitionKind.RESTORED)
    assert (restored.actor, restored.source, restored.at) == (dani, "admin", restored_item.updated_at)
    assert ProductBacklogItem.objects.alive().filter(pk=item.pk).exists()


def test_delete_with_a_stale_version_changes_and_logs_nothing(nexus):
    item = _item(nexus)
    with pytest.raises(PreconditionFailed) as err:
        pbi_delete(item=item, actor=None, expected_version=item.version + 1)
    assert (err.value.status_code, err.value.field) == (412, "If-Match")
    item.refresh_from_db()
    assert item.deleted_at is None
    assert not _rows(item, TransitionKind.DELETED)
    pbi_delete(item=item, actor=None, expected_version=item.version)
    assert _rows(item, TransitionKind.DELETED)


# --- Same transaction ----------------------------------------------------------------------------------


def test_a_refused_change_writes_no_row(nexus):
    a = team(nexus, "Team A")
    item = _item(nexus)
    logged = len(_rows(item))
    with pytest.raises(DomainError):
        pbi_update(item=item, actor=None, is_blocked=True, blocked_reason="x", title="")
    with pytest.raises(DomainError):
        pbi_update(item=item, actor=None, parent=item)
    other = nexus_build()
    with pytest.raises(DomainError):
        pbi_set_teams(item=item, teams=[a, team(other, "Team A")], actor=None)
    assert len(_rows(item)) == logged


def test_a_change_rolled_back_takes_its_rows_along(nexus):
    a = team(nexus, "Team A")
    item = _item(nexus)
    logged = len(_rows(item))

    def request() -> None:
        with transaction.atomic():
            pbi_update(item=item, actor=None, is_blocked=True, blocked_reason="x")
            involvement_add(item=item, team=a, actor=None)
            pbi_delete(item=item, actor=None)
            raise RuntimeError("the surrounding request failed")

    with pytest.raises(RuntimeError):
        request()
    assert len(_rows(item)) == logged


# --- Flow reads only column rows -----------------------------------------------------------------------


def test_flow_events_ignore_the_other_kinds(nexus):
    from flow.history import load_events  # flow reads backlog; the test may look from above

    a = team(nexus, "Team A")
    item = _item(nexus, teams=[a])
    columns = list(nexus.columns.order_by("position"))
    before = load_events(nexus, columns)
    pbi_update(item=item, actor=None, is_blocked=True, blocked_reason="x")
    involvement_remove(involvement=TeamInvolvement.objects.get(item=item), actor=None)
    pbi_split(item=item, titles=["Part"], actor=None)
    child = ProductBacklogItem.objects.get(title="Part")
    after = load_events(nexus, columns)
    assert [e for e in after if e.item != str(child.pk)] == before
