"""The large-table toolkit: what an admin list needs over a table of millions of rows.

The ``calls`` table holds millions of rows and has one index, ``(agency_id,
created_at)``, so a list over it avoids what the admin does by default at that
size: counting every row, a ``DISTINCT`` over the table for each filter and for
the date hierarchy, and searching every column. Here: a paginator that stops
counting (:class:`CappedCountPaginator`), a filter whose choices come from the
catalogue or a sample (:class:`ColumnValuesFilter`), a date drill-down from the
calendar (:func:`calendar_hierarchy`), and the read-only bases
(:class:`ReadOnlyAdmin`, :class:`LargeTableAdmin`).
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
from django.core.paginator import Paginator
from django.db import connections, router
from django.db.models import Field, Model, Q, QuerySet
from django.http import HttpRequest
from django.utils import formats
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext

if TYPE_CHECKING:  # generic only in the type stubs
    ModelAdminBase = admin.ModelAdmin[Any]
    PaginatorBase = Paginator[Any]
else:
    ModelAdminBase = admin.ModelAdmin
    PaginatorBase = Paginator


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
    """The rows belong to the Supabase application: the admin looks and never touches."""

    actions = None

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class LargeTableAdmin(ReadOnlyAdmin):
    """A read-only list over a large table: a capped count, no facets, exact UUID search.

    Searches match whole UUIDs exactly, through an index where one holds the
    UUID; a term that is not a UUID matches nothing rather than reaching SQL.
    """

    paginator = CappedCountPaginator
    show_full_result_count = False
    # Facets count every filter choice over the whole table.
    show_facets = admin.ShowFacets.NEVER
    search_help_text = "An exact UUID."
    #: Search fields with an index of their own (or leading one), tried one by one first.
    indexed_search_fields: tuple[str, ...] = ("id",)

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
