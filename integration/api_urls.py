"""The REST endpoints of the integration app (`api_patterns`, mounted under `/api/v1/`, namespace `api`)."""

from rest_framework.routers import SimpleRouter

from backlog.api.urls import NEXUS
from integration.api_issues import IntegrationIssueViewSet

router = SimpleRouter()
router.register(rf"{NEXUS}/integration-issues", IntegrationIssueViewSet, basename="integration-issue")

api_patterns = router.urls
