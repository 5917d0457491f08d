"""The call heatmap page: an agency's calls as a shaded day-by-hour table, for staff.

:class:`CallHeatmapAdmin` gives the page its row in the admin index (through the
``CallHeatmap`` proxy model) and serves it as its ``changelist_view``. The page
keeps the address it has had since 0.1.0, ``/admin/analytics/call/heatmap/``
(URL name ``analytics_call_heatmap``), which :class:`~analytics.admin.calls.CallAdmin`
mounts from :meth:`CallHeatmapAdmin.page_urls`; the row's own address redirects there.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import router
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from rest_framework.renderers import JSONRenderer

from analytics import presentation
from analytics.admin.large_tables import ReadOnlyAdmin
from analytics.admin.timeouts import admin_statement_timeout
from analytics.domain import CallsQueryError, Heatmap, ScanSlotsBusy, time_zone_names
from analytics.forms import CallHeatmapForm
from analytics.models import Call
from analytics.renderers import CSV_CONTENT_TYPE, csv_content_disposition, heatmap_csv
from analytics.selectors import heatmap_for, known_agencies
from analytics.serializers import HeatmapSerializer

#: The page's URL name in the admin site's namespace, under the calls' URLs.
PAGE_URL_NAME = f"{Call._meta.app_label}_{Call._meta.model_name}_heatmap"


def api_url() -> str | None:
    """Where the SPA reads the same heatmap, if this project mounts the endpoint."""
    try:
        return reverse("analytics:dashboard-heatmap")
    except NoReverseMatch:
        return None


class CallHeatmapAdmin(ReadOnlyAdmin):
    """The admin index's "Call heatmap" row and the page it leads to.

    Staff only (``admin_view``), and only for those who may view calls.
    """

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Whoever may view calls may see them as a heatmap.
        return request.user.has_perm(f"{Call._meta.app_label}.view_{Call._meta.model_name}")

    def page_urls(self) -> list[URLPattern]:
        """The page's route, ``heatmap/``, for the calls' URLs to include."""
        return [
            path("heatmap/", self.admin_site.admin_view(self.changelist_view), name=PAGE_URL_NAME)
        ]

    def get_urls(self) -> list[URLPattern]:
        # The row's address (this model's change list) leads to the page's.
        changelist = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        row = path("", self.admin_site.admin_view(self.row_view), name=changelist)
        return [row, *(url for url in super().get_urls() if url.name != changelist)]

    def row_view(self, request: HttpRequest) -> HttpResponseRedirect:
        """To the page, with the query string it was given."""
        page = reverse(f"{self.admin_site.name}:{PAGE_URL_NAME}")
        query = request.GET.urlencode()
        return HttpResponseRedirect(f"{page}?{query}" if query else page)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The agency's heatmap as a shaded table; ``?format=json`` or ``csv``: as a file."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = CallHeatmapForm.from_query(request.GET)
        result: Heatmap | None = None
        # The form asks calls whether the agency made any; heatmap_for() bounds its own scan.
        with admin_statement_timeout(router.db_for_read(Call)):
            valid = form.is_bound and form.is_valid()
        if valid:
            try:
                result = heatmap_for(
                    agency_id=form.cleaned_data["agency"], query=form.heatmap_query()
                )
            except ScanSlotsBusy as exc:
                form.add_error(None, f"{exc}; try again in {exc.retry_after} s.")
            except CallsQueryError:
                form.add_error(None, "The calls table could not be queried; the error is logged.")
        if request.GET.get("format") == "json":
            return self.heatmap_json(form, result)
        if request.GET.get("format") == "csv":
            return self.heatmap_csv(form, result)
        context = {
            **self.admin_site.each_context(request),
            "title": "Call heatmap",
            "opts": self.opts,
            "form": form,
            "result": result,
            "agencies": known_agencies(),
            "time_zones": sorted(time_zone_names()),
            "hours": [f"{hour:02d}" for hour in presentation.HOURS],
            **(extra_context or {}),
        }
        if result is not None:
            context.update(self.heatmap_context(request, form, result))
        return TemplateResponse(
            request,
            [
                f"admin/{self.opts.app_label}/{self.opts.model_name}/heatmap.html",
                # Where 0.1.0 looked for a host's own template, under the calls.
                f"admin/{Call._meta.app_label}/{Call._meta.model_name}/heatmap.html",
                "analytics/admin/call_heatmap.html",
            ],
            context,
        )

    def heatmap_context(
        self, request: HttpRequest, form: CallHeatmapForm, result: Heatmap
    ) -> dict[str, Any]:
        metric = result.metric
        grid = presentation.build_grid(result, min_calls=form.cleaned_data["min_calls"])
        query = request.GET.copy()
        query["format"] = "json"
        json_url = f"{request.path}?{query.urlencode()}"
        query["format"] = "csv"
        csv_url = f"{request.path}?{query.urlencode()}"
        return {
            "grid": grid,
            "metric_name": presentation.metric_name(metric),
            "gradient": presentation.gradient_css(),
            "ticks": presentation.scale_ticks(grid.maximum, metric),
            "empty_shade": presentation.EMPTY,
            "best_times": presentation.best_times_text(result),
            "totals": presentation.totals_text(grid.totals),
            "json_url": json_url,
            "csv_url": csv_url,
            "api_url": api_url(),
        }

    def heatmap_json(self, form: CallHeatmapForm, result: Heatmap | None) -> HttpResponse:
        """The endpoint's JSON body for this agency, through the endpoint's own serializer."""
        if result is None:
            errors = form.errors.get_json_data() if form.is_bound else {"agency": "Required."}
            return JsonResponse({"errors": errors}, status=400)
        body = JSONRenderer().render(HeatmapSerializer(result).data)
        return HttpResponse(body, content_type="application/json")

    def heatmap_csv(self, form: CallHeatmapForm, result: Heatmap | None) -> HttpResponse:
        """The endpoint's CSV for this agency: the same serializer, the same CSV function."""
        if result is None:  # errors as JSON, as the endpoint answers them
            return self.heatmap_json(form, result)
        body = HeatmapSerializer(result).data
        response = HttpResponse(heatmap_csv(body), content_type=CSV_CONTENT_TYPE)
        response["Content-Disposition"] = csv_content_disposition(body)
        return response
