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

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Case, IntegerField, QuerySet, Value, When

from analytics.heatmap.lead_clock import KEY_DIGITS, NOT_PLACED, LeadOffsets, lead_offsets
from analytics.heatmap.lead_map import loaded_map_stamp
from analytics.models import CONNECTED, MEETING_BOOKED, LeadPrefixRange, LeadZoneGroup


@dataclass(frozen=True)
class LoadedMap:
    """The map as ``using``'s tables hold it, in the forms the scans send to SQL."""

    #: Group ``n``'s zones are ``groups[n - 1]``.
    groups: tuple[tuple[str, ...], ...]
    #: The range keys and their groups, as PostgreSQL array literals (``width_bucket``).
    keys_literal: str
    groups_literal: str


def loaded_map(using: str) -> LoadedMap:
    """The map in ``using``'s tables: one read of its version and load time a request, the
    rest cached per load (a newer map, loaded by ``migrate``, is read at the next request)."""
    return _loaded_map(using, loaded_map_stamp(using))


@functools.lru_cache(maxsize=8)
def _loaded_map(using: str, stamp: tuple[str, str] | None) -> LoadedMap:
    """``stamp`` is only the cache's key: a new load of the map is a new entry."""
    rows = LeadZoneGroup.objects.using(using).order_by("id").values_list("id", "zones")
    groups = []
    for expected, (number, zones) in enumerate(rows, start=1):
        if number != expected:
            raise ValueError(f"analytics_lead_zone_group is not numbered 1..n at {number}.")
        groups.append(tuple(zones.split()))
    ranges = LeadPrefixRange.objects.using(using).order_by("key").values_list("key", "group_id")
    keys, group_ids = zip(*ranges, strict=True) if ranges else ((), ())
    return LoadedMap(
        groups=tuple(groups),
        keys_literal="{" + ",".join(map(str, keys)) + "}",
        groups_literal="{" + ",".join(map(str, group_ids)) + "}",
    )


def offsets_for(using: str, start: datetime, end: datetime) -> LeadOffsets:
    """Every group's offsets over the window, by Python's zone database."""
    return lead_offsets(loaded_map(using).groups, start, end)


def lead_hourly_rows(
    calls: QuerySet[Any], *, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """``calls`` (already filtered) counted per lead-local hour: ``local_hour`` a naive
    wall-clock datetime, or ``None`` for the calls that are not placed.
    """
    using = calls.db
    connection = connections[using]
    zone_map = loaded_map(using)  # one read of the map's stamp per scan
    offsets = lead_offsets(zone_map.groups, start, end)
    inner = calls.values("created_at", "phone_number").annotate(
        connected=_flag(CONNECTED), booked=_flag(MEETING_BOOKED)
    )
    inner_sql, inner_params = inner.query.sql_with_params()
    if connection.vendor == "postgresql":
        sql, params = _postgresql_sql(inner_sql, offsets, zone_map)
    else:
        sql, params = _sqlite_sql(connection, inner_sql, offsets, start, end)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *inner_params])
        rows = cursor.fetchall()
    return [
        {
            "local_hour": _as_datetime(local_hour),
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
#: ``n`` is E.164: '+', a first digit 1-9, 7 to 15 digits in all (ASCII only). ``ltrim``
#: with the digits leaves nothing of an all-digit string, in one call.
_IS_E164 = (
    "(length(s.n) BETWEEN 8 AND 16 AND substr(s.n, 1, 1) = '+' AND substr(s.n, 2, 1) <> '0' "
    "AND ltrim(substr(s.n, 2), '0123456789') = '')"
)


def lead_local_hour_sql(group: str, instant: str, offsets: LeadOffsets) -> str:
    """SQL for the lead-local hour of ``instant`` (UTC) in zone group ``group``, NULL where
    the group is 0 or its zones disagree. ``group`` is read once: the offsets' array
    (:func:`array_literals`, the first parameter) starts with group 0's, all not placed.
    """
    segments = len(offsets.changes) + 1
    seconds = (
        f"NULLIF((%s::integer[])[{group} * {segments} "
        f"+ width_bucket({instant}, %s::timestamptz[]) + 1], {NOT_PLACED})"
    )
    return f"date_trunc('hour', ({instant} AT TIME ZONE 'UTC') + {seconds} * interval '1 second')"


@functools.lru_cache(maxsize=16)
def array_literals(offsets: LeadOffsets) -> tuple[str, str]:
    """The parameters of :func:`lead_local_hour_sql`, in its order, as PostgreSQL array
    literals made once per window: adapting thousands of numbers per request would cost
    the driver milliseconds, and a literal is folded into a constant once per query.
    """
    segments = len(offsets.changes) + 1
    seconds = [NOT_PLACED] * segments + list(offsets.seconds)
    changes = ",".join(f'"{change.isoformat()}"' for change in offsets.changes)
    return "{" + ",".join(map(str, seconds)) + "}", "{" + changes + "}"


def _postgresql_sql(
    inner_sql: str, offsets: LeadOffsets, zone_map: LoadedMap
) -> tuple[str, list[Any]]:
    """No CTE and no ``OFFSET 0``: either keeps the scan from parallel workers (measured:
    4.2 s a million calls in one process, 2.8 s with two workers). The planner copies the
    stripped number into each of its six uses, thirty ``replace`` calls a row, cheaper
    than losing the workers. The arrays are literals, constants once per query.
    """
    key = (
        f"rpad(substr(s.n, 2, {KEY_DIGITS}), {KEY_DIGITS}, '0')::bigint * 10 "
        f"+ least(length(s.n) - 1, {KEY_DIGITS})"
    )
    sql = f"""
SELECT {lead_local_hour_sql("p.lead_group", "p.created_at", offsets)},
    count(*), sum(p.connected), sum(p.booked)
FROM (
    SELECT s.created_at, s.connected, s.booked,
        CASE WHEN {_IS_E164} THEN (%s::integer[])[width_bucket({key}, %s::bigint[])]
        ELSE 0 END AS lead_group
    FROM (
        SELECT c.created_at, c.connected, c.booked, {_STRIPPED} AS n
        FROM ({inner_sql}) AS c
    ) AS s
) AS p
GROUP BY 1
"""
    # The parameters in the SQL's order; the calls' own follow.
    return sql, [*array_literals(offsets), zone_map.groups_literal, zone_map.keys_literal]


def _sqlite_sql(
    connection: BaseDatabaseWrapper,
    inner_sql: str,
    offsets: LeadOffsets,
    start: datetime,
    end: datetime,
) -> tuple[str, list[Any]]:
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
    return sql.replace("{inner}", inner_sql), segments


def _as_datetime(value: Any) -> datetime | None:
    """PostgreSQL's ``timestamp`` arrives as a datetime; SQLite's ``strftime`` as text."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def fold_lead_rows(rows: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The placed rows, and the number of calls that are not placed."""
    placed = [row for row in rows if row["local_hour"] is not None]
    unplaced = sum(row["total_calls"] for row in rows if row["local_hour"] is None)
    return placed, unplaced
