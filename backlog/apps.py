from typing import Any

from django.apps import AppConfig


class BacklogConfig(AppConfig):
    name = "backlog"
    verbose_name = "Nexus and Product Backlog"

    def ready(self) -> None:
        from backlog import consistency
        from backlog.services import dependencies, tombstones, webhooks
        from backlog.signals import item_event
        from nexus_site.api.permissions import backlog_rules
        from nexus_site.extensions import BenchRows, DemoStep, Extension, NavEntry, extension_register

        def demo_step(ctx: Any) -> Any:  # imported when the demo is loaded, not at every start-up
            from backlog import demo

            return demo.demo_step(ctx)

        def bench_backlog(ctx: Any) -> Any:
            from backlog import bench

            return bench.run(ctx)

        def bench_counter(ctx: Any) -> Any:
            from backlog import bench_counter

            return bench_counter.run(ctx)

        def bench_squares(ctx: Any) -> Any:
            from backlog import bench_squares

            return bench_squares.run(ctx)

        def bench_api(ctx: Any) -> Any:
            from backlog.api import bench

            return bench.run(ctx)

        extension_register(
            Extension(
                app="backlog",
                rules=backlog_rules(),
                tombstones=tombstones.backlog_tombstones(),
                webhook_events=webhooks.backlog_webhook_events(),
                demo_steps=(DemoStep("JDT history, users, Product Goal", demo_step, 0),),
                bench_rows=(
                    BenchRows("backlog", bench_backlog, 10),
                    BenchRows("counter", bench_counter, 15),
                    BenchRows("squares", bench_squares, 16),
                    BenchRows("api", bench_api, 90),
                ),
                nav=(
                    NavEntry("Home", "backlog:nexus-home", 10),
                    NavEntry("Product Backlog", "backlog:backlog-list", 20),
                ),
                checks=consistency.backlog_checks(),
            )
        )
        tombstones.receivers_connect()  # deletions of synced rows leave tombstones
        extension_register(dependencies.dependency_extension())  # dependencies between PBIs (issue 12)
        item_event.connect(webhooks.on_item_event, dispatch_uid="backlog.webhooks.on_item_event")
