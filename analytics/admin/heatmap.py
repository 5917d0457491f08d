"""The call heatmap page: an agency's calls as a shaded day-by-hour table, for staff.

:class:`CallHeatmapPage` is mixed into :class:`~analytics.admin.calls.CallAdmin`, which
serves it under the calls, at ``/admin/analytics/call/heatmap/`` (URL name
``admin:analytics_call_heatmap``); the calls list links to it, and every agency id the
admin shows links to the page with that agency (:func:`agency_heatmap_link`).

It starts in ``ANALYTICS_ADMIN_TIME_ZONE`` when that is set, else in the zone this staff
user last asked for (kept in their session), else in the host's current zone (``TIME_ZONE``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from django.contrib import admin
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.db import router
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from rest_framework.renderers import JSONRenderer

from analytics.admin.forms import CallHeatmapForm
from analytics.admin.large_tables import ModelAdminBase, short_uuid_search_link
from analytics.admin.timeouts import admin_statement_timeout
from analytics.api.renderers import CSV_CONTENT_TYPE, csv_content_disposition, heatmap_csv
from analytics.api.serializers import HeatmapSerializer
from analytics.conf import conf
from analytics.exceptions import HeatmapError
from analytics.heatmap import presentation
from analytics.heatmap.query import HeatmapQuery
from analytics.heatmap.selectors import heatmap_for, known_agencies
from analytics.heatmap.vocabulary import DEFAULT_TIME_ZONE, Heatmap, Zone, time_zone_names
from analytics.models import Call

#: The page's URL name in the admin site's namespace, under the calls' URLs.
PAGE_URL_NAME = f"{Call._meta.app_label}_{Call._meta.model_name}_heatmap"
#: The session key of the zone this staff user last asked for.
SESSION_ZONE = "analytics_heatmap_tz"
#: The sidebar's entry for the page, beside the calls'.
SIDEBAR_NAME = "Call heatmap"


def agency_heatmap_url(agency_id: UUID, *, site_name: str = "admin") -> str:
    """The heatmap page with ``agency_id`` filled in."""
    page = reverse(f"{site_name}:{PAGE_URL_NAME}")
    return f"{page}?{urlencode({'agency': str(agency_id)})}"


def agency_heatmap_link(
    agency_id: UUID | None, *, site_name: str = "admin", text: str | None = None
) -> SafeString | None:
    """A link to ``agency_id``'s heatmap: ``text``, or a short "heatmap" beside a list's
    shortened id."""
    if agency_id is None:
        return None
    return format_html(
        '<a href="{}" class="agency-heatmap" title="Call heatmap of agency {}">{}</a>',
        agency_heatmap_url(agency_id, site_name=site_name),
        agency_id,
        text or "heatmap",
    )


def agency_list_cell(agency_id: UUID | None, *, site_name: str = "admin") -> SafeString | None:
    """A list's agency cell: its short id, searching the list for it, and its heatmap."""
    if agency_id is None:
        return None
    return format_html(
        "{} {}",
        short_uuid_search_link(agency_id),
        agency_heatmap_link(agency_id, site_name=site_name),
    )


class AgencyColumns:
    """The agency of a row with an ``agency_id`` (a call, a user), linked to its heatmap:
    ``agency`` for the list, ``agency_heatmap`` (in full) for the row's own page."""

    admin_site: AdminSite

    @admin.display(description="agency")
    def agency(self, row: Any) -> SafeString | None:
        return agency_list_cell(row.agency_id, site_name=self.admin_site.name)

    @admin.display(description="agency id")
    def agency_heatmap(self, row: Any) -> SafeString | None:
        return agency_heatmap_link(
            row.agency_id, site_name=self.admin_site.name, text=str(row.agency_id)
        )


def zone_or_none(name: Any) -> Zone | None:
    try:
        return Zone.named(name) if isinstance(name, str) else None
    except ValueError:
        return None


def starting_zone(request: HttpRequest) -> str:
    """The zone the page starts in: ``ANALYTICS_ADMIN_TIME_ZONE`` (the site's choice), else
    this user's last (their session), else the host's current zone, else UTC."""
    session = getattr(request, "session", None)
    candidates = (
        conf.ADMIN_TIME_ZONE,
        session.get(SESSION_ZONE) if session is not None else None,
        timezone.get_current_timezone_name(),
    )
    for name in candidates:
        zone = zone_or_none(name)
        if zone is not None:
            return zone.name
    return DEFAULT_TIME_ZONE


def api_url() -> str | None:
    """Where the SPA reads the same heatmap, if this project mounts the endpoint."""
    try:
        return reverse("analytics:dashboard-heatmap")
    except NoReverseMatch:
        return None


class CallHeatmapPage(ModelAdminBase):
    """The heatmap page of the calls' admin: staff only (``admin_view``), and only for
    those who may view calls."""

    def heatmap_urls(self) -> list[URLPattern]:
        """The page's route, ``heatmap/``, ahead of the calls' own."""
        return [path("heatmap/", self.admin_site.admin_view(self.heatmap_view), name=PAGE_URL_NAME)]

    def heatmap_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The agency's heatmap as a shaded table; ``?format=json`` or ``csv``: as a file."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = CallHeatmapForm.from_query(request.GET, zone=starting_zone(request))
        result: Heatmap | None = None
        query: HeatmapQuery | None = None
        download = request.GET.get("format")
        # The form asks calls whether the agency made any, and the page's suggestions which
        # agencies did (a download shows none); heatmap_for() bounds its own scan.
        with admin_statement_timeout(router.db_for_read(Call)):
            valid = form.is_bound and form.is_valid()
            agencies = known_agencies() if download not in ("json", "csv") else []
        if valid:
            query = form.heatmap_query()
            session = getattr(request, "session", None)
            # Assigned only when it changes: any assignment saves the session again.
            if session is not None and session.get(SESSION_ZONE) != query.zone.name:
                session[SESSION_ZONE] = query.zone.name
            try:
                result = heatmap_for(agency_id=form.cleaned_data["agency"], query=query)
            except HeatmapError as exc:
                form.add_error(None, str(exc))
        if download == "json":
            return self.heatmap_json(form, result)
        if download == "csv":
            return self.heatmap_csv(form, result)
        site_context = self.admin_site.each_context(request)
        context = {
            **site_context,
            "available_apps": self.sidebar_apps(request, site_context["available_apps"]),
            "title": "Call heatmap",
            "opts": self.opts,
            "form": form,
            "result": result,
            "agencies": agencies,
            "time_zones": sorted(time_zone_names()),
            "hours": [f"{hour:02d}" for hour in presentation.HOURS],
            **(extra_context or {}),
        }
        if result is not None and query is not None:
            context.update(self.heatmap_context(request, form, result, query))
        return TemplateResponse(request, "analytics/admin/call_heatmap.html", context)

    def sidebar_apps(
        self, request: HttpRequest, available_apps: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The sidebar, with the page's own entry marked, not the calls'.

        Django's sidebar marks each entry whose URL is part of the page's path, and this
        page sits under the calls' URL. So here the calls' entry links by its absolute
        URL, never part of a path, and the page's entry follows it.
        """
        page = request.path
        apps = []
        for app in available_apps:
            models = []
            for model in app["models"]:
                url = model.get("admin_url")
                if url and url in page and url != page:
                    model = {**model, "admin_url": request.build_absolute_uri(url)}
                models.append(model)
                if model.get("object_name") == self.opts.object_name:
                    models.append(
                        {
                            "name": SIDEBAR_NAME,
                            "object_name": f"{self.opts.object_name}Heatmap",
                            "perms": {"view": True},
                            "admin_url": page,
                            "add_url": None,
                            "view_only": True,
                        }
                    )
            apps.append({**app, "models": models})
        return apps

    def heatmap_context(
        self,
        request: HttpRequest,
        form: CallHeatmapForm,
        result: Heatmap,
        heatmap_query: HeatmapQuery,
    ) -> dict[str, Any]:
        metric = result.metric
        grid = presentation.build_grid(result, min_calls=form.cleaned_data["min_calls"])
        hours = heatmap_query.calling_hours
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
            "clock_caption": presentation.clock_caption(result),
            "lead_clock": presentation.lead_clock_text(result, hours),
            # The columns of hours a lead may not be called in, marked in the grid's head.
            "outside_hours": [
                f"{hour:02d}" for hour in presentation.HOURS if hours and not hours.allow(hour)
            ],
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
