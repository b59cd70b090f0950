"""The Nexus board's columns a page at a time: the first `CARD_PAGE` cards of each unfinished column in
Product Backlog order, and its "Show more" partial (keyset on rank): next cards in order, nothing twice,
the control gone at the end, only the column's alive items, other Nexuses invisible, constant queries."""

from __future__ import annotations

import html as htmllib
import re

import pytest
from django.db.models import F
from django.urls import reverse

from backlog.models import ProductBacklogItem, Role, TeamInvolvement
from backlog.services import pbi_create, pbi_delete, pbi_set_teams, pbi_transition
from events.selectors import CARD_PAGE, board_get
from flow.services import flow_recompute
from tests.factories import column, member, nexus_build

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
#: Items in Ready: two full pages and a short one.
READY = 2 * CARD_PAGE + 20


@pytest.fixture
def nexus():
    nexus = nexus_build(teams=2, items=READY)
    teams = list(nexus.teams.all())
    for n, item in enumerate(ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank")[:3]):
        pbi_set_teams(item=item, teams=teams[: 1 + n % 2], actor=None)
    return nexus


@pytest.fixture
def viewer(client, nexus):
    user = member(nexus, Role.STAKEHOLDER, username="viewer")
    client.force_login(user)
    return user


def _ready_ids(nexus) -> list[int]:
    return list(
        ProductBacklogItem.objects.alive()
        .filter(backlog__nexus=nexus, column=column(nexus, "Ready"))
        .order_by("rank")
        .values_list("pk", flat=True)
    )


def _column_html(page: str, name: str) -> str:
    """The HTML of one column of the board page."""
    sections = re.findall(r'<section class="board-col.*?</section>', page, flags=re.S)
    (found,) = [s for s in sections if f">{name}</h2>" in s]
    return found


def _cards(fragment: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<li class="card[^"]*" data-item="(\d+)"', fragment)]


def _more_url(fragment: str) -> str | None:
    urls = re.findall(r'hx-get="([^"]+)"', fragment)
    assert len(urls) <= 1
    return htmllib.unescape(urls[0]) if urls else None


def _button_text(fragment: str) -> str:
    match = re.search(r'<button[^>]*class="more-btn"[^>]*>(.*?)</button>', fragment, flags=re.S)
    assert match, fragment
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", match.group(1))).strip()


def test_show_more_pages_through_a_column_in_order(client, viewer, nexus):
    page = client.get(reverse("events:board", args=[nexus.slug])).content.decode()
    ready = _column_html(page, "Ready")
    count = re.search(r'<span class="count".*?</span>', ready, flags=re.S)
    assert count
    assert f"{READY:,}" in count.group(0)
    seen = _cards(ready)
    assert len(seen) == CARD_PAGE
    assert _button_text(ready) == f"Show {CARD_PAGE} more (of {READY})"
    assert f"{CARD_PAGE} of {READY} shown" in ready

    url = _more_url(ready)
    pages = []
    while url:
        response = client.get(url, **HX)
        assert response.status_code == 200
        fragment = response.content.decode()
        assert "<html" not in fragment  # the partial alone
        assert "board-col" not in fragment
        pages.append(_cards(fragment))
        seen += pages[-1]
        url = _more_url(fragment)
        if url:
            assert _button_text(fragment) == f"Show {min(CARD_PAGE, READY - len(seen))} more (of {READY})"
    assert [len(p) for p in pages] == [CARD_PAGE, 20]
    assert seen == _ready_ids(nexus)  # every card, in Product Backlog order, none twice
    assert "more-btn" not in fragment  # the control is gone at the end
    assert f"End of the column: {READY} shown." in fragment


def test_show_more_shows_only_the_columns_alive_items_of_this_nexus(client, viewer, nexus):
    ids = _ready_ids(nexus)
    gone, moved = ids[CARD_PAGE + 1], ids[CARD_PAGE + 2]
    pbi_delete(item=ProductBacklogItem.objects.get(pk=gone), actor=None)
    pbi_transition(
        item=ProductBacklogItem.objects.get(pk=moved), to_column=column(nexus, "Review"), actor=None
    )
    other = nexus_build(items=3, slug="other")  # its ranks fall among this page's: none may leak in
    last = ProductBacklogItem.objects.get(pk=ids[CARD_PAGE - 1])
    url = reverse("events:board-cards", args=[nexus.slug, column(nexus, "Ready").pk])
    fragment = client.get(url, {"after": last.rank}, **HX).content.decode()
    expected = [pk for pk in ids[CARD_PAGE:] if pk not in (gone, moved)][:CARD_PAGE]
    assert _cards(fragment) == expected
    assert f"{2 * CARD_PAGE} of {READY - 2} shown" in fragment  # the column's count, after the changes
    other_ids = set(ProductBacklogItem.objects.filter(backlog__nexus=other).values_list("pk", flat=True))
    assert not other_ids & set(_cards(fragment))
    # The Review column pages on its own: the moved item alone.
    review = reverse("events:board-cards", args=[nexus.slug, column(nexus, "Review").pk])
    fragment = client.get(review, {"after": -(2**62)}, **HX).content.decode()
    assert _cards(fragment) == [moved]
    assert "more-btn" not in fragment


def test_show_more_is_404_for_non_members_other_nexuses_and_finished_columns(client, nexus):
    url = reverse("events:board-cards", args=[nexus.slug, column(nexus, "Ready").pk])
    response = client.get(url, {"after": 0}, **HX)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    other = nexus_build(slug="other")
    client.force_login(member(other, Role.NIT_MEMBER, username="outsider"))
    assert client.get(url, {"after": 0}, **HX).status_code == 404
    # A column of the member's own Nexus asked through another Nexus's address: 404 too.
    assert (
        client.get(
            reverse("events:board-cards", args=[other.slug, column(nexus, "Ready").pk]), {"after": 0}, **HX
        ).status_code
        == 404
    )
    done = reverse("events:board-cards", args=[other.slug, column(other, "Done").pk])
    assert client.get(done, {"after": 0}, **HX).status_code == 404


def test_show_more_outside_htmx_and_with_a_bad_cursor(client, viewer, nexus):
    url = reverse("events:board-cards", args=[nexus.slug, column(nexus, "Ready").pk])
    response = client.get(url, {"after": 0})
    assert response.status_code == 302
    assert response["Location"] == reverse("events:board", args=[nexus.slug])
    assert client.get(url, {"after": "x"}, **HX).status_code == 400
    assert client.get(url, **HX).status_code == 400
    assert client.get(url, {"after": 0}, **HX)["Vary"].count("HX-Request") == 1


def test_every_column_shows_its_first_cards_whatever_the_ranks_of_the_others(nexus):
    """Items in progress ranked below hundreds of Ready items are still on the board."""
    started = [pbi_create(nexus=nexus, title=f"Started {i}", actor=None) for i in range(3)]
    for item in started:
        pbi_transition(item=item, to_column=column(nexus, "In Progress"), actor=None)
    flow_recompute(nexus_id=nexus.pk)
    board = board_get(nexus=nexus, page_size=5)
    cols = {bc.column.name: bc for bc in board.columns}
    assert [c.item.pk for c in cols["Ready"].cards] == _ready_ids(nexus)[:5]
    assert (cols["Ready"].count, cols["Ready"].more, cols["Ready"].hidden) == (READY, 5, READY - 5)
    assert cols["Ready"].next_after == cols["Ready"].cards[-1].item.rank
    assert [c.item.title for c in cols["In Progress"].cards] == ["Started 0", "Started 1", "Started 2"]
    assert (cols["In Progress"].more, cols["In Progress"].next_after) == (0, None)
    assert [c.age for c in cols["In Progress"].cards] == [1, 1, 1]
    squares = [[(s.code, s.status) for s in c.squares] for c in cols["Ready"].cards[:3]]
    assert squares == [
        [("TA", "not_started")],
        [("TA", "not_started"), ("TB", "not_started")],
        [("TA", "not_started")],
    ]


def test_the_finished_column_shows_what_finished_lately_not_what_was_imported_lately(nexus):
    """Finished cards are those finished in the last 30 days, latest first: by the flow engine's
    finish day, or by the last change for one finished since the last recompute. An item finished
    long ago whose row is new (an import stamps `updated_at` with its own time) stays off the board."""
    from datetime import timedelta

    from flow.history import nexus_today
    from flow.models import ItemFlow

    done = column(nexus, "Done")
    ids = _ready_ids(nexus)
    long_ago, lately, just_now = (ProductBacklogItem.objects.get(pk=pk) for pk in ids[:3])
    # A PBI enters the finished column only with every team square filled (`squares.finish_refusal`).
    TeamInvolvement.objects.filter(item_id__in=ids[:3]).update(status="done")
    for item in (long_ago, lately):
        pbi_transition(item=item, to_column=done, actor=None)
    flow_recompute(nexus_id=nexus.pk)
    today = nexus_today(nexus)
    ItemFlow.objects.filter(item=long_ago).update(finished_on=today - timedelta(days=400))
    ItemFlow.objects.filter(item=lately).update(finished_on=today - timedelta(days=3))
    pbi_transition(item=just_now, to_column=done, actor=None)  # not recomputed yet
    ItemFlow.objects.filter(item=just_now).update(finished_on=None)
    cols = {bc.column.name: bc for bc in board_get(nexus=nexus).columns}
    assert [c.item.pk for c in cols["Done"].cards] == [just_now.pk, lately.pk]


def test_show_more_query_count_stays_constant(client, viewer, nexus, django_assert_max_num_queries):
    ready = column(nexus, "Ready")
    url = reverse("events:board-cards", args=[nexus.slug, ready.pk])
    first = ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank")[0]
    with django_assert_max_num_queries(12) as small:
        response = client.get(url, {"after": first.rank}, **HX)
    assert len(_cards(response.content.decode())) == CARD_PAGE
    # Every card with teams and started: squares and ages come without a query per card.
    teams = list(nexus.teams.all())
    for item in ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank")[: 2 * CARD_PAGE]:
        pbi_set_teams(item=item, teams=teams, actor=None)
        pbi_transition(item=item, to_column=column(nexus, "In Progress"), actor=None)
    flow_recompute(nexus_id=nexus.pk)
    url = reverse("events:board-cards", args=[nexus.slug, column(nexus, "In Progress").pk])
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = client.get(url, {"after": first.rank}, **HX)
    fragment = response.content.decode()
    assert len(_cards(fragment)) == CARD_PAGE
    assert fragment.count('class="sq sq-not_started"') == 2 * CARD_PAGE
    assert fragment.count(">1d</span>") == CARD_PAGE


def _rows_examined(plan: dict) -> int:
    """Rows that scans of an EXPLAIN (ANALYZE, FORMAT JSON) plan read: returned plus removed by a
    filter, over all nodes that scan a table or an index."""
    total = 0

    def walk(node: dict) -> None:
        nonlocal total
        if node["Node Type"] in ("Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan"):
            loops = node.get("Actual Loops", 1)
            total += (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * loops
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    return total


def test_the_finished_column_dates_only_recent_candidates_not_every_finished_item(nexus):
    """The finish day (a time zone conversion per row) is computed for the items finished or changed
    lately only: with 150 items finished long ago and 3 lately, the finished columns' query reads a
    few dozen rows (it read and dated all 153 before), so the board's work does not grow with the
    history."""
    import json
    from datetime import timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from flow.history import nexus_today
    from flow.models import ItemFlow

    if connection.vendor != "postgresql":
        pytest.skip("reads PostgreSQL's EXPLAIN ANALYZE")
    done = column(nexus, "Done")
    ids = _ready_ids(nexus)[:153]
    # A PBI enters the finished column only with every team square filled (`squares.finish_refusal`).
    TeamInvolvement.objects.filter(item_id__in=ids).update(status="done")
    for pk in ids:
        pbi_transition(item=ProductBacklogItem.objects.get(pk=pk), to_column=done, actor=None)
    flow_recompute(nexus_id=nexus.pk)
    today = nexus_today(nexus)
    ItemFlow.objects.filter(item_id__in=ids[3:]).update(finished_on=today - timedelta(days=400))
    ItemFlow.objects.filter(item_id__in=ids[:3]).update(finished_on=today - timedelta(days=2))
    # Long-finished rows changed long ago too (an import's rows would carry a recent updated_at but
    # have a finish day: the first condition, not the second, decides for them).
    ProductBacklogItem.objects.filter(pk__in=ids[3:]).update(updated_at=F("updated_at") - timedelta(days=90))
    with CaptureQueriesContext(connection) as ctx:
        cols = {bc.column.name: bc for bc in board_get(nexus=nexus).columns}
    assert sorted(c.item.pk for c in cols["Done"].cards) == sorted(ids[:3])
    [sql] = [q["sql"] for q in ctx.captured_queries if "ROW_NUMBER" in q["sql"] and "finished_on" in q["sql"]]
    with connection.cursor() as cursor:
        # The plan a long history gets: driven by index scans wherever a condition can use an index
        # (these small tables would otherwise be read whole, as is cheapest for 240 rows).
        cursor.execute("ANALYZE backlog_productbacklogitem")
        cursor.execute("ANALYZE flow_itemflow")
        for setting in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
        raw = cursor.fetchone()[0]
    [plan] = json.loads(raw) if isinstance(raw, str) else raw
    assert _rows_examined(plan) < 60, plan
