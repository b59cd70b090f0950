"""The REST endpoints of the integration app (`api_patterns`, mounted under `/api/v1/` with the rest of
the API, namespace `api`): the Definition of Done and the Integrated Increments of a Nexus."""

from rest_framework.routers import SimpleRouter

from backlog.api.urls import NEXUS
from integration.api import DoneCriterionViewSet, IncrementViewSet

router = SimpleRouter()
router.register(rf"{NEXUS}/definition-of-done", DoneCriterionViewSet, basename="done-criterion")
router.register(rf"{NEXUS}/increments", IncrementViewSet, basename="increment")

api_patterns = router.urls
