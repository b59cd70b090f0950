"""The embedded default (SQLite, as `make run` serves it) under 20 concurrent API writers: no
"database is locked", no 5xx, every acknowledged write kept, and `check_nexus` passes afterwards.

SQLite runs in WAL mode with a busy timeout and IMMEDIATE transactions (settings). The run lasts
`RELIABILITY_SQLITE_SECONDS` (8 s in `make test`; `manage.py bench --only reliability` runs 30 s).
"""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from tests.reliability.load import load_run
from tests.reliability.server import Server, app_env, manage

SECONDS = float(os.environ.get("RELIABILITY_SQLITE_SECONDS", "8"))
WRITERS = 20

SETUP = """
from backlog.models import ColumnCategory, Role
from backlog.services import ColumnSpec, membership_add, nexus_create, team_create
from backlog.services.sync import token_create
from django.contrib.auth.models import User
nexus = nexus_create(name="Writers", slug="writers", columns=[
    ColumnSpec("Ready", ColumnCategory.NOT_STARTED, is_ready=True),
    ColumnSpec("In Progress", ColumnCategory.IN_PROGRESS, is_start=True),
    ColumnSpec("Done", ColumnCategory.DONE, is_finish=True),
])
team_create(nexus=nexus, name="Team A")
team_create(nexus=nexus, name="Team B")
user = User.objects.create_user("po-writers", password="x")
membership_add(nexus=nexus, user=user, role=Role.PRODUCT_OWNER)
print(token_create(user=user, name="load")[1])
print(",".join(str(c.pk) for c in nexus.columns.order_by("position")))
print(",".join(str(t.pk) for t in nexus.teams.order_by("pk")))
"""


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    folder = tmp_path_factory.mktemp("sqlite-writers")
    env = app_env(f"sqlite:///{folder / 'db.sqlite3'}")
    migrated = manage(env, "migrate", "--noinput", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr
    return env, folder


def test_wal_mode_and_busy_timeout_are_set(sqlite_app):
    env, _ = sqlite_app
    out = manage(
        env,
        "shell",
        "-v",
        "0",
        "-c",
        "from django.db import connection\n"
        "c = connection.cursor()\n"
        "print(c.execute('PRAGMA journal_mode').fetchone()[0])\n"
        "print(c.execute('PRAGMA busy_timeout').fetchone()[0])",
    )
    assert out.stdout.split() == ["wal", "20000"], out.stderr


def test_20_concurrent_writers_get_no_lock_error_and_lose_nothing(sqlite_app):
    env, folder = sqlite_app
    setup = manage(env, "shell", "-v", "0", "-c", SETUP)
    assert setup.returncode == 0, setup.stderr
    token, columns, teams = setup.stdout.split()
    with Server(env, folder / "server.log") as base:
        report = load_run(
            base=base,
            token=token,
            slug="writers",
            columns=[int(c) for c in columns.split(",")],
            clients=WRITERS,
            seconds=SECONDS,
            teams=[int(t) for t in teams.split(",")],
        )
    log = (folder / "server.log").read_text()
    print(f"SQLite, {WRITERS} writers, {SECONDS:.0f} s: {report.summary()}")
    assert report.failures == []
    assert report.server_errors == 0
    assert "database is locked" not in log
    assert report.requests > WRITERS * 5
    db = sqlite3.connect(folder / "db.sqlite3")
    rows = {
        pk: (title, deleted is not None)
        for pk, title, deleted in db.execute("SELECT id, title, deleted_at FROM backlog_productbacklogitem")
    }
    squares = {
        (item, team): status
        for item, team, status in db.execute("SELECT item_id, team_id, status FROM backlog_teaminvolvement")
    }
    db.close()
    duplicates = sum(1 for n in Counter(t for t, _ in rows.values()).values() if n > 1)
    assert report.square_writes > 0
    assert report.lost(rows, duplicates, squares) == []
    checked = manage(env, "check_nexus", "--nexus", "writers", "--repair-figures")
    assert checked.returncode == 0, checked.stdout + checked.stderr
