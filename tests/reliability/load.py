"""A bounded load driver for the reliability tests and `make bench`: `clients` API clients (threads) for
`seconds` against a server on 127.0.0.1, each doing creates (with `Idempotency-Key`, some sent twice),
edits, moves, column changes and deletes of its own PBIs in one Nexus, remembering every write the
server acknowledged (2xx) so that `LoadReport.verify` can check afterwards that none was lost or applied
twice.

Only the standard library (urllib): nothing to install. 4xx answers (409 a hard WIP limit or a square
rule, 412 a stale version) are fine; any 5xx, or a body naming "database is locked", is a failure.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LoadReport:
    """What the clients saw: requests by status, failures (5xx or "database is locked"), latencies (s),
    and the acknowledged writes: items created (id -> title acknowledged last), deleted ids, and the
    creates sent twice with one key (id of the first answer -> id of the replay)."""

    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    slowest: list[tuple[float, str]] = field(default_factory=list)
    titles: dict[int, str] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)
    replays: list[tuple[int, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s >= 500)

    def p95(self) -> float:
        """95th percentile of the request latencies, in milliseconds."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]

    def summary(self) -> str:
        return (
            f"{self.requests} requests, {self.server_errors} 5xx, p95 {self.p95():.0f} ms, "
            f"{len(self.titles)} PBIs created, {len(self.deleted)} deleted, {len(self.replays)} key replays"
        )

    def lost(self, rows: dict[int, tuple[str, bool]], duplicates: int) -> list[str]:
        """Acknowledged writes missing or applied twice, given the stored PBIs (`id -> (title,
        deleted)`) and how many stored titles occur more than once. Empty when nothing was lost."""
        problems: list[str] = []
        for pk, title in self.titles.items():
            if pk not in rows:
                problems.append(f"PBI {pk} was acknowledged as created but is not stored")
            elif rows[pk][0] != title:
                problems.append(f"PBI {pk}: acknowledged title {title!r}, stored {rows[pk][0]!r}")
        for pk in self.deleted:
            if pk in rows and not rows[pk][1]:
                problems.append(f"PBI {pk} was acknowledged as deleted but is alive")
        for first, again in self.replays:
            if first != again:
                problems.append(f"an Idempotency-Key replay created PBI {again} besides {first}")
        if duplicates:
            problems.append(f"{duplicates} title(s) stored more than once (a create applied twice)")
        return problems


class Client:
    def __init__(self, base: str, token: str, slug: str, report: LoadReport, n: int) -> None:
        self.base = f"{base}/api/v1/nexuses/{slug}"
        self.token = token
        self.report = report
        self.n = n
        self.items: list[int] = []
        self.counter = 0

    def call(self, method: str, path: str, data: Any = None, **headers: str) -> tuple[int, Any]:
        body = json.dumps(data).encode() if data is not None else None
        req = urllib.request.Request(
            f"{self.base}{path}",
            data=body,
            method=method,
            headers={
                "Authorization": f"Token {self.token}",
                "Accept": "application/json",
                **({"Content-Type": "application/json"} if body is not None else {}),
                **headers,
            },
        )
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                status, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            status, text = err.code, err.read().decode()
        except OSError as exc:  # refused, reset: a failure too
            status, text = 599, f"{type(exc).__name__}: {exc}"
        elapsed = time.perf_counter() - t0
        with self.report.lock:
            self.report.statuses[status] += 1
            self.report.latencies.append(elapsed)
            if elapsed > 5:
                self.report.slowest.append((elapsed, f"{method} {path} {status}"))
            if status >= 500 or "database is locked" in text:
                self.report.failures.append(f"{method} {path}: {status} {text[:300]}")
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, None

    def create(self) -> None:
        self.counter += 1
        title = f"load c{self.n} #{self.counter}"
        key = str(uuid.uuid4())
        status, body = self.call("POST", "/items/", {"title": title}, **{"Idempotency-Key": key})
        if status == 201 and body:
            pk = int(body["id"])
            with self.report.lock:
                self.report.titles[pk] = title
            self.items.append(pk)
            if random.random() < 0.2:  # the client did not see the answer: it sends the same request again
                status, again = self.call("POST", "/items/", {"title": title}, **{"Idempotency-Key": key})
                if 200 <= status < 300 and again:
                    with self.report.lock:
                        self.report.replays.append((pk, int(again["id"])))

    def edit(self) -> None:
        pk = random.choice(self.items)
        self.counter += 1
        title = f"load c{self.n} #{self.counter} (edited)"
        status, _ = self.call("PATCH", f"/items/{pk}/", {"title": title})
        if status == 200:
            with self.report.lock:
                self.report.titles[pk] = title

    def move(self) -> None:
        pk = random.choice(self.items)
        self.call(
            "POST", f"/items/{pk}/move/", random.choice([{"top": True}, {"position": random.randint(1, 30)}])
        )

    def transition(self, columns: list[int]) -> None:
        pk = random.choice(self.items)
        self.call("POST", f"/items/{pk}/transition/", {"column": random.choice(columns)})

    def delete(self) -> None:
        pk = self.items.pop(random.randrange(len(self.items)))
        status, _ = self.call("DELETE", f"/items/{pk}/")
        if status in (200, 204):
            with self.report.lock:
                self.report.deleted.add(pk)

    def run(self, deadline: float, columns: list[int]) -> None:
        while time.monotonic() < deadline:
            if len(self.items) < 3:
                self.create()
                continue
            op = random.random()
            if op < 0.25:
                self.create()
            elif op < 0.5:
                self.edit()
            elif op < 0.7:
                self.move()
            elif op < 0.9:
                self.transition(columns)
            else:
                self.delete()


def load_run(
    *, base: str, token: str, slug: str, columns: list[int], clients: int, seconds: float
) -> LoadReport:
    """Run `clients` clients for `seconds` against `base` (e.g. http://127.0.0.1:8123) on the Nexus
    `slug`, moving PBIs among `columns` (ids); returns what they saw."""
    report = LoadReport()
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=Client(base, token, slug, report, n).run, args=(deadline, columns), daemon=True
        )
        for n in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 120)
    return report
