"""URLs of the flow app: its pages (namespace `flow`) and its REST endpoint (`api_patterns`, mounted
under `/api/v1/` with the rest of the API, namespace `api`)."""

from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from backlog.api.urls import NEXUS
from flow import api, api_settings, views

app_name = "flow"

urlpatterns = [
    path("n/<slug:slug>/flow/", views.flow_page, name="flow"),
    path("n/<slug:slug>/flow/settings/", views.flow_settings, name="settings"),
    path("n/<slug:slug>/flow/<str:table>.csv", views.flow_csv, name="flow-csv"),
]

router = SimpleRouter()
router.register(rf"{NEXUS}/flow-settings", api_settings.FlowSettingsViewSet, basename="flow-settings")

api_patterns = [
    re_path(rf"^{NEXUS}/flow/$", api.FlowView.as_view(), name="flow"),
    *router.urls,
]
