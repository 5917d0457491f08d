"""Which agencies made calls, and when the first and last call were: read through indexes.

``calls`` holds millions of rows and one index, ``(agency_id, created_at)``, so a
``SELECT DISTINCT agency_id`` or a ``min(created_at)`` over it reads the whole table.
Here both walk that index instead (a loose index scan, written as a recursive query
that works on PostgreSQL and SQLite alike): one descent of the index per agency, and
two more per agency for the first and last call. Whether a period (a year of the
admin's drill-down) holds any call is asked the same way, one descent per agency
until one has a call in it. The rollup's grains have the same leading ``agency_id``
and, once it is installed, the agencies are read from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from django.db import connections
from django.utils.dateparse import parse_datetime

from analytics.models import Call
from analytics.rollup import state as rollup_state
from analytics.rollup.sql import SCHEMA

#: The rollup's tables that hold an agency's calls, each keyed ``(agency_id, bucket)``:
#: the folded counts, and the deltas not folded yet.
ROLLUP_TABLES = (f"{SCHEMA}.agency_buckets", f"{SCHEMA}.pending")

#: The distinct ``agency_id`` of ``{table}`` in order, at most ``%s`` of them, each found
#: by one descent of an index that leads on ``agency_id``.
_AGENCIES_SQL = """
WITH RECURSIVE agencies (agency_id, n) AS (
    SELECT (SELECT agency_id FROM {table} ORDER BY agency_id LIMIT 1), 1
    UNION ALL
    SELECT
        (SELECT t.agency_id FROM {table} AS t WHERE t.agency_id > a.agency_id
         ORDER BY t.agency_id LIMIT 1),
        a.n + 1
    FROM agencies AS a
    WHERE a.agency_id IS NOT NULL AND a.n < %s
)
SELECT agency_id FROM agencies WHERE agency_id IS NOT NULL
"""

#: Every distinct ``agency_id`` of ``{table}``, each found by one descent of its index.
_EVERY_AGENCY = """
agencies (agency_id) AS (
    SELECT (SELECT agency_id FROM {table} ORDER BY agency_id LIMIT 1)
    UNION ALL
    SELECT
        (SELECT t.agency_id FROM {table} AS t WHERE t.agency_id > a.agency_id
         ORDER BY t.agency_id LIMIT 1)
    FROM agencies AS a
    WHERE a.agency_id IS NOT NULL
)"""

#: The first and last ``created_at`` of ``{table}``: each agency's, by two more descents.
#: (``ORDER BY ... LIMIT 1`` rather than ``min()``: PostgreSQL before 17 has no ``min(uuid)``.)
_SPAN_SQL = (
    "WITH RECURSIVE"
    + _EVERY_AGENCY
    + """
SELECT min(spans.first_at), max(spans.last_at) FROM (
    SELECT
        (SELECT c.created_at FROM {table} AS c WHERE c.agency_id = a.agency_id
         ORDER BY c.created_at LIMIT 1) AS first_at,
        (SELECT c.created_at FROM {table} AS c WHERE c.agency_id = a.agency_id
         ORDER BY c.created_at DESC LIMIT 1) AS last_at
    FROM agencies AS a
    WHERE a.agency_id IS NOT NULL
) AS spans
"""
)

#: Which of the periods ``{periods}`` (rows ``(n, start_at, end_at)``) hold a call of
#: ``{table}``: per period, the agencies in turn, each probed by one descent of the index to
#: its first call in ``[start_at, end_at)``, until one has one.
_PERIODS_SQL = (
    "WITH RECURSIVE"
    + _EVERY_AGENCY
    + """,
periods (n, start_at, end_at) AS (VALUES {periods})
SELECT p.n FROM periods AS p
WHERE EXISTS (
    SELECT 1 FROM agencies AS a
    WHERE a.agency_id IS NOT NULL AND (
        SELECT c.created_at FROM {table} AS c
        WHERE c.agency_id = a.agency_id AND c.created_at >= p.start_at
            AND c.created_at < p.end_at
        ORDER BY c.created_at LIMIT 1
    ) IS NOT NULL
)
"""
)


def periods_sql(table: str, count: int) -> str:
    """:data:`_PERIODS_SQL` for ``count`` periods of ``table``, three parameters each."""
    return _PERIODS_SQL.format(table=table, periods=", ".join(["(%s, %s, %s)"] * count))


def _calls_table(using: str) -> str:
    return connections[using].ops.quote_name(Call._meta.db_table)


def _distinct_agencies(using: str, table: str, limit: int) -> list[UUID]:
    with connections[using].cursor() as cursor:
        cursor.execute(_AGENCIES_SQL.format(table=table), [limit])
        # UUIDs on PostgreSQL, their 32 hex digits on SQLite.
        return [UUID(str(value)) for (value,) in cursor.fetchall()]


def agencies_with_calls(*, using: str, limit: int) -> list[UUID]:
    """The first ``limit`` agencies (in UUID order) that have calls.

    From the rollup's tables where a ready rollup is installed (its keys hold every
    agency with an ended call, and are the app's own), else from ``calls``' index. Run
    under the caller's statement timeout; ``DatabaseError`` propagates.
    """
    if rollup_state.rollup_ready(using):
        found = {
            agency for table in ROLLUP_TABLES for agency in _distinct_agencies(using, table, limit)
        }
        return sorted(found)[:limit]
    return _distinct_agencies(using, _calls_table(using), limit)


def _aware(value: datetime | str | None) -> datetime | None:
    """A ``created_at`` as the cursor gives it (a string on SQLite), made aware in UTC."""
    moment = parse_datetime(value) if isinstance(value, str) else value
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def calls_span(*, using: str) -> tuple[datetime, datetime] | None:
    """When the first and the last call were created, or ``None`` without calls.

    Three index descents per agency (18 ms for a thousand agencies), where
    ``min(created_at)`` over the table reads all of it: ``created_at`` leads no index.
    Run under the caller's statement timeout; ``DatabaseError`` propagates.
    """
    with connections[using].cursor() as cursor:
        cursor.execute(_SPAN_SQL.format(table=_calls_table(using)))
        row = cursor.fetchone()
    first, last = (_aware(value) for value in row) if row else (None, None)
    if first is None or last is None:
        return None
    return first, last


def periods_with_calls(*, using: str, periods: Sequence[tuple[datetime, datetime]]) -> set[int]:
    """The positions in ``periods`` of those (each ``[start, end)``) in which a call was made.

    A busy period costs a descent or two, an empty one a descent per agency (about
    3 ms for a thousand), where a ``DISTINCT`` of truncated ``created_at`` reads every
    row. Run under the caller's statement timeout; ``DatabaseError`` propagates.
    """
    if not periods:
        return set()
    connection = connections[using]
    adapt = connection.ops.adapt_datetimefield_value
    params = [
        value for n, (start, end) in enumerate(periods) for value in (n, adapt(start), adapt(end))
    ]
    with connection.cursor() as cursor:
        cursor.execute(periods_sql(_calls_table(using), len(periods)), params)
        return {int(n) for (n,) in cursor.fetchall()}
