"""Bench rows of `integration` (`make bench`, group `increments`, declared in `IntegrationConfig.ready`), on
the synthetic Nexus (9 Scrum Teams, 10,000 open PBIs):

- the Integrated Increment page of an increment of 300 PBIs (target: p95 under 100 ms);
- marking that increment Done: 300 PBIs' squares ticked and each PBI moved into the finished column
  through `pbi_transition`, with their log rows (target: under 2 s).

Preparation is untimed and in bulk (as `events.bench_pages` prepares its Sprints): an active Sprint of
300 in-progress PBIs, their squares set ready to integrate, an increment with them integrated and every
criterion confirmed. The Sprint is closed afterwards, so the other groups find the Nexus as they expect.
"""

from __future__ import annotations

from django.db import connection
from django.urls import reverse
from django.utils import timezone

from backlog.bench import bench_client
from backlog.models import ColumnCategory, TeamInvolvement, TeamStatus
from events.bench_pages import _bulk_scope, _close_open, _free_items
from events.models import SprintItem
from events.services import sprint_create, sprint_start
from integration.models import DoneCriterion, IncrementItem
from integration.services_dod import criterion_add
from integration.services_increments import increment_confirm, increment_create, increment_done
from nexus_site.bench import BenchContext, Row, measure, once

#: PBIs of the increment measured.
SIZE = 300


def run(ctx: BenchContext, *, size: int = SIZE, runs: int = 20) -> list[Row]:
    nexus = ctx.nexus
    client = bench_client(ctx)
    if not DoneCriterion.objects.filter(nexus=nexus).exists():
        for text in ("Reviewed", "Regression test", "Integration build green", "No new warnings", "Notes"):
            criterion_add(nexus=nexus, text=text, actor=None)
    _close_open(nexus)
    ids = list(
        _free_items(nexus)
        .filter(column__category=ColumnCategory.IN_PROGRESS, increment_row__isnull=True)
        .order_by("rank")
        .values_list("pk", flat=True)[:size]
    )
    sprint = sprint_create(nexus=nexus, actor=None, goal="Bench: an Integrated Increment")
    _bulk_scope(sprint, ids)
    sprint_start(sprint=sprint, actor=None)
    TeamInvolvement.objects.filter(item_id__in=ids).exclude(status=TeamStatus.DONE).update(
        status=TeamStatus.READY_TO_INTEGRATE
    )
    increment = increment_create(sprint=sprint, actor=None, name="Bench")
    now = timezone.now()
    IncrementItem.objects.bulk_create(
        IncrementItem(increment=increment, item_id=i, integrated_at=now) for i in ids
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(IncrementItem._meta.db_table)}")
    for c in increment.dod_version.criteria:
        increment_confirm(increment=increment, criterion=c["id"], actor=None)
    url = reverse("integration:increment", args=[nexus.slug, increment.number])

    def get(_i: int) -> object:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response

    page = measure(f"Integrated Increment page, {len(ids)} PBIs", get, runs=runs)
    page.note = "target p95 < 100 ms; squares, criteria and confirmations"
    squares = TeamInvolvement.objects.filter(item_id__in=ids).exclude(status=TeamStatus.DONE).count()
    done, _ = once(
        f"Mark an Integrated Increment of {len(ids)} PBIs Done",
        lambda: increment_done(increment=increment, actor=None),
        note=f"target < 2 s; {squares} squares ticked, {len(ids)} moves into the finished column, logged",
    )
    scope = SprintItem.objects.filter(sprint=sprint).count()
    assert scope == len(ids)
    _close_open(nexus)
    return [page, done]
