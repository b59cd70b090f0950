"""Pages of the integration app (namespace `integration`): a Nexus's integration issues and the Executive
Action Team page (`integration.views_issues`)."""

from django.urls import path

from integration import views_issues

app_name = "integration"

urlpatterns = [
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
