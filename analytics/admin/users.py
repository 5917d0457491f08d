"""The users list: read-only, searched by an exact user or agency UUID."""

from __future__ import annotations

from analytics.admin.large_tables import LargeTableAdmin


class SupabaseUserAdmin(LargeTableAdmin):
    list_display = ("id", "agency_id")
    search_fields = ("id", "agency_id")
    search_help_text = "An exact user or agency UUID."
    ordering = ("id",)
    # agency_id has no index: sorting by it would sort the whole table.
    sortable_by = ("id",)
