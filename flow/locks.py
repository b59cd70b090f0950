"""The flow lock of a Nexus: one writer of its stored flow figures at a time.

A full recompute (`flow.services.flow_recompute`) holds it from loading the log to storing the figures,
so a recompute that read an older log cannot store after a newer one; an incremental update
(`flow.incremental.flow_apply`) takes it without waiting (a change never waits seconds for a
recompute: when it is busy, the recompute queued after it covers the change).

On PostgreSQL a transaction-level advisory lock (key `RECOMPUTE_LOCK_CLASS`, the Nexus id): it locks no
row, so the `FlowState` updates that changes make on commit never wait for it. On SQLite (the embedded
default, served by several gunicorn processes) a lock of the process for its threads plus an exclusive
`flock` on a file beside the database (`<database>.locks/flow-<id>.lock`) for the other processes; the
kernel drops it when its holder dies. An in-memory SQLite database lives in one process: the lock of the
process alone.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection, transaction

__all__ = ["RECOMPUTE_LOCK_CLASS", "flow_lock"]

#: The first key of the PostgreSQL advisory lock of a Nexus's flow figures (the second is the Nexus id).
RECOMPUTE_LOCK_CLASS = 0x464C4F57  # "FLOW"

_local_locks: defaultdict[int, threading.Lock] = defaultdict(threading.Lock)
_guard = threading.Lock()


@contextmanager
def flow_lock(nexus_id: int, *, wait: bool = True) -> Iterator[bool]:
    """Hold the Nexus's flow lock for the block; yields whether it was got (always True with `wait`;
    with `wait=False`, False when another holds it, and the block should write nothing). On
    PostgreSQL the block runs in a transaction (the lock is the transaction's); elsewhere it does not:
    a SQLite transaction (`IMMEDIATE`) takes the database's write lock at its start, and one held
    through a recompute's computation made every request's write wait for it. The block opens its
    own short transaction for its writes."""
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            fn = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
            cursor.execute(f"SELECT {fn}(%s, %s)", [RECOMPUTE_LOCK_CLASS, nexus_id % 2**31])
            row = cursor.fetchone()
            yield True if wait else bool(row and row[0])
        return
    with _guard:
        lock = _local_locks[nexus_id]
    got = lock.acquire(blocking=wait)
    try:
        if not got:
            yield False
            return
        path = _lock_file(nexus_id)
        if path is None:
            yield True  # no transaction around it: SQLite's (IMMEDIATE) would hold the write lock throughout
            return
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False  # another process holds it
                return
            yield True
        finally:
            os.close(fd)  # releases the flock
    finally:
        if got:
            lock.release()


def _lock_file(nexus_id: int) -> str | None:
    """The file whose `flock` is the Nexus's flow lock across processes, beside the SQLite database
    (its folder created on first use); None for an in-memory database (one process)."""
    name = str(connection.settings_dict.get("NAME") or "")
    if not name or name == ":memory:" or "mode=memory" in name or name.startswith("file:memorydb"):
        return None
    folder = Path(f"{name}.locks")
    folder.mkdir(exist_ok=True)
    return str(folder / f"flow-{nexus_id}.lock")
