"""The REST endpoints of the events app (`api_patterns`, mounted under `/api/v1/` with the rest of the API,
namespace `api`): the Sprints of a Nexus and its Nexus Sprint Retrospectives' items and actions."""

from rest_framework.routers import SimpleRouter

from backlog.api.urls import NEXUS
from events.api import SprintViewSet
from events.api_retro import RetroItemViewSet
from events.api_retro_actions import ImprovementActionViewSet

router = SimpleRouter()
router.register(rf"{NEXUS}/sprints", SprintViewSet, basename="sprint")
router.register(rf"{NEXUS}/retrospectives/items", RetroItemViewSet, basename="retro-item")
router.register(rf"{NEXUS}/retrospectives/actions", ImprovementActionViewSet, basename="retro-action")

api_patterns = router.urls
