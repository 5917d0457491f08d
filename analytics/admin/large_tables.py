"""The large-table toolkit: what an admin list needs over a table of millions of rows.

The ``calls`` table holds millions of rows and has one index, ``(agency_id,
created_at)``, so a list over it avoids what the admin does by default at that
size: counting every row, a ``DISTINCT`` over the table for each filter and for
the date hierarchy, and searching every column. Here: a paginator that stops
counting (:class:`CappedCountPaginator`), a filter whose choices come from the
catalogue or a sample (:class:`ColumnValuesFilter`), a date drill-down from the
calendar between the first and last rows, asking only which periods between them hold
rows (:func:`calendar_hierarchy`), and the read-only bases
(:class:`ReadOnlyAdmin`, :class:`LargeTableAdmin`).

The query string is the list's input, so it takes only what the list offers: its
filters' and its drill-down's parameters, also spelt with ``__exact`` as Django writes
them (anything else is refused with a 400 before any query), values those offer
(anything else is Django's "bad lookup", back to the list with ``?e=1`` and a
message), and sorting by ``sortable_by``.
"""

from __future__ import annotations

import functools
import operator
from calendar import monthrange
from collections.abc import Callable, Collection, Sequence
from datetime import MAXYEAR, MINYEAR, date, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from uuid import UUID

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.admin.views.main import SEARCH_VAR, ChangeList
from django.core.paginator import Paginator
from django.db import connections, router
from django.db.models import Field, Model, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import formats
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext

from analytics.admin import timeouts
from analytics.admin.timeouts import respond_in_time

#: The lookup Django's own filters spell out (``?status__exact=``), the same as none.
EXACT = "__exact"

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


def enum_labels(model: type[Model], field: Field[Any, Any]) -> list[str] | None:
    """The labels of the PostgreSQL enum ``field``'s column has, in the enum's order.

    ``None`` when the column is not an enum, or the database is not PostgreSQL.
    """
    connection = connections[router.db_for_read(model)]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.enumlabel FROM pg_attribute a"
            " JOIN pg_enum e ON e.enumtypid = a.atttypid"
            " WHERE a.attrelid = %s::regclass AND a.attname = %s AND NOT a.attisdropped"
            " ORDER BY e.enumsortorder",
            [connection.ops.quote_name(model._meta.db_table), str(field.column)],
        )
        return [label for (label,) in cursor.fetchall()] or None


def column_values(model: type[Model], field: Field[Any, Any], *, sample: int = 10_000) -> list[Any]:
    """The values a column can hold, cheaply: an enum's labels, or those in a sample of rows.

    On PostgreSQL an enum column's labels come from the catalogue, in the enum's
    order (:func:`enum_labels`). Otherwise the distinct values among the first
    ``sample`` rows stand in for a ``SELECT DISTINCT`` that would read the whole table.
    """
    labels = enum_labels(model, field)
    if labels is not None:
        return [*labels, None] if field.null else labels
    connection = connections[router.db_for_read(model)]
    quote = connection.ops.quote_name
    table, column = model._meta.db_table, str(field.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT {quote(column)} FROM"
            f" (SELECT {quote(column)} FROM {quote(table)} LIMIT %s) AS sample",
            [sample],
        )
        values = [value for (value,) in cursor.fetchall()]
    return sorted(values, key=lambda value: (value is None, str(value)))


def refused(request: HttpRequest, message: str) -> IncorrectLookupParameters:
    """Django's "bad lookup" (back to the list with ``?e=1``), saying why in a message."""
    messages.error(request, message, fail_silently=True)
    return IncorrectLookupParameters(message)


class ColumnValuesFilter(admin.AllValuesFieldListFilter):
    """``AllValuesFieldListFilter`` without its ``SELECT DISTINCT`` over the whole table.

    Its choices are :func:`column_values`, read when first shown. The values it is
    given are checked before they reach SQL: none may hold a NUL, an enum column's
    must be among its labels (a text column's sample may miss real values, so any
    is taken there), and ``__isnull`` is ``True`` or ``False``, on a nullable column
    only. Anything else is :func:`refused`, where PostgreSQL would have failed the
    query on the enum's input (a 500).
    """

    def __init__(
        self,
        field: Field[Any, Any],
        request: HttpRequest,
        params: dict[str, list[str]],
        model: type[Model],
        model_admin: admin.ModelAdmin[Any],
        field_path: str,
    ) -> None:
        self.column_model = model
        self._choices: list[Any] | None = None
        values = list(params.get(field_path, []))
        isnull = list(params.get(f"{field_path}__isnull", []))
        super().__init__(field, request, params, model, model_admin, field_path)
        if values or isnull:
            self.check_values(request, values, isnull)

    @property  # type: ignore[override]
    def lookup_choices(self) -> list[Any]:
        if self._choices is None:
            self._choices = column_values(self.column_model, self.field)
        return self._choices

    @lookup_choices.setter
    def lookup_choices(self, rows: Any) -> None:
        """The parent's lazy ``DISTINCT`` queryset, dropped before anything evaluates it."""

    def check_values(self, request: HttpRequest, values: list[str], isnull: list[str]) -> None:
        labels = enum_labels(self.column_model, self.field) if values else None
        if (
            any("\x00" in value for value in values)
            or (labels is not None and not set(values) <= set(labels))
            or (isnull and not self.field.null)
            or any(value.lower() not in ("true", "false") for value in isnull)
        ):
            raise refused(
                request, f"The {self.title} filter has no such choice; pick one of its own."
            )


def list_filter_parameters(
    model_admin: admin.ModelAdmin[Any], request: HttpRequest, list_filter: Any
) -> list[str]:
    """The query parameters one ``list_filter`` entry reads: its ``expected_parameters()``.

    The filter is built as the change list builds it, with no parameters given, so
    :class:`ColumnValuesFilter` reads nothing; a ``SimpleListFilter`` is not built,
    since its ``lookups()`` may query.
    """
    model = model_admin.model
    if isinstance(list_filter, type) and issubclass(list_filter, admin.SimpleListFilter):
        return [str(list_filter.parameter_name)]
    if callable(list_filter):
        spec = list_filter(request, {}, model, model_admin)
    else:
        field, filter_class = (
            list_filter
            if isinstance(list_filter, (tuple, list))
            else (list_filter, admin.FieldListFilter.create)
        )
        field_path = None
        if not isinstance(field, Field):
            field_path = field
            field = get_fields_from_path(model, field_path)[-1]
        spec = filter_class(field, request, {}, model, model_admin, field_path=field_path)
    return [name for name in spec.expected_parameters() if name]


def checked_drill_down(request: HttpRequest, field: str, params: dict[str, list[str]]) -> None:
    """Refuse a date drill-down (``<field>__year``, ``__month``, ``__day``) that names no date.

    Django reads the last of each parameter's values and turns a year, month and
    day into a range on ``field``; a month or day without a year would instead be
    an ``EXTRACT`` over every row, and a year at either end of the calendar makes
    Django's own range overflow (a 500). Years run from 2 to 9998 here, so a range
    in any time zone stays inside the calendar.
    """
    given = {
        part: values[-1]
        for part in ("year", "month", "day")
        if (values := params.get(f"{field}__{part}"))
    }
    if not given:
        return
    no_such_date = "No such date; pick one from the date drill-down."
    digits = all(value.isascii() and value.isdigit() for value in given.values())
    if "year" not in given or not digits:
        raise refused(request, no_such_date)
    year, month, day = (int(given.get(part, "1")) for part in ("year", "month", "day"))
    try:
        if not MINYEAR < year < MAXYEAR:
            raise ValueError(year)
        date(year, month, day)
    except ValueError as exc:
        raise refused(request, no_such_date) from exc


class LargeTableChangeList(ChangeList):
    """The change list of :class:`LargeTableAdmin`: what reaches SQL is checked first.

    - ``<lookup>__exact``, as Django writes a filter's value, is read as ``<lookup>``, the
      list's own spelling, for each lookup the list takes (:meth:`read_exact_lookups`).
    - The date drill-down's values name a real date (:func:`checked_drill_down`).
    - ``?o=`` sorts by ``sortable_by``'s columns only; Django's own would sort by any
      column of ``list_display`` (a full sort of the table), whatever the headers offer.
    - A search the search form refused (a NUL byte) matches nothing, as a term that is
      not a UUID does, instead of showing the unsearched list.
    """

    def read_exact_lookups(self, request: HttpRequest) -> None:
        """``?status__exact=ended`` as ``?status=ended``, in the filters and in every link
        the list makes; the values are then checked as the filter's own."""
        model_admin = self.model_admin
        if not isinstance(model_admin, LargeTableAdmin):
            return
        lookups = model_admin.list_lookups(request)
        for name in [name for name in self.filter_params if name.endswith(EXACT)]:
            plain = name.removesuffix(EXACT)
            if plain not in lookups:
                continue  # refused by lookup_allowed(), as any other lookup
            values = [*self.filter_params.pop(name), *self.filter_params.get(plain, [])]
            self.filter_params[plain] = values
            self.params.pop(name, None)
            self.params[plain] = values[-1]

    def get_filters(self, request: HttpRequest) -> Any:
        self.read_exact_lookups(request)
        if self.date_hierarchy:
            checked_drill_down(request, self.date_hierarchy, self.filter_params)
        return super().get_filters(request)

    def get_ordering_field(self, field_name: Any) -> Any:
        if field_name not in (self.sortable_by or ()):
            return None
        return super().get_ordering_field(field_name)

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Any]:
        rows: QuerySet[Any] = super().get_queryset(request, exclude_parameters)
        if request.GET.get(SEARCH_VAR) and not self.query:
            return rows.none()
        return rows


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
    The list takes only its own lookups (:meth:`lookup_allowed`), checks their
    values (:class:`LargeTableChangeList`), and its pages read under
    :data:`analytics.admin.timeouts.STATEMENT_TIMEOUT`.
    """

    paginator = CappedCountPaginator
    show_full_result_count = False
    # Facets count every filter choice over the whole table.
    show_facets = admin.ShowFacets.NEVER
    search_help_text = "An exact UUID."
    #: Search fields with an index of their own (or leading one), tried one by one first.
    indexed_search_fields: tuple[str, ...] = ("id",)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return LargeTableChangeList

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        """Only the lookups the list offers: its filters' and its date drill-down's.

        Django lets a change list filter by any lookup on the model's own columns
        (``?analysis__icontains=`` reads every row's JSON). Here anything else is
        ``DisallowedModelAdminLookup``, a 400, before any query. The search is
        ``?q=``, not a lookup.
        """
        return lookup in self.list_lookups(request) and super().lookup_allowed(
            lookup, value, request
        )

    def list_lookups(self, request: HttpRequest) -> set[str]:
        """The query parameters the list's filters and date drill-down read."""
        lookups = {
            name
            for list_filter in self.get_list_filter(request)
            for name in list_filter_parameters(self, request, list_filter)
        }
        if self.date_hierarchy:
            lookups.update(f"{self.date_hierarchy}__{part}" for part in ("year", "month", "day"))
        return lookups

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return respond_in_time(
            request,
            self,
            functools.partial(self.list_response, request, extra_context),
            timed_out_message=self.list_timed_out_message(request),
        )

    def list_response(
        self, request: HttpRequest, extra_context: dict[str, Any] | None
    ) -> HttpResponse:
        """Django's change list, with :meth:`changelist_context` added, not yet rendered."""
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if context is not None and "cl" in context:
            context.update(self.changelist_context(request, context["cl"]))
        return response

    def changelist_context(self, request: HttpRequest, cl: ChangeList) -> dict[str, Any]:
        """More for the list's template, given its change list; read inside the timeout."""
        return {}

    def list_timed_out_message(self, request: HttpRequest) -> str:
        ways = [
            *(["the filters"] if self.get_list_filter(request) else []),
            *(["a date"] if self.date_hierarchy else []),
            *(["a search"] if self.get_search_fields(request) else []),
        ]
        listed = " or ".join([", ".join(ways[:-1]), ways[-1]] if len(ways) > 1 else ways)
        narrow = f"; narrow it with {listed}" if ways else ""
        return (
            f"The {self.opts.verbose_name_plural} list took longer than"
            f" {timeouts.STATEMENT_TIMEOUT:g} s{narrow}."
        )

    def object_timed_out_message(self) -> str:
        return (
            f"Reading this {self.opts.verbose_name} took longer than"
            f" {timeouts.STATEMENT_TIMEOUT:g} s; try again in a moment."
        )

    def object_response(
        self, request: HttpRequest, view: Callable[[], HttpResponse]
    ) -> HttpResponse:
        """``view()``, a page of one row, under :func:`respond_in_time`."""
        return respond_in_time(
            request, self, view, timed_out_message=self.object_timed_out_message()
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        view = functools.partial(super().change_view, request, object_id, form_url, extra_context)
        return self.object_response(request, view)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        view = functools.partial(super().history_view, request, object_id, extra_context)
        return self.object_response(request, view)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # Refused to everyone, but only after the row is read.
        view = functools.partial(super().delete_view, request, object_id, extra_context)
        return self.object_response(request, view)

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


#: Which date ranges ``[start, end)`` (in the admin's zone) hold rows: their positions.
PeriodProbe = Callable[[Sequence[tuple[date, date]]], Collection[int]]


def calendar_hierarchy(
    cl: ChangeList, *, span: tuple[date, date] | None, probe: PeriodProbe
) -> dict[str, Any]:
    """The date drill-down: the years, months and days that hold rows.

    Django's ``date_hierarchy`` runs ``MIN``/``MAX`` and a ``DISTINCT`` of truncated
    dates over every matching row. Here the caller gives ``span``, the first and last
    row's dates (found cheaply; ``None``: no rows, no drill-down), which hold rows, and
    ``probe``, asked only about the years, months or days strictly between them at the
    level shown (at most 31 periods). Finding the rows is left to the filter, a range on
    the field. Returns what ``admin/date_hierarchy.html`` expects.
    """
    field = cl.date_hierarchy
    if span is None:
        return {"show": False}
    first, last = span

    def link(**parts: int) -> str:
        new = {f"{field}__{name}": value for name, value in parts.items()}
        return cl.get_query_string(new, [f"{field}__"])

    def title(day: date, format_name: str) -> str:
        return capfirst(formats.date_format(day, format_name))

    def with_rows(periods: dict[int, tuple[date, date]], known: set[int]) -> list[int]:
        """The keys of ``periods`` inside ``span`` that hold rows: ``known``, or found so."""
        inside = {
            n: (start, end) for n, (start, end) in periods.items() if start <= last and first < end
        }
        asked = [n for n in inside if n not in known]
        found = probe([inside[n] for n in asked]) if asked else ()
        return sorted({n for n in inside if n in known} | {asked[i] for i in found})

    def month_after(y: int, m: int) -> date:
        return date(y + m // 12, m % 12 + 1, 1)

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
            days = with_rows(
                {
                    n: (date(y, m, n), date(y, m, n) + timedelta(days=1))
                    for n in range(1, monthrange(y, m)[1] + 1)
                },
                known={day.day for day in (first, last) if (day.year, day.month) == (y, m)},
            )
            return {
                "show": True,
                "back": {"link": link(year=y), "title": str(y)},
                "choices": [
                    {
                        "link": link(year=y, month=m, day=n),
                        "title": title(date(y, m, n), "MONTH_DAY_FORMAT"),
                    }
                    for n in days
                ],
            }
        if y:
            months = with_rows(
                {n: (date(y, n, 1), month_after(y, n)) for n in range(1, 13)},
                known={day.month for day in (first, last) if day.year == y},
            )
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
        years = with_rows(
            {n: (date(n, 1, 1), date(n + 1, 1, 1)) for n in range(first.year, last.year + 1)},
            known={first.year, last.year},
        )
    except (TypeError, ValueError, OverflowError):
        return {"show": False}  # a bad date: the change list reports it itself
    return {
        "show": True,
        "back": None,
        "choices": [{"link": link(year=n), "title": str(n)} for n in years],
    }
