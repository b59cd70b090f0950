"""The change counter of a Nexus (`nexus_changed`, `nexus_change_seq`): every kind of write advances it
in its transaction, a failed write does not, a batch counts once, concurrent writers lose nothing and
get the numbers in commit order; the pages' ETags follow it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.urls import reverse

from backlog.demo import DATA_DIR
from backlog.errors import DomainError
from backlog.models import (
    GoalStatus,
    Label,
    Nexus,
    NexusChangeCounter,
    ProductBacklogItem,
    Role,
    TeamInvolvement,
    TeamStatus,
)
from backlog.selectors import nexus_change_seq
from backlog.services import (
    ItemChanges,
    column_create,
    column_delete,
    column_update,
    goal_close,
    goal_create,
    goal_update,
    involvement_set_status,
    membership_add,
    membership_remove,
    nexus_update,
    pbi_create,
    pbi_delete,
    pbi_move,
    pbi_set_teams,
    pbi_split,
    pbi_transition,
    pbi_update,
    team_create,
    team_delete,
    team_update,
)
from backlog.services.bulk import pbi_bulk_upsert
from backlog.services.common import nexus_changed
from backlog.services.sync import pbi_upsert
from backlog.services.webhooks import webhook_create, webhook_delete, webhook_rotate_secret, webhook_update
from flow.services import flow_settings_set
from tests.factories import UserFactory, column, member, nexus_build, team

WORKFLOW = DATA_DIR / "bugzilla_confirmed.json"


def seq(nexus: Nexus) -> int:
    return nexus_change_seq(nexus_id=nexus.pk)


def first(nexus: Nexus) -> ProductBacklogItem:
    return ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank")[0]


def last(nexus: Nexus) -> ProductBacklogItem:
    return ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("-rank")[0]


def _hook(nx):
    return webhook_create(nexus=nx, url="http://127.0.0.1:9/hook", events=["item.created"], actor=None)


def _involvement(nx):
    pbi_set_teams(item=first(nx), teams=[team(nx)], actor=None)
    return TeamInvolvement.objects.get(item=first(nx))


def _import(tmp_path: Path, body: str) -> None:
    log = tmp_path / "log.csv"
    log.write_text("item_id,from_state,to_state,timestamp,component,title\n" + body, encoding="utf-8")
    call_command(
        "import_history",
        str(log),
        "--nexus",
        "imported",
        "--workflow",
        str(WORKFLOW),
        "--team-field",
        "component",
    )


# (name, write(nexus, tmp_path)): every kind of write to a Nexus's data.
WRITES = [
    ("item create", lambda nx, _: pbi_create(nexus=nx, title="New", actor=None)),
    ("item update", lambda nx, _: pbi_update(item=first(nx), title="Renamed", actor=None)),
    ("item move", lambda nx, _: pbi_move(item=last(nx), before_id=first(nx).pk, actor=None)),
    ("backlog move", lambda nx, _: pbi_move(item=last(nx), position=1, actor=None)),
    (
        "item transition",
        lambda nx, _: pbi_transition(item=first(nx), to_column=column(nx, "In Progress"), actor=None),
    ),
    ("item delete", lambda nx, _: pbi_delete(item=first(nx), actor=None)),
    ("item split", lambda nx, _: pbi_split(item=first(nx), titles=["a", "b"], actor=None)),
    ("item teams", lambda nx, _: pbi_set_teams(item=first(nx), teams=[team(nx)], actor=None)),
    (
        "involvement",
        lambda nx, _: involvement_set_status(
            involvement=_involvement(nx), status=TeamStatus.DONE, actor=None
        ),
    ),
    (
        "sync apply",
        lambda nx, _: pbi_update(
            item=first(nx),
            changes=ItemChanges(fields={"title": "Synced"}, column=column(nx, "Review")),
            actor=None,
        ),
    ),
    (
        "sync upsert",
        lambda nx, _: pbi_upsert(
            nexus=nx, external_id="X-1", changes=ItemChanges({"title": "X"}), actor=None
        ),
    ),
    (
        "bulk upsert",
        lambda nx, _: pbi_bulk_upsert(
            nexus=nx, entries=[(f"B-{i}", ItemChanges({"title": f"B{i}"})) for i in range(3)], actor=None
        ),
    ),
    ("column create", lambda nx, _: column_create(nexus=nx, name="Test", category="in_progress")),
    ("column update", lambda nx, _: column_update(column=column(nx, "Review"), wip_limit=3)),
    ("column delete", lambda nx, _: column_delete(column=column(nx, "Review"))),
    ("team create", lambda nx, _: team_create(nexus=nx, name="Team Z")),
    ("team update", lambda nx, _: team_update(team=team(nx), wip_limit=4)),
    ("team delete", lambda nx, _: team_delete(team=team(nx, "Team C"))),
    ("membership add", lambda nx, _: member(nx, Role.NIT_MEMBER, username=f"nit-{nx.slug}")),
    ("membership remove", lambda nx, _: membership_remove(membership=nx.memberships.get())),
    ("goal create", lambda nx, _: goal_create(nexus=nx, text="Goal")),
    ("nexus update", lambda nx, _: nexus_update(nexus=nx, description="Changed")),
    ("nexus time zone", lambda nx, _: nexus_update(nexus=nx, time_zone="Europe/Berlin")),
    ("webhook create", lambda nx, _: _hook(nx)),
    ("label deleted (admin)", lambda nx, _: Label.objects.filter(nexus=nx).delete()),
    (
        "flow settings",
        lambda nx, _: flow_settings_set(
            nexus=nx, team=None, actor=nx.memberships.get().user, sle_percent=85, sle_days=None
        ),
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize("write", [w for _, w in WRITES], ids=[name for name, _ in WRITES])
def test_every_write_advances_the_counter(write, tmp_path):
    nx = nexus_build(items=3)
    pbi_create(nexus=nx, title="Labelled", labels=["java"], actor=None)
    before = seq(nx)
    write(nx, tmp_path)
    assert seq(nx) > before


@pytest.mark.django_db
def test_goal_and_webhook_changes_advance_it():
    nx = nexus_build()
    goal = goal_create(nexus=nx, text="Goal")
    hook = _hook(nx)
    steps = [
        lambda: goal_update(goal=goal, text="Better goal"),
        lambda: goal_close(goal=goal, status=GoalStatus.ACHIEVED),
        lambda: webhook_update(webhook=hook, is_active=False),
        lambda: webhook_rotate_secret(webhook=hook),
        lambda: webhook_delete(webhook=hook),
    ]
    for step in steps:
        before = seq(nx)
        step()
        assert seq(nx) > before


@pytest.mark.django_db
def test_an_import_advances_the_counter_of_its_nexus(tmp_path):
    _import(tmp_path, "b-1,,NEW,2020-01-01T10:00:00Z,Core,A bug\n")
    nexus = Nexus.objects.get(slug="imported")
    before = seq(nexus)
    assert before >= 1
    _import(tmp_path, "b-2,,NEW,2020-01-02T10:00:00Z,Core,Another bug\n")
    assert seq(nexus) == before + 1  # one import, one change


@pytest.mark.django_db
def test_a_new_nexus_has_a_counter_and_others_are_not_touched():
    nx, other = nexus_build(items=2), nexus_build()
    assert NexusChangeCounter.objects.filter(nexus=nx).exists()
    before = seq(other)
    pbi_update(item=first(nx), title="Mine", actor=None)
    assert seq(other) == before


@pytest.mark.django_db
def test_a_nexus_without_a_counter_row_reads_zero_and_gets_one():
    nx = Nexus.objects.create(name="Bare", slug="bare")  # as the admin would, without `nexus_create`
    assert seq(nx) == 0
    assert nexus_changed(nx.pk) == 1
    assert nexus_changed(nx.pk) == 2
    assert nexus_changed(10**9) is None  # no such Nexus: nothing inserted, nothing failing at commit


@pytest.mark.django_db
def test_a_refused_write_does_not_advance_it():
    nx = nexus_build(items=2)
    before = seq(nx)
    with pytest.raises(DomainError):
        team_create(nexus=nx, name="Team A")  # taken
    with pytest.raises(DomainError):
        pbi_update(item=first(nx), title="", actor=None)
    assert seq(nx) == before


@pytest.mark.django_db
def test_a_rolled_back_write_rolls_its_number_back():
    nx = nexus_build(items=2)
    before = seq(nx)
    inside: list[int] = []

    def request() -> None:
        with transaction.atomic():
            pbi_update(item=first(nx), title="Never", actor=None)
            inside.append(seq(nx))
            raise RuntimeError("the request failed after the write")

    with pytest.raises(RuntimeError):
        request()
    assert inside == [before + 1]  # seen inside the transaction
    assert seq(nx) == before


@pytest.mark.django_db
def test_a_stale_nexus_save_cannot_roll_it_back():
    nx = nexus_build(items=1)
    stale = Nexus.objects.get(pk=nx.pk)
    pbi_update(item=first(nx), title="Changed", actor=None)
    now = seq(nx)
    stale.save()
    assert seq(nx) == now


@pytest.mark.django_db
def test_a_batch_counts_once():
    nx = nexus_build(items=1)
    before = seq(nx)
    pbi_bulk_upsert(
        nexus=nx, entries=[(f"B-{i}", ItemChanges({"title": f"B{i}"})) for i in range(5)], actor=None
    )
    assert seq(nx) == before + 1
    before = seq(nx)
    pbi_split(item=first(nx), titles=["a", "b", "c"], actor=None)
    assert seq(nx) == before + 1


@pytest.mark.django_db
def test_an_unchanged_write_does_not_advance_it():
    nx = nexus_build()
    user = UserFactory.create(username="twice")
    membership_add(nexus=nx, user=user, role=Role.STAKEHOLDER)
    before = seq(nx)
    membership_add(nexus=nx, user=user, role=Role.STAKEHOLDER)  # idempotent
    nexus_update(nexus=nx)
    assert seq(nx) == before


@pytest.mark.django_db
def test_deleting_a_nexus_with_its_rows_works():
    nx = nexus_build()
    _hook(nx)
    goal_create(nexus=nx, text="Goal")
    nx.delete()  # the cascade's tombstones must not re-create the counter (a foreign key at commit)
    assert not NexusChangeCounter.objects.filter(nexus_id=nx.pk).exists()


# --- Pages: the ETag ----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["backlog:nexus-home", "backlog:backlog-list", "flow:flow"])
def test_pages_answer_304_until_the_nexus_changes(client, name):
    nx = nexus_build(items=2)
    user = member(nx, Role.DEVELOPER, username="dev", team_obj=team(nx))
    client.force_login(user)
    url = reverse(name, args=[nx.slug])
    client.get(url)  # the first page sets the CSRF cookie, which the ETag covers
    response = client.get(url)
    etag = response.headers["ETag"]
    assert response.status_code == 200
    assert etag.startswith(f'W/"{nx.slug}-{seq(nx)}-')
    assert "no-cache" in response.headers["Cache-Control"]
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert client.get(url + "?x=1", HTTP_IF_NONE_MATCH=etag).status_code == 200  # another query
    pbi_update(item=first(nx), title="Changed", actor=None)
    again = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 200
    assert again.headers["ETag"] != etag


@pytest.mark.django_db
def test_the_etag_differs_per_user_and_hides_other_nexuses(client):
    nx = nexus_build(items=1)
    url = reverse("backlog:nexus-home", args=[nx.slug])
    client.force_login(member(nx, Role.STAKEHOLDER, username="sh"))
    client.get(url)
    etag = client.get(url).headers["ETag"]
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    client.force_login(UserFactory.create(username="outsider"))
    response = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 404
    assert "ETag" not in response.headers
    client.force_login(member(nx, Role.NIT_MEMBER, username="nit"))
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 200


# --- Concurrency (PostgreSQL) -------------------------------------------------------------------------

THREADS, WRITES_EACH = 10, 6


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_concurrent_writers_lose_no_increment_and_number_in_commit_order():
    """10 threads, each with its own connection, update and move their own item on one Nexus. Each
    write records the number it got in a history table (primary key: no two commits share one), in
    its own transaction; a reader checks, in repeatable-read snapshots taken while they run, that the
    numbers it sees are exactly 1..seq (a gap would be a commit numbered lower showing up later)."""
    nx = nexus_build(items=THREADS)
    ids = list(ProductBacklogItem.objects.filter(backlog__nexus=nx).values_list("pk", flat=True))
    initial = seq(nx)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE test_counter_history (seq bigint PRIMARY KEY)")
    barrier = threading.Barrier(THREADS + 1)
    done = threading.Event()
    errors: list[BaseException] = []
    snapshots: list[int] = []

    def record() -> None:
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO test_counter_history VALUES (%s)", [nexus_change_seq(nexus_id=nx.pk)])

    def writer(pk: int) -> None:
        try:
            barrier.wait(timeout=10)
            for i in range(WRITES_EACH):
                with transaction.atomic():
                    item = ProductBacklogItem.objects.get(pk=pk)
                    moved = pbi_move(item=item, position=1, actor=None) if i % 2 else None
                    if moved is None or moved.from_position == moved.to_position:
                        # An update, or a move of an item that is first already: a move that changes
                        # nothing counts nothing, so this write is an update instead (one change each).
                        pbi_update(item=item, title=f"w{pk}-{i}", actor=None)
                    record()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def reader() -> None:
        try:
            barrier.wait(timeout=10)
            while not done.is_set():
                with transaction.atomic():
                    with connection.cursor() as cursor:
                        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                        now = nexus_change_seq(nexus_id=nx.pk)
                        cursor.execute("SELECT seq FROM test_counter_history")
                        seen = {row[0] for row in cursor.fetchall()}
                    assert seen == set(range(initial + 1, now + 1)), (now, sorted(seen))
                    snapshots.append(now)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(pk,)) for pk in ids]
    watcher = threading.Thread(target=reader)
    try:
        for t in [*threads, watcher]:
            t.start()
        for t in threads:
            t.join(timeout=120)
        done.set()
        watcher.join(timeout=30)
        assert not any(t.is_alive() for t in [*threads, watcher]), "a writer hung"
        if errors:
            raise errors[0]
        assert seq(nx) == initial + THREADS * WRITES_EACH  # no lost increment
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*), min(seq), max(seq) FROM test_counter_history")
            assert cursor.fetchone() == (THREADS * WRITES_EACH, initial + 1, initial + THREADS * WRITES_EACH)
        assert snapshots  # the reader looked
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE test_counter_history")


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_the_bench_row_runs_on_a_small_nexus():
    from backlog.bench_counter import concurrent_writers

    nx = nexus_build(items=12)
    before = seq(nx)
    row = concurrent_writers(nx, threads=4, writes_each=4)
    assert row.runs == 16
    assert "0 lost increments" in row.note
    # Every write that changed something counted once (a move to the place the item has is no change).
    changes = int(row.note.split("seq +")[1].split()[0])
    assert 8 <= changes <= 16  # the 8 updates at least
    assert seq(nx) == before + changes


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_a_composite_write_and_a_structure_change_do_not_deadlock_on_the_counter():
    """`pbi_update` = its fields part (counted) + `pbi_transition` (takes the Nexus lock). Were the counter
    advanced by the first part, the second would wait for the Nexus lock while holding the counter's,
    and a team change (Nexus lock, then the counter) waits for it: a deadlock. The batch defers the
    counter to the end of `pbi_update`."""
    nx = nexus_build(items=4)
    ids = list(ProductBacklogItem.objects.filter(backlog__nexus=nx).values_list("pk", flat=True))
    columns = [column(nx, "Ready"), column(nx, "Review")]
    initial = seq(nx)
    rounds = 25
    barrier = threading.Barrier(len(ids) + 2)
    errors: list[BaseException] = []

    def applier(pk: int) -> None:
        try:
            barrier.wait(timeout=10)
            for i in range(rounds):
                changes = ItemChanges(fields={"title": f"t{pk}-{i}"}, column=columns[i % 2])
                pbi_update(item=ProductBacklogItem.objects.get(pk=pk), changes=changes, actor=None)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def restructurer(name: str) -> None:
        try:
            barrier.wait(timeout=10)
            for i in range(rounds):
                team_update(team=team(nx, name), wip_limit=10 + i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=applier, args=(pk,)) for pk in ids]
    threads += [threading.Thread(target=restructurer, args=(name,)) for name in ("Team A", "Team B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    if errors:
        raise errors[0]
    assert seq(nx) == initial + (len(ids) + 2) * rounds  # one per pbi_update, one per team change


@pytest.mark.django_db
def test_saving_and_deleting_in_the_admin_advance_it(client):
    nx = nexus_build()
    pbi_create(nexus=nx, title="Labelled", labels=["java"], actor=None)
    client.force_login(UserFactory.create(username="root", is_superuser=True, is_staff=True))
    label = Label.objects.get(nexus=nx)
    before = seq(nx)
    url = reverse("admin:backlog_label_change", args=[label.pk])
    response = client.post(url, {"name": "java21", "nexus": nx.pk})
    assert response.status_code == 302
    assert seq(nx) == before + 1
    response = client.post(reverse("admin:backlog_label_delete", args=[label.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert seq(nx) == before + 2
