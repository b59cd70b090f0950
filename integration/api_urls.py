"""The REST endpoints of the integration app (`api_patterns`, mounted under `/api/v1/` with the rest of
the API, namespace `api`): the Definition of Done, the Integrated Increments and the integration issues
of a Nexus."""

from rest_framework.routers import SimpleRouter

from backlog.api.urls import NEXUS
from integration.api import DoneCriterionViewSet, IncrementViewSet
from integration.api_issues import IntegrationIssueViewSet

router = SimpleRouter()
router.register(rf"{NEXUS}/definition-of-done", DoneCriterionViewSet, basename="done-criterion")
router.register(rf"{NEXUS}/increments", IncrementViewSet, basename="increment")
router.register(rf"{NEXUS}/integration-issues", IntegrationIssueViewSet, basename="integration-issue")

api_patterns = router.urls
