"""Two Developers of different Scrum Teams fill their squares of one PBI at the same moment (threads, each
with its own connection, on PostgreSQL): both land, each logged once, and the PBI enters the started
column once. The item's row lock serialises the two square changes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections

from backlog.models import Role, TeamColumn, TeamInvolvement, Transition, TransitionKind
from backlog.services import pbi_create
from backlog.services.squares import team_item_move
from tests.api.helpers import base, token_client
from tests.factories import member, nexus_build, team

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


def _at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released together; their results (or exceptions) in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = calls[i]()
        except Exception as exc:  # reported in the results
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a square change hung"
    return results


def test_two_developers_of_different_teams_fill_their_squares_of_one_pbi_at_once():
    nexus = nexus_build(teams=2)
    a, b = team(nexus, "Team A"), team(nexus, "Team B")
    ada = member(nexus, Role.DEVELOPER, username="ada", team_obj=a)
    bea = member(nexus, Role.DEVELOPER, username="bea", team_obj=b)
    ready = {t.pk: TeamColumn.objects.get(team=t, state="ready") for t in (a, b)}
    for round_ in range(4):
        item = pbi_create(nexus=nexus, title=f"Shared {round_}", actor=None, teams=[a, b])

        def fill(user: Any, t: Any, item: Any = item) -> Any:
            return team_item_move(item=item, team=t, to_column=ready[t.pk], actor=user)

        results = _at_once([lambda: fill(ada, a), lambda: fill(bea, b)])
        assert not [r for r in results if isinstance(r, Exception)], results
        squares = set(
            TeamInvolvement.objects.filter(item=item).values_list("team_id", "status", "team_column")
        )
        assert squares == {(a.pk, "ready", ready[a.pk].pk), (b.pk, "ready", ready[b.pk].pk)}
        moves = Transition.objects.filter(item=item, kind=TransitionKind.TEAM_COLUMN)
        assert sorted(moves.values_list("team_id", "actor__username")) == sorted(
            [(a.pk, "ada"), (b.pk, "bea")]
        )
        started = Transition.objects.filter(item=item, kind=TransitionKind.COLUMN, source="system")
        assert started.count() == 1
        item.refresh_from_db()
        assert item.column.is_start


def test_two_developers_through_the_api_both_land():
    nexus = nexus_build(teams=2)
    a, b = team(nexus, "Team A"), team(nexus, "Team B")
    clients = [
        token_client(member(nexus, Role.DEVELOPER, username="ada", team_obj=a)),
        token_client(member(nexus, Role.DEVELOPER, username="bea", team_obj=b)),
    ]
    item = pbi_create(nexus=nexus, title="Shared", actor=None, teams=[a, b])
    squares = [TeamInvolvement.objects.get(item=item, team=t) for t in (a, b)]

    def patch(i: int) -> int:
        url = f"{base(nexus)}/involvements/{squares[i].pk}/"
        return int(clients[i].patch(url, {"status": "ready"}, format="json").status_code)

    assert _at_once([lambda: patch(0), lambda: patch(1)]) == [200, 200]
    assert set(TeamInvolvement.objects.filter(item=item).values_list("status", flat=True)) == {"ready"}
    # And neither may fill the other's square.
    other = clients[0].patch(
        f"{base(nexus)}/involvements/{squares[1].pk}/", {"status": "done"}, format="json"
    )
    assert other.status_code == 403
    assert other.json()["errors"][0]["field"] == "team"
