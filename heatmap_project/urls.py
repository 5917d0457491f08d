from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("analytics.urls")),
]

# Unhandled errors answer JSON, not Django's HTML page: the SPA reads the body.
handler500 = "rest_framework.exceptions.server_error"
