"""The raw scan on the lead's clock: each ended call counted in the local hour of the number
called (:mod:`analytics.heatmap.lead_clock` states the rule).

The ORM builds the calls' filters (agency, ended, window, campaign, client) as for the
viewer's clock; the placement is SQL around it, because PostgreSQL's ``AT TIME ZONE`` with
a zone name that changes from row to row cost 30 us a row (34 s at a million calls). So the
database does only what is cheap per row: it strips the number with ``replace``, tests it
without a regular expression (which alone cost 1.2 s at a million), finds its range in the
map with one ``width_bucket`` over the range keys, and adds the group's offset from an array
Python computed for the window (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Case, IntegerField, QuerySet, Value, When

from analytics.heatmap.lead_clock import KEY_DIGITS, NOT_PLACED, LeadOffsets, lead_offsets
from analytics.models import CONNECTED, MEETING_BOOKED, LeadPrefixRange, LeadZoneGroup

#: The counts every row of the scan's answer carries, in this order.
COUNTS = ("total_calls", "connected_calls", "meetings_booked")


def zone_groups(using: str) -> tuple[tuple[str, ...], ...]:
    """The map's groups as ``using``'s tables hold them: group ``n`` is item ``n - 1``."""
    rows = LeadZoneGroup.objects.using(using).order_by("id").values_list("id", "zones")
    groups = []
    for expected, (number, zones) in enumerate(rows, start=1):
        if number != expected:
            raise ValueError(f"analytics_lead_zone_group is not numbered 1..n at {number}.")
        groups.append(tuple(zones.split()))
    return tuple(groups)


def offsets_for(using: str, start: datetime, end: datetime) -> LeadOffsets:
    """Every group's offsets over the window, by Python's zone database."""
    return lead_offsets(zone_groups(using), start, end)


def lead_hourly_rows(
    calls: QuerySet[Any], *, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """``calls`` (already filtered) counted per lead-local hour: ``local_hour`` a naive
    wall-clock datetime, or ``None`` for the calls that are not placed.
    """
    using = calls.db
    connection = connections[using]
    offsets = offsets_for(using, start, end)
    inner = calls.values("created_at", "phone_number").annotate(
        connected=_flag(CONNECTED), booked=_flag(MEETING_BOOKED)
    )
    inner_sql, inner_params = inner.query.sql_with_params()
    if connection.vendor == "postgresql":
        sql, params = _postgresql_sql(inner_sql, offsets)
    else:
        sql, params = _sqlite_sql(connection, inner_sql, offsets, start, end)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params[0], *inner_params, *params[1]])
        rows = cursor.fetchall()
    return [
        {
            "local_hour": _as_datetime(connection, local_hour),
            "total_calls": total,
            "connected_calls": connected,
            "meetings_booked": booked,
        }
        for local_hour, total, connected, booked in rows
    ]


def _flag(condition: Any) -> Case:
    """1 where ``condition`` holds, else 0: the counting rule as a column to sum."""
    return Case(When(condition, then=Value(1)), default=Value(0), output_field=IntegerField())


#: The stripped number, ``n`` below: ``replace`` five times cost a seventh of ``translate``
#: (64 ms against 435 ms over a million rows, measured).
_STRIPPED = (
    "replace(replace(replace(replace(replace(c.phone_number, ' ', ''), '-', ''), '.', ''), "
    "'(', ''), ')', '')"
)
#: ``n`` without its digits: E.164 leaves exactly '+'.
_WITHOUT_DIGITS = "s.n"
for _digit in "0123456789":
    _WITHOUT_DIGITS = f"replace({_WITHOUT_DIGITS}, '{_digit}', '')"
#: ``n`` is E.164: '+', a first digit 1-9, 7 to 15 digits in all (ASCII only).
_IS_E164 = (
    f"(length(s.n) BETWEEN 8 AND 16 AND substr(s.n, 1, 1) = '+' AND substr(s.n, 2, 1) <> '0' "
    f"AND {_WITHOUT_DIGITS} = '+')"
)


def _postgresql_sql(
    inner_sql: str, offsets: LeadOffsets
) -> tuple[str, tuple[list[Any], list[Any]]]:
    changes = len(offsets.changes)
    # The map's arrays are read once (OFFSET 0 keeps the planner from copying the
    # subquery into every row); an array without NULLs is indexed in constant time.
    key = (
        f"rpad(substr(s.n, 2, {KEY_DIGITS}), {KEY_DIGITS}, '0')::bigint * 10 "
        f"+ least(length(s.n) - 1, {KEY_DIGITS})"
    )
    sql = f"""
WITH map AS MATERIALIZED (
    SELECT array_agg(key ORDER BY key) AS keys, array_agg(group_id::integer ORDER BY key) AS groups
    FROM {LeadPrefixRange._meta.db_table}
), window_offsets AS MATERIALIZED (
    SELECT %s::timestamptz[] AS changes, %s::integer[] AS seconds
), placed AS (
    SELECT s.created_at, s.connected, s.booked,
        CASE WHEN {_IS_E164} THEN map.groups[width_bucket({key}, map.keys)] ELSE 0 END AS lead_group
    FROM map, (
        SELECT c.created_at, c.connected, c.booked, {_STRIPPED} AS n FROM ({inner_sql}) AS c
    ) AS s
), offset_of AS (
    SELECT p.created_at, p.connected, p.booked,
        CASE WHEN p.lead_group > 0 THEN NULLIF(w.seconds[
            (p.lead_group - 1) * {changes + 1} + width_bucket(p.created_at, w.changes) + 1
        ], {NOT_PLACED}) END AS seconds
    FROM placed AS p, window_offsets AS w
)
SELECT date_trunc('hour', (created_at AT TIME ZONE 'UTC') + seconds * interval '1 second'),
    count(*), sum(connected), sum(booked)
FROM offset_of
GROUP BY 1
"""
    return sql, ([list(offsets.changes), list(offsets.seconds)], [])


def _sqlite_sql(
    connection: BaseDatabaseWrapper,
    inner_sql: str,
    offsets: LeadOffsets,
    start: datetime,
    end: datetime,
) -> tuple[str, tuple[list[Any], list[Any]]]:
    """SQLite has no ``width_bucket`` and no arrays: the range is looked up per row in the
    table's index, and each group's offset segments are joined as rows. Small data only.
    The fraction of a second is cut before the offset is added: SQLite's date arithmetic
    rounds to milliseconds, which would carry 07:59:59.9999 into 08:00.
    """
    key = (
        f"CAST(substr(substr(s.n, 2, {KEY_DIGITS}) || '{'0' * KEY_DIGITS}', 1, {KEY_DIGITS}) "
        f"AS INTEGER) * 10 + min(length(s.n) - 1, {KEY_DIGITS})"
    )
    segments: list[Any] = []
    values = []
    groups = len(offsets.seconds) // (len(offsets.changes) + 1) if offsets.seconds else 0
    for low, high, segment in offsets.segments(start, end):
        for group in range(1, groups + 1):
            seconds = offsets.seconds[(group - 1) * (len(offsets.changes) + 1) + segment]
            if seconds == NOT_PLACED:
                continue
            values.append("(%s, %s, %s, %s)")
            segments += [
                group,
                connection.ops.adapt_datetimefield_value(low),
                connection.ops.adapt_datetimefield_value(high),
                seconds,
            ]
    table = LeadPrefixRange._meta.db_table
    segment_rows = ", ".join(values) or "(NULL, NULL, NULL, NULL)"
    sql = f"""
WITH segments (lead_group, low, high, seconds) AS (VALUES {segment_rows}),
placed AS (
    SELECT s.created_at, s.connected, s.booked,
        CASE WHEN {_IS_E164} THEN (
            SELECT r.group_id FROM {table} AS r WHERE r.key <= {key} ORDER BY r.key DESC LIMIT 1
        ) ELSE 0 END AS lead_group
    FROM (SELECT c.created_at, c.connected, c.booked, {_STRIPPED} AS n FROM ({{inner}}) AS c) AS s
)
SELECT strftime('%%Y-%%m-%%d %%H:00:00', substr(p.created_at, 1, 19), g.seconds || ' seconds'),
    count(*), sum(p.connected), sum(p.booked)
FROM placed AS p
LEFT JOIN segments AS g
    ON g.lead_group = p.lead_group AND p.created_at >= g.low AND p.created_at < g.high
GROUP BY 1
"""
    return sql.replace("{inner}", inner_sql), (segments, [])


def _as_datetime(connection: BaseDatabaseWrapper, value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def fold_lead_rows(rows: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The placed rows, and the number of calls that are not placed."""
    placed = [row for row in rows if row["local_hour"] is not None]
    unplaced = sum(row["total_calls"] for row in rows if row["local_hour"] is None)
    return placed, unplaced
