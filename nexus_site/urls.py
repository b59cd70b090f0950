"""URL configuration: each app includes its own `urls.py` under its namespace.

The REST API lives under `/api/v1/` (namespace `api`), its OpenAPI 3 document at `/api/schema/` and
the browsable docs at `/api/docs/` (Swagger UI, assets from drf-spectacular-sidecar, offline).
Other apps add their API endpoints to `api_v1` (e.g. the flow figures), reusing `nexus_site.api.base`.
"""

from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from backlog.api.urls import api_patterns, page_patterns
from events.api_urls import api_patterns as events_api_patterns
from flow.urls import api_patterns as flow_api_patterns
from integration.api_urls import api_patterns as integration_api_patterns
from nexus_site.api.errors import not_found as api_not_found
from nexus_site.health import healthz, readyz

#: A database fault met outside a view (a middleware) is a 503 too (`nexus_site.db`).
handler500 = "nexus_site.db.server_error"

api_v1 = [
    *api_patterns,
    *flow_api_patterns,
    *events_api_patterns,
    *integration_api_patterns,
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include((api_v1, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI's script is served as a file (the split view: no inline script under the Content
    # Security Policy); it injects its own <style> element, allowed on this page only.
    path(
        "api/docs/",
        csp_update({"style-src-elem": ["'unsafe-inline'"]})(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema")
        ),
        name="api-docs",
    ),
    path("", include((page_patterns, "api-pages"))),
    path("", include("flow.urls")),
    path("", include("events.urls")),
    path("", include("integration.urls")),
    path("", include("backlog.urls")),
    re_path(r"^api/", api_not_found),  # last: any other URL under /api/ is a 404 in the API's format
]
