"""Bench rows of the Nexus Sprint Review page (`make bench`, group "review", declared in
`EventsConfig.ready`): the page of a Sprint of 300 PBIs with 20 stakeholder notes and the Product Goal's
dependency-aware Monte Carlo forecast (10,000 trials) of 200 remaining PBIs, on the synthetic Nexus
(target: p95 under 300 ms; the forecast is cached per value of the Nexus's change counter, so the timed
runs after the first read it from the cache), and the forecast computed cold (no cache), for the record.

Setup, untimed: an active Sprint of 300 PBIs written in bulk (as `events.bench_pages`), 200 open PBIs
linked to the Product Goal in one `UPDATE` (the bench measures the page, not 200 service calls), the
notes through `review_note_add`; the Nexus's flow figures computed first when no other row has (the
Throughput the forecast resamples). Everything is undone at the end (links cleared, Sprint closed)."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from backlog.bench import bench_client
from backlog.models import ColumnCategory, ProductBacklogItem
from backlog.selectors import active_goal, nexus_change_seq
from backlog.services import goal_create
from events.bench_pages import _bulk_scope, _close_open, _free_items
from events.models import ReviewNote
from events.review_forecast import goal_forecast_compute
from events.services import sprint_create, sprint_start
from events.services.review import review_note_add
from flow.models import ItemFlow
from flow.services import flow_recompute
from nexus_site.bench import BenchContext, Row, measure

SPRINT_SIZE = 300
GOAL_PBIS = 200
NOTES = 20


def review_rows(ctx: BenchContext, client: Client, *, runs: int = 20) -> list[Row]:
    """The page row and the cold forecast row (see the module)."""
    nexus = ctx.nexus
    _close_open(nexus)
    if not ItemFlow.objects.filter(nexus=nexus).exists():  # the flow figures the forecast resamples
        flow_recompute(nexus_id=nexus.pk)
    goal = active_goal(nexus=nexus) or goal_create(nexus=nexus, text="Bench: the Product Goal")
    free = _free_items(nexus).exclude(column__category=ColumnCategory.DONE).order_by("rank")
    scope = list(free.values_list("pk", flat=True)[:SPRINT_SIZE])
    sprint = sprint_create(nexus=nexus, actor=None, goal="Bench: the Nexus Sprint Goal")
    _bulk_scope(sprint, scope)
    sprint_start(sprint=sprint, actor=None)
    linked = list(free.values_list("pk", flat=True)[:GOAL_PBIS])
    ProductBacklogItem.objects.filter(pk__in=linked).update(product_goal=goal)
    for k in range(NOTES):
        review_note_add(sprint=sprint, text=f"Bench feedback {k}: the increment looks right.", actor=None)
    url = reverse("events:review", args=[nexus.slug, sprint.pk])

    def get(_i: int) -> object:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response

    page = measure(
        f"Nexus Sprint Review page, Sprint of {len(scope)} PBIs, {NOTES} notes, forecast of {len(linked)}",
        get,
        runs=runs,
    )
    page.note = "target p95 < 300 ms; forecast cached per change counter (computed in the warm-up)"
    result: dict[str, object] = {}

    def cold(_i: int) -> object:
        result["fc"] = goal_forecast_compute(nexus=nexus, goal=goal, seq=nexus_change_seq(nexus_id=nexus.pk))
        return None

    compute = measure(
        f"Product Goal forecast, cold: {len(linked)} PBIs, 10,000 trials, dependency-aware",
        cold,
        runs=5,
        warmup=1,
    )
    fc = result["fc"]
    compute.note = (
        f"no cache; reason: {getattr(fc, 'reason', None) or 'none'}; 85 %: {getattr(fc, 'dates', {}).get(85)}"
    )
    ReviewNote.objects.filter(sprint=sprint).delete()
    ProductBacklogItem.objects.filter(pk__in=linked).update(product_goal=None)
    _close_open(nexus)
    return [page, compute]


def run(ctx: BenchContext) -> list[Row]:
    return review_rows(ctx, bench_client(ctx))
