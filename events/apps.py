from typing import Any

from django.apps import AppConfig

#: The tombstone kind of a deleted Sprint (`GET .../sprints/deleted/`).
SPRINT_TOMBSTONE = "sprint"
#: The tombstone kinds of a deleted retrospective item and improvement action
#: (`GET .../retrospectives/items/deleted/`, `.../retrospectives/actions/deleted/`).
RETRO_ITEM_TOMBSTONE = "retro_item"
RETRO_ACTION_TOMBSTONE = "retro_action"
#: The tombstone kind of a deleted review note (`GET .../reviews/deleted/`).
REVIEW_NOTE_TOMBSTONE = "review_note"


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Nexus events"

    def ready(self) -> None:
        from events.models import ReviewNote, Sprint
        from events.services import (
            SPRINT_LANES_RULE,
            SPRINT_PLANNING_RULE,
            can_plan_lanes,
            can_plan_sprints,
        )
        from events.services.review import EVENT_NOTE_ACTED, EVENT_NOTE_ADDED
        from nexus_site.extensions import (
            BenchRows,
            DemoStep,
            Extension,
            NavEntry,
            Panel,
            PermissionRule,
            TombstoneSpec,
            WebhookEventType,
            extension_register,
        )

        def demo_sprints(ctx: Any) -> str:
            from events import demo

            return demo.demo_step(ctx)

        def demo_dependencies(ctx: Any) -> str:
            from events import demo_dependencies

            return demo_dependencies.demo_dependencies(ctx)

        def bench_dependencies(ctx: Any) -> Any:
            from events import bench_dependencies

            return bench_dependencies.run(ctx)

        def bench_events(ctx: Any) -> Any:
            from events import bench

            return bench.run(ctx)

        def bench_pages(ctx: Any) -> Any:
            from events import bench_pages

            return bench_pages.run(ctx)

        def bench_board(ctx: Any) -> Any:
            from events import bench_board

            return bench_board.run(ctx)

        def demo_review(ctx: Any) -> str:
            from events import demo_review

            return demo_review.demo_review(ctx)

        def bench_review(ctx: Any) -> Any:
            from events import bench_review

            return bench_review.run(ctx)

        def bench_team_board(ctx: Any) -> Any:
            from events import bench_team

            return bench_team.run(ctx)

        extension_register(
            Extension(
                app="events",
                nav=(
                    NavEntry("Board", "events:board", 30),
                    NavEntry("Planning", "events:planning", 32),
                    NavEntry("Sprint Backlog", "events:sprint-backlog", 34),
                    # Cross-Team Refinement and the Dependency board (issue 12).
                    NavEntry("Refinement", "events:refinement", 31),
                    NavEntry("Dependencies", "events:dependencies", 36),
                    # The team board (`events.views_team`): opens the user's own team's board.
                    NavEntry("Teams", "events:team-board-mine", 45),
                    # The Nexus Sprint Review (events/views_review.py): the latest active or closed Sprint.
                    NavEntry("Review", "events:review-latest", 38),
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
                rules=(
                    PermissionRule(
                        SPRINT_PLANNING_RULE,
                        lambda user, nexus: can_plan_sprints(user=user, nexus=nexus),
                        "Only the Product Owner and the Nexus Integration Team create, start, close and "
                        "delete Sprints and write the Nexus Sprint Goal; the Scrum Teams' representatives "
                        "plan their own team's lane; Stakeholders read them.",
                    ),
                    # Team lanes and team Sprint Goals: the Product Owner, the NIT and each team's
                    # representatives; the services then refuse another team's lane (403 naming `team`).
                    PermissionRule(
                        SPRINT_LANES_RULE,
                        lambda user, nexus: can_plan_lanes(user=user, nexus=nexus),
                        "Stakeholders read the Sprint; the Product Owner, the Nexus Integration Team and "
                        "the Scrum Teams' representatives (Developers, Scrum Masters) plan it.",
                    ),
                ),
                # A deleted (planned) Sprint leaves a tombstone for sync (`sprints/deleted/`).
                tombstones=(
                    TombstoneSpec(Sprint, SPRINT_TOMBSTONE, lambda row: row.nexus_id),
                    # A deleted review note (`reviews/deleted/`).
                    TombstoneSpec(ReviewNote, REVIEW_NOTE_TOMBSTONE, lambda row: row.nexus_id),
                ),
                webhook_events=(
                    WebhookEventType("sprint.planned", "A PBI planned into a Sprint"),
                    WebhookEventType("sprint.started", "Sprint started"),
                    WebhookEventType("sprint.closed", "Sprint closed"),
                    WebhookEventType(EVENT_NOTE_ADDED, "Stakeholder feedback recorded at a Sprint Review"),
                    WebhookEventType(EVENT_NOTE_ACTED, "Review feedback made into a PBI or linked to one"),
                ),
                # After backlog's (0): the Sprints of the demo Nexus, from its real history.
                demo_steps=(
                    DemoStep("Sprints from the JDT history", demo_sprints, 20),
                    # After the Sprints: dependencies among the current and next Sprint's PBIs.
                    DemoStep("Dependencies between PBIs of the same area", demo_dependencies, 25),
                    # PBIs linked to the Product Goal; the last closed Sprint's review notes.
                    DemoStep("Product Goal links and a Nexus Sprint Review", demo_review, 27),
                ),
                bench_rows=(
                    BenchRows("events", bench_events, 20),
                    # The Nexus Sprint Backlog and Nexus Sprint Planning pages (events/bench_pages.py).
                    BenchRows("events-pages", bench_pages, 21),
                    BenchRows("team board", bench_team_board, 25),
                    # The live Nexus board: rendered, cached, and its "changed since?" answer (issue 16).
                    BenchRows("live board", bench_board, 22),
                    BenchRows("dependencies", bench_dependencies, 26),
                    # The Nexus Sprint Review page with the Product Goal's forecast (events/bench_review.py).
                    BenchRows("review", bench_review, 27),
                ),
            )
        )
        self._register_retrospective()

    def _register_retrospective(self) -> None:
        """The Nexus Sprint Retrospective (`events.*retro*` modules): its page in the navigation, its
        permission rule, tombstones, webhook events and demo step."""
        from events.models import ImprovementAction, RetroItem
        from events.services.retro import (
            EVENT_AGREED,
            EVENT_DONE,
            EVENT_DROPPED,
            RETRO_RULE,
            can_record_retro,
        )
        from nexus_site.extensions import (
            BenchRows,
            DemoStep,
            Extension,
            NavEntry,
            PermissionRule,
            TombstoneSpec,
            WebhookEventType,
            extension_register,
        )

        def demo_retrospective(ctx: Any) -> str:
            from events import demo_retro

            return demo_retro.demo_step(ctx)

        def bench_retrospective(ctx: Any) -> Any:
            from events import bench_retro

            return bench_retro.run(ctx)

        extension_register(
            Extension(
                app="events",
                # Right after "Review" (38): the Nexus events in the order they happen.
                nav=(NavEntry("Retrospective", "events:retrospective-latest", 39),),
                rules=(
                    PermissionRule(
                        RETRO_RULE,
                        lambda user, nexus: can_record_retro(user=user, nexus=nexus),
                        "The Scrum Teams' representatives record the Nexus Sprint Retrospective and its "
                        "improvement actions; Stakeholders read it.",
                    ),
                ),
                tombstones=(
                    TombstoneSpec(RetroItem, RETRO_ITEM_TOMBSTONE, lambda row: row.nexus_id),
                    TombstoneSpec(ImprovementAction, RETRO_ACTION_TOMBSTONE, lambda row: row.nexus_id),
                ),
                webhook_events=(
                    WebhookEventType(EVENT_AGREED, "Retrospective improvement action agreed"),
                    WebhookEventType(EVENT_DONE, "Retrospective improvement action done"),
                    WebhookEventType(EVENT_DROPPED, "Retrospective improvement action dropped"),
                ),
                # After integration's issues (40): the last closed Sprint's retrospective.
                demo_steps=(
                    DemoStep("Nexus Sprint Retrospective of the last closed Sprint", demo_retrospective, 45),
                ),
                # After the Sprint pages (21), which leave closed Sprints behind.
                bench_rows=(BenchRows("retrospective", bench_retrospective, 27),),
            )
        )
