"""Bench rows `flow-baseline` (`manage.py bench --only flow-baseline`): the full flow recompute of the
whole JDT history as one process from start to finish, this code against an older commit, side by side
in one run (issue 14: "at most a third of today's"; today's code when the issue was filed is `a5acd17`).

What it does. The baseline commit (setting or environment variable `FLOW_BENCH_BASELINE`, default
`a5acd17`) is checked out with `git worktree add --detach` into a temporary folder (removed at the end);
both trees run with this interpreter (`sys.executable`, the same virtual environment). For each vendor,
SQLite always (files in the temporary folder) and PostgreSQL when the bench itself runs on it (two
databases `<bench name>_ratio_base` and `<bench name>_ratio_new` on the same server, created fresh and
dropped at the end), each tree migrates its own database and imports the JDT history with its own code
(`manage.py import_history`, no broker: `REDIS_URL` empty), then recomputes it once, untimed, so that the
figures are stored whatever the import's own background recompute did. The timed process is
`python -c "django.setup(); flow_recompute(nexus_id=<JDT>)"` in the tree's folder, timed from outside
from spawn to exit; it prints its `django.setup()` time, the recompute's own time and its peak resident
memory (VmHWM of /proc/self/status). Four scenarios, each N runs (`FLOW_BENCH_BASELINE_RUNS`, default
3) alternating baseline / this code, the median reported:

- over stored figures, nothing changed (the issue's scenario: the old code rewrote every daily row);
- the day turned: before each timed run, untimed, the tree recomputes as of yesterday (in the Nexus's
  time zone, `flow.history.nexus_today`, which both trees have), so the timed one recomputes as of a
  new day over yesterday's figures;
- the Definition of Workflow changed: before each timed run, untimed, the tree adds a last column to
  the Nexus, or removes the one it added, with its own ORM, so every stored row differs (the issue's
  "fallback after a Definition of Workflow change");
- into an empty store: before each timed run, untimed, the tree deletes the rows of its flow tables
  (FlowDay or FlowSeries, whichever it has, FlowSnapshot, ItemFlow and ItemTeamFlow where it exists)
  with its own ORM.

Bytecode. The processes run WITHOUT `PYTHONDONTWRITEBYTECODE` (this sandbox sets it; a deployed worker
writes its .pyc files): otherwise every process would compile all of Django and the project from source,
a fixed cost of about a second that is not the recompute's. The fresh baseline checkout has no
`__pycache__`, so the untimed recompute after the import is also the warm-up process of each tree: both
sides are timed with their bytecode cached, the same treatment for both.

How to read it. For each vendor and scenario three rows: the baseline (`<commit>`), `this code`, and
`ratio`: its note gives baseline median / this code's median (target >= 3), its median and p95 columns
the time saved per process (baseline median - this code's median). The notes of the timed rows give the
medians of `django.setup()` and of the recompute itself, and the highest peak memory of the runs. When
git or the commit is not available (a tarball, a shallow clone), one row says the comparison was skipped
and why. The bench database itself is not used (its JDT Nexus is not the one each tree imports).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection

from nexus_site.bench import BenchContext, Row, nearest_rank, postgres_admin, postgres_url

DEFAULT_BASELINE = "a5acd17"
DEFAULT_RUNS = 3
DATA = Path("backlog") / "data" / "eclipse-jdt"

#: Untimed, after the import (and the warm-up of the tree's bytecode): the figures stored; prints the pk.
SETTLE = """
import django
django.setup()
from backlog.models import Nexus
from flow.services import flow_recompute
nexus = Nexus.objects.get(slug="jdt")
flow_recompute(nexus_id=nexus.pk)
print(nexus.pk)
"""

#: The timed process: start-up, the recompute, exit. Prints setup seconds, recompute seconds, VmHWM kB.
TIMED = """
import time
t0 = time.perf_counter()
import django
django.setup()
from flow.services import flow_recompute
t1 = time.perf_counter()
flow_recompute(nexus_id={pk})
t2 = time.perf_counter()
hwm = [int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM")]
print(t1 - t0, t2 - t1, hwm[0] if hwm else 0)
"""

#: Untimed before "the day turned": the figures as of yesterday in the Nexus's time zone.
YESTERDAY = """
import datetime, django
django.setup()
from backlog.models import Nexus
from flow.history import nexus_today
from flow.services import flow_recompute
nexus = Nexus.objects.get(pk={pk})
flow_recompute(nexus_id=nexus.pk, as_of=nexus_today(nexus) - datetime.timedelta(days=1))
"""

#: Untimed before "into an empty store": the flow tables emptied with the tree's own ORM.
EMPTY = """
import django
django.setup()
from django.apps import apps
for model in apps.get_app_config("flow").get_models():
    if model.__name__ in ("FlowDay", "FlowSeries", "FlowSnapshot", "ItemFlow", "ItemTeamFlow"):
        model.objects.all().delete()
"""

#: Untimed before "the Definition of Workflow changed": a last column added to the JDT Nexus, or removed
#: again, with the tree's own ORM (no service, so nothing else runs): the CFD of every daily row and the
#: milestones of every item change, as after a column is added or removed (the full recompute is then
#: the fallback, every stored row compared and rewritten).
WORKFLOW = """
import django
django.setup()
from backlog.models import WorkflowColumn
extra = WorkflowColumn.objects.filter(nexus_id={pk}, name="Released (bench)")
if extra.exists():
    extra.delete()
else:
    last = WorkflowColumn.objects.filter(nexus_id={pk}).order_by("-position").first()
    WorkflowColumn.objects.create(
        nexus_id={pk}, name="Released (bench)", position=last.position + 1, category=last.category
    )
"""

SCENARIOS: tuple[tuple[str, str | None], ...] = (
    ("over stored figures", None),
    ("the day turned", YESTERDAY),
    ("the Definition of Workflow changed", WORKFLOW),
    ("into an empty store", EMPTY),
)


@dataclass
class Side:
    """One tree (baseline or this code) on one database."""

    label: str
    tree: Path
    env: dict[str, str]
    pk: int = 0
    times: list[float] = field(default_factory=list)
    setups: list[float] = field(default_factory=list)
    recomputes: list[float] = field(default_factory=list)
    peaks_kb: list[int] = field(default_factory=list)

    def reset(self) -> None:
        self.times, self.setups, self.recomputes, self.peaks_kb = [], [], [], []


def _baseline() -> str:
    return str(
        getattr(settings, "FLOW_BENCH_BASELINE", "")
        or os.environ.get("FLOW_BENCH_BASELINE")
        or DEFAULT_BASELINE
    )


def _runs() -> int:
    return max(1, int(os.environ.get("FLOW_BENCH_BASELINE_RUNS") or DEFAULT_RUNS))


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)


def _why_no_baseline(repo: Path, commit: str) -> str:
    """Empty when `commit` can be checked out of `repo`, else why not."""
    if shutil.which("git") is None:
        return "git is not installed"
    inside = _git(repo, "rev-parse", "--is-inside-work-tree")
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        return f"{repo} is not a git checkout (a tarball?)"
    found = _git(repo, "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}")
    if found.returncode != 0:
        return f"commit {commit} is not in this repository (a shallow clone? `git fetch --unshallow`)"
    return ""


@contextmanager
def _worktree(repo: Path, commit: str, path: Path) -> Iterator[Path]:
    added = _git(repo, "worktree", "add", "--detach", str(path), commit)
    if added.returncode != 0:
        raise RuntimeError(f"git worktree add failed: {added.stderr.strip()[-300:]}")
    try:
        yield path
    finally:
        _git(repo, "worktree", "remove", "--force", str(path))
        _git(repo, "worktree", "prune")


def _env(database_url: str, cache: Path) -> dict[str, str]:
    drop = ("PYTHONDONTWRITEBYTECODE", "PYTEST_XDIST_WORKER", "PYTEST_CURRENT_TEST", "DJANGO_SETTINGS_MODULE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": "",  # no broker: the import's recompute runs in-process
            "DJANGO_SETTINGS_MODULE": "nexus_site.settings",
            "CACHE_DIR": str(cache),  # each tree and database its own file cache
        }
    )
    return env


def _python(side: Side, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=side.tree, env=side.env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{side.label}: {' '.join(args[:2])} failed: {done.stderr.strip()[-1500:]}")
    return done.stdout


def _prepare(side: Side) -> None:
    """Migrate and import the JDT history with the tree's own code, then the untimed recompute."""
    data = side.tree / DATA
    _python(side, "manage.py", "migrate", "--noinput", "-v", "0")
    _python(
        side,
        "manage.py",
        "import_history",
        str(data / "transitions.csv.gz"),
        "--nexus",
        "jdt",
        "--workflow",
        str(data / "bugzilla_confirmed.json"),
        "--team-field",
        "component",
        "--label-field",
        "severity",
        "-v",
        "0",
    )
    side.pk = int(_python(side, "-c", SETTLE).split()[-1])


def _timed(side: Side) -> None:
    started = time.perf_counter()
    out = _python(side, "-c", TIMED.format(pk=side.pk)).split()
    side.times.append((time.perf_counter() - started) * 1000)
    side.setups.append(float(out[-3]))
    side.recomputes.append(float(out[-2]))
    side.peaks_kb.append(int(out[-1]))


def _side_row(name: str, side: Side, scenario: str) -> Row:
    note = (
        f"django.setup {statistics.median(side.setups):.2f} s, the recompute itself "
        f"{statistics.median(side.recomputes):.2f} s (medians); peak resident memory "
        f"{max(side.peaks_kb) / 1024:.0f} MB; {scenario}; .pyc cached (warm-up process per tree)"
    )
    return Row(
        name, len(side.times), statistics.median(side.times), nearest_rank(side.times, 0.95), None, note
    )


def _vendor_rows(vendor: str, commit: str, base: Side, new: Side, runs: int) -> list[Row]:
    for side in (base, new):
        _prepare(side)
    rows: list[Row] = []
    for scenario, before in SCENARIOS:
        base.reset()
        new.reset()
        for _ in range(runs):
            for side in (base, new):
                if before is not None:
                    _python(side, "-c", before.format(pk=side.pk))
                _timed(side)
        prefix = f"flow: JDT recompute as a process, {vendor}, {scenario}"
        base_row = _side_row(f"{prefix}: {commit}", base, scenario)
        new_row = _side_row(f"{prefix}: this code", new, scenario)
        saved = base_row.median_ms - new_row.median_ms
        rows += [
            base_row,
            new_row,
            Row(
                f"{prefix}: ratio",
                runs,
                saved,
                saved,
                None,
                f"{base_row.median_ms / new_row.median_ms:.2f}x ({commit} median / this code's median; "
                "target >= 3); the time columns: time saved per process",
            ),
        ]
    return rows


def _vendors(tmp: Path, trees: dict[str, Path]) -> Iterator[tuple[str, dict[str, str], Callable[[], None]]]:
    """(vendor, {side: DATABASE_URL}, cleanup) for SQLite and, when the bench runs on it, PostgreSQL."""
    yield "SQLite", {k: f"sqlite:///{tmp / f'{k}.sqlite3'}" for k in trees}, lambda: None
    if connection.vendor == "postgresql":
        names = {k: f"{connection.settings_dict['NAME']}_ratio_{k}" for k in trees}
        drops = [f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in names.values()]
        postgres_admin(drops + [f'CREATE DATABASE "{n}"' for n in names.values()])
        yield "PostgreSQL", {k: postgres_url(n) for k, n in names.items()}, lambda: postgres_admin(drops)


def run(ctx: BenchContext) -> list[Row]:
    """The rows described in the module (`ctx` is not used: each tree imports its own JDT Nexus). When a
    migrate, an import or a recompute fails, one row per vendor says so with the process's stderr."""
    repo = Path(settings.BASE_DIR)
    commit = _baseline()
    why = _why_no_baseline(repo, commit)
    if why:
        return [Row(f"flow: JDT recompute as a process, against {commit}: skipped", 0, 0.0, 0.0, None, why)]
    runs = _runs()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as folder:
        tmp = Path(folder)
        with _worktree(repo, commit, tmp / "baseline") as baseline:
            trees = {"base": baseline, "new": repo}
            for vendor, urls, cleanup in _vendors(tmp, trees):
                base, new = (
                    Side(k, trees[k], _env(urls[k], tmp / f"cache-{vendor}-{k}")) for k in ("base", "new")
                )
                try:
                    rows += _vendor_rows(vendor, commit, base, new, runs)
                except RuntimeError as exc:  # one row saying why, the other groups' rows still print
                    rows.append(
                        Row(
                            f"flow: JDT recompute as a process, {vendor}: failed", 0, 0.0, 0.0, None, str(exc)
                        )
                    )
                finally:
                    cleanup()
    return rows
