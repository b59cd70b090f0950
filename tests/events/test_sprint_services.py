"""The Sprint services (`events.services`): every rule of the Sprint, each refusal naming its field, the
typed append-only scope log, the frozen snapshots, and the change counter advanced by every write."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backlog.errors import Conflict, DomainError, PreconditionFailed
from backlog.models import NexusChangeCounter, Role, TeamInvolvement
from backlog.services import pbi_delete, pbi_transition
from events.models import (
    ScopeChangeKind,
    Sprint,
    SprintItem,
    SprintScopeChange,
    SprintSnapshot,
    SprintState,
    SprintTeamGoal,
)
from events.services import (
    sprint_close,
    sprint_create,
    sprint_delete,
    sprint_plan,
    sprint_start,
    sprint_unplan,
    sprint_update,
)
from tests.events.sprint_helpers import START, day, finish, items, sprint_build, teams
from tests.factories import column, member, nexus_build

pytestmark = pytest.mark.django_db


def _seq(nexus):
    return NexusChangeCounter.objects.filter(nexus=nexus).values_list("seq", flat=True).first() or 0


# --- Create, update, delete -------------------------------------------------------------------------


def test_create_numbers_and_default_dates_follow_the_cadence():
    nexus = nexus_build()
    first = sprint_create(nexus=nexus, actor=None, start_date=START, goal=" Ship search ")
    assert (first.number, first.start_date, first.end_date, first.state) == (1, START, day(13), "planned")
    assert first.goal == "Ship search"
    second = sprint_create(nexus=nexus, actor=None)
    assert (second.number, second.start_date, second.end_date) == (2, day(14), day(27))


def test_create_without_any_sprint_starts_today_in_the_nexus_time_zone():
    from flow.history import nexus_today

    nexus = nexus_build()
    sprint = sprint_create(nexus=nexus, actor=None)
    assert sprint.start_date == nexus_today(nexus)
    assert sprint.length_days == nexus.sprint_length_days


def test_dates_never_overlap():
    nexus = nexus_build()
    sprint_create(nexus=nexus, actor=None, start_date=START)
    with pytest.raises(Conflict) as exc:
        sprint_create(nexus=nexus, actor=None, start_date=day(13))
    assert exc.value.field == "start_date"
    assert "Sprint 1" in exc.value.message
    assert Sprint.objects.filter(nexus=nexus).count() == 1


def test_end_before_start_names_end_date():
    nexus = nexus_build()
    with pytest.raises(DomainError) as exc:
        sprint_create(nexus=nexus, actor=None, start_date=START, end_date=START - timedelta(days=1))
    assert exc.value.field == "end_date"


def test_team_goals_are_set_replaced_and_checked():
    nexus = nexus_build()
    a, b, _c = teams(nexus)
    sprint = sprint_create(
        nexus=nexus, actor=None, start_date=START, team_goals=[{"team": a.pk, "goal": "Index"}]
    )
    assert list(sprint.team_goals.values_list("team_id", "goal")) == [(a.pk, "Index")]
    sprint_update(sprint=sprint, actor=None, team_goals={b.pk: "Query", a.pk: ""})
    assert list(SprintTeamGoal.objects.filter(sprint=sprint).values_list("team_id", "goal")) == [
        (b.pk, "Query")
    ]
    other = nexus_build()
    with pytest.raises(DomainError) as exc:
        sprint_update(sprint=sprint, actor=None, team_goals=[{"team": teams(other)[0].pk, "goal": "x"}])
    assert exc.value.field == "team_goals"


def test_update_checks_the_version_and_refuses_a_closed_sprint():
    nexus = nexus_build()
    sprint = sprint_build(nexus, started=True)
    with pytest.raises(PreconditionFailed):
        sprint_update(sprint=sprint, actor=None, goal="x", expected_version=sprint.version - 1)
    with pytest.raises(Conflict) as exc:
        sprint_update(sprint=sprint, actor=None, start_date=day(1))
    assert exc.value.field == "start_date"
    sprint = sprint_update(sprint=sprint, actor=None, end_date=day(20), goal="New goal")
    assert (sprint.end_date, sprint.goal) == (day(20), "New goal")
    sprint_close(sprint=sprint, actor=None)
    with pytest.raises(Conflict) as exc:
        sprint_update(sprint=sprint, actor=None, goal="rewrite history")
    assert exc.value.field == "sprint"
    sprint.refresh_from_db()
    assert sprint.goal == "New goal"


def test_delete_only_a_planned_sprint():
    nexus = nexus_build(items=1)
    planned = sprint_build(nexus, planned=items(nexus))
    sprint_delete(sprint=planned, actor=None)
    assert not Sprint.objects.filter(nexus=nexus).exists()
    assert TeamInvolvement.objects.filter(item__backlog__nexus=nexus).count() == 1  # squares stay
    active = sprint_build(nexus, started=True)
    with pytest.raises(Conflict) as exc:
        sprint_delete(sprint=active, actor=None)
    assert exc.value.field == "state"


# --- Plan and unplan ------------------------------------------------------------------------------------


def test_plan_adds_squares_and_logs_who_when_and_at_which_event():
    nexus = nexus_build(items=2)
    a, b, _c = teams(nexus)
    user = member(nexus, Role.NIT_MEMBER, username="nit")  # who plans (the services check it)
    sprint = sprint_build(nexus)
    item = items(nexus)[0]
    row = sprint_plan(sprint=sprint, item=item, teams=[a, b], actor=user, event="refinement")
    assert row.item_id == item.pk
    assert set(TeamInvolvement.objects.filter(item=item).values_list("team_id", flat=True)) == {a.pk, b.pk}
    change = SprintScopeChange.objects.get(sprint=sprint)
    assert (change.kind, change.actor, change.event, sorted(change.teams)) == (
        "added",
        user,
        "refinement",
        sorted([a.pk, b.pk]),
    )
    # Planning again only adds the missing squares; no second `added` row.
    _c = teams(nexus)[2]
    sprint_plan(sprint=sprint, item=item, teams=[_c], actor=user)
    assert TeamInvolvement.objects.filter(item=item).count() == 3
    assert SprintScopeChange.objects.filter(sprint=sprint).count() == 1


def test_plan_needs_a_team_and_one_of_the_nexus():
    nexus = nexus_build(items=1)
    sprint = sprint_build(nexus)
    with pytest.raises(DomainError) as exc:
        sprint_plan(sprint=sprint, item=items(nexus)[0], teams=[], actor=None)
    assert exc.value.field == "teams"
    other = nexus_build()
    with pytest.raises(DomainError) as exc:
        sprint_plan(sprint=sprint, item=items(nexus)[0], teams=teams(other)[:1], actor=None)
    assert exc.value.field == "teams"
    assert not SprintItem.objects.exists()


def test_plan_refuses_an_item_of_another_nexus_or_deleted():
    nexus, other = nexus_build(), nexus_build(items=1)
    sprint = sprint_build(nexus)
    with pytest.raises(DomainError) as exc:
        sprint_plan(sprint=sprint, item=items(other)[0], teams=teams(nexus)[:1], actor=None)
    assert exc.value.field == "item"
    mine = nexus_build(items=1)
    s2 = sprint_build(mine)
    item = items(mine)[0]
    pbi_delete(item=item, actor=None)
    with pytest.raises(DomainError) as exc:
        sprint_plan(sprint=s2, item=item, teams=teams(mine)[:1], actor=None)
    assert exc.value.field == "item"


def test_planning_into_a_closed_sprint_is_refused():
    nexus = nexus_build(items=1)
    sprint = sprint_build(nexus, started=True)
    sprint_close(sprint=sprint, actor=None)
    with pytest.raises(Conflict) as exc:
        sprint_plan(sprint=sprint, item=items(nexus)[0], teams=teams(nexus)[:1], actor=None)
    assert exc.value.field == "sprint"
    assert not SprintItem.objects.filter(sprint=sprint).exists()
    assert not TeamInvolvement.objects.exists()  # nothing half-saved


def test_an_item_is_in_one_open_sprint_at_a_time():
    nexus = nexus_build(items=1)
    item = items(nexus)[0]
    first = sprint_build(nexus, planned=[item])
    second = sprint_build(nexus)
    with pytest.raises(Conflict) as exc:
        sprint_plan(sprint=second, item=item, teams=teams(nexus)[:1], actor=None)
    assert exc.value.field == "item"
    assert "Sprint 1" in exc.value.message
    sprint_unplan(sprint=first, item=item, actor=None)
    sprint_plan(sprint=second, item=item, teams=teams(nexus)[:1], actor=None)
    assert list(SprintItem.objects.values_list("sprint_id", flat=True)) == [second.pk]


def test_a_done_item_is_not_planned():
    nexus = nexus_build(items=1)
    item = items(nexus)[0]
    finish(item)
    with pytest.raises(Conflict) as exc:
        sprint_plan(sprint=sprint_build(nexus), item=item, teams=teams(nexus)[:1], actor=None)
    assert exc.value.field == "item"


def test_unplan_logs_removed_and_keeps_the_squares():
    nexus = nexus_build(items=1)
    item = items(nexus)[0]
    sprint = sprint_build(nexus, planned=[item])
    sprint_unplan(sprint=sprint, item=item, actor=None, event="daily_scrum")
    assert list(SprintScopeChange.objects.order_by("id").values_list("kind", "event")) == [
        ("added", "planning"),
        ("removed", "daily_scrum"),
    ]
    assert TeamInvolvement.objects.filter(item=item).exists()
    with pytest.raises(DomainError) as exc:
        sprint_unplan(sprint=sprint, item=item, actor=None)
    assert exc.value.field == "item"


def test_unknown_event_is_refused():
    nexus = nexus_build(items=1)
    with pytest.raises(DomainError) as exc:
        sprint_plan(
            sprint=sprint_build(nexus), item=items(nexus)[0], teams=teams(nexus)[:1], actor=None, event="x"
        )
    assert exc.value.field == "event"


def test_scope_log_rows_are_append_only():
    nexus = nexus_build(items=1)
    sprint_build(nexus, planned=items(nexus))
    row = SprintScopeChange.objects.get()
    row.kind = "removed"
    with pytest.raises(ValueError, match="never"):
        row.save()


# --- Start and close ----------------------------------------------------------------------------------


def test_one_active_sprint_per_nexus():
    nexus = nexus_build()
    sprint_build(nexus, started=True)
    second = sprint_build(nexus)
    with pytest.raises(Conflict) as exc:
        sprint_start(sprint=second, actor=None)
    assert exc.value.field == "state"
    assert "Sprint 1" in exc.value.message
    with pytest.raises(Conflict):
        sprint_start(sprint=Sprint.objects.get(nexus=nexus, number=1), actor=None)


def test_start_freezes_the_plan():
    nexus = nexus_build(items=3)
    a = teams(nexus)[0]
    sprint = sprint_build(nexus, planned=items(nexus)[:2], goal="G", team_goals={a.pk: "TG"})
    sprint = sprint_start(sprint=sprint, actor=None)
    assert sprint.state == SprintState.ACTIVE
    assert sprint.started_at is not None
    snap = SprintSnapshot.objects.get(sprint=sprint, kind="start")
    assert [row["title"] for row in snap.data["items"]] == ["Item 1", "Item 2"]
    assert snap.data["items"][0]["teams"] == [a.pk]
    assert snap.data["goal"] == "G"
    assert snap.data["team_goals"] == [{"team": a.pk, "goal": "TG"}]
    # Later scope changes do not touch the snapshot.
    sprint_plan(sprint=sprint, item=items(nexus)[2], teams=[a], actor=None, event="daily_scrum")
    snap.refresh_from_db()
    assert len(snap.data["items"]) == 2
    with pytest.raises(ValueError, match="never"):
        snap.save()


def test_close_freezes_done_not_done_and_where_each_went():
    nexus = nexus_build(items=4)
    one, two, three, four = items(nexus)
    sprint = sprint_build(nexus, planned=[one, two, three, four], started=True)
    nxt = sprint_build(nexus)
    finish(one)
    pbi_transition(item=two, to_column=column(nexus, "Review"), actor=None)
    pbi_delete(item=four, actor=None)
    sprint = sprint_close(sprint=sprint, actor=None, destinations={three.pk: "backlog"})
    assert sprint.state == SprintState.CLOSED
    assert sprint.closed_at is not None
    data = SprintSnapshot.objects.get(sprint=sprint, kind="close").data
    assert data["done"] == [one.pk]
    assert data["not_done"] == [
        {"id": two.pk, "destination": "next", "sprint": nxt.pk},
        {"id": three.pk, "destination": "backlog", "sprint": None},
    ]
    assert data["deleted"] == [four.pk]
    kinds = set(SprintScopeChange.objects.exclude(kind="added").values_list("sprint_id", "item_id", "kind"))
    assert kinds == {
        (sprint.pk, two.pk, ScopeChangeKind.CARRIED_OUT),
        (nxt.pk, two.pk, ScopeChangeKind.CARRIED_IN),
        (sprint.pk, three.pk, ScopeChangeKind.RETURNED),
    }
    assert list(SprintItem.objects.filter(sprint=nxt).values_list("item_id", flat=True)) == [two.pk]
    # The closed Sprint keeps its scope.
    assert SprintItem.objects.filter(sprint=sprint).count() == 4


def test_closing_without_a_next_sprint_names_destinations():
    nexus = nexus_build(items=2)
    sprint = sprint_build(nexus, planned=items(nexus), started=True)
    with pytest.raises(DomainError) as exc:
        sprint_close(sprint=sprint, actor=None)
    assert exc.value.field == "destinations"
    sprint.refresh_from_db()
    assert sprint.state == SprintState.ACTIVE
    assert not SprintSnapshot.objects.filter(kind="close").exists()
    # Sending each unfinished PBI back to the Product Backlog needs no next Sprint.
    sprint_close(sprint=sprint, actor=None, destinations={i.pk: "backlog" for i in items(nexus)})


def test_close_validates_destinations():
    nexus = nexus_build(items=2)
    one, two = items(nexus)
    sprint = sprint_build(nexus, planned=[one], started=True)
    sprint_build(nexus)
    for bad in ({one.pk: "moon"}, {two.pk: "next"}):
        with pytest.raises(DomainError) as exc:
            sprint_close(sprint=sprint, actor=None, destinations=bad)
        assert exc.value.field == "destinations"
    finish(one)
    with pytest.raises(DomainError) as exc:
        sprint_close(sprint=sprint, actor=None, destinations={one.pk: "backlog"})
    assert exc.value.field == "destinations"


def test_only_the_active_sprint_closes():
    nexus = nexus_build()
    sprint = sprint_build(nexus)
    with pytest.raises(Conflict) as exc:
        sprint_close(sprint=sprint, actor=None)
    assert exc.value.field == "state"


def test_later_edits_never_rewrite_a_closed_sprint():
    nexus = nexus_build(items=2)
    one, two = items(nexus)
    sprint = sprint_build(nexus, planned=[one, two], started=True)
    nxt = sprint_build(nexus)
    finish(one)
    sprint_close(sprint=sprint, actor=None)
    before = SprintSnapshot.objects.get(sprint=sprint, kind="close").data
    scope = set(SprintItem.objects.filter(sprint=sprint).values_list("item_id", flat=True))
    # The carried item moves on, is unplanned from the next Sprint; the done item is reopened.
    sprint_start(sprint=nxt, actor=None)
    sprint_unplan(sprint=nxt, item=two, actor=None)
    pbi_transition(item=one, to_column=column(nexus, "Review"), actor=None)
    with pytest.raises(Conflict):
        sprint_unplan(sprint=sprint, item=one, actor=None)
    assert SprintSnapshot.objects.get(sprint=sprint, kind="close").data == before
    assert set(SprintItem.objects.filter(sprint=sprint).values_list("item_id", flat=True)) == scope


def test_every_write_advances_the_change_counter():
    nexus = nexus_build(items=1)
    item = items(nexus)[0]
    steps = [
        lambda: sprint_create(nexus=nexus, actor=None, start_date=START),
        lambda: sprint_update(sprint=Sprint.objects.get(number=1), actor=None, goal="G"),
        lambda: sprint_plan(
            sprint=Sprint.objects.get(number=1), item=item, teams=teams(nexus)[:1], actor=None
        ),
        lambda: sprint_unplan(sprint=Sprint.objects.get(number=1), item=item, actor=None),
        lambda: sprint_start(sprint=Sprint.objects.get(number=1), actor=None),
        lambda: sprint_close(sprint=Sprint.objects.get(number=1), actor=None),
        lambda: sprint_create(nexus=nexus, actor=None),
        lambda: sprint_delete(sprint=Sprint.objects.get(number=2), actor=None),
    ]
    for step in steps:
        before = _seq(nexus)
        step()
        assert _seq(nexus) > before, step


def test_refused_writes_advance_nothing():
    nexus = nexus_build()
    sprint_create(nexus=nexus, actor=None, start_date=START)
    before = _seq(nexus)
    with pytest.raises(Conflict):
        sprint_create(nexus=nexus, actor=None, start_date=START)
    assert _seq(nexus) == before


def test_the_close_bench_row_runs_on_a_small_nexus():
    from events.bench_sprints import sprint_close_row

    nexus = nexus_build(items=30)
    for item in items(nexus)[:6]:
        finish(item)
    row = sprint_close_row(nexus, runs=2, warmup=1, size=9)
    assert row.runs == 2
    assert row.name == "close a Sprint of 9 PBIs"
    assert row.queries is not None
    assert not Sprint.objects.filter(nexus=nexus, state__in=["active", "planned"]).exists()


def test_a_sprint_past_the_last_representable_day_names_start_date():
    from datetime import date

    nexus = nexus_build()
    with pytest.raises(DomainError) as exc:
        sprint_create(nexus=nexus, actor=None, start_date=date(9999, 12, 30))
    assert exc.value.field == "start_date"


def test_planning_a_planned_item_again_without_new_teams_counts_nothing():
    nexus = nexus_build(items=1)
    item = items(nexus)[0]
    sprint = sprint_build(nexus, planned=[item])
    before = _seq(nexus)
    sprint_plan(sprint=sprint, item=item, teams=teams(nexus)[:1], actor=None)
    assert _seq(nexus) == before
    sprint_plan(sprint=sprint, item=item, teams=teams(nexus)[1:2], actor=None)
    assert _seq(nexus) == before + 1
