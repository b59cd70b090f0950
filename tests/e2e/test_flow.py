"""Real browser (Debian Chromium through Playwright): the flow page draws every chart (a Chart.js
instance per canvas, with pixels on it), on a wall screen too, for a team, and the board shows WIP
limits. Screenshots go to test-results/flow*.png."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from backlog.models import Nexus, ProductBacklogItem, Role, ScrumTeam
from backlog.services import pbi_update
from flow.services import flow_recompute
from tests.factories import member
from tests.flow.builders import history_nexus

SHOTS = Path(__file__).resolve().parents[2] / "test-results"
CHARTS = ["cfd", "scatter", "aging", "throughput", "wip", "mc-how-many", "mc-when"]

DRAWN_JS = """
names => names.map(name => {
  const c = document.querySelector(`canvas[data-chart="${name}"]`);
  if (!c) return [name, 'missing', 0];
  const chart = Chart.getChart(c);
  const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let inked = 0;
  for (let i = 3; i < data.length; i += 4) { if (data[i] > 0) inked++; }
  const points = chart ? chart.data.datasets.reduce((n, ds) => n + ds.data.length, 0) : 0;
  return [name, chart ? 'chart' : 'none', inked, points];
})
"""


def _history(tmp_path: Path) -> Nexus:
    """120 days of a three-team Nexus, ending today: items start, some pass Review, most finish."""
    rng = random.Random(7)
    today = timezone.now().date()
    items = {}
    for i in range(160):
        created = today - timedelta(days=rng.randint(5, 120))
        start = created + timedelta(days=rng.randint(0, 4))
        events = [(created, "Backlog")]
        if start <= today:
            events.append((start, "Doing"))
            review = start + timedelta(days=rng.randint(0, 12))
            done = review + timedelta(days=int(rng.expovariate(1 / 6)))
            if review <= today and rng.random() < 0.8:
                events.append((review, "Review"))
            if done <= today and rng.random() < 0.85:
                events.append((max(done, events[-1][0]), "Done"))
        team = ["Checkout", "Payments", "Search"][i % 3]
        items[f"SHOP-{100 + i}"] = (team, rng.choice(["bug", "feature", "chore"]), events)
    return history_nexus(tmp_path, items, slug="shop")


def _drawn(page: Page) -> list[list]:
    # A locator, not `wait_for_function`: the Content Security Policy refuses its string predicate.
    expect(page.locator('canvas[data-drawn="1"]')).to_have_count(len(CHARTS), timeout=15_000)
    return page.evaluate(DRAWN_JS, CHARTS)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_flow_page_draws_every_chart(page: Page, live_server, tmp_path):
    nexus = _history(tmp_path)
    Nexus.objects.filter(pk=nexus.pk).update(wip_limit=40)
    ScrumTeam.objects.filter(nexus=nexus, name="Payments").update(wip_limit=8)
    blocked = ProductBacklogItem.objects.filter(backlog__nexus=nexus, column__name="Doing").first()
    assert blocked is not None
    pbi_update(item=blocked, actor=None, is_blocked=True, blocked_reason="Waiting for the card provider")
    member(nexus, Role.PRODUCT_OWNER, username="owner")
    flow_recompute(nexus_id=nexus.pk)
    SHOTS.mkdir(exist_ok=True)

    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "owner")
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")

    # The board: ages coloured against the SLE, blocked items marked, WIP against limits.
    page.goto(f"{live_server.url}/n/shop/board/")
    expect(page.get_by_role("heading", name="Nexus board")).to_be_visible()
    expect(page.locator(".limit.nexus")).to_contain_text("Nexus:")
    expect(page.locator(".limit.nexus")).to_contain_text("/ 40")
    expect(page.locator(".card.is-blocked .blocked")).to_have_count(1)
    assert page.locator(".card .age.age-ok, .card .age.age-watch, .card .age.age-late").count() > 5
    page.screenshot(path=str(SHOTS / "flow-board.png"), full_page=False)

    # The flow page from the nav: every chart drawn, with ink on its canvas.
    page.get_by_role("link", name="Flow", exact=True).click()
    expect(page.get_by_role("heading", name="Flow", exact=True)).to_be_visible()
    expect(page.get_by_text("stored figures computed")).to_be_visible()
    drawn = _drawn(page)
    for name, kind, inked, points in drawn:
        assert kind == "chart", (name, kind)
        assert inked > 2_000, (name, inked)
        assert points > 0, (name, points)
    page.screenshot(path=str(SHOTS / "flow.png"), full_page=True)

    # A team's view (stored) and a label filter with a replay date (computed on request).
    page.select_option("#f-team", label="Payments")
    page.click("button:has-text('Show')")
    expect(page.get_by_role("heading", name="Flow · Payments")).to_be_visible()
    assert all(kind == "chart" and inked > 2_000 for _n, kind, inked, _p in _drawn(page))
    as_of = (timezone.now().date() - timedelta(days=30)).isoformat()
    page.goto(f"{live_server.url}/n/shop/flow/?label=bug&as_of={as_of}")
    expect(page.get_by_text("computed now from the transition log")).to_be_visible()
    assert all(kind == "chart" for _n, kind, _i, _p in _drawn(page))
    page.screenshot(path=str(SHOTS / "flow-filtered.png"), full_page=True)

    # A wall screen: big type, charts two across, no filters.
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{live_server.url}/n/shop/flow/?wall=1")
    expect(page.locator(".flow-filters")).to_be_hidden()
    assert all(kind == "chart" and inked > 2_000 for _n, kind, inked, _p in _drawn(page))
    page.screenshot(path=str(SHOTS / "flow-wall.png"), full_page=False)

    # Settings: the Product Owner sets the Nexus's SLE; the page shows it.
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/n/shop/flow/settings/")
    page.fill("#id_nexus-sle_days", "10")
    nexus_panel = page.locator("section", has=page.get_by_role("heading", name="Nexus"))
    nexus_panel.get_by_role("button", name="Save").click()
    expect(page.get_by_text("85% of items finish within 10 days").first).to_be_visible()
    page.screenshot(path=str(SHOTS / "flow-settings.png"), full_page=True)
    page.goto(f"{live_server.url}/n/shop/flow/")
    expect(page.locator(".tile.sle .tile-value")).to_have_text("85% ≤ 10 d")
