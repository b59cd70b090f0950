"""URLs of the REST API (`api_patterns`, mounted at `/api/v1/` as namespace `api`) and of its HTML
pages (`page_patterns`: API tokens, webhooks and their delivery log; namespace `api-pages`)."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from backlog.api import views_html
from backlog.api.views_dependencies import DependencyViewSet
from backlog.api.views_items import ItemViewSet
from backlog.api.views_log import InvolvementViewSet, TransitionViewSet
from backlog.api.views_squares import TaskViewSet, TeamColumnViewSet
from backlog.api.views_structure import (
    LabelViewSet,
    MembershipViewSet,
    NexusesViewSet,
    ProductGoalViewSet,
    ScrumTeamViewSet,
)
from backlog.api.views_suggestions import SuggestedDependencyViewSet
from backlog.api.views_webhooks import WebhookViewSet
from backlog.api.views_workflow import WorkflowColumnViewSet

NEXUS = r"nexuses/(?P<nexus_slug>[-a-zA-Z0-9_]{1,80})"

router = SimpleRouter()
router.register(r"nexuses", NexusesViewSet, basename="nexus")
router.register(rf"{NEXUS}/teams", ScrumTeamViewSet, basename="team")
router.register(rf"{NEXUS}/memberships", MembershipViewSet, basename="membership")
router.register(rf"{NEXUS}/goals", ProductGoalViewSet, basename="goal")
router.register(rf"{NEXUS}/columns", WorkflowColumnViewSet, basename="column")
router.register(rf"{NEXUS}/labels", LabelViewSet, basename="label")
router.register(rf"{NEXUS}/items", ItemViewSet, basename="item")
router.register(rf"{NEXUS}/involvements", InvolvementViewSet, basename="involvement")
router.register(rf"{NEXUS}/team-columns", TeamColumnViewSet, basename="team-column")
router.register(rf"{NEXUS}/tasks", TaskViewSet, basename="task")
router.register(rf"{NEXUS}/transitions", TransitionViewSet, basename="transition")
router.register(rf"{NEXUS}/webhooks", WebhookViewSet, basename="webhook")
router.register(rf"{NEXUS}/dependencies", DependencyViewSet, basename="dependency")
router.register(
    rf"{NEXUS}/items/(?P<item_id>[0-9]{{1,18}})/suggested-dependencies",
    SuggestedDependencyViewSet,
    basename="suggested-dependency",
)

api_patterns = router.urls

page_patterns = [
    path("settings/api-tokens/", views_html.tokens, name="tokens"),
    path("settings/api-tokens/<int:pk>/revoke/", views_html.token_revoke, name="token-revoke"),
    path("n/<slug:slug>/webhooks/", views_html.webhooks_page, name="webhooks"),
    path("n/<slug:slug>/webhooks/<int:pk>/", views_html.webhook_detail, name="webhook-detail"),
    path(
        "n/<slug:slug>/webhooks/<int:pk>/deliveries/<int:delivery_pk>/redeliver/",
        views_html.delivery_redeliver,
        name="delivery-redeliver",
    ),
]
