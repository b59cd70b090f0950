"""The REST endpoints of the events app (`api_patterns`, mounted under `/api/v1/` with the rest of the API,
namespace `api`): the Sprints of a Nexus, the stakeholder notes of their reviews, the dependency matrix
and the dependency-aware forecast."""

from django.urls import re_path
from rest_framework.routers import SimpleRouter

from backlog.api.urls import NEXUS
from events.api import SprintViewSet
from events.api_dependency_reads import DependencyForecastView, DependencyMatrixView
from events.api_review import ReviewNoteViewSet

router = SimpleRouter()
router.register(rf"{NEXUS}/sprints", SprintViewSet, basename="sprint")
# The Nexus Sprint Review's stakeholder notes (events/api_review.py).
router.register(rf"{NEXUS}/reviews", ReviewNoteViewSet, basename="review-note")

api_patterns = [
    re_path(rf"^{NEXUS}/dependency-matrix/$", DependencyMatrixView.as_view(), name="dependency-matrix"),
    re_path(rf"^{NEXUS}/dependency-forecast/$", DependencyForecastView.as_view(), name="dependency-forecast"),
    *router.urls,
]
