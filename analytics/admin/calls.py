"""The calls list: read-only, and cheap on a ``calls`` table of millions of rows.

It never counts the whole table, never reads ``analysis`` (its lookups are the
status and end-reason filters and the date drill-down, nothing else) and never
runs a ``DISTINCT`` over it (see :mod:`analytics.admin.large_tables`); its pages
read under ``STATEMENT_TIMEOUT`` (5 s). It also serves the call heatmap
page, ``<calls>/heatmap/`` (:mod:`analytics.admin.heatmap`), which each agency id links to.
Its columns fit a 1280-pixel window beside the admin's sidebar and filters: ids
shortened, campaign and client in one column, times without seconds, and *connected* a
tick rather than the time joined.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db import router
from django.db.models import BooleanField, ExpressionWrapper, QuerySet
from django.http import HttpRequest
from django.urls import URLPattern
from django.utils import formats, timezone
from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe

from analytics.admin.heatmap import AgencyColumns, CallHeatmapPage
from analytics.admin.large_tables import (
    ColumnValuesFilter,
    LargeTableAdmin,
    calendar_hierarchy,
    short_uuid_search_link,
)
from analytics.heatmap.agencies import calls_span, periods_with_calls
from analytics.models import CONNECTED, MEETING_BOOKED, Call

#: How the list writes a time: to the minute, numbers only (``2026-11-28 10:15``).
LIST_TIME_FORMAT = "Y-m-d H:i"


def start_of_day(day: date) -> datetime:
    """Midnight starting ``day`` in the current zone, as the drill-down's filter takes it."""
    return timezone.make_aware(datetime.combine(day, time.min))


class CallAdmin(AgencyColumns, CallHeatmapPage, LargeTableAdmin):
    list_display = (
        "created",
        "agency",
        "campaign_client",
        "status",
        "end_reason",
        "connected",
        "booked",
    )
    list_filter = (("status", ColumnValuesFilter), ("end_reason", ColumnValuesFilter))
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    # Sorting millions of rows by a column without an index is a full sort.
    sortable_by = ("created_at",)
    search_fields = ("id", "agency_id", "campaign_id", "client_id")
    indexed_search_fields = ("id", "agency_id")  # the primary key, idx_calls_agency_created
    search_help_text = "An exact call, agency, campaign or client UUID."
    fields = (
        "id",
        "created_at",
        "agency_heatmap",
        "campaign_id",
        "client_id",
        "status",
        "joined_at",
        "end_reason",
        "booked",
        "analysis",
    )
    readonly_fields = ("agency_heatmap", "booked")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Call]:
        # "booked" is worked out in the database; the list never reads ``analysis``.
        calls: QuerySet[Call] = super().get_queryset(request)
        return calls.defer("analysis").annotate(
            is_connected=ExpressionWrapper(CONNECTED, output_field=BooleanField()),
            is_booked=MEETING_BOOKED,
        )

    @admin.display(description="created at", ordering="created_at")
    def created(self, call: Call) -> str:
        return formats.date_format(timezone.localtime(call.created_at), LIST_TIME_FORMAT)

    @admin.display(description="campaign / client")
    def campaign_client(self, call: Call) -> SafeString:
        """Both in one column, one above the other: the list's width is the window's."""
        empty = self.get_empty_value_display()
        return format_html_join(
            mark_safe("<br>"),
            "{}",
            (
                (short_uuid_search_link(value) or empty,)
                for value in (call.campaign_id, call.client_id)
            ),
        )

    @admin.display(description="connected", boolean=True)
    def connected(self, call: Call) -> bool | None:
        """As the heatmap counts it: joined, and not ended as ``unjoined``."""
        value = getattr(call, "is_connected", None)
        return None if value is None else bool(value)

    @admin.display(description="booked", boolean=True)
    def booked(self, call: Call) -> bool | None:
        """As the heatmap counts it: ``analysis -> sdr -> meeting_booked`` is JSON ``true``."""
        value = getattr(call, "is_booked", None)
        return None if value is None else bool(value)

    def changelist_context(self, request: HttpRequest, cl: ChangeList) -> dict[str, Any]:
        # The years, months and days with calls, in the admin's zone as the filter counts them.
        using = router.db_for_read(Call)
        span = calls_span(using=using)
        dates = None if span is None else (timezone.localdate(span[0]), timezone.localdate(span[1]))

        def probe(periods: Sequence[tuple[date, date]]) -> set[int]:
            return periods_with_calls(
                using=using,
                periods=[(start_of_day(start), start_of_day(end)) for start, end in periods],
            )

        return {"calendar_hierarchy": calendar_hierarchy(cl, span=dates, probe=probe)}

    def get_urls(self) -> list[URLPattern]:
        # Ahead of the defaults, whose "<path:object_id>/" would take "heatmap/".
        return [*self.heatmap_urls(), *super().get_urls()]
