"""Changes of the Definition of Workflow (`backlog.services.workflow`): positions stay 0..n-1 and
unique, the started column stays at or before the finished one, columns with history cannot be
deleted, the WIP checks of moves read the new limits, and every change asks for a flow recompute."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backlog.errors import Conflict, DomainError, WipLimitReached
from backlog.models import ProductBacklogItem, WorkflowColumn
from backlog.services import (
    column_create,
    column_delete,
    column_update,
    pbi_create,
    pbi_delete,
    pbi_transition,
)
from backlog.signals import items_changed
from tests.factories import column, nexus_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def recomputes() -> Iterator[list[int]]:
    """The Nexus ids for which a flow recompute was requested (`items_changed` with `flow`)."""
    seen: list[int] = []

    def on_changed(sender, *, nexus_id, flow=True, **kwargs):
        if flow:
            seen.append(nexus_id)

    items_changed.connect(on_changed, dispatch_uid="test-workflow-recomputes")
    try:
        yield seen
    finally:
        items_changed.disconnect(dispatch_uid="test-workflow-recomputes")


def _order(nexus) -> list[tuple[str, int]]:
    """(name, position) left to right, checking that positions are exactly 0..n-1."""
    rows = list(
        WorkflowColumn.objects.filter(nexus=nexus).order_by("position").values_list("name", "position")
    )
    assert [p for _n, p in rows] == list(range(len(rows)))
    return rows


def _names(nexus) -> list[str]:
    return [n for n, _p in _order(nexus)]


# --- column_create -------------------------------------------------------------------------------------


def test_create_at_a_position_shifts_the_others_right(django_capture_on_commit_callbacks, recomputes):
    nexus = nexus_build()  # Ready | In Progress (start) | Review | Done (finish)
    with django_capture_on_commit_callbacks(execute=True):
        created = column_create(
            nexus=nexus, name=" Refinement ", category="not_started", position=0, wip_limit=3, is_ready=True
        )
    assert (created.name, created.position, created.wip_limit, created.is_ready) == ("Refinement", 0, 3, True)
    assert (created.is_start, created.is_finish, created.wip_limit_kind) == (False, False, "soft")
    assert _names(nexus) == ["Refinement", "Ready", "In Progress", "Review", "Done"]
    assert recomputes == [nexus.pk]
    column_create(nexus=nexus, name="Archive", category="done", position=5)
    assert _names(nexus)[-1] == "Archive"


@pytest.mark.parametrize(
    ("category", "names"),
    [
        ("not_started", ["Ready", "New", "In Progress", "Review", "Done"]),  # just before the start
        ("in_progress", ["Ready", "In Progress", "Review", "New", "Done"]),  # just before the finish
        ("done", ["Ready", "In Progress", "Review", "Done", "New"]),  # at the end
    ],
)
def test_create_without_a_position_goes_where_its_category_belongs(category, names):
    nexus = nexus_build()
    column_create(nexus=nexus, name="New", category=category)
    assert _names(nexus) == names


def test_moving_items_updates_the_columns_shifted():
    nexus = nexus_build()
    review = column(nexus, "Review")
    column_create(nexus=nexus, name="Test", category="in_progress", position=2)
    review.refresh_from_db()
    assert review.position == 3
    assert review.updated_at > column(nexus, "Ready").updated_at  # sync clients see the new position


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "  "}, "name"),
        ({"name": "Review"}, "name"),
        ({"name": "x" * 61}, "name"),
        ({"category": "blocked"}, "category"),
        ({"wip_limit": 0}, "wip_limit"),
        ({"wip_limit_kind": "firm"}, "wip_limit_kind"),
        ({"position": 5}, "position"),
        ({"position": -1}, "position"),
    ],
)
def test_create_refuses(kwargs, field, recomputes):
    nexus = nexus_build()
    args = {"nexus": nexus, "name": "New", "category": "in_progress", **kwargs}
    with pytest.raises(DomainError) as err:
        column_create(**args)
    assert err.value.field == field
    assert _names(nexus) == ["Ready", "In Progress", "Review", "Done"]
    assert recomputes == []


def test_create_refuses_more_than_the_maximum_of_columns():
    from backlog.services.workflow import MAX_COLUMNS

    nexus = nexus_build()
    for i in range(MAX_COLUMNS - 4):
        column_create(nexus=nexus, name=f"Step {i}", category="in_progress")
    with pytest.raises(DomainError, match=f"at most {MAX_COLUMNS}"):
        column_create(nexus=nexus, name="One too many", category="in_progress")
    assert len(_order(nexus)) == MAX_COLUMNS


# --- column_update -------------------------------------------------------------------------------------


def test_update_fields(django_capture_on_commit_callbacks, recomputes):
    nexus = nexus_build()
    review = column(nexus, "Review")
    with django_capture_on_commit_callbacks(execute=True):
        updated = column_update(
            column=review, name="Code Review", wip_limit=2, wip_limit_kind="hard", is_ready=True
        )
    assert (updated.name, updated.wip_limit, updated.wip_limit_kind, updated.is_ready) == (
        "Code Review",
        2,
        "hard",
        True,
    )
    assert recomputes == [nexus.pk]
    recomputes.clear()
    with django_capture_on_commit_callbacks(execute=True):
        column_update(column=review, name="Code Review", wip_limit=2)  # nothing changes
    assert recomputes == []
    assert column_update(column=review, wip_limit=None).wip_limit is None


@pytest.mark.parametrize(
    ("moved", "to", "names"),
    [
        ("Review", 0, ["Review", "Ready", "In Progress", "Done"]),
        ("Ready", 2, ["In Progress", "Review", "Ready", "Done"]),
        ("Done", 3, ["Ready", "In Progress", "Review", "Done"]),
        ("Review", 1, ["Ready", "Review", "In Progress", "Done"]),
        ("In Progress", 0, ["In Progress", "Ready", "Review", "Done"]),
        ("In Progress", 2, ["Ready", "Review", "In Progress", "Done"]),
    ],
)
def test_move_shifts_the_columns_between(moved, to, names, django_capture_on_commit_callbacks, recomputes):
    nexus = nexus_build()
    with django_capture_on_commit_callbacks(execute=True):
        result = column_update(column=column(nexus, moved), position=to)
    assert result.position == to
    assert _names(nexus) == names
    assert recomputes == ([nexus.pk] if names != ["Ready", "In Progress", "Review", "Done"] else [])


def test_every_move_keeps_positions_contiguous_and_unique():
    nexus = nexus_build()
    column_create(nexus=nexus, name="Test", category="in_progress")
    column_create(nexus=nexus, name="Deploy", category="in_progress")
    refused = 0
    for name in ["Ready", "Test", "In Progress", "Deploy", "Done", "Review", "Ready", "Done"]:
        for to in range(6):
            names = _names(nexus)
            wanted = [n for n in names if n != name]
            wanted.insert(to, name)
            if wanted.index("In Progress") > wanted.index("Done"):
                with pytest.raises(DomainError) as err:
                    column_update(column=column(nexus, name), position=to)
                assert err.value.field == "position"
                assert _names(nexus) == names
                refused += 1
            else:
                column_update(column=column(nexus, name), position=to)
                assert _names(nexus) == wanted
    assert refused  # some of those moves would have put the finish before the start


@pytest.mark.parametrize(
    ("moved", "to"),
    [("In Progress", 3), ("Done", 0), ("Done", 1)],
)
def test_move_refuses_to_put_the_start_after_the_finish(moved, to):
    nexus = nexus_build()
    with pytest.raises(DomainError) as err:
        column_update(column=column(nexus, moved), position=to)
    assert err.value.field == "position"
    assert _names(nexus) == ["Ready", "In Progress", "Review", "Done"]


def test_start_and_finish_may_be_one_column():
    from backlog.services import ColumnSpec, nexus_create

    nexus = nexus_create(
        name="One",
        slug="one",
        columns=[ColumnSpec("Backlog", "not_started"), ColumnSpec("Work", is_start=True, is_finish=True)],
    )
    column_update(column=column(nexus, "Work"), position=0)
    assert _names(nexus) == ["Work", "Backlog"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "Done"}, "name"),
        ({"wip_limit": 0}, "wip_limit"),
        ({"wip_limit_kind": "firm"}, "wip_limit_kind"),
        ({"position": 4}, "position"),
        ({"position": -1}, "position"),
    ],
)
def test_update_refuses(kwargs, field):
    nexus = nexus_build()
    review = column(nexus, "Review")
    with pytest.raises(DomainError) as err:
        column_update(column=review, **kwargs)
    assert err.value.field == field
    review.refresh_from_db()
    assert (review.name, review.position, review.wip_limit) == ("Review", 2, None)


def test_wip_checks_read_the_new_limits():
    nexus = nexus_build(items=3)
    first, second, third = ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank")
    review = column(nexus, "Review")
    column_update(column=review, wip_limit=1, wip_limit_kind="hard")
    pbi_transition(item=first, to_column=column(nexus, "Review"), actor=None)
    with pytest.raises(WipLimitReached):
        pbi_transition(item=second, to_column=column(nexus, "Review"), actor=None)
    column_update(column=review, wip_limit_kind="soft")
    result = pbi_transition(item=second, to_column=column(nexus, "Review"), actor=None)
    assert result.warnings == ["'Review' is at its WIP limit (1 of 1)."]
    column_update(column=review, wip_limit=None)
    assert pbi_transition(item=third, to_column=column(nexus, "Review"), actor=None).warnings == []


def test_in_progress_follows_a_moved_column():
    """Nexus and team WIP limits count items from the started column up to the finished one: a column
    moved out of that span no longer counts."""
    from backlog.services import nexus_update

    nexus = nexus_build(items=2)
    first, second = ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank")
    nexus_update(nexus=nexus, wip_limit=1)
    pbi_transition(item=first, to_column=column(nexus, "Review"), actor=None)
    warned = pbi_transition(item=second, to_column=column(nexus, "In Progress"), actor=None)
    assert warned.warnings == ["The Nexus is at its WIP limit (1 of 1 items in progress)."]
    pbi_transition(item=second, to_column=column(nexus, "Ready"), actor=None)
    column_update(column=column(nexus, "Review"), position=0)  # Review | Ready | In Progress | Done
    assert pbi_transition(item=second, to_column=column(nexus, "In Progress"), actor=None).warnings == []


# --- column_delete -------------------------------------------------------------------------------------


def test_delete_closes_the_gap(django_capture_on_commit_callbacks, recomputes):
    nexus = nexus_build()
    column_create(nexus=nexus, name="Test", category="in_progress")  # ... Review | Test | Done
    with django_capture_on_commit_callbacks(execute=True):
        column_delete(column=column(nexus, "Review"))
    assert _names(nexus) == ["Ready", "In Progress", "Test", "Done"]
    assert recomputes == [nexus.pk]


@pytest.mark.parametrize("name", ["In Progress", "Done"])
def test_delete_refuses_the_start_and_finish_columns(name):
    nexus = nexus_build()
    with pytest.raises(Conflict) as err:
        column_delete(column=column(nexus, name))
    assert err.value.status_code == 409
    assert "Rename it instead" in err.value.message
    assert len(_names(nexus)) == 4


def test_delete_refuses_a_column_with_items_live_or_deleted():
    nexus = nexus_build()
    item = pbi_create(nexus=nexus, title="one", actor=None, column=column(nexus, "Review"))
    with pytest.raises(Conflict, match="1 PBI"):
        column_delete(column=column(nexus, "Review"))
    pbi_delete(item=item, actor=None)
    with pytest.raises(Conflict, match="1 PBI"):
        column_delete(column=column(nexus, "Review"))
    assert "Review" in _names(nexus)


def test_delete_refuses_a_column_the_transition_log_names():
    nexus = nexus_build()
    item = pbi_create(nexus=nexus, title="one", actor=None)
    pbi_transition(item=item, to_column=column(nexus, "Review"), actor=None)
    pbi_transition(item=item, to_column=column(nexus, "Done"), actor=None)  # nothing is in Review now
    with pytest.raises(Conflict, match="transition log"):
        column_delete(column=column(nexus, "Review"))
    assert "Review" in _names(nexus)
