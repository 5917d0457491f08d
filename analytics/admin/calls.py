"""The calls list: read-only, and cheap on a ``calls`` table of millions of rows.

It never counts the whole table, never reads ``analysis`` (its lookups are the
status and end-reason filters and the date drill-down, nothing else) and never
runs a ``DISTINCT`` over it (see :mod:`analytics.admin.large_tables`); its pages
read under ``STATEMENT_TIMEOUT`` (5 s). It also serves the call heatmap
page, ``<calls>/heatmap/`` (:mod:`analytics.admin.heatmap`).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import URLPattern
from django.utils import timezone

from analytics.admin.heatmap import CallHeatmapPage
from analytics.admin.large_tables import (
    ColumnValuesFilter,
    LargeTableAdmin,
    calendar_hierarchy,
    short_uuid_search_link,
)
from analytics.models import MEETING_BOOKED, Call


class CallAdmin(CallHeatmapPage, LargeTableAdmin):
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

    def changelist_context(self, request: HttpRequest, cl: ChangeList) -> dict[str, Any]:
        return {
            "calendar_hierarchy": calendar_hierarchy(
                cl, today=timezone.localdate(), years=self.date_hierarchy_years
            )
        }

    def get_urls(self) -> list[URLPattern]:
        # Ahead of the defaults, whose "<path:object_id>/" would take "heatmap/".
        return [*self.heatmap_urls(), *super().get_urls()]
