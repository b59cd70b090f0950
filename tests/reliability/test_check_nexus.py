"""`manage.py check_nexus`: replays each Nexus's transition log and compares it with the stored state;
exits 1 naming each mismatch (a deliberately corrupted row), 0 when everything agrees."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import F
from django.utils import timezone

from backlog.models import ProductBacklogItem, TeamInvolvement, TeamStatus
from backlog.models_api import Tombstone
from backlog.services import (
    involvement_set_status,
    pbi_create,
    pbi_delete,
    pbi_transition,
    pbi_update,
)
from flow.models import FlowState, ItemFlow
from flow.services import flow_recompute
from tests.factories import column, nexus_build, team

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("check_nexus", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


@pytest.fixture
def worked():
    """A Nexus with some history: items created with teams, moved, blocked, parented, one deleted."""
    nexus = nexus_build(slug="checked")
    a, b = team(nexus, "Team A"), team(nexus, "Team B")
    items = [
        pbi_create(nexus=nexus, title=f"Item {i}", actor=None, teams=[a, b][: 1 + i % 2]) for i in range(6)
    ]
    pbi_transition(item=items[0], to_column=column(nexus, "In Progress"), actor=None)
    square = TeamInvolvement.objects.filter(item=items[1]).order_by("pk").first()
    assert square is not None
    involvement_set_status(involvement=square, status=TeamStatus.IN_PROGRESS, actor=None)
    pbi_update(item=items[2], actor=None, is_blocked=True, blocked_reason="waiting for the API")
    pbi_update(item=items[3], actor=None, parent=items[4])
    pbi_delete(item=items[5], actor=None)
    flow_recompute(nexus_id=nexus.pk)
    return nexus, items


def test_a_consistent_nexus_passes(worked):
    code, out = run("--nexus", "checked")
    assert code == 0, out
    assert "Every check passed" in out
    assert "[ok] items against the transition log" in out
    assert "[ok] flow figures against a full recompute" in out


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (
            lambda n, items: ProductBacklogItem.objects.filter(pk=items[0].pk).update(
                column=column(n, "Ready")
            ),
            "stored column 'Ready', the log's last column row says 'In Progress'",
        ),
        (
            lambda n, items: ProductBacklogItem.objects.filter(pk=items[1].pk).update(
                is_blocked=True, blocked_reason="x"
            ),
            "stored blocked=True",
        ),
        (
            lambda n, items: ProductBacklogItem.objects.filter(pk=items[3].pk).update(parent=None),
            "stored parent None",
        ),
        (
            lambda n, items: ProductBacklogItem.objects.filter(pk=items[5].pk).update(deleted_at=None),
            "stored alive, the log says deleted",
        ),
        (
            lambda n, items: TeamInvolvement.objects.filter(item=items[1]).update(status=TeamStatus.DONE),
            "stored team squares",
        ),
        (
            lambda n, items: Tombstone.objects.create(
                nexus_id=n.pk, kind="team", object_id=team(n, "Team A").pk
            ),
            "tombstone team",
        ),
        (  # a live PBI soft-deleted behind the log's back: its tombstone names a live PBI
            lambda n, items: ProductBacklogItem.objects.filter(pk=items[0].pk).update(
                deleted_at=timezone.now()
            ),
            "stored deleted, the log says alive (a tombstone naming a live PBI",
        ),
        (  # the deleted PBI's tombstone dated before its deletion: a client synced in between misses it
            lambda n, items: ProductBacklogItem.objects.filter(pk=items[5].pk).update(
                deleted_at=F("deleted_at") - timedelta(days=1)
            ),
            "its tombstone is dated",
        ),
        (  # a Tombstone row naming a (live) PBI: PBIs leave none, no sync client is ever sent it
            lambda n, items: Tombstone.objects.create(nexus_id=n.pk, kind="item", object_id=items[0].pk),
            "no app declares the kind 'item'",
        ),
    ],
    ids=[
        "column",
        "blocked",
        "parent",
        "deleted",
        "square",
        "tombstone",
        "live-deleted",
        "dated",
        "item-kind",
    ],
)
def test_a_corrupted_row_is_named_and_fails(worked, corrupt, expected):
    nexus, items = worked
    corrupt(nexus, items)
    code, out = run("--nexus", "checked")
    assert code == 1, out
    assert expected in out
    assert "mismatch: PBI" in out or "mismatch: tombstone" in out


def test_history_is_never_changed(worked):
    nexus, items = worked
    ProductBacklogItem.objects.filter(pk=items[0].pk).update(column=column(nexus, "Ready"))
    from backlog.models import Transition

    before = Transition.objects.count()
    run("--nexus", "checked", "--repair-figures")
    assert Transition.objects.count() == before
    assert ProductBacklogItem.objects.get(pk=items[0].pk).column.name == "Ready"


def test_wrong_flow_figures_fail_and_repair_figures_fixes_them(worked):
    nexus, _ = worked
    row = ItemFlow.objects.filter(nexus=nexus, started_on__isnull=False).first()
    assert row is not None
    ItemFlow.objects.filter(pk=row.pk).update(started_on=None)
    code, out = run("--nexus", "checked")
    assert code == 1, out
    assert f"PBI {row.pk}: stored started_on None" in out

    code, out = run("--nexus", "checked", "--repair-figures")
    assert code == 0, out
    assert "repaired: flow figures recomputed" in out
    assert run("--nexus", "checked")[0] == 0


def test_figures_marked_pending_are_a_note_not_a_failure(worked):
    nexus, _ = worked
    ItemFlow.objects.filter(nexus=nexus).delete()
    FlowState.objects.filter(nexus=nexus).update(pending_since="2026-01-01T00:00:00Z")
    code, out = run("--nexus", "checked")
    assert code == 0, out
    assert "note: flow figures pending since 2026-01-01" in out


def test_an_unknown_nexus_is_an_error():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No Nexus"):
        call_command("check_nexus", "--nexus", "nope", stdout=io.StringIO())
