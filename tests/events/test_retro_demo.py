"""The retrospective's demo step (`events.demo_retro`, through `load_demo` on a slice of the real history):
the last closed Sprint has cross-team issues, team items (some linked) and improvement actions; an action of
an earlier retrospective is still open and comes first on the page; twice changes nothing."""

from __future__ import annotations

import gzip
import itertools

import pytest
from django.core.management import call_command
from django.urls import reverse

from backlog.demo import DATA_DIR
from backlog.models import Nexus
from events.demo_retro import TEAM_ITEMS
from events.models import ImprovementAction, RetroItem, Sprint

pytestmark = pytest.mark.django_db


def test_demo_retrospective_of_the_last_closed_sprint(tmp_path, client):
    with gzip.open(DATA_DIR / "transitions.csv.gz", "rt", encoding="utf-8") as src:
        lines = list(itertools.islice(src, 0, 1501))
    path = tmp_path / "log.csv"
    path.write_text("".join(lines), encoding="utf-8")
    call_command("load_demo", "--file", str(path), "--slug", "demo-r")
    call_command("load_demo", "--file", str(path), "--slug", "demo-r")
    nexus = Nexus.objects.get(slug="demo-r")
    last = Sprint.objects.filter(nexus=nexus, state="closed").order_by("-number").first()
    assert last is not None
    items = RetroItem.objects.filter(sprint=last)
    assert items.filter(part="cross_team").count() == 3
    slugs = set(nexus.teams.values_list("slug", flat=True))  # a slice of the history may lack a team
    expected = [(slug, link) for slug, _text, link in TEAM_ITEMS if slug in slugs]
    assert items.filter(part="team").count() == len(expected) >= 6
    assert items.filter(part="team", cross_team_issue__isnull=False).count() == sum(
        1 for _slug, link in expected if link is not None
    )
    assert ImprovementAction.objects.filter(sprint=last).count() == 3
    carried = ImprovementAction.objects.filter(nexus=nexus, sprint__number__lt=last.number, status="open")
    assert carried.count() == 2
    assert ImprovementAction.objects.filter(nexus=nexus, closed_sprint=last, status="done").count() == 1
    assert client.login(username="nit", password="demo")
    response = client.get(reverse("events:retrospective-latest", args=[nexus.slug]), follow=True)
    html = response.content.decode()
    assert f"Sprint {last.number}" in html
    assert html.index("Pair a Text and a UI Developer") < html.index('id="retro-part1"')
