"""The admin's reads of ``calls`` and ``users`` run under ``STATEMENT_TIMEOUT``: a page that
runs out of time is a readable 503 in the admin's look, and no query is left running."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from analytics.admin import timeouts
from tests.helpers import CALLS_PAGE, HEATMAP_PAGE, USERS_PAGE, MakeCall

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("on_postgresql")]


def statement_timeout_of(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """The admin's statement timeout, and the seconds its 503 pages name, for one test."""
    monkeypatch.setattr(timeouts, "STATEMENT_TIMEOUT", seconds)


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


def test_every_query_of_the_calls_pages_runs_under_the_admin_timeout(
    staff: Client, make_call: MakeCall, agency_id: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    statement_timeout_of(monkeypatch, 1.5)
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
    staff: Client, table: str, page: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    statement_timeout_of(monkeypatch, 0.2)
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


def test_the_heatmap_forms_agency_check_times_out_as_a_form_error(
    staff: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    statement_timeout_of(monkeypatch, 0.2)
    started = time.monotonic()
    with locked("calls"):
        response = staff.get(HEATMAP_PAGE, {"agency": str(uuid.uuid4())})
    assert time.monotonic() - started < 5
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "agency": ["Failed to query calls table: canceling statement due to statement timeout"]
    }
