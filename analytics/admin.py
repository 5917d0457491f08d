"""The admin over the Supabase-owned tables: read-only lists, and the call heatmap page.

The ``calls`` table holds millions of rows and has one index, ``(agency_id,
created_at)``, so the change list avoids what the admin does by default at
that size: counting every row, a ``DISTINCT`` over the table for each filter
and for the date hierarchy, and reading the ``analysis`` JSON of every row.
"""

from __future__ import annotations

import functools
import operator
from calendar import monthrange
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from uuid import UUID

from django.contrib import admin
from django.contrib.admin.views.main import SEARCH_VAR, ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections, router
from django.db.models import Field, Model, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import formats, timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext
from rest_framework.renderers import JSONRenderer

from analytics import presentation
from analytics.domain import CallsQueryError, Heatmap, time_zone_names
from analytics.forms import CallHeatmapForm
from analytics.models import MEETING_BOOKED, Call, CallHeatmap, User
from analytics.renderers import CSV_CONTENT_TYPE, csv_content_disposition, heatmap_csv
from analytics.selectors import heatmap, known_agencies
from analytics.serializers import HeatmapSerializer

if TYPE_CHECKING:  # generic only in the type stubs
    ModelAdminBase = admin.ModelAdmin[Any]
    PaginatorBase = Paginator[Any]
else:
    ModelAdminBase = admin.ModelAdmin
    PaginatorBase = Paginator


def api_url() -> str | None:
    """Where the SPA reads the same heatmap, if this project mounts the endpoint."""
    try:
        return reverse("analytics:dashboard-heatmap")
    except NoReverseMatch:
        return None


class CappedCountPaginator(PaginatorBase):
    """Counts at most ``count_cap`` rows (``COUNT(*)`` over a ``LIMIT``ed subquery).

    ``SELECT COUNT(*) FROM calls`` reads the whole table; past the cap the
    change list says "more than" and offers that many pages. Narrow the list
    with the filters, the dates or a search to reach older rows.
    """

    count_cap = 10_000

    @cached_property
    def _capped_count(self) -> int:
        rows = self.object_list
        if isinstance(rows, QuerySet):
            # Only the keys, unordered: the count stops after count_cap + 1 rows, unsorted.
            return rows.order_by().values("pk")[: self.count_cap + 1].count()
        return len(rows[: self.count_cap + 1])

    @cached_property
    def count(self) -> int:
        return min(self._capped_count, self.count_cap)

    @property
    def count_is_capped(self) -> bool:
        """More rows match than were counted."""
        return self._capped_count > self.count_cap


def column_values(model: type[Model], field: Field[Any, Any], *, sample: int = 10_000) -> list[Any]:
    """The values a column can hold, cheaply: an enum's labels, or those in a sample of rows.

    On PostgreSQL an enum column's labels come from the catalogue, in the enum's
    order. Otherwise the distinct values among the first ``sample`` rows stand in
    for a ``SELECT DISTINCT`` that would read the whole table.
    """
    connection = connections[router.db_for_read(model)]
    quote = connection.ops.quote_name
    table, column = model._meta.db_table, str(field.column)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT e.enumlabel FROM pg_attribute a"
                " JOIN pg_enum e ON e.enumtypid = a.atttypid"
                " WHERE a.attrelid = %s::regclass AND a.attname = %s AND NOT a.attisdropped"
                " ORDER BY e.enumsortorder",
                [quote(table), column],
            )
            labels = [label for (label,) in cursor.fetchall()]
            if labels:
                return [*labels, None] if field.null else labels
        cursor.execute(
            f"SELECT DISTINCT {quote(column)} FROM"
            f" (SELECT {quote(column)} FROM {quote(table)} LIMIT %s) AS sample",
            [sample],
        )
        values = [value for (value,) in cursor.fetchall()]
    return sorted(values, key=lambda value: (value is None, str(value)))


class ColumnValuesFilter(admin.AllValuesFieldListFilter):
    """``AllValuesFieldListFilter`` without its ``SELECT DISTINCT`` over the whole table."""

    def __init__(
        self,
        field: Field[Any, Any],
        request: HttpRequest,
        params: dict[str, list[str]],
        model: type[Model],
        model_admin: admin.ModelAdmin[Any],
        field_path: str,
    ) -> None:
        super().__init__(field, request, params, model, model_admin, field_path)
        # The parent's lazy DISTINCT queryset is replaced before anything evaluates it.
        self.lookup_choices = column_values(model, field)  # type: ignore[assignment]


class ReadOnlyAdmin(ModelAdminBase):
    """The rows belong to the Supabase application: the admin looks and never touches.

    Searches match whole UUIDs exactly, through an index where one holds the
    UUID; a term that is not a UUID matches nothing rather than reaching SQL.
    """

    actions = None
    paginator = CappedCountPaginator
    show_full_result_count = False
    # Facets count every filter choice over the whole table.
    show_facets = admin.ShowFacets.NEVER
    search_help_text = "An exact UUID."
    #: Search fields with an index of their own (or leading one), tried one by one first.
    indexed_search_fields: tuple[str, ...] = ("id",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        for term in search_term.split():
            try:
                value = UUID(term)
            except ValueError:
                return queryset.none(), False
            queryset = queryset.filter(self.search_condition(request, value))
        return queryset, False

    def search_condition(self, request: HttpRequest, value: UUID) -> Q:
        """Where ``value`` is found: one indexed column if it is there, else the others.

        An ``OR`` over every column reads the whole table when one of them has no
        index; a UUID names one kind of thing, so an indexed column that holds it
        is searched alone, with its index.
        """
        fields = list(self.get_search_fields(request))
        rows = self.model._default_manager.all()
        for name in self.indexed_search_fields:
            if name in fields and rows.filter(**{name: value}).exists():
                return Q(**{name: value})
        others = [Q(**{name: value}) for name in fields if name not in self.indexed_search_fields]
        return functools.reduce(operator.or_, others) if others else Q(pk__in=[])


def short_uuid_search_link(value: UUID | None) -> str | None:
    """The UUID's first 8 digits, linking to the list searched by it; in full on hover."""
    if value is None:
        return None
    return format_html(
        '<a href="?{}" title="{}"><code>{}</code>\u2026</a>',
        urlencode({SEARCH_VAR: str(value)}),
        value,
        value.hex[:8],
    )


def calendar_hierarchy(cl: ChangeList, *, today: date, years: int) -> dict[str, Any]:
    """The date drill-down, from the calendar instead of from the rows.

    Django's ``date_hierarchy`` runs ``MIN``/``MAX`` and a ``DISTINCT`` of
    truncated dates over every matching row. This offers the last ``years``
    years, their months and the months' days, and leaves finding the rows to
    the filter, a range on ``created_at``. Returns what
    ``admin/date_hierarchy.html`` expects.
    """
    field = cl.date_hierarchy

    def link(**parts: int) -> str:
        new = {f"{field}__{name}": value for name, value in parts.items()}
        return cl.get_query_string(new, [f"{field}__"])

    def title(day: date, format_name: str) -> str:
        return capfirst(formats.date_format(day, format_name))

    try:
        y, m, d = (
            int(value) if value else None
            for value in (cl.params.get(f"{field}__{part}") for part in ("year", "month", "day"))
        )
        if y and m and d:
            shown = date(y, m, d)
            return {
                "show": True,
                "back": {"link": link(year=y, month=m), "title": title(shown, "YEAR_MONTH_FORMAT")},
                "choices": [{"title": title(shown, "MONTH_DAY_FORMAT")}],
            }
        if y and m:
            last = today.day if (y, m) == (today.year, today.month) else monthrange(y, m)[1]
            return {
                "show": True,
                "back": {"link": link(year=y), "title": str(y)},
                "choices": [
                    {
                        "link": link(year=y, month=m, day=n),
                        "title": title(date(y, m, n), "MONTH_DAY_FORMAT"),
                    }
                    for n in range(1, last + 1)
                ],
            }
        if y:
            months = range(1, (today.month if y == today.year else 12) + 1)
            return {
                "show": True,
                "back": {"link": link(), "title": gettext("All dates")},
                "choices": [
                    {
                        "link": link(year=y, month=n),
                        "title": title(date(y, n, 1), "YEAR_MONTH_FORMAT"),
                    }
                    for n in months
                ],
            }
    except (TypeError, ValueError):
        return {"show": False}  # a bad date: the change list reports it itself
    return {
        "show": True,
        "back": None,
        "choices": [
            {"link": link(year=n), "title": str(n)}
            for n in range(today.year - years + 1, today.year + 1)
        ],
    }


@admin.register(Call)
class CallAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "agency",
        "campaign",
        "client",
        "status",
        "joined_at",
        "end_reason",
        "booked",
    )
    list_filter = (("status", ColumnValuesFilter), ("end_reason", ColumnValuesFilter))
    date_hierarchy = "created_at"
    #: How many years back the date drill-down offers.
    date_hierarchy_years = 3
    ordering = ("-created_at",)
    # Sorting millions of rows by a column without an index is a full sort.
    sortable_by = ("created_at",)
    search_fields = ("id", "agency_id", "campaign_id", "client_id")
    indexed_search_fields = ("id", "agency_id")  # the primary key, idx_calls_agency_created
    search_help_text = "An exact call, agency, campaign or client UUID."
    fields = (
        "id",
        "created_at",
        "agency_id",
        "campaign_id",
        "client_id",
        "status",
        "joined_at",
        "end_reason",
        "booked",
        "analysis",
    )
    readonly_fields = ("booked",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Call]:
        # "booked" is worked out in the database; the list never reads ``analysis``.
        calls: QuerySet[Call] = super().get_queryset(request)
        return calls.defer("analysis").annotate(is_booked=MEETING_BOOKED)

    @admin.display(description="agency")
    def agency(self, call: Call) -> str | None:
        return short_uuid_search_link(call.agency_id)

    @admin.display(description="campaign")
    def campaign(self, call: Call) -> str | None:
        return short_uuid_search_link(call.campaign_id)

    @admin.display(description="client")
    def client(self, call: Call) -> str | None:
        return short_uuid_search_link(call.client_id)

    @admin.display(description="booked", boolean=True)
    def booked(self, call: Call) -> bool | None:
        """As the heatmap counts it: ``analysis -> sdr -> meeting_booked`` is JSON ``true``."""
        value = getattr(call, "is_booked", None)
        return None if value is None else bool(value)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if context is not None and "cl" in context:
            context["calendar_hierarchy"] = calendar_hierarchy(
                context["cl"], today=timezone.localdate(), years=self.date_hierarchy_years
            )
        return response

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        heatmap_page = path(
            "heatmap/",
            self.admin_site.admin_view(self.heatmap_view),
            name="{}_{}_heatmap".format(*info),
        )
        # Ahead of the defaults, whose "<path:object_id>/" would take "heatmap/".
        return [heatmap_page, *super().get_urls()]

    def heatmap_view(self, request: HttpRequest) -> HttpResponse:
        """The agency's heatmap as a shaded table; ``?format=json`` or ``csv`` gives it as a file.

        Staff only (``admin_view``), and only for those who may view calls.
        """
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = CallHeatmapForm.from_query(request.GET)
        result: Heatmap | None = None
        if form.is_bound and form.is_valid():
            try:
                result = heatmap(**form.heatmap_options())
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
        }
        if result is not None:
            context.update(self.heatmap_context(request, form, result))
        return TemplateResponse(
            request,
            [
                f"admin/{self.opts.app_label}/{self.opts.model_name}/heatmap.html",
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
        totals = grid.totals
        return {
            "grid": grid,
            "metric_name": presentation.metric_name(metric),
            "gradient": presentation.gradient_css(),
            "ticks": presentation.scale_ticks(grid.maximum, metric),
            "empty_shade": presentation.EMPTY,
            "best_times": [
                {
                    "label": best.label,
                    "value": presentation.best_time_text(best.metric_value, metric),
                    "total_calls": best.total_calls,
                }
                for best in result.best_times
            ],
            "totals": {
                "calls": f"{totals.total_calls:,}",
                "connected": f"{totals.connected_calls:,}",
                "meetings": f"{totals.meetings_booked:,}",
                "connect_rate": presentation.format_value(
                    totals.connect_rate, is_rate=True, decimals=1
                ),
                "meeting_rate": presentation.format_value(
                    totals.meeting_rate, is_rate=True, decimals=1
                ),
            },
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


@admin.register(User)
class SupabaseUserAdmin(ReadOnlyAdmin):
    list_display = ("id", "agency_id")
    search_fields = ("id", "agency_id")
    search_help_text = "An exact user or agency UUID."
    ordering = ("id",)


@admin.register(CallHeatmap)
class CallHeatmapAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The admin index's "Call heatmap" row: it leads to the page ``CallAdmin`` serves."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Whoever may view calls may see them as a heatmap.
        return request.user.has_perm(f"{Call._meta.app_label}.view_{Call._meta.model_name}")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        page = reverse(f"{self.admin_site.name}:analytics_call_heatmap")
        query = request.GET.urlencode()
        return HttpResponseRedirect(f"{page}?{query}" if query else page)
