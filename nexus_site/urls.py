"""URL configuration: each app includes its own `urls.py` under its namespace."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("flow.urls")),
    path("", include("events.urls")),
    path("", include("integration.urls")),
    path("", include("backlog.urls")),
]
