from django.urls import path

from analytics.api.views import CallHeatmapApi, CallHeatmapCsvApi

app_name = "analytics"

urlpatterns = [
    path("dashboard-heatmap", CallHeatmapApi.as_view(), name="dashboard-heatmap"),
    # The same with a trailing slash, never a redirect: SPAs call both. The OpenAPI
    # schema lists the endpoint once, under the name above.
    path("dashboard-heatmap/", CallHeatmapApi.as_view(schema=None)),
    # The heatmap as CSV, an operation of its own: one media type per operation.
    path("dashboard-heatmap.csv", CallHeatmapCsvApi.as_view(), name="dashboard-heatmap-csv"),
]
