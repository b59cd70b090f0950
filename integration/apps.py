"""The Integrated Increment, the Definition of Done and integration issues (Nexus Guide). Sits above
`events`: it may import `backlog`, `flow` and `events`; they never name it, so everything it adds to
them (permission rules, tombstones, webhook events, the demo step, bench rows, page panels) is
registered here through `nexus_site.extensions`."""

from typing import Any

from django.apps import AppConfig

#: The tombstone kind of a deleted integration issue (`GET .../integration-issues/deleted/`).
ISSUE_TOMBSTONE = "integration_issue"
#: The tombstone kind of a removed Definition of Done criterion (`definition-of-done/deleted/`).
CRITERION_TOMBSTONE = "done_criterion"
#: The tombstone kind of a deleted Integrated Increment (`increments/deleted/`).
INCREMENT_TOMBSTONE = "increment"


class IntegrationConfig(AppConfig):
    name = "integration"
    verbose_name = "Integration"

    def ready(self) -> None:
        from integration.models import DoneCriterion, IntegratedIncrement
        from integration.services_dod import DOD_EDIT_RULE, can_edit_nexus_dod
        from integration.services_rules import (
            INCREMENT_CONFIRM_RULE,
            INCREMENT_MANAGE_RULE,
            can_confirm,
            can_manage_increments,
        )
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

        def demo_increments(ctx: Any) -> str:
            from integration import demo

            return demo.demo_step(ctx)

        def bench_increments(ctx: Any) -> Any:
            from integration import bench

            return bench.run(ctx)

        extension_register(
            Extension(
                app="integration",
                rules=(
                    PermissionRule(
                        DOD_EDIT_RULE,
                        lambda user, nexus: can_edit_nexus_dod(user=user, nexus=nexus),
                        "The Nexus Integration Team owns the Nexus's Definition of Done; Scrum Teams add "
                        "stricter criteria of their own.",
                    ),
                    PermissionRule(
                        INCREMENT_MANAGE_RULE,
                        lambda user, nexus: can_manage_increments(user=user, nexus=nexus),
                        "Only the Product Owner and the Nexus Integration Team create, integrate, mark Done "
                        "and release Integrated Increments.",
                    ),
                    PermissionRule(
                        INCREMENT_CONFIRM_RULE,
                        lambda user, nexus: can_confirm(user=user, nexus=nexus),
                        "Developers, Scrum Masters, the Nexus Integration Team and the Product Owner confirm "
                        "the Definition of Done; Stakeholders read it.",
                    ),
                ),
                tombstones=(
                    TombstoneSpec(DoneCriterion, CRITERION_TOMBSTONE, lambda row: row.nexus_id),
                    TombstoneSpec(IntegratedIncrement, INCREMENT_TOMBSTONE, lambda row: row.nexus_id),
                ),
                webhook_events=(
                    WebhookEventType("increment.done", "An Integrated Increment is Done"),
                    WebhookEventType("increment.released", "An Integrated Increment is released"),
                ),
                nav=(NavEntry("Definition of Done", "integration:dod", 50),),
                panels=(
                    # The Nexus home's health figure: Sprints with a Done Integrated Increment, streak.
                    Panel(
                        slot="home",
                        name="increment-health",
                        label="Integrated Increments",
                        url_name="integration:health-panel",
                    ),
                    # The Nexus Sprint Retrospective (events): the Sprint's integration issues raised,
                    # resolved, escalated and escaped (`?sprint=<id>`).
                    Panel(
                        slot="retrospective",
                        name="retro-issues",
                        label="Integration issues",
                        url_name="integration:retro-issues-panel",
                    ),
                    # The Nexus Sprint Review: the Sprint's Integrated Increments and their DoD state.
                    Panel(
                        slot="review",
                        name="review-increments",
                        label="Integrated Increments",
                        url_name="integration:review-panel",
                    ),
                    # The Nexus Sprint Backlog links its Sprint's Integrated Increments.
                    Panel(
                        slot="sprint-backlog",
                        name="increments",
                        label="Integrated Increments",
                        url_name="integration:sprint-increments-panel",
                    ),
                ),
                # After events' (20): Integrated Increments of the demo's closed Sprints.
                demo_steps=(DemoStep("Definition of Done and Integrated Increments", demo_increments, 30),),
                bench_rows=(BenchRows("increments", bench_increments, 60),),
            )
        )
        self._register_issues()

    def _register_issues(self) -> None:
        """Integration issues and their escalation to the Executive Action Team (`*_issues` modules)."""
        from integration import admin_issues  # noqa: F401  (the admin of integration issues)
        from integration.board import board_issue_counts, board_issue_panel, board_raise_url
        from integration.models_issues import IntegrationIssue
        from integration.services_issues import (
            EAT_RULE,
            ESCALATE_RULE,
            EVENT_ESCALATED,
            EVENT_RAISED,
            EVENT_RESOLVED,
            RAISE_RULE,
            can_decide_issues,
            can_escalate_issues,
            can_raise_issues,
        )
        from nexus_site.extensions import (
            BenchRows,
            BoardProvider,
            DemoStep,
            Extension,
            NavEntry,
            PermissionRule,
            TombstoneSpec,
            WebhookEventType,
            extension_register,
        )

        def demo_step(ctx: Any) -> str:
            from integration import demo_issues

            return demo_issues.demo_step(ctx)

        def bench(ctx: Any) -> Any:
            from integration import bench_issues

            return bench_issues.run(ctx)

        extension_register(
            Extension(
                app="integration",
                nav=(NavEntry("Issues", "integration:issues", 55),),
                # The Nexus board (events): open issues on each card, their side panel, "raise" on a card.
                board=(
                    BoardProvider(
                        name="integration-issues",
                        label="Open integration issues",
                        badge="open integration issues",
                        card_counts=board_issue_counts,
                        panel=board_issue_panel,
                        action="Raise an integration issue",
                        card_action=board_raise_url,
                        order=50,
                    ),
                ),
                rules=(
                    PermissionRule(
                        RAISE_RULE,
                        lambda user, nexus: can_raise_issues(user=user, nexus=nexus),
                        "Stakeholders see the integration issues; the Nexus's other members raise, change "
                        "and resolve them.",
                    ),
                    PermissionRule(
                        ESCALATE_RULE,
                        lambda user, nexus: can_escalate_issues(user=user, nexus=nexus),
                        "Only the Product Owner, Scrum Masters and the Nexus Integration Team escalate or "
                        "delete integration issues.",
                    ),
                    PermissionRule(
                        EAT_RULE,
                        lambda user, nexus: can_decide_issues(user=user, nexus=nexus),
                        "Only Executive Action Team members record decisions on escalated impediments.",
                    ),
                ),
                tombstones=(TombstoneSpec(IntegrationIssue, ISSUE_TOMBSTONE, lambda row: row.nexus_id),),
                webhook_events=(
                    WebhookEventType(EVENT_RAISED, "Integration issue raised"),
                    WebhookEventType(EVENT_ESCALATED, "Integration issue escalated"),
                    WebhookEventType(EVENT_RESOLVED, "Integration issue resolved or closed"),
                ),
                # After events' Sprints (20): issues at every level on the demo Nexus.
                demo_steps=(DemoStep("integration issues at every level", demo_step, 40),),
                bench_rows=(BenchRows("integration-issues", bench, 61),),
            )
        )
