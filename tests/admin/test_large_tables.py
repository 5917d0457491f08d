"""The lists over tables of millions of rows: read-only, counts capped, and under hostile
query strings no scan, no 500: only the lookups a list offers, its values checked
before they reach SQL."""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Any

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from analytics.admin import CappedCountPaginator, ReadOnlyAdmin
from analytics.models import Call, User
from tests.helpers import CALLS_PAGE, USERS_PAGE, MakeCall

pytestmark = pytest.mark.django_db


def calls_sql(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries if '"calls"' in query["sql"]]


# --- read-only, and cheap on a big table ------------------------------------------------


def test_every_admin_is_read_only_through_one_base(rf) -> None:
    request = rf.get("/")
    for model in (Call, User):
        model_admin = admin.site.get_model_admin(model)
        assert isinstance(model_admin, ReadOnlyAdmin)
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)
        for name in ("has_add_permission", "has_change_permission", "has_delete_permission"):
            owner = next(cls for cls in type(model_admin).__mro__ if name in vars(cls))
            assert owner is ReadOnlyAdmin, (model, name)


def test_the_paginator_stops_counting_at_its_cap() -> None:
    class Small(CappedCountPaginator):
        count_cap = 10

    assert Small(list(range(5)), 3).count == 5
    assert not Small(list(range(10)), 3).count_is_capped
    capped = Small(list(range(50)), 3)
    assert (capped.count, capped.count_is_capped, capped.num_pages) == (10, True, 4)


BIG = 100_000
COUNT_STAR = re.compile(r"COUNT\(\*\)", re.IGNORECASE)
ANALYSIS_COLUMN = re.compile(r'"calls"\."analysis"(?!\s*->)')


def fill_calls(rows: int, agency_id: uuid.UUID) -> None:
    """``rows`` calls over the last ~70 days in one statement; about one in seven booked."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO calls (id, agency_id, campaign_id, status, created_at, joined_at,
                               end_reason, analysis)
            SELECT gen_random_uuid(), %s, NULL,
                   (CASE WHEN g %% 10 = 0 THEN 'failed' ELSE 'ended' END)::call_status,
                   now() - make_interval(mins => g),
                   CASE WHEN g %% 3 = 0 THEN now() - make_interval(mins => g) END,
                   (CASE WHEN g %% 5 = 0 THEN 'unjoined' ELSE 'completed' END)::call_end_reason,
                   jsonb_build_object('sdr', jsonb_build_object('meeting_booked', g %% 7 = 0))
            FROM generate_series(1, %s) AS g
            """,
            [str(agency_id), rows],
        )
        cursor.execute("ANALYZE calls")


#: ``min("calls"."created_at")`` or ``max(...)``, Django's way to the date hierarchy's range.
MIN_MAX_OF_CALLS = re.compile(r'\b(min|max)\("calls"\.', re.IGNORECASE)

QUERIES = [
    {},
    {"status": "ended", "end_reason": "completed"},
    {"created_at__year": "{year}"},
    {"created_at__year": "{year}", "created_at__month": "{month}"},
    {"q": "{agency}"},
    {"p": "3"},
]


@pytest.mark.usefixtures("on_postgresql")
def test_a_big_call_list_never_counts_the_table_or_reads_analysis(
    staff: Client, agency_id: uuid.UUID, today: date
) -> None:
    fill_calls(BIG, agency_id)
    values = {"year": str(today.year), "month": str(today.month), "agency": str(agency_id)}
    for query in QUERIES:
        params = {key: value.format(**values) for key, value in query.items()}
        with CaptureQueriesContext(connection) as captured:
            response = staff.get(CALLS_PAGE, params)
        assert response.status_code == 200, params
        calls_sql = [q["sql"] for q in captured.captured_queries if '"calls"' in q["sql"]]
        assert calls_sql, f"no query on calls for {params}"
        for sql in calls_sql:
            if COUNT_STAR.search(sql):
                assert "LIMIT 10001)" in sql, f"unbounded count for {params}: {sql}"
            assert not ANALYSIS_COLUMN.search(sql), f"reads analysis for {params}: {sql}"
            if "DISTINCT" in sql.upper():
                assert "LIMIT" in sql.upper(), f"unbounded DISTINCT for {params}: {sql}"
            # The drill-down's span takes min() and max() of each agency's first and last
            # call, each found through the index, never of the table's rows.
            assert not MIN_MAX_OF_CALLS.search(sql), f"date range scan for {params}: {sql}"
        cl = response.context["cl"]
        assert len(cl.result_list) == 100, params
        assert {row.is_booked for row in cl.result_list} == {True, False}, params
        if "q" in params:  # the agency's index alone, not an OR over unindexed columns
            assert all('campaign_id" =' not in sql for sql in calls_sql), calls_sql
        if not params or "q" in params:
            assert cl.paginator.count_is_capped
            assert "More than 10000 calls" in response.content.decode()


# --- only the list's own lookups --------------------------------------------------------


def test_the_lists_allow_exactly_the_lookups_they_offer(rf) -> None:
    request = rf.get("/")
    calls = admin.site.get_model_admin(Call)
    offered = {
        "status",
        "status__isnull",
        "end_reason",
        "end_reason__isnull",
        "created_at__year",
        "created_at__month",
        "created_at__day",
    }
    for lookup in offered:
        assert calls.lookup_allowed(lookup, "x", request), lookup
    for lookup in ("analysis__icontains", "status__exact", "created_at__gte", "id", "agency_id"):
        assert not calls.lookup_allowed(lookup, "x", request), lookup
    users = admin.site.get_model_admin(User)
    for lookup in ("id", "agency_id", "agency_id__isnull", "email__icontains"):
        assert not users.lookup_allowed(lookup, "x", request), lookup


@pytest.mark.parametrize(
    "query",
    [
        {"analysis__icontains": "zz"},
        {"analysis__sdr__meeting_booked": "true"},
        {"status__in": "ended,failed"},
        {"agency_id__exact": "0c5e7c1a-5b3f-4f0e-9d3a-7a1f2e6b9c41"},
        {"analysis__exact": "{}"},
        {"created_at__gte": "2020-01-01"},
        {"created_at__hour": "3"},
        {"campaign_id__isnull": "True"},
        {"id__startswith": "a"},
        {"status": "ended", "analysis__icontains": "zz"},
    ],
)
def test_a_lookup_the_call_list_does_not_offer_is_refused_before_any_sql(
    staff: Client, make_call: MakeCall, query: dict[str, str]
) -> None:
    make_call(analysis={"zz": 1})
    with CaptureQueriesContext(connection) as captured:
        response = staff.get(CALLS_PAGE, query)
    assert response.status_code == 400
    assert not calls_sql(captured), calls_sql(captured)
    assert not any("analysis" in query["sql"] for query in captured.captured_queries)


@pytest.mark.parametrize("query", [{"agency_id": str(uuid.uuid4())}, {"id__contains": "ab"}])
def test_a_lookup_on_the_user_list_is_refused(
    staff: Client, user: User, query: dict[str, str]
) -> None:
    with CaptureQueriesContext(connection) as captured:
        response = staff.get(USERS_PAGE, query)
    assert response.status_code == 400
    assert not any('"users"' in query["sql"] for query in captured.captured_queries)


def test_sorting_by_a_column_without_an_index_is_ignored(
    staff: Client, make_call: MakeCall
) -> None:
    make_call()
    # ?o=5 is joined_at, ?o=4 status: columns the list shows, but sorts only by created_at.
    for order in ("5", "-4.6", "0.5"):
        with CaptureQueriesContext(connection) as captured:
            response = staff.get(CALLS_PAGE, {"o": order})
        assert response.status_code == 200
        for sql in calls_sql(captured):
            assert not re.search(r'ORDER BY[^)]*"(joined_at|status|end_reason)"', sql), sql
    with CaptureQueriesContext(connection) as captured:
        assert staff.get(USERS_PAGE, {"o": "1"}).status_code == 200
    assert not any('ORDER BY "users"."agency_id"' in q["sql"] for q in captured.captured_queries)


# --- filter, date and search values -----------------------------------------------------

NOT_LABELS = [
    {"status": "bogus"},
    {"status": ""},
    {"status": ["ended", "bogus"]},
    {"end_reason": "nope"},
    {"end_reason": ""},
    {"end_reason__exact": "nope"},
    {"status__exact": "bogus"},
]
BAD_VALUES = [
    {"status": "\x00"},
    {"status": "ended\x00"},
    {"end_reason": "completed\x00"},
    {"status__exact": "ended\x00"},
    {"end_reason__isnull": "maybe"},
    {"end_reason__isnull": "\x00"},
    {"status__isnull": "True"},  # status is never NULL: the list offers no such choice
    {"created_at__year": "\x00"},
    {"created_at__year": "abc"},
    {"created_at__year": "2024\x00"},
    {"created_at__year": "0"},
    {"created_at__year": "9999"},
    {"created_at__year": "9999", "created_at__month": "12"},
    {"created_at__year": "99999999999999999999"},
    {"created_at__year": "2024", "created_at__month": "13"},
    {"created_at__year": "2024", "created_at__month": "2", "created_at__day": "30"},
    {"created_at__year": "2024", "created_at__month": "\x00"},
    {"created_at__month": "3"},  # without a year: an EXTRACT over every row
    {"created_at__day": "5"},
]


def assert_refused(staff: Client, query: dict[str, Any]) -> None:
    response = staff.get(CALLS_PAGE, query)
    # Django's answer to a bad lookup value: back to the unfiltered list, with "?e=1".
    assert response.status_code == 302, response.status_code
    assert response["Location"] == f"{CALLS_PAGE}?e=1"
    page = staff.get(response["Location"])
    assert page.status_code == 200
    messages = [str(message) for message in page.context["messages"]]
    assert messages, "no message says what was wrong"


@pytest.mark.parametrize("query", BAD_VALUES, ids=repr)
def test_a_value_the_list_does_not_offer_is_an_admin_error_never_a_500(
    staff: Client, make_call: MakeCall, query: dict[str, Any]
) -> None:
    make_call()
    assert_refused(staff, query)


@pytest.mark.parametrize("query", NOT_LABELS, ids=repr)
def test_a_value_that_is_not_an_enum_label_never_reaches_sql(
    staff: Client, make_call: MakeCall, query: dict[str, Any]
) -> None:
    make_call()
    if connection.vendor == "postgresql":  # the enum Supabase's schema has
        assert_refused(staff, query)
    else:  # a text column: its sample of values may miss real ones, so any value is taken
        response = staff.get(CALLS_PAGE, query)
        assert response.status_code == 200
        ((column, values),) = query.items()
        column = column.removesuffix("__exact")
        wanted = values if isinstance(values, list) else [values]
        assert all(getattr(row, column) in wanted for row in response.context["cl"].result_list)


def test_the_lists_own_values_still_filter(staff: Client, make_call: MakeCall) -> None:
    make_call(end_reason=None)
    make_call(end_reason="unjoined", status="failed")

    def count(**query: Any) -> int:
        response = staff.get(CALLS_PAGE, query)
        assert response.status_code == 200, response.get("Location")
        return len(response.context["cl"].result_list)

    assert count(status=["ended", "failed"]) == 2
    assert count(status="queued") == 0  # a label no row has yet
    assert count(end_reason__isnull="False") == 1
    assert count(end_reason__isnull="true") == 1


def test_a_filter_spelt_as_django_writes_it_filters_as_the_lists_own(
    staff: Client, make_call: MakeCall
) -> None:
    """``?status__exact=ended``, as Django's own filters and links write a value."""
    make_call(end_reason=None)
    make_call(end_reason="unjoined", status="failed")
    response = staff.get(CALLS_PAGE, {"status__exact": "failed"})
    assert response.status_code == 200, response.get("Location")
    assert [row.status for row in response.context["cl"].result_list] == ["failed"]
    html = response.content.decode()
    # The filter shows the choice as picked, and its links speak the list's own spelling.
    assert re.search(r'<li class="selected">\s*<a href="\?status=failed"', html)
    assert not re.search(r'href="\?[^"]*status__exact', html)
    assert (
        len(staff.get(CALLS_PAGE, {"end_reason__exact": "unjoined"}).context["cl"].result_list) == 1
    )


@pytest.mark.parametrize("term", ["\x00", f"{uuid.uuid4()}\x00", "a\x00b c"])
def test_a_search_with_a_nul_byte_is_never_a_500(
    staff: Client, make_call: MakeCall, user: User, term: str
) -> None:
    make_call()
    for page in (CALLS_PAGE, USERS_PAGE):
        response = staff.get(page, {"q": term})
        assert response.status_code == 200
        assert len(response.context["cl"].result_list) == 0
        assert "Null characters are not allowed." in response.content.decode()
