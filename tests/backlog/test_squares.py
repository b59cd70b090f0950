"""Team squares and each Scrum Team's Definition of Workflow (`backlog.services.squares`): who changes a
square, the PBI's Nexus column following its squares (started with the first started square, finished
only when every square is filled; WIP limits), the team's columns and moves on its board, logged."""

from __future__ import annotations

from typing import Any

import pytest

from backlog.errors import Conflict, DomainError, NotAllowed, PreconditionFailed, WipLimitReached
from backlog.models import (
    Role,
    Source,
    TeamColumn,
    TeamInvolvement,
    Transition,
    TransitionKind,
    WipLimitKind,
)
from backlog.services import (
    column_update,
    involvement_set_status,
    pbi_create,
    pbi_transition,
    pbi_update,
    team_create,
)
from backlog.services.squares import (
    DEFAULT_TEAM_COLUMNS,
    square_set,
    square_teams_for,
    squares_done_bulk,
    team_item_move,
)
from backlog.services.team_columns import team_column_create, team_column_delete, team_column_update
from tests.factories import column, member, nexus_build, team

pytestmark = pytest.mark.django_db


@pytest.fixture
def nexus() -> Any:
    return nexus_build()


@pytest.fixture
def people(nexus: Any) -> dict[str, Any]:
    a, b = team(nexus, "Team A"), team(nexus, "Team B")
    return {
        "po": nexus.memberships.get(role=Role.PRODUCT_OWNER).user,
        "nit": member(nexus, Role.NIT_MEMBER, username="nia"),
        "dev_a": member(nexus, Role.DEVELOPER, username="ada", team_obj=a),
        "sm_a": member(nexus, Role.SCRUM_MASTER, username="sam", team_obj=a),
        "dev_b": member(nexus, Role.DEVELOPER, username="bea", team_obj=b),
        "stakeholder": member(nexus, Role.STAKEHOLDER, username="stu"),
    }


def _item(nexus: Any, *names: str, title: str = "Pay by invoice") -> Any:
    return pbi_create(nexus=nexus, title=title, actor=None, teams=[team(nexus, n) for n in names])


def _square(item: Any, name: str) -> TeamInvolvement:
    return TeamInvolvement.objects.get(item=item, team__name=name)


def _col(nexus: Any, team_name: str, state: str) -> TeamColumn:
    return TeamColumn.objects.filter(team=team(nexus, team_name), state=state).earliest("position")


# --- Who changes a square ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "allowed"),
    [("po", True), ("nit", True), ("dev_a", True), ("sm_a", True), ("dev_b", False), ("stakeholder", False)],
)
def test_developers_change_only_their_own_teams_squares(nexus, people, who, allowed):
    item = _item(nexus, "Team A", "Team B")
    square = _square(item, "Team A")
    if allowed:
        involvement_set_status(involvement=square, status="in_progress", actor=people[who])
        assert _square(item, "Team A").status == "in_progress"
        return
    with pytest.raises(NotAllowed) as err:
        involvement_set_status(involvement=square, status="in_progress", actor=people[who])
    assert (err.value.status_code, err.value.field) == (403, "team")
    assert "Team A" in err.value.message or "Stakeholders" in err.value.message
    assert _square(item, "Team A").status == "not_started"
    assert not Transition.objects.filter(item=item, kind=TransitionKind.TEAM_STATUS).exists()
    # The same rule on the team's board: a move is a square change.
    with pytest.raises(NotAllowed):
        team_item_move(
            item=item, team=team(nexus, "Team A"), to_column=_col(nexus, "Team A", "ready"), actor=people[who]
        )


@pytest.mark.parametrize("door", ["involvement_remove", "pbi_set_teams"])
def test_taking_a_started_square_off_is_a_change_of_that_teams_square(nexus, people, door):
    """A Developer of Team B cannot erase Team A's progress by taking its square off the PBI (403 naming
    `team`, nothing changed); an empty square stays open to every editor (forecasting at refinement),
    and Team A's own Developer, the Product Owner and the NIT take a started one off."""
    from backlog.services import involvement_remove, pbi_set_teams

    def take_off(item: Any, name: str, actor: Any) -> None:
        if door == "involvement_remove":
            involvement_remove(involvement=_square(item, name), actor=actor)
        else:
            keep = [t.team for t in TeamInvolvement.objects.filter(item=item).exclude(team__name=name)]
            pbi_set_teams(item=item, teams=keep, actor=actor)

    item = _item(nexus, "Team A", "Team B")
    involvement_set_status(involvement=_square(item, "Team A"), status="ready", actor=people["dev_a"])
    version = type(item).objects.get(pk=item.pk).version
    for who in ("dev_b", "stakeholder"):
        with pytest.raises(NotAllowed) as err:
            take_off(item, "Team A", people[who])
        assert (err.value.status_code, err.value.field) == (403, "team")
    assert _square(item, "Team A").status == "ready"
    assert type(item).objects.get(pk=item.pk).version == version
    assert not Transition.objects.filter(item=item, kind=TransitionKind.TEAM_REMOVED).exists()
    # Team B's Developer takes the empty square of another team off; Team A's Developer its own.
    other = _item(nexus, "Team A", "Team B", title="Refund by invoice")
    take_off(other, "Team A", people["dev_b"])
    assert not TeamInvolvement.objects.filter(item=other, team__name="Team A").exists()
    take_off(item, "Team A", people["dev_a"])
    assert not TeamInvolvement.objects.filter(item=item, team__name="Team A").exists()


def test_a_non_member_and_the_system(nexus):
    from tests.factories import UserFactory

    item = _item(nexus, "Team A")
    with pytest.raises(NotAllowed):
        involvement_set_status(
            involvement=_square(item, "Team A"), status="done", actor=UserFactory.create(username="x")
        )
    involvement_set_status(involvement=_square(item, "Team A"), status="done", actor=None)  # imports, demo
    assert _square(item, "Team A").status == "done"


def test_square_teams_for_pages(nexus, people):
    a, b = team(nexus, "Team A"), team(nexus, "Team B")
    assert square_teams_for(user=people["dev_a"], nexus_id=nexus.pk) == {a.pk}
    assert square_teams_for(user=people["dev_b"], nexus_id=nexus.pk) == {b.pk}
    assert square_teams_for(user=people["nit"], nexus_id=nexus.pk) is None
    assert square_teams_for(user=people["po"], nexus_id=nexus.pk) is None
    assert square_teams_for(user=people["stakeholder"], nexus_id=nexus.pk) == set()


# --- The PBI's Nexus column follows its squares --------------------------------------------------------


def test_the_first_started_square_moves_the_pbi_into_the_started_column(nexus, people):
    item = _item(nexus, "Team A", "Team B")
    assert item.column.name == "Ready"
    result = square_set(involvement=_square(item, "Team A"), status="in_progress", actor=people["dev_a"])
    item.refresh_from_db()
    assert item.column.name == "In Progress"
    assert result.item.column_id == item.column_id
    move = Transition.objects.get(item=item, kind=TransitionKind.COLUMN, to_column=item.column)
    assert (move.source, move.actor, move.from_name) == (Source.SYSTEM, people["dev_a"], "Ready")
    # Already started: the second team's start moves nothing.
    square_set(involvement=_square(item, "Team B"), status="in_progress", actor=people["dev_b"])
    assert Transition.objects.filter(item=item, kind=TransitionKind.COLUMN).count() == 2  # creation + start
    # A PBI further on (Review) never goes back.
    pbi_transition(item=item, to_column=column(nexus, "Review"), actor=None)
    square_set(involvement=_square(item, "Team B"), status="ready", actor=people["dev_b"])
    item.refresh_from_db()
    assert item.column.name == "Review"


def test_a_not_started_square_moves_nothing(nexus, people):
    item = _item(nexus, "Team A")
    square_set(involvement=_square(item, "Team A"), status="in_progress", actor=None)
    square_set(involvement=_square(item, "Team A"), status="not_started", actor=None)
    item.refresh_from_db()
    assert item.column.name == "In Progress"


@pytest.mark.parametrize("door", ["transition", "update"])
def test_the_finished_column_needs_every_square_filled(nexus, people, door):
    item = _item(nexus, "Team A", "Team B")
    done = column(nexus, "Done")

    def finish():
        if door == "transition":
            return pbi_transition(item=item, to_column=done, actor=people["po"])
        return pbi_update(item=item, column=done, actor=people["po"])

    square_set(involvement=_square(item, "Team A"), status="ready", actor=None)
    with pytest.raises(Conflict) as err:
        finish()
    assert (err.value.status_code, err.value.field) == (409, "column")
    assert "Team B (not started)" in err.value.message
    assert "Team A" not in err.value.message.split("not yet:")[1]
    item.refresh_from_db()
    assert item.column.name == "In Progress"
    square_set(involvement=_square(item, "Team B"), status="done", actor=None)
    finish()
    item.refresh_from_db()
    assert item.column.name == "Done"


def test_items_without_squares_finish_as_before_and_a_new_item_with_teams_cannot_start_done(nexus):
    item = _item(nexus)
    pbi_transition(item=item, to_column=column(nexus, "Done"), actor=None)
    with pytest.raises(Conflict):
        pbi_create(nexus=nexus, title="x", actor=None, column=column(nexus, "Done"), teams=[team(nexus)])


def test_a_hard_wip_limit_refuses_the_square_change_naming_it(nexus, people):
    column_update(column=column(nexus, "In Progress"), wip_limit=1, wip_limit_kind=WipLimitKind.HARD)
    busy = _item(nexus, "Team A", title="Busy")
    square_set(involvement=_square(busy, "Team A"), status="in_progress", actor=None)
    item = _item(nexus, "Team A")
    with pytest.raises(WipLimitReached) as err:
        square_set(involvement=_square(item, "Team A"), status="in_progress", actor=people["dev_a"])
    assert err.value.field == "status"
    assert "'In Progress' is at its WIP limit (1 of 1)" in err.value.message
    item.refresh_from_db()
    assert (item.column.name, _square(item, "Team A").status) == ("Ready", "not_started")
    assert not Transition.objects.filter(item=item).exclude(kind__in=["column", "team_added"]).exists()


def test_a_soft_wip_limit_warns(nexus, people):
    column_update(column=column(nexus, "In Progress"), wip_limit=1)
    busy = _item(nexus, "Team A", title="Busy")
    square_set(involvement=_square(busy, "Team A"), status="in_progress", actor=None)
    item = _item(nexus, "Team A")
    result = square_set(involvement=_square(item, "Team A"), status="in_progress", actor=people["dev_a"])
    assert result.warnings == ["'In Progress' is at its WIP limit (1 of 1)."]
    item.refresh_from_db()
    assert item.column.name == "In Progress"


# --- Each team's Definition of Workflow ----------------------------------------------------------------


def test_every_team_starts_with_the_four_states_as_columns(nexus):
    new = team_create(nexus=nexus, name="Team Z")
    rows = list(TeamColumn.objects.filter(team=new).values_list("name", "position", "state"))
    assert rows == [(name, i, state) for i, (name, state) in enumerate(DEFAULT_TEAM_COLUMNS)]


def test_a_move_on_the_board_sets_the_square_and_logs_a_team_transition(nexus, people):
    a = team(nexus, "Team A")
    review = team_column_create(team=a, name="Review", state="in_progress", actor=people["dev_a"])
    assert [c.name for c in TeamColumn.objects.filter(team=a).order_by("position")] == [
        "Not started",
        "In progress",
        "Review",
        "Ready to integrate",
        "Done",
    ]
    item = _item(nexus, "Team A")
    version = item.version
    team_item_move(item=item, team=a, to_column=review, actor=people["dev_a"], source=Source.BOARD)
    square = _square(item, "Team A")
    assert (square.status, square.team_column) == ("in_progress", review)
    row = Transition.objects.get(item=item, kind=TransitionKind.TEAM_COLUMN)
    assert (row.team, row.from_team_column, row.to_team_column, row.from_name, row.to_name) == (
        a,
        None,
        review,
        "",
        "Review",
    )
    assert (row.team_status, row.source, row.actor) == ("in_progress", "board", people["dev_a"])
    item.refresh_from_db()
    assert item.version > version
    ready = _col(nexus, "Team A", "ready")
    team_item_move(item=item, team=a, to_column=ready, actor=people["dev_a"], expected_version=item.version)
    row = Transition.objects.filter(item=item, kind=TransitionKind.TEAM_COLUMN).latest("id")
    assert (row.from_name, row.to_name, row.team_status) == ("Review", "Ready to integrate", "ready")
    assert _square(item, "Team A").status == "ready"
    with pytest.raises(PreconditionFailed):
        team_item_move(item=item, team=a, to_column=review, actor=None, expected_version=1)


def test_a_move_to_another_teams_column_or_for_a_team_not_forecast_is_refused(nexus, people):
    item = _item(nexus, "Team A")
    with pytest.raises(DomainError) as err:
        team_item_move(
            item=item, team=team(nexus, "Team A"), to_column=_col(nexus, "Team B", "ready"), actor=None
        )
    assert err.value.field == "column"
    with pytest.raises(DomainError) as err:
        team_item_move(
            item=item, team=team(nexus, "Team B"), to_column=_col(nexus, "Team B", "ready"), actor=None
        )
    assert err.value.field == "team"


def test_set_status_goes_to_the_first_column_of_the_state_and_stays_in_one_of_it(nexus):
    a = team(nexus, "Team A")
    review = team_column_create(team=a, name="Review", state="in_progress", actor=None)
    item = _item(nexus, "Team A")
    involvement_set_status(involvement=_square(item, "Team A"), status="in_progress", actor=None)
    assert _square(item, "Team A").team_column == _col(nexus, "Team A", "in_progress")
    team_item_move(item=item, team=a, to_column=review, actor=None)
    rows = Transition.objects.filter(item=item).count()
    involvement_set_status(involvement=_square(item, "Team A"), status="in_progress", actor=None)
    assert (_square(item, "Team A").team_column, Transition.objects.filter(item=item).count()) == (
        review,
        rows,
    )


def test_squares_done_bulk_logs_as_square_set_and_keeps_a_done_column(nexus):
    """The bulk tick (an Integrated Increment marked Done) writes what `square_set` writes one by one:
    the square Done in the first Done column of its team's board, a `team_status` row and, when the
    column changes, a `team_column` row, source `system`; a square already in a Done column stays in it."""
    from django.utils import timezone

    a = team(nexus, "Team A")
    later_done = team_column_create(team=a, name="Shipped", state="done", actor=None)
    one, two = _item(nexus, "Team A", "Team B", title="One"), _item(nexus, "Team A", title="Two")
    for item, name in ((one, "Team A"), (one, "Team B"), (two, "Team A")):
        involvement_set_status(involvement=_square(item, name), status="ready", actor=None)
    team_item_move(item=two, team=a, to_column=later_done, actor=None)
    before = Transition.objects.count()
    squares = list(
        TeamInvolvement.objects.filter(item__in=[one, two])
        .select_related("team_column")
        .order_by("item_id", "team__name")
    )
    at = timezone.now()
    squares_done_bulk(squares=squares, at=at)
    assert {(sq.item_id, sq.team.name, sq.status) for sq in TeamInvolvement.objects.all()} == {
        (one.pk, "Team A", "done"),
        (one.pk, "Team B", "done"),
        (two.pk, "Team A", "done"),
    }
    assert _square(one, "Team A").team_column == _col(nexus, "Team A", "done")
    assert _square(one, "Team B").team_column == _col(nexus, "Team B", "done")
    assert _square(two, "Team A").team_column == later_done  # already in a Done column: stays
    rows = Transition.objects.order_by("pk")[before:]
    assert [(r.item_id, r.kind, r.to_name, r.source, r.at) for r in rows] == [
        (one.pk, TransitionKind.TEAM_STATUS, "done", Source.SYSTEM, at),
        (one.pk, TransitionKind.TEAM_COLUMN, _col(nexus, "Team A", "done").name, Source.SYSTEM, at),
        (one.pk, TransitionKind.TEAM_STATUS, "done", Source.SYSTEM, at),
        (one.pk, TransitionKind.TEAM_COLUMN, _col(nexus, "Team B", "done").name, Source.SYSTEM, at),
        (two.pk, TransitionKind.TEAM_STATUS, "done", Source.SYSTEM, at),
    ]


def test_a_team_column_wip_limit(nexus):
    a = team(nexus, "Team A")
    doing = _col(nexus, "Team A", "in_progress")
    team_column_update(column=doing, actor=None, wip_limit=1, wip_limit_kind="hard")
    first, second = _item(nexus, "Team A", title="1"), _item(nexus, "Team A", title="2")
    team_item_move(item=first, team=a, to_column=doing, actor=None)
    with pytest.raises(WipLimitReached) as err:
        team_item_move(item=second, team=a, to_column=doing, actor=None)
    assert (err.value.field, "Team A's 'In progress' is at its WIP limit (1 of 1)" in err.value.message) == (
        "column",
        True,
    )
    team_column_update(column=doing, actor=None, wip_limit_kind="soft")
    result = team_item_move(item=second, team=a, to_column=doing, actor=None)
    assert result.warnings
    assert "WIP limit" in result.warnings[0]


def test_team_columns_keep_the_states_in_order_and_one_column_per_state(nexus, people):
    a = team(nexus, "Team A")
    with pytest.raises(DomainError) as err:
        team_column_create(team=a, name="Late start", state="not_started", position=3, actor=None)
    assert err.value.field == "position"
    with pytest.raises(DomainError) as err:
        team_column_delete(column=_col(nexus, "Team A", "ready"), actor=None)
    assert err.value.field == "state"
    with pytest.raises(DomainError) as err:
        team_column_update(column=_col(nexus, "Team A", "ready"), state="done", actor=None)
    assert err.value.field == "state"
    with pytest.raises(DomainError) as err:
        team_column_create(team=a, name="Done", state="done", actor=None)
    assert err.value.field == "name"
    with pytest.raises(NotAllowed):
        team_column_create(team=a, name="Review", state="in_progress", actor=people["dev_b"])
    spare = team_column_create(team=a, name="Spare", state="ready", actor=people["dev_a"])
    team_column_update(column=spare, position=2, name="Integrating", actor=people["dev_a"])
    assert [c.name for c in TeamColumn.objects.filter(team=a).order_by("position")] == [
        "Not started",
        "In progress",
        "Integrating",
        "Ready to integrate",
        "Done",
    ]
    spare.refresh_from_db()
    assert spare.version == 2
    with pytest.raises(PreconditionFailed):
        team_column_delete(column=spare, actor=None, expected_version=1)
    team_column_delete(column=spare, actor=people["po"])
    assert list(
        TeamColumn.objects.filter(team=a).order_by("position").values_list("position", flat=True)
    ) == [
        0,
        1,
        2,
        3,
    ]


def test_a_column_with_work_or_history_is_not_deleted_and_a_new_state_moves_its_squares(nexus):
    a = team(nexus, "Team A")
    review = team_column_create(team=a, name="Review", state="in_progress", actor=None)
    item = _item(nexus, "Team A")
    team_item_move(item=item, team=a, to_column=review, actor=None)
    with pytest.raises(Conflict) as err:
        team_column_delete(column=review, actor=None)
    assert "1 PBI(s)" in err.value.message
    team_column_update(column=review, state="ready", actor=None)
    assert _square(item, "Team A").status == "ready"
    team_item_move(item=item, team=a, to_column=_col(nexus, "Team A", "done"), actor=None)
    with pytest.raises(Conflict) as err:
        team_column_delete(column=review, actor=None)
    assert "transition log" in err.value.message


def test_a_square_change_is_heard_as_item_square_changed(nexus, django_capture_on_commit_callbacks):
    from backlog.signals import item_event

    heard: list[tuple[int, str]] = []

    def receiver(sender: Any, *, nexus_id: int, item_id: int, event: str, **kwargs: Any) -> None:
        heard.append((item_id, event))

    item = _item(nexus, "Team A")
    item_event.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            square_set(involvement=_square(item, "Team A"), status="ready", actor=None)
    finally:
        item_event.disconnect(receiver)
    assert (item.pk, "square_changed") in heard
    assert (item.pk, "updated") in heard
