"""The bulk upsert service leaves the same state as the item services do one by one, sends one flow
notification per batch and one item event per changed item, and refuses all or nothing."""

from __future__ import annotations

import pytest

from backlog.errors import Conflict
from backlog.models import ProductBacklogItem, Transition, WipLimitKind, WorkflowColumn
from backlog.services import ItemChanges
from backlog.services.bulk import BulkUpsertFailed, pbi_bulk_upsert
from backlog.services.sync import pbi_upsert
from backlog.signals import item_event, items_changed
from tests.factories import column, nexus_build

pytestmark = pytest.mark.django_db


def _entries(nx, *, edited=False):
    teams = list(nx.teams.order_by("name"))
    review = column(nx, "Review")
    out = []
    for i in range(6):
        fields = {"title": f"Item {i}{' (edited)' if edited else ''}", "size": i, "is_blocked": i == 2}
        if i == 2:
            fields["blocked_reason"] = "Waiting"
        labels = ["sync", f"l{i % 2}"] if not (edited and i == 1) else ["other"]
        out.append(
            (
                f"EXT-{i}",
                ItemChanges(
                    fields=fields,
                    labels=labels,
                    teams=teams[: i % 3] if not (edited and i == 4) else teams,
                    column=review if (i == 3 or (edited and i == 5)) else None,
                ),
            )
        )
    return out


def _state(nx):
    items = ProductBacklogItem.objects.filter(backlog__nexus=nx).order_by("rank")
    return [
        (
            i.external_id,
            i.title,
            i.size,
            i.is_blocked,
            i.blocked_reason,
            i.column.name,
            i.version,
            sorted(i.labels.values_list("name", flat=True)),
            sorted(i.involvements.values_list("team__name", "status")),
            list(Transition.objects.filter(item=i).order_by("id").values_list("kind", "to_name", "source")),
        )
        for i in items
    ]


def test_bulk_equals_one_by_one():
    bulk, single = nexus_build(), nexus_build()
    pbi_bulk_upsert(nexus=bulk, entries=_entries(bulk), actor=None)
    for ext, changes in _entries(single):
        pbi_upsert(nexus=single, external_id=ext, changes=changes, actor=None)
    assert _state(bulk) == _state(single)
    pbi_bulk_upsert(nexus=bulk, entries=_entries(bulk, edited=True), actor=None)
    for ext, changes in _entries(single, edited=True):
        pbi_upsert(nexus=single, external_id=ext, changes=changes, actor=None)
    bulk_state, single_state = _state(bulk), _state(single)
    # Versions: one bump per service call one by one; the bulk bumps fields+labels once, then teams
    # and column through their services, so versions may differ by that; everything else is equal.
    assert [row[:6] + row[7:] for row in bulk_state] == [row[:6] + row[7:] for row in single_state]
    assert all(b[6] >= 2 for b in bulk_state)


def test_resending_changes_nothing():
    nx = nexus_build()
    pbi_bulk_upsert(nexus=nx, entries=_entries(nx), actor=None)
    before = _state(nx)
    result = pbi_bulk_upsert(nexus=nx, entries=_entries(nx), actor=None)
    assert (result.created, result.updated, result.unchanged) == (0, 0, 6)
    assert _state(nx) == before


def test_one_flow_notification_and_an_event_per_item(django_capture_on_commit_callbacks):
    nx = nexus_build()
    changed, events = [], []

    def on_changed(sender, **kw):
        changed.append(kw)

    def on_event(sender, **kw):
        events.append(kw["event"])

    items_changed.connect(on_changed)
    item_event.connect(on_event)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            pbi_bulk_upsert(nexus=nx, entries=_entries(nx), actor=None)
        assert changed == [{"signal": items_changed, "nexus_id": nx.pk, "flow": True}]
        assert events == ["created"] * 6
        changed.clear()
        events.clear()
        with django_capture_on_commit_callbacks(execute=True):
            pbi_bulk_upsert(nexus=nx, entries=_entries(nx, edited=True), actor=None)
        assert len(changed) == 1
        assert events.count("updated") >= 6
        assert events.count("transitioned") == 1
    finally:
        items_changed.disconnect(on_changed)
        item_event.disconnect(on_event)


def test_a_refused_column_change_refuses_the_whole_batch():
    nx = nexus_build()
    pbi_bulk_upsert(nexus=nx, entries=_entries(nx), actor=None)
    before = _state(nx)
    WorkflowColumn.objects.filter(nexus=nx, name="Review").update(
        wip_limit=1, wip_limit_kind=WipLimitKind.HARD
    )
    with pytest.raises(BulkUpsertFailed) as refused:
        pbi_bulk_upsert(nexus=nx, entries=_entries(nx, edited=True), actor=None)
    assert [(e.index, e.field) for e in refused.value.errors] == [(5, "column")]
    assert _state(nx) == before


def test_a_new_item_with_teams_is_refused_in_the_finished_column_as_one_by_one():
    """The finishing rule of the team squares holds for the bulk door too: a new PBI with teams would
    start in the finished column with squares not started (as `pbi_create`: 409, field `column`)."""
    nx = nexus_build()
    teams = list(nx.teams.order_by("name"))[:1]
    done = column(nx, "Done")
    entries = [
        ("EXT-ok", ItemChanges(fields={"title": "Fine"}, teams=teams)),
        ("EXT-done", ItemChanges(fields={"title": "Done at birth"}, teams=teams, column=done)),
        ("EXT-done-alone", ItemChanges(fields={"title": "Done, no team"}, column=done)),
    ]
    with pytest.raises(BulkUpsertFailed) as refused:
        pbi_bulk_upsert(nexus=nx, entries=entries, actor=None)
    assert [(e.index, e.field) for e in refused.value.errors] == [(1, "column")]
    assert "every Scrum Team forecast on it" in refused.value.errors[0].message
    assert not ProductBacklogItem.objects.filter(backlog__nexus=nx).exists()  # all or nothing
    with pytest.raises(Conflict):
        pbi_upsert(nexus=nx, external_id="EXT-one", changes=entries[1][1], actor=None)
