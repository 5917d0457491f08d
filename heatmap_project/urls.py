from importlib.util import find_spec

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured
from django.urls import include, path

from heatmap_project.api_docs import PublicSchemaView, PublicSwaggerView
from heatmap_project.views import demo_page

urlpatterns = [
    # The page an agency's SPA would show, on the TypeScript client (clients/typescript/page/).
    path("", demo_page, name="demo-page"),
    path("admin/", admin.site.urls),
    path("api/", include("analytics.urls")),
    # The endpoint's OpenAPI schema (openapi.yaml) and Swagger UI to try it with a token:
    # public, the same for every caller, and never checking a password (api_docs.py).
    path("api/schema/", PublicSchemaView.as_view(), name="schema"),
    path("api/docs/", PublicSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]

# Prometheus' scrape target, only with METRICS_ENABLED: prometheus_client's own exposition.
if getattr(settings, "METRICS_ENABLED", False):
    if find_spec("prometheus_client") is None:
        raise ImproperlyConfigured(
            "METRICS_ENABLED needs prometheus_client: "
            "pip install 'agency-call-analytics[prometheus]'"
        )
    from analytics.api.metrics import metrics_view

    urlpatterns.append(path("metrics", metrics_view, name="metrics"))

# Unhandled errors answer JSON, not Django's HTML page: the SPA reads the body.
handler500 = "rest_framework.exceptions.server_error"
