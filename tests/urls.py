from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("api/", include("analytics.urls")),
    path("admin/", admin.site.urls),
]
