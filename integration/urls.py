"""Pages of the integration app (namespace `integration`): the Definition of Done, a Sprint's Integrated
Increments, the Integrated Increment page and its writes, the panels of the Nexus home and the Nexus
Sprint Backlog; a Nexus's integration issues and the Executive Action Team page (`views_issues`)."""

from django.urls import path

from integration import views, views_issues

app_name = "integration"

#: The address of an Integrated Increment (by its number in the Nexus).
INC = "n/<slug:slug>/increments/<int:number>"

urlpatterns = [
    path("n/<slug:slug>/definition-of-done/", views.dod_page, name="dod"),
    path("n/<slug:slug>/definition-of-done/add/", views.dod_add, name="dod-add"),
    path("n/<slug:slug>/definition-of-done/<int:criterion_id>/remove/", views.dod_remove, name="dod-remove"),
    path(
        "n/<slug:slug>/sprints/<int:sprint_id>/increments/", views.sprint_increments, name="sprint-increments"
    ),
    path("n/<slug:slug>/sprints/<int:sprint_id>/increments/new/", views.increment_new, name="increment-new"),
    path(f"{INC}/", views.increment_page, name="increment"),
    path(f"{INC}/integrate/", views.increment_integrate, name="increment-integrate"),
    path(f"{INC}/confirm/", views.increment_confirm, name="increment-confirm"),
    path(f"{INC}/done/", views.increment_done, name="increment-done"),
    path(f"{INC}/release/", views.increment_release, name="increment-release"),
    path("n/<slug:slug>/increments/health/", views.health_panel, name="health-panel"),
    path("n/<slug:slug>/increments/review-panel/", views.review_panel, name="review-panel"),
    path(
        "n/<slug:slug>/increments/sprint-panel/",
        views.sprint_increments_panel,
        name="sprint-increments-panel",
    ),
    path("n/<slug:slug>/issues/", views_issues.issues_page, name="issues"),
    path("n/<slug:slug>/issues/raise/", views_issues.issue_raise_view, name="issue-raise"),
    path("n/<slug:slug>/issues/wip/", views_issues.issue_wip_view, name="issue-wip"),
    path(
        "n/<slug:slug>/issues/<int:issue_id>/escalate/",
        views_issues.issue_escalate_view,
        name="issue-escalate",
    ),
    path(
        "n/<slug:slug>/issues/<int:issue_id>/resolve/", views_issues.issue_resolve_view, name="issue-resolve"
    ),
    path("eat/", views_issues.eat_page, name="eat"),
    path("eat/<int:issue_id>/decide/", views_issues.eat_decide_view, name="eat-decide"),
]
