"""Bench rows of issue 12's engines (`make bench`, group "deps"): the dependency-aware Monte Carlo forecast
(`flow.forecast_deps`) and the suggested dependencies (`backlog.suggestions`).

Targets (issue 12): the dependency-aware forecast of 100 PBIs, 10,000 trials, under 1 s; suggestions
for one PBI among 10,000 with p95 under 20 ms, the index build time reported.
"""

from __future__ import annotations

import csv
import gzip
import random
import time
from datetime import date

import numpy as np

from backlog.demo import DATA_DIR
from backlog.suggestions import (
    SuggestionIndex,
    SuggestionRow,
    suggestion_index_build,
    suggestion_index_get,
    suggestion_rows,
    suggestions_for,
)
from flow.forecast_deps import forecast_dependencies, items_from_order
from nexus_site.bench import BenchContext, Row, measure, once

TEAMS = 9
PBIS = 100


def _forecast_row() -> Row:
    """100 PBIs in Product Backlog order over 9 teams (a third need two teams, a sixth three), each
    team with 90 days of Throughput (Poisson, 0.3 to 1.1 a day), 60 dependency edges to earlier PBIs."""
    rng = np.random.default_rng(12)
    throughput = {t: rng.poisson(0.3 + 0.1 * t, 90).tolist() for t in range(TEAMS)}
    order = []
    for i in range(PBIS):
        need = 1 + (i % 6 == 0) + (i % 3 == 0)
        order.append((i, rng.choice(TEAMS, need, replace=False).tolist()))
    items = items_from_order(order)
    edges = {(i, int(rng.integers(0, i))) for i in rng.choice(range(1, PBIS), 60, replace=False).tolist()}
    start = date(2026, 1, 5)
    result = {}

    def run(_i: int) -> object:
        result["fc"] = forecast_dependencies(throughput, items, start, sorted(edges))
        return None

    row = measure(
        f"forecast: dependency-aware Monte Carlo, {PBIS} PBIs, {TEAMS} teams, 10,000 trials", run, runs=10
    )
    scope = result["fc"].scope
    without, with_ = (scope.days_without or {}).get("85"), (scope.days_with or {}).get("85")
    penalties = [(o.penalty_days or {}).get("85") or 0 for o in result["fc"].items.values()]
    row.note = (
        f"{len(edges)} dependencies; all {PBIS} done at 85 %: day {without} without the dependencies, "
        f"day {with_} with them; {sum(p > 0 for p in penalties)} PBIs later at 85 % because of a "
        f"dependency, by up to {max(penalties)} days (pure numpy, no SQL)"
    )
    return row


def _jdt_rows(n: int) -> list[SuggestionRow]:
    """`n` open PBIs with real titles (the Eclipse JDT bug reports of `backlog/data`), their component
    as the team (a fifth with a second team), their severity as a label, one in five with a parent."""
    titles: dict[str, tuple[str, str, str]] = {}
    with gzip.open(DATA_DIR / "transitions.csv.gz", "rt", encoding="utf-8") as f:
        for rec in csv.DictReader(f):
            titles.setdefault(rec["item_id"], (rec["title"], rec["component"], rec["severity"]))
    components = sorted({c for _, c, _ in titles.values()})
    rng = random.Random(12)
    rows = []
    for i, (title, component, severity) in enumerate(list(titles.values())[:n]):
        teams = {components.index(component)}
        if rng.random() < 0.2:
            teams.add(rng.randrange(len(components)))
        rows.append(
            SuggestionRow(
                id=i + 1,
                title=title,
                labels=(severity,) if severity else (),
                parent_id=n + 1 + i // 5 if rng.random() < 0.2 else None,
                team_ids=tuple(sorted(teams)),
            )
        )
    return rows


def _suggestion_rows(ctx: BenchContext) -> list[Row]:
    rows = _jdt_rows(10_000)
    build, built = once(
        "suggestions: index build, 10,000 JDT titles (pure)", lambda: suggestion_index_build(rows)
    )
    index: SuggestionIndex = built  # type: ignore[assignment]
    build.note = f"TF-IDF of {len(index):,} PBIs, {index.terms.size:,} terms"
    picks = random.Random(7).sample([r.id for r in rows], 100)
    found: list[int] = []

    def query(i: int) -> object:
        found.append(len(suggestions_for(index, picks[i % len(picks)], dismissed=[(picks[0], picks[1])])))
        return None

    pure = measure("suggestions: one PBI among 10,000 (JDT titles), built index", query, runs=100)
    pure.note = (
        f"10 best with why; index built in {index.build_ms:.0f} ms; "
        f"{sum(found) / len(found):.1f} found per PBI"
    )

    nexus_id = ctx.nexus.pk
    loaded: dict[str, float] = {}

    def load(_i: int) -> object:
        started = time.perf_counter()
        data = suggestion_rows(nexus_id=nexus_id)
        loaded["ms"] = (time.perf_counter() - started) * 1000
        loaded["n"] = len(data.rows)
        return data.build()

    from_db = measure(
        "suggestions: rows of the synthetic Nexus (selector) and index build", load, runs=3, warmup=1
    )
    from_db.note = f"{int(loaded['n']):,} open PBIs; the rows alone {loaded['ms']:.0f} ms (last run)"

    served = suggestion_index_get(nexus_id=nexus_id)
    assert served is not None
    ids = served.ids.tolist()
    sample = random.Random(8).sample(ids, min(50, len(ids)))

    def serve(i: int) -> object:
        index = suggestion_index_get(nexus_id=nexus_id)
        assert index is not None
        return suggestions_for(index, sample[i % len(sample)])

    cached = measure("suggestions: one PBI of the synthetic Nexus, index from the cache", serve, runs=50)
    cached.note = (
        f"{len(served):,} open PBIs, every one sharing its title's words (the worst case); "
        "the change counter read, the index this process holds"
    )
    return [build, pure, from_db, cached]


def run(ctx: BenchContext) -> list[Row]:
    return [_forecast_row(), *_suggestion_rows(ctx)]
