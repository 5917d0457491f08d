"""Which agencies made calls, the first and last call, and which periods hold calls: read
through indexes, never a ``DISTINCT`` or a ``min()`` over ``calls``, the agencies from the
rollup's keys where it is installed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics.heatmap.agencies import (
    _AGENCIES_SQL,
    _SPAN_SQL,
    agencies_with_calls,
    calls_span,
    periods_sql,
    periods_with_calls,
)
from analytics.heatmap.selectors import known_agencies
from analytics.models import Call, User
from tests.helpers import MakeCall, ended_call


@pytest.mark.django_db
def test_agencies_with_calls_come_in_uuid_order_up_to_the_limit(make_call: MakeCall) -> None:
    agencies = sorted(uuid.uuid4() for _ in range(5))
    for agency in agencies:
        make_call(agency_id=agency)
        make_call(agency_id=agency, status="queued")
    assert agencies_with_calls(using="default", limit=10) == agencies
    assert agencies_with_calls(using="default", limit=3) == agencies[:3]
    with CaptureQueriesContext(connection) as captured:
        agencies_with_calls(using="default", limit=3)
    sql = " ".join(query["sql"] for query in captured.captured_queries).upper()
    assert "DISTINCT" not in sql


@pytest.mark.django_db
def test_no_calls_no_agencies_and_no_span() -> None:
    assert agencies_with_calls(using="default", limit=10) == []
    assert calls_span(using="default") is None


@pytest.mark.django_db
def test_the_span_runs_from_the_first_call_of_any_agency_to_the_last(
    make_call: MakeCall, other_agency_id: uuid.UUID
) -> None:
    first = datetime(2019, 3, 4, 5, 6, 7, tzinfo=UTC)
    last = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    make_call()
    make_call(agency_id=other_agency_id, created_at=first)
    make_call(created_at=last, status="failed")
    assert calls_span(using="default") == (first, last)


def year(n: int) -> tuple[datetime, datetime]:
    return datetime(n, 1, 1, tzinfo=UTC), datetime(n + 1, 1, 1, tzinfo=UTC)


@pytest.mark.django_db
def test_periods_with_calls_are_those_any_agency_called_in(
    make_call: MakeCall, other_agency_id: uuid.UUID
) -> None:
    """Each period is ``[start, end)``: a call at the very start counts, one at the end not."""
    assert periods_with_calls(using="default", periods=[year(2021)]) == set()
    make_call(created_at=datetime(2021, 6, 1, tzinfo=UTC))
    make_call(agency_id=other_agency_id, created_at=datetime(2024, 1, 1, tzinfo=UTC))
    periods = [year(n) for n in range(2021, 2026)]
    assert periods_with_calls(using="default", periods=periods) == {0, 3}
    assert periods_with_calls(using="default", periods=[]) == set()
    with CaptureQueriesContext(connection) as captured:
        periods_with_calls(using="default", periods=periods)
    assert "DISTINCT" not in captured.captured_queries[0]["sql"].upper()


@pytest.mark.django_db
def test_known_agencies_are_those_with_users_or_calls(
    user: User, make_call: MakeCall, other_agency_id: uuid.UUID
) -> None:
    User.objects.create(id=uuid.uuid4(), agency_id=None)
    make_call(agency_id=other_agency_id)
    make_call(agency_id=user.agency_id)
    assert known_agencies() == sorted([user.agency_id, other_agency_id])
    assert known_agencies(limit=1) == sorted([user.agency_id, other_agency_id])[:1]


@pytest.mark.django_db(transaction=True)
def test_with_the_rollup_installed_agencies_come_from_its_keys(
    rollup: None, rollup_agency: uuid.UUID
) -> None:
    """Folded or not yet folded, an agency's ended calls are in the rollup's keys."""
    other = uuid.uuid4()
    ended_call(rollup_agency)
    ended_call(other)
    with CaptureQueriesContext(connection) as captured:
        found = agencies_with_calls(using="default", limit=10)
    assert found == sorted([rollup_agency, other])
    sql = " ".join(query["sql"] for query in captured.captured_queries)
    assert "analytics_heatmap.agency_buckets" in sql
    assert '"calls"' not in sql
    assert known_agencies() == sorted([rollup_agency, other])
    assert Call.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.usefixtures("on_postgresql")
def test_on_postgresql_all_three_walk_the_agency_index_never_the_table() -> None:
    """100,000 calls of 50 agencies: each read descends ``idx_calls_agency_created`` a few
    times per agency, where a ``DISTINCT`` or ``min(created_at)`` scans every row; so does
    asking whether a year holds calls, one without any as well."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO calls (agency_id, status, created_at)"
            " SELECT ('00000000-0000-4000-8000-' || lpad((g %% 50)::text, 12, '0'))::uuid,"
            " 'ended', now() - make_interval(mins => g) FROM generate_series(1, %s) AS g",
            [100_000],
        )
        cursor.execute("ANALYZE calls")
        this_year, last_century = year(timezone.now().year), year(1999)
        years = [0, *this_year, 1, *last_century]
        plans = []
        for sql, params in (
            (_AGENCIES_SQL.format(table='"calls"'), [200]),
            (_SPAN_SQL.format(table='"calls"'), []),
            (periods_sql('"calls"', 2), years),
        ):
            cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql, params)
            plans.append("\n".join(line for (line,) in cursor.fetchall()))
    for plan in plans:
        assert "idx_calls_agency_created" in plan, plan
        assert "Seq Scan" not in plan, plan
    assert len(agencies_with_calls(using="default", limit=200)) == 50
    assert periods_with_calls(using="default", periods=[this_year, last_century]) == {0}
