"""The data migration that stores each scope's daily series as one row (flow 0011): each snapshot's
`FlowDay` rows become its `FlowSeries` row; a snapshot whose rows are not exactly one per day from its
first day to its last gets none and its days digest cleared; backwards, the series become daily rows."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from flow.series import unpack

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("flow", "0010_pending_items")]
AFTER = [("flow", "0011_series_per_scope")]
DAY = date(2024, 3, 4)

#: The contiguous snapshot's days: (date, wip, wip_eod, throughput, cfd), one per day from DAY.
WHOLE = [
    (date(2024, 3, 4), 1, 1, 0, [2, 1]),
    (date(2024, 3, 5), 2, 1, 1, [3, 2]),
    (date(2024, 3, 6), 1, 0, 1, [3, 3]),
]
#: The gapped snapshot's days: its series runs from 4 to 6 March, and 5 March has no row.
GAPPED = [
    (date(2024, 3, 4), 1, 1, 0, [1, 0]),
    (date(2024, 3, 6), 1, 1, 0, [1, 1]),
]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


def _days(apps, snapshot_id):
    return list(
        apps.get_model("flow", "FlowDay")
        .objects.filter(snapshot_id=snapshot_id)
        .order_by("date")
        .values_list("date", "wip", "wip_eod", "throughput", "cfd")
    )


def test_daily_rows_become_one_series_per_snapshot_and_back():
    try:
        old = _migrate(BEFORE)
        nexus = old.get_model("backlog", "Nexus").objects.create(name="N", slug="n-series")
        team = old.get_model("backlog", "ScrumTeam").objects.create(nexus=nexus, name="T", slug="t")
        snapshots = old.get_model("flow", "FlowSnapshot")
        at = datetime(2024, 3, 6, 12, 0, tzinfo=UTC)
        whole = snapshots.objects.create(
            nexus=nexus, team=None, as_of=date(2024, 3, 6), start=DAY, end=date(2024, 3, 6), computed_at=at,
            days_digest="whole",
        )  # fmt: skip
        gapped = snapshots.objects.create(
            nexus=nexus, team=team, as_of=date(2024, 3, 6), start=DAY, end=date(2024, 3, 6), computed_at=at,
            days_digest="gapped",
        )  # fmt: skip
        days = old.get_model("flow", "FlowDay")
        for snap, rows in ((whole, WHOLE), (gapped, GAPPED)):
            days.objects.bulk_create(
                days(snapshot=snap, date=day, wip=wip, wip_eod=eod, throughput=thr, cfd=cfd)
                for day, wip, eod, thr, cfd in rows
            )
        assert _days(old, whole.pk) == WHOLE
        assert _days(old, gapped.pk) == GAPPED

        new = _migrate(AFTER)
        series = new.get_model("flow", "FlowSeries")
        assert list(series.objects.values_list("snapshot_id", flat=True)) == [whole.pk]  # none for the gap
        stored = series.objects.get(snapshot_id=whole.pk)
        assert (stored.start, stored.width) == (DAY, 5)
        values = unpack(stored.data, stored.width)
        assert values.tolist() == [
            [1, 2, 1],  # WIP
            [1, 1, 0],  # end-of-day WIP
            [0, 1, 1],  # Throughput
            [2, 3, 3],  # CFD, first column
            [1, 2, 3],  # CFD, second column
        ]
        assert values.dtype == np.int64
        digests = dict(new.get_model("flow", "FlowSnapshot").objects.values_list("pk", "days_digest"))
        assert digests == {whole.pk: "whole", gapped.pk: ""}  # only the gapped one's cleared

        back = _migrate(BEFORE)
        assert _days(back, whole.pk) == WHOLE
        assert _days(back, gapped.pk) == []  # it had no series: its days are the full recompute's to write
        assert back.get_model("flow", "FlowDay").objects.count() == len(WHOLE)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
