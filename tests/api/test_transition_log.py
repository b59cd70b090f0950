"""The transition log through the API: the new kinds are listed; team squares added and removed at the
same time all land (PostgreSQL, real threads); squares of a deleted item are refused."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from django.db import connection, connections

from backlog.models import ProductBacklogItem, Role, ScrumTeam, TeamInvolvement, Transition
from backlog.services import membership_add, pbi_create, pbi_delete, pbi_update
from tests.api.helpers import base, error_fields, token_client
from tests.factories import UserFactory, nexus_build


def test_the_item_log_lists_the_new_kinds(nx, api, who):
    a = ScrumTeam.objects.filter(nexus=nx).order_by("name")[0]
    item = pbi_create(nexus=nx, title="Pay by invoice", actor=who["dev"], teams=[a])
    pbi_update(item=item, actor=who["dev"], is_blocked=True, blocked_reason="Waiting for the bank")
    square = TeamInvolvement.objects.get(item=item)
    assert api("dev").delete(f"{base(nx)}/involvements/{square.pk}/").status_code == 204
    rows = api("stakeholder").get(f"{base(nx)}/items/{item.pk}/transitions/").json()["results"]
    assert [r["kind"] for r in rows] == ["column", "team_added", "blocked", "team_removed"]
    blocked, removed = rows[2], rows[3]
    assert (blocked["reason"], blocked["source"], blocked["actor"]) == (
        "Waiting for the bank",
        "ui",
        who["dev"].username,
    )
    assert (removed["team"], removed["from_name"], removed["source"]) == (a.pk, "not_started", "api")
    assert {"reason", "from_parent", "to_parent", "child"} <= set(rows[0])
    nexus_log = api("stakeholder").get(f"{base(nx)}/transitions/?item={item.pk}").json()["results"]
    assert [r["kind"] for r in nexus_log] == [r["kind"] for r in rows]


def test_squares_of_a_deleted_item_are_refused(nx, api):
    item = ProductBacklogItem.objects.filter(backlog__nexus=nx).earliest("id")
    team = ScrumTeam.objects.filter(nexus=nx)[0]
    pbi_delete(item=item, actor=None)
    response = api("dev").post(f"{base(nx)}/involvements/", {"item": item.pk, "team": team.pk}, format="json")
    assert response.status_code == 400
    assert error_fields(response) == ["item"]
    assert not TeamInvolvement.objects.filter(item=item).exists()


def test_api_delete_is_the_one_delete_service_and_keeps_if_match(nx, api):
    item = ProductBacklogItem.objects.filter(backlog__nexus=nx).earliest("id")
    url = f"{base(nx)}/items/{item.pk}/"
    stale = api("dev").delete(url, HTTP_IF_MATCH=f'"{item.version + 1}"')
    assert stale.status_code == 412
    assert not Transition.objects.filter(item=item, kind="deleted").exists()
    assert api("dev").delete(url, HTTP_IF_MATCH=f'"{item.version}"').status_code == 204
    row = Transition.objects.get(item=item, kind="deleted")
    assert (row.source, str(row.actor)) == ("api", f"dev-{nx.slug}")


# --- Races (PostgreSQL) --------------------------------------------------------------------------------


def _at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads (each its own connection) released together; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = calls[i]()
        except Exception as exc:  # a 500 raises in the test client: reported in the results
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a request hung"
    return results


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_concurrent_squares_on_one_item_all_land():
    """Before: the view read the item's teams unlocked and `pbi_set_teams` replaced the whole set, so
    one POST undid the other's square (or answered a 500), and one DELETE brought back the square the
    other had just removed. Now each adds or removes its one square under the item's lock."""
    nexus = nexus_build(teams=4)
    user = UserFactory.create(username="racer")
    membership_add(nexus=nexus, user=user, role=Role.NIT_MEMBER)
    teams = list(ScrumTeam.objects.filter(nexus=nexus).order_by("name"))
    clients = [token_client(user) for _ in teams]
    url = f"{base(nexus)}/involvements/"
    for round_ in range(3):
        item = pbi_create(nexus=nexus, title=f"Raced {round_}", actor=None)

        def post(i: int, item: ProductBacklogItem = item) -> int:
            body = {"item": item.pk, "team": teams[i].pk, "status": "in_progress"}
            return int(clients[i].post(url, body, format="json").status_code)

        def delete(i: int, pk: int) -> int:
            return int(clients[i].delete(f"{url}{pk}/").status_code)

        codes = _at_once([partial(post, i) for i in range(len(teams))])
        assert codes == [201] * len(teams)
        squares = TeamInvolvement.objects.filter(item=item)
        assert {(s.team_id, s.status) for s in squares} == {(t.pk, "in_progress") for t in teams}
        assert Transition.objects.filter(item=item, kind="team_added").count() == len(teams)

        ids = [squares.get(team=t).pk for t in teams[:2]]
        codes = _at_once([partial(delete, i, pk) for i, pk in enumerate(ids)])
        assert codes == [204, 204]
        assert set(TeamInvolvement.objects.filter(item=item).values_list("team_id", flat=True)) == {
            t.pk for t in teams[2:]
        }
        assert Transition.objects.filter(item=item, kind="team_removed").count() == 2
