"""The Integrated Increment, the Definition of Done and integration issues. Sits above `backlog`,
`flow` and `events`; registers what it adds through `nexus_site.extensions`."""

from typing import Any

from django.apps import AppConfig

#: The tombstone kind of a deleted integration issue (`GET .../integration-issues/deleted/`).
ISSUE_TOMBSTONE = "integration_issue"


class IntegrationConfig(AppConfig):
    name = "integration"
    verbose_name = "Integration"

    def ready(self) -> None:
        from integration import admin_issues  # noqa: F401  (the admin of integration issues)
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
                nav=(NavEntry("Issues", "integration:issues", 50),),
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
                bench_rows=(BenchRows("integration-issues", bench, 60),),
            )
        )
