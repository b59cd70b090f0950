"""A bounded load driver for the reliability tests and `make bench`: `clients` API clients (threads) for
`seconds` against a server on 127.0.0.1, each doing creates (with `Idempotency-Key`, some sent twice),
edits, moves, column changes, team square changes (a team added with a status, or a square set) and
deletes of its own PBIs in one Nexus, remembering every write the server acknowledged (2xx) so that
`LoadReport.lost` can check afterwards that none was lost or applied twice.

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LoadReport:
    """What the clients saw: requests by status, failures (5xx or "database is locked"), latencies (s),
    and the acknowledged writes: items created (id -> title acknowledged last), deleted ids, the
    creates sent twice with one key (id of the first answer -> id of the replay), and the team squares
    ((item id, team id) -> the status the last acknowledged answer showed)."""

    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    slowest: list[tuple[float, str]] = field(default_factory=list)
    titles: dict[int, str] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)
    replays: list[tuple[int, int]] = field(default_factory=list)
    squares: dict[tuple[int, int], str] = field(default_factory=dict)
    square_writes: int = 0
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
            f"{len(self.titles)} PBIs created, {len(self.deleted)} deleted, {len(self.replays)} key replays, "
            f"{self.square_writes} square changes"
        )

    def lost(
        self,
        rows: dict[int, tuple[str, bool]],
        duplicates: int,
        squares: dict[tuple[int, int], str] | None = None,
    ) -> list[str]:
        """Acknowledged writes missing or applied twice, given the stored PBIs (`id -> (title,
        deleted)`), how many stored titles occur more than once, and the stored team squares
        (`(item id, team id) -> status`; None: not checked). Empty when nothing was lost."""
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
        if squares is not None:
            for (pk, team), status in sorted(self.squares.items()):
                if pk in self.deleted or pk not in rows or rows[pk][1]:
                    continue
                stored = squares.get((pk, team))
                if stored != status:
                    problems.append(
                        f"PBI {pk}, team {team}: acknowledged square {status!r}, stored {stored!r}"
                    )
        return problems


SQUARE_STATUSES = ("not_started", "in_progress", "ready", "done")


class Client:
    def __init__(
        self, base: str, token: str, slug: str, report: LoadReport, n: int, teams: Sequence[int] = ()
    ) -> None:
        self.base = f"{base}/api/v1/nexuses/{slug}"
        self.teams = list(teams)
        self.involvements: dict[tuple[int, int], int] = {}
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
            answer = json.loads(text) if text else None
        except ValueError:
            return status, None
        if 200 <= status < 300 and isinstance(answer, dict) and "teams" in answer and "id" in answer:
            self.saw_squares(int(answer["id"]), answer["teams"])
        return status, answer

    def saw_squares(self, pk: int, teams: list[dict[str, Any]]) -> None:
        """An acknowledged PBI's squares as its answer shows them (a column change may move them)."""
        with self.report.lock:
            for square in teams:
                self.report.squares[(pk, int(square["team"]))] = square["status"]

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

    def square(self) -> None:
        """Forecast one of the Nexus's teams on a PBI with a status, or set its square."""
        pk, team = random.choice(self.items), random.choice(self.teams)
        status_to = random.choice(SQUARE_STATUSES)
        involvement = self.involvements.get((pk, team))
        if involvement is None:
            status, body = self.call(
                "POST", "/involvements/", {"item": pk, "team": team, "status": status_to}
            )
            if status == 201 and body:
                self.involvements[(pk, team)] = int(body["id"])
        else:
            status, body = self.call("PATCH", f"/involvements/{involvement}/", {"status": status_to})
        if 200 <= status < 300 and body:
            with self.report.lock:
                self.report.squares[(pk, team)] = body["status"]
                self.report.square_writes += 1
            # The square may have moved the PBI's Nexus column, and that the PBI's other squares.
            self.call("GET", f"/items/{pk}/")

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
            if op < 0.2:
                self.create()
            elif op < 0.4:
                self.edit()
            elif op < 0.55:
                self.move()
            elif op < 0.7:
                self.transition(columns)
            elif op < 0.9 and self.teams:
                self.square()
            else:
                self.delete()


def load_run(
    *,
    base: str,
    token: str,
    slug: str,
    columns: list[int],
    clients: int,
    seconds: float,
    teams: Sequence[int] = (),
) -> LoadReport:
    """Run `clients` clients for `seconds` against `base` (e.g. http://127.0.0.1:8123) on the Nexus
    `slug`, moving PBIs among `columns` (ids) and changing the squares of `teams` (ids; none: no
    square changes); returns what they saw."""
    report = LoadReport()
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=Client(base, token, slug, report, n, teams).run, args=(deadline, columns), daemon=True
        )
        for n in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 120)
    return report
