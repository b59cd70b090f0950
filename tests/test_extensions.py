"""The one extension point (`nexus_site.extensions`): what each app declares in its `AppConfig.ready()`
reaches the pages, the API's permissions, tombstones, webhooks, `load_demo` and `make bench`."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from backlog.models import Role
from nexus_site.extensions import (
    BenchRows,
    DemoContext,
    DemoStep,
    Extension,
    NavEntry,
    Panel,
    PermissionRule,
    extension_register,
)
from tests.factories import member, nexus_build

JDT = Path(__file__).resolve().parents[1] / "backlog" / "data" / "eclipse-jdt" / "transitions.csv.gz"


def test_every_app_declares_what_it_adds():
    from nexus_site import extensions

    apps = {ext.app: ext for ext in extensions.extensions()}
    assert list(apps)[:3] == ["backlog", "flow", "events"]  # INSTALLED_APPS order: backlog first
    backlog_rules = {"view", "edit_items", "create_items", "product_owner", "admin", "squares", "workflow"}
    assert {r.name for r in apps["backlog"].rules} == backlog_rules
    assert [r.name for r in apps["flow"].rules] == ["flow_settings"]
    assert [t.kind for t in apps["flow"].tombstones] == ["flow_settings"]
    assert [n.label for n in extensions.nav_entries()][:10] == [
        "Home",
        "Product Backlog",
        "Board",
        "Refinement",
        "Planning",
        "Sprint Backlog",
        "Dependencies",
        "Review",
        "Retrospective",
        "Flow",
    ]
    assert [p.name for p in extensions.panels("backlog-top")] == ["ready-buffer"]
    assert [p.name for p in extensions.panels("review")] == ["review-increments"]
    assert extensions.demo_steps()[0].order == 0
    assert [b.name for b in extensions.bench_rows()] == [
        "backlog",
        "counter",
        "squares",
        "events",
        "events-pages",
        "live board",
        "team board",
        "dependencies",
        "review",
        "retrospective",
        "flow",
        "deps",
        "flow-demo",
        "flow-baseline",
        "flow-worker",
        "increments",
        "integration-issues",
        "api",
    ]


def test_a_malformed_or_taken_name_is_refused_and_nothing_is_registered(extension_registry):
    rule = PermissionRule("example_rule", lambda user, nexus: True, "No.")
    extension_register(Extension(app="events", rules=(rule,)))
    extension_register(Extension(app="events", rules=(rule,)))  # again: harmless
    taken = PermissionRule("view", lambda u, n: True, "")
    with pytest.raises(ValueError, match="exists already"):
        extension_register(Extension(app="integration", rules=(taken,)))
    malformed = PermissionRule("Bad Rule", lambda u, n: True, "")
    with pytest.raises(ValueError, match="lower-case"):
        extension_register(Extension(app="events", rules=(malformed,)))
    assert extension_registry.rules()["view"].message == ""


@pytest.mark.django_db
def test_registered_navigation_and_panels_reach_the_pages(client, extension_registry):
    nexus = nexus_build()
    user = member(nexus, Role.NIT_MEMBER, username="nit")
    client.force_login(user)
    extension_register(
        Extension(
            app="integration",
            nav=(NavEntry("Integrated Increment", "backlog:nexus-home", 35),),
            panels=(
                Panel(slot="backlog-top", name="increment", label="Increment", url_name="backlog:nexus-home"),
            ),
        )
    )
    home = reverse("backlog:nexus-home", args=[nexus.slug])
    html = client.get(reverse("backlog:backlog-list", args=[nexus.slug])).content.decode()
    nav = html[html.index('<nav class="nexus-nav"') : html.index("</nav>")]
    labels = ["Home", "Product Backlog", "Board", "Integrated Increment", "Flow"]
    positions = [nav.index(f">{label}</a>") for label in labels]
    assert positions == sorted(positions)  # by `order`
    assert f'href="{reverse("events:board", args=[nexus.slug])}"' in nav
    assert 'aria-current="page">Product Backlog</a>' in nav
    # Both panels of the slot, each loaded by htmx from its own app's URL.
    assert f'hx-get="{reverse("events:ready-buffer", args=[nexus.slug])}"' in html
    assert f'id="increment" hx-get="{home}"' in html
    assert 'hx-trigger="load, backlog-changed from:body"' in html


@pytest.mark.django_db
def test_load_demo_runs_every_apps_step_in_order_after_the_backlogs(tmp_path, extension_registry):
    """`events` can plan Sprints on the demo Nexus: its step runs after backlog's, which made it."""
    seen: list[str] = []

    def later(ctx: DemoContext) -> str:
        from backlog.models import Nexus

        seen.append(f"later {Nexus.objects.get(slug=ctx.slug).teams.count()} teams")
        return "later step done"

    def earlier(ctx: DemoContext) -> str:
        seen.append("earlier")
        return ""

    extension_register(Extension(app="events", demo_steps=(DemoStep("later", later, 20),)))
    extension_register(Extension(app="integration", demo_steps=(DemoStep("earlier", earlier, 10),)))
    sliced = tmp_path / "slice.csv"
    import gzip

    with gzip.open(JDT, "rt") as source:
        sliced.write_text("".join(line for _, line in zip(range(400), source, strict=False)))
    out = io.StringIO()
    call_command("load_demo", "--file", str(sliced), stdout=out)
    call_command("load_demo", "--file", str(sliced), stdout=out)  # idempotent: every step runs again
    assert seen[0] == "earlier"
    assert seen[1].startswith("later ")
    assert seen[1] != "later 0 teams"
    assert len(seen) == 4
    assert "later step done" in out.getvalue()


def test_bench_rows_are_declared_groups_in_order(extension_registry):
    from nexus_site import extensions

    rows = BenchRows("integration", lambda ctx: [], 60)
    extension_register(Extension(app="integration", bench_rows=(rows,)))
    names = [
        "backlog",
        "counter",
        "squares",
        "events",
        "events-pages",
        "live board",
        "team board",
        "dependencies",
        "review",
        "retrospective",
        "flow",
        "deps",
        "flow-demo",
        "flow-baseline",
        "flow-worker",
        "increments",
        "integration",  # this test's group: order 60 as "increments", declared after it
        "integration-issues",
        "api",
    ]
    assert [b.name for b in extensions.bench_rows()] == names
