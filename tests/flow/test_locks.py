"""The flow lock on SQLite across processes (`make run` serves the embedded default with several gunicorn
workers): a lock held by another process is not got without waiting, and is got once it is released; an
in-memory database (one process) needs no file. The coalesced claim of the in-process recompute: a claim
lost with its process is taken over."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from flow import background, locks
from flow.models import FlowState
from flow.services import recompute_request


@pytest.fixture
def sqlite_file(tmp_path, monkeypatch):
    """`flow.locks` sees a SQLite database file in tmp_path (the test database itself may be another)."""
    name = str(tmp_path / "db.sqlite3")
    monkeypatch.setattr(locks, "connection", SimpleNamespace(vendor="sqlite", settings_dict={"NAME": name}))
    return name


def test_a_lock_held_by_another_process_is_not_got_until_released(sqlite_file):
    path = locks._lock_file(7)
    assert path == f"{sqlite_file}.locks/flow-7.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with locks.flow_lock(7, wait=False) as got:
            assert got is False
        with locks.flow_lock(8, wait=False) as got:  # another Nexus is free
            assert got is True
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
    with locks.flow_lock(7, wait=False) as got:
        assert got is True
        with locks.flow_lock(7, wait=False) as again:  # a second thread or process meanwhile
            assert again is False


def test_an_in_memory_database_needs_no_lock_file(monkeypatch):
    name = "file:memorydb_default?mode=memory&cache=shared"
    memory = SimpleNamespace(vendor="sqlite", settings_dict={"NAME": name})
    monkeypatch.setattr(locks, "connection", memory)
    assert locks._lock_file(1) is None
    with locks.flow_lock(1, wait=False) as got:
        assert got is True


@pytest.mark.django_db
def test_a_claim_lost_with_its_process_is_taken_over(nexus, monkeypatch):
    scheduled: list[int] = []
    monkeypatch.setattr(background, "in_thread", lambda: True)
    monkeypatch.setattr(background, "schedule", scheduled.append)
    state, _ = FlowState.objects.get_or_create(nexus=nexus)
    FlowState.objects.filter(pk=state.pk).update(enqueued_at=timezone.now() - timedelta(seconds=30))
    assert recompute_request(nexus_id=nexus.pk) is False  # another process is about to run it
    assert scheduled == []
    lost = timezone.now() - background.CLAIM_LOST_AFTER - timedelta(seconds=1)
    FlowState.objects.filter(pk=state.pk).update(enqueued_at=lost)
    assert recompute_request(nexus_id=nexus.pk) is True
    assert scheduled == [nexus.pk]
