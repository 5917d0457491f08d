"""The admin over the Supabase-owned tables: read-only lists, and the call heatmap page.

- :mod:`~analytics.admin.large_tables`: what a list over millions of rows needs, and the
  read-only bases.
- :mod:`~analytics.admin.timeouts`: the pages' reads under
  ``STATEMENT_TIMEOUT`` (5 s), and the 503 page when one runs out of time.
- :mod:`~analytics.admin.calls` and :mod:`~analytics.admin.users`: the two lists.
- :mod:`~analytics.admin.heatmap`: the call heatmap page, served by the calls' admin, and
  :mod:`~analytics.admin.forms`: its form.
"""

from django.contrib import admin

from analytics.admin.calls import CallAdmin
from analytics.admin.heatmap import CallHeatmapPage
from analytics.admin.large_tables import (
    CappedCountPaginator,
    ColumnValuesFilter,
    LargeTableAdmin,
    ReadOnlyAdmin,
)
from analytics.admin.users import SupabaseUserAdmin
from analytics.models import Call, User

__all__ = [
    "CallAdmin",
    "CallHeatmapPage",
    "CappedCountPaginator",
    "ColumnValuesFilter",
    "LargeTableAdmin",
    "ReadOnlyAdmin",
    "SupabaseUserAdmin",
]

admin.site.register(Call, CallAdmin)
admin.site.register(User, SupabaseUserAdmin)
