"""The users list: read-only, searched by an exact user or agency UUID.

It shows what the ``users`` table holds beside the ids (``email`` and ``full_name``, as
the reference schema has them), and each agency links to its call heatmap.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.safestring import SafeString

from analytics.admin.heatmap import agency_heatmap_link, agency_list_cell
from analytics.admin.large_tables import LargeTableAdmin
from analytics.models import User


class SupabaseUserAdmin(LargeTableAdmin):
    list_display = ("id", "email", "full_name", "agency")
    search_fields = ("id", "agency_id")
    search_help_text = "An exact user or agency UUID."
    ordering = ("id",)
    # agency_id has no index: sorting by it would sort the whole table.
    sortable_by = ("id",)
    fields = ("id", "email", "full_name", "agency_heatmap")
    readonly_fields = ("agency_heatmap",)

    @admin.display(description="agency")
    def agency(self, user: User) -> SafeString | None:
        return agency_list_cell(user.agency_id, site_name=self.admin_site.name)

    @admin.display(description="agency id")
    def agency_heatmap(self, user: User) -> SafeString | None:
        """The user's page: the agency in full, linking to its heatmap."""
        return agency_heatmap_link(
            user.agency_id, site_name=self.admin_site.name, text=str(user.agency_id)
        )
