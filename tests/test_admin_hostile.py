"""The admin lists under hostile query strings: no scan, no 500, no query left running.

A staff member (or whoever holds one's session) can type any query string. The calls
and users lists take only the lookups they offer themselves, check filter and date
values before they reach SQL, and read under ``ANALYTICS_ADMIN_STATEMENT_TIMEOUT``.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings

from analytics.models import Call, User
from tests.conftest import MakeCall
from tests.test_admin import CALLS_PAGE, HEATMAP_PAGE, USERS_PAGE, staff_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client: Client) -> Client:
    client.force_login(staff_member())
    return client


def calls_sql(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries if '"calls"' in query["sql"]]


# --- only the list's own lookups ---------------------------------------------------------


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
        {"end_reason__exact": "nope"},
        {"status__in": "ended,failed"},
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


# --- filter, date and search values --------------------------------------------------------

NOT_LABELS = [
    {"status": "bogus"},
    {"status": ""},
    {"status": ["ended", "bogus"]},
    {"end_reason": "nope"},
    {"end_reason": ""},
]
BAD_VALUES = [
    {"status": "\x00"},
    {"status": "ended\x00"},
    {"end_reason": "completed\x00"},
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


# --- the statement timeout -------------------------------------------------------------------


@contextmanager
def statement_timeouts_seen() -> Iterator[list[str]]:
    """``statement_timeout`` as each query on ``calls`` started, read beside it."""
    seen: list[str] = []

    def record(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any):
        if '"calls"' in sql:
            with context["connection"].cursor() as cursor:
                cursor.execute("SHOW statement_timeout")
                seen.append(cursor.fetchone()[0])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield seen


def current_statement_timeout() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        return str(cursor.fetchone()[0])


@pytest.mark.usefixtures("on_postgresql")
@override_settings(ANALYTICS_ADMIN_STATEMENT_TIMEOUT=1.5)
def test_every_query_of_the_calls_pages_runs_under_the_admin_timeout(
    staff: Client, make_call: MakeCall, agency_id: uuid.UUID
) -> None:
    call = make_call()
    before = current_statement_timeout()
    for page, query in [
        (CALLS_PAGE, {}),
        (CALLS_PAGE, {"q": str(agency_id), "status": "ended"}),
        (f"{CALLS_PAGE}{call.id}/change/", {}),
        (f"{CALLS_PAGE}{call.id}/history/", {}),
        (HEATMAP_PAGE, {"agency": str(uuid.uuid4())}),  # the form asks calls for the agency
    ]:
        with CaptureQueriesContext(connection) as captured, statement_timeouts_seen() as seen:
            response = staff.get(page, query)
        assert response.status_code == 200, page
        assert seen, f"no query on calls for {page}"
        assert set(seen) == {"1500ms"}, (page, seen)
        sql = [q["sql"] for q in captured.captured_queries]
        set_at = next(i for i, s in enumerate(sql) if "set_config('statement_timeout'" in s)
        first_call = next(i for i, s in enumerate(sql) if '"calls"' in s)
        assert set_at < first_call, page
        # Put back afterwards: the test's transaction (as ATOMIC_REQUESTS's would) goes on.
        assert current_statement_timeout() == before


@contextmanager
def locked(table: str, *, release_after: float = 10.0) -> Iterator[None]:
    """Another session holds ``table`` in ACCESS EXCLUSIVE mode: every read of it waits.

    The lock goes after ``release_after`` seconds at the latest, so code that waits
    without a timeout makes a test fail slowly rather than hang.
    """
    other = connection.get_new_connection(connection.get_connection_params())
    other.cursor().execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    release = threading.Timer(release_after, other.rollback)
    release.start()
    try:
        yield
    finally:
        release.cancel()
        other.rollback()
        other.close()


@pytest.mark.usefixtures("on_postgresql")
@override_settings(ANALYTICS_ADMIN_STATEMENT_TIMEOUT=0.2)
@pytest.mark.parametrize(
    ("table", "page", "message"),
    [
        (
            "calls",
            CALLS_PAGE,
            "The calls list took longer than 0.2 s;"
            " narrow it with the filters, a date or a search.",
        ),
        (
            "calls",
            f"{CALLS_PAGE}{uuid.uuid4()}/change/",
            "Reading this call took longer than 0.2 s; try again in a moment.",
        ),
        ("users", USERS_PAGE, "The users list took longer than 0.2 s; narrow it with a search."),
    ],
)
def test_a_query_that_times_out_is_a_readable_503(
    staff: Client, table: str, page: str, message: str
) -> None:
    before = current_statement_timeout()
    started = time.monotonic()
    with locked(table):
        response = staff.get(page)
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    html = response.content.decode()
    assert message in html
    assert 'id="site-name"' in html  # the admin's own page, not a traceback
    list_page = CALLS_PAGE if table == "calls" else USERS_PAGE
    assert f'href="{list_page}"' in html
    # The request's transaction was rolled back cleanly: the connection still works.
    assert current_statement_timeout() == before


@pytest.mark.usefixtures("on_postgresql")
@override_settings(ANALYTICS_ADMIN_STATEMENT_TIMEOUT=0.2)
def test_the_heatmap_forms_agency_check_times_out_as_a_form_error(staff: Client) -> None:
    started = time.monotonic()
    with locked("calls"):
        response = staff.get(HEATMAP_PAGE, {"agency": str(uuid.uuid4())})
    assert time.monotonic() - started < 5
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "agency": ["The calls table could not be queried; the error has been logged."]
    }
