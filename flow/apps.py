from typing import Any

from django.apps import AppConfig


class FlowConfig(AppConfig):
    name = "flow"
    verbose_name = "Flow metrics"

    def ready(self) -> None:
        from backlog.signals import items_changed
        from flow import consistency, receivers, services
        from flow.models import FLOW_SETTINGS_TOMBSTONE, FlowSettings
        from nexus_site.extensions import (
            BenchRows,
            DemoStep,
            Extension,
            NavEntry,
            PermissionRule,
            TombstoneSpec,
            extension_register,
        )

        def bench_flow(ctx: Any) -> Any:
            from flow import bench

            return bench.run(ctx)

        def bench_deps(ctx: Any) -> Any:
            from flow import bench_deps

            return bench_deps.run(ctx)

        def demo_flow(ctx: Any) -> Any:
            from flow import demo

            return demo.demo_step(ctx)

        def bench_demo(ctx: Any) -> Any:
            from flow import bench_demo

            return bench_demo.run(ctx)

        def bench_baseline(ctx: Any) -> Any:
            from flow import bench_baseline

            return bench_baseline.run(ctx)

        def bench_worker(ctx: Any) -> Any:
            from flow import bench_worker

            return bench_worker.run(ctx)

        extension_register(
            Extension(
                app="flow",
                rules=(
                    PermissionRule(
                        services.FLOW_SETTINGS_RULE,
                        lambda user, nexus: services.can_edit_flow_settings(user=user, nexus=nexus),
                        "Only the Product Owner and the Nexus Integration Team set Service Level "
                        "Expectations.",
                    ),
                ),
                # A deleted scope's flow settings (a Scrum Team's go with it) leave a tombstone for sync.
                tombstones=(TombstoneSpec(FlowSettings, FLOW_SETTINGS_TOMBSTONE, lambda row: row.nexus_id),),
                bench_rows=(
                    BenchRows("flow", bench_flow, 50),
                    BenchRows("deps", bench_deps, 55),
                    # The four writes on `make run`'s demo Nexus, through HTTP (flow/bench_demo.py).
                    BenchRows("flow-demo", bench_demo, 56),
                    # The JDT recompute as a process, this code against an older commit (bench_baseline.py).
                    BenchRows("flow-baseline", bench_baseline, 57),
                    # How soon the stored figures show a change, with a Celery worker (bench_worker.py).
                    BenchRows("flow-worker", bench_worker, 58),
                ),
                nav=(NavEntry("Flow", "flow:flow", 40),),
                # Last: the figures of the demo Nexus up to date once every other step has changed it.
                demo_steps=(DemoStep("flow figures up to date", demo_flow, 1000),),
                checks=consistency.flow_checks(),
            )
        )
        items_changed.connect(receivers.on_items_changed, dispatch_uid="flow.on_items_changed")
