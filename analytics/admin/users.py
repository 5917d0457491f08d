"""The users list: read-only, searched by an exact user or agency UUID.

It shows what the ``users`` table holds beside the ids (``email`` and ``full_name``, as
the reference schema has them), and each agency links to its call heatmap.
"""

from __future__ import annotations

from analytics.admin.heatmap import AgencyColumns
from analytics.admin.large_tables import LargeTableAdmin


class SupabaseUserAdmin(AgencyColumns, LargeTableAdmin):
    list_display = ("id", "email", "full_name", "agency")
    search_fields = ("id", "agency_id")
    search_help_text = "An exact user or agency UUID."
    ordering = ("id",)
    # agency_id has no index: sorting by it would sort the whole table.
    sortable_by = ("id",)
    fields = ("id", "email", "full_name", "agency_heatmap")
    readonly_fields = ("agency_heatmap",)
