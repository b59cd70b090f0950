"""Two read-only pages linked from the Dependency board: the dependency matrix (Scrum Team x Scrum Team
counts of open dependencies, with their trend per Sprint: `events.selectors_matrix`) and the
dependency-aware forecast of a Sprint's scope or of one PBI with its chain
(`flow.selectors_forecast`). Every member reads. Doors only."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from backlog.errors import DomainError
from backlog.selectors import nexus_get_for_user
from events.models import Sprint, SprintState
from events.selectors_forecast import ForecastScope, forecast_scope_resolve
from events.selectors_matrix import MATRIX_SPRINTS, MATRIX_SPRINTS_MAX, dependency_matrix_get
from flow.montecarlo import CONFIDENCES
from flow.selectors_forecast import dependency_forecast_get, forecast_payload


@login_required
@require_GET
def dependency_matrix(request: HttpRequest, slug: str) -> HttpResponse:
    """The dependency matrix (`?sprints=` how many Sprints the trend shows, 1 to 26, default 6)."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    raw = request.GET.get("sprints", "")
    count = max(1, min(int(raw), MATRIX_SPRINTS_MAX)) if raw.isdigit() and len(raw) < 3 else MATRIX_SPRINTS
    matrix = dependency_matrix_get(nexus=nexus, sprints=count)
    names = {t.pk: t.name for t in matrix.teams}
    # Shading by the largest count between two different teams (the diagonal is not coupling).
    largest = max((n for (a, b), n in matrix.now.counts.items() if a != b), default=0) or 1
    grid = [
        (
            row,
            [
                (
                    col,
                    matrix.count(row.pk, col.pk),
                    0 if row.pk == col.pk else round(matrix.count(row.pk, col.pk) * 4 / largest),
                )
                for col in matrix.teams
            ],
        )
        for row in matrix.teams
    ]
    trend = []
    for a, b in matrix.pairs:
        counts = [p.counts.get((a, b), 0) for p in matrix.trend]
        now = matrix.now.counts.get((a, b), 0)
        before = counts[-2] if len(counts) > 1 else None
        change = "" if before is None else ("up" if now > before else "down" if now < before else "same")
        trend.append((names[a], names[b], counts, now, change))
    return render(
        request,
        "events/dependency_matrix.html",
        {"nexus": nexus, "matrix": matrix, "grid": grid, "trend": trend, "sprints": count},
    )


@login_required
@require_GET
def dependency_forecast(request: HttpRequest, slug: str) -> HttpResponse:
    """The dependency-aware forecast: `?sprint=<number>` (default the active Sprint) or `?item=<id>`."""
    nexus = nexus_get_for_user(user=request.user, slug=slug)
    sprints = list(
        Sprint.objects.filter(nexus=nexus, state__in=[SprintState.ACTIVE, SprintState.PLANNED]).order_by(
            "number"
        )
    )
    context: dict[str, Any] = {"nexus": nexus, "sprints": sprints, "confidences": CONFIDENCES}
    status = 200
    try:
        scope: ForecastScope | None = forecast_scope_resolve(
            nexus=nexus, item=request.GET.get("item"), sprint=request.GET.get("sprint"), default_sprint=True
        )
    except DomainError as exc:
        scope, status = None, exc.status_code
        context["error"] = exc.message
    if scope is not None:
        context["scope"] = scope
        if scope.item_ids:
            found = dependency_forecast_get(nexus=nexus, item_ids=scope.item_ids)
            data = forecast_payload(found)
            items = data["items"]
            shown = (
                items if scope.item is not None else [i for i in items if not i["target"] or _matters(i)][:60]
            )
            context.update(
                {
                    "data": data,
                    "shown": shown,
                    "hidden": len(items) - len(shown),
                    "rows": _rows(data["whole"]) if data["whole"] else [],
                }
            )
    return render(request, "events/dependency_forecast.html", context, status=status)


def _matters(item: dict[str, Any]) -> bool:
    """A PBI of a Sprint's scope worth a row: it cannot be forecast, or a dependency makes it later."""
    return bool(item["cannot_forecast"] or any((item["penalty_days"] or {}).values()))


def _rows(whole: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per confidence of the whole scope's outcome, for the template."""
    out = []
    for c in map(str, CONFIDENCES):
        out.append(
            {
                "confidence": c,
                "without": (whole["dates_without"] or {}).get(c),
                "with": (whole["dates_with"] or {}).get(c),
                "penalty": (whole["penalty_days"] or {}).get(c),
                "probability": (whole["probability_with"] or {}).get(c),
                "lost": (whole["penalty_probability"] or {}).get(c),
            }
        )
    return out
