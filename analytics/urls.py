from django.urls import re_path

from analytics.views import CallHeatmapApi

app_name = "analytics"

urlpatterns = [
    # With or without the trailing slash, and never a redirect: SPAs call both.
    re_path(r"^dashboard-heatmap/?$", CallHeatmapApi.as_view(), name="dashboard-heatmap"),
]
