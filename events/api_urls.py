"""The REST endpoints of the events app (`api_patterns`, mounted under `/api/v1/` with the rest of the API,
namespace `api`): the Sprints of a Nexus."""

from rest_framework.routers import SimpleRouter

from backlog.api.urls import NEXUS
from events.api import SprintViewSet

router = SimpleRouter()
router.register(rf"{NEXUS}/sprints", SprintViewSet, basename="sprint")

api_patterns = router.urls
