from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("analytics.urls")),
    # The endpoint's OpenAPI schema (openapi.yaml) and Swagger UI to try it with a token.
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]

# Unhandled errors answer JSON, not Django's HTML page: the SPA reads the body.
handler500 = "rest_framework.exceptions.server_error"
