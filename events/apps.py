from typing import Any

from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Nexus events"

    def ready(self) -> None:
        from nexus_site.extensions import BenchRows, Extension, NavEntry, Panel, extension_register

        def bench_events(ctx: Any) -> Any:
            from events import bench

            return bench.run(ctx)

        extension_register(
            Extension(
                app="events",
                nav=(
                    NavEntry("Board", "events:board", 30),
                    NavEntry("Planning", "events:planning", 32),
                    NavEntry("Sprint Backlog", "events:sprint-backlog", 34),
                ),
                # Nexus Sprint Planning's ready buffer, on the Product Backlog page.
                panels=(
                    Panel(
                        slot="backlog-top",
                        name="ready-buffer",
                        label="Ready buffer",
                        url_name="events:ready-buffer",
                        refresh_on="backlog-changed from:body",
                    ),
                ),
                bench_rows=(BenchRows("events", bench_events, 20),),
            )
        )
