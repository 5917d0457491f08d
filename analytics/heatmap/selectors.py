"""Reads behind the heatmap; usable as they are from ``python manage.py shell``."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any, TypeVar
from uuid import UUID

from django.db import DatabaseError, connections, models, router, transaction
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import ExtractHour, ExtractWeekDay

from analytics.conf import conf
from analytics.db import LocalHour, first_line
from analytics.exceptions import MESSAGES, READ_FAILURES, HeatmapError
from analytics.heatmap import replica
from analytics.heatmap.agencies import agencies_with_calls
from analytics.heatmap.lead_clock import NOT_PLACED
from analytics.heatmap.lead_scan import (
    array_literals,
    fold_lead_rows,
    lead_hourly_rows,
    lead_local_hour_sql,
    offsets_for,
)
from analytics.heatmap.limits import bounded_calls_query, scan_slot
from analytics.heatmap.measure import record_source, timed_database
from analytics.heatmap.query import HeatmapQuery, parse_uuid
from analytics.heatmap.ranking import rank_best_times
from analytics.heatmap.vocabulary import (
    DEFAULT_MIN_CALLS,
    DEFAULT_TIME_ZONE,
    Clock,
    Heatmap,
    HeatmapCell,
    Metric,
    Period,
    dense_grid,
    fold_into_week,
)
from analytics.models import (
    CONNECTED,
    MEETING_BOOKED,
    AgencyBucket,
    Call,
    LeadAgencyBucket,
    LeadSegmentBucket,
    SegmentBucket,
    User,
)
from analytics.rollup import state as rollup_state
from analytics.rollup.buckets import buckets_answer_exactly, offsets_answer_exactly

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SlotCounts:
    """A heatmap's cells, and with ``clock=lead`` the calls it could not place."""

    cells: tuple[HeatmapCell, ...]
    unplaced: int | None = None


def count_calls_by_slot(
    *,
    agency_id: UUID,
    start: datetime,
    end: datetime,
    campaign_id: UUID | None = None,
    client_id: UUID | None = None,
    zone: tzinfo = UTC,
    using: str | None = None,
) -> tuple[HeatmapCell, ...]:
    """Ended calls created in ``[start, end)``, counted per (day, hour) in ``zone``: the raw scan.

    The database converts each call on its own, so a call lands in the local hour
    it happened in on either side of a daylight-saving change. ``zone`` is always
    passed explicitly so the host's ``TIME_ZONE`` never moves a bucket. ``using``
    defaults to ``ANALYTICS_HEATMAP_DATABASE``.

    The database counts per local hour (``date_trunc``, at most 24 x 91 rows) and
    the hours fold into weekday slots here: measured at a million calls, grouping
    by a truncated timestamp is the fastest form PostgreSQL has (docs/performance.md).
    """
    using = using or conf.HEATMAP_DATABASE
    hourly = (
        ended_calls(using, agency_id, start, end, campaign_id=campaign_id, client_id=client_id)
        .annotate(local_hour=LocalHour("created_at", tzinfo=zone))
        .values("local_hour")
        .annotate(
            total_calls=Count("pk"),
            connected_calls=Count("pk", filter=CONNECTED),
            meetings_booked=Count("pk", filter=MEETING_BOOKED),
        )
        # No ORDER BY: it would invite the planner's sort, and folding needs no order.
        .order_by()
    )
    return fold_into_week(scan(using, agency_id, lambda: list(hourly)))


def count_lead_calls_by_slot(
    *,
    agency_id: UUID,
    start: datetime,
    end: datetime,
    campaign_id: UUID | None = None,
    client_id: UUID | None = None,
    using: str | None = None,
) -> SlotCounts:
    """:func:`count_calls_by_slot` on the lead's clock: each call in the local (day, hour)
    of the number called, and the number of calls that could not be placed.
    """
    using = using or conf.HEATMAP_DATABASE
    calls = ended_calls(
        using, agency_id, start, end, campaign_id=campaign_id, client_id=client_id
    ).order_by()
    rows = scan(using, agency_id, lambda: lead_hourly_rows(calls, start=start, end=end))
    placed, unplaced = fold_lead_rows(rows)
    return SlotCounts(fold_into_week(placed), unplaced)


def ended_calls(
    using: str,
    agency_id: UUID,
    start: datetime,
    end: datetime,
    *,
    campaign_id: UUID | None,
    client_id: UUID | None,
) -> QuerySet[Call]:
    """The agency's ended calls in ``[start, end)``, filtered as asked: what both scans count."""
    return (
        Call.objects.using(using)
        .for_agency(agency_id)
        .ended()
        .created_between(start, end)
        .for_campaign(campaign_id)
        .for_client(client_id)
    )


def scan(using: str, agency_id: UUID, read: Callable[[], T]) -> T:
    """``read()`` of the agency's calls as every scan runs: in one of its scan slots, under
    the calls query's limits, timed; a failure raised as :func:`read_failed` says."""
    try:
        with scan_slot(using, agency_id), bounded_calls_query(using), timed_database():
            return read()
    except DatabaseError as exc:
        raise read_failed(using, exc, agency_id) from exc


def read_failed(using: str, exc: DatabaseError, agency_id: UUID) -> Exception:
    """What a failed scan of ``using`` raises: :class:`~analytics.heatmap.replica.ReplicaFailed`
    when the primary answers instead, else a ``HeatmapError`` saying whether the connection
    or the query failed, logged here with its traceback."""
    failed = replica.replica_failure(using, exc)
    if failed is not None:
        return failed
    error = replica.read_error(using, exc)
    logger.exception("Heatmap read failed for agency %s: %s", agency_id, error.message)
    return error


def window_buckets(
    agency_grain: type[models.Model],
    segment_grain: type[models.Model],
    *,
    agency_id: UUID,
    query: HeatmapQuery,
) -> QuerySet[Any]:
    """The agency's bucket rows of the query's window and filters: the agency grain when
    it asks for every campaign and client, else the campaign/client grain narrowed."""
    campaign_id, client_id = query.campaign_id, query.client_id
    if campaign_id is None and client_id is None:
        buckets = agency_grain._default_manager.filter(agency_id=agency_id)
    else:
        buckets = segment_grain._default_manager.filter(agency_id=agency_id)
        if campaign_id is not None:
            buckets = buckets.filter(campaign_id=campaign_id)
        if client_id is not None:
            buckets = buckets.filter(client_id=client_id)
    return buckets.filter(bucket__gte=query.start, bucket__lt=query.end)


def count_rollup_by_slot(
    *, agency_id: UUID, query: HeatmapQuery, using: str | None = None
) -> tuple[HeatmapCell, ...]:
    """:func:`count_calls_by_slot`'s answer, summed from the 15-minute rollup.

    The design card's shape: the database groups by ``ExtractWeekDay``/``ExtractHour``
    in the query's zone and sums; over the few thousand bucket rows of a window that
    costs next to nothing. Exact only where :func:`buckets_answer_exactly` holds, which
    the caller checks. ``DatabaseError`` propagates: the caller then reads calls.
    """
    using = using or conf.HEATMAP_DATABASE
    zone = query.zone.tzinfo
    buckets = window_buckets(AgencyBucket, SegmentBucket, agency_id=agency_id, query=query)
    slots = (
        buckets.using(using)
        .annotate(
            weekday=ExtractWeekDay("bucket", tzinfo=zone), hour=ExtractHour("bucket", tzinfo=zone)
        )
        .values("weekday", "hour")
        .annotate(
            total_calls=Sum("total_calls"),
            connected_calls=Sum("connected_calls"),
            meetings_booked=Sum("meetings_booked"),
        )
        # Buckets emptied by a moved or deleted call stay as zero rows until a repair.
        .filter(total_calls__gt=0)
        .order_by()
    )
    with bounded_calls_query(using), timed_database():
        rows = list(slots)
    # ExtractWeekDay counts 1 (Sunday) to 7; the heatmap's day 0 is Sunday.
    cells = (
        HeatmapCell(
            row["weekday"] - 1,
            row["hour"],
            row["total_calls"],
            row["connected_calls"],
            row["meetings_booked"],
        )
        for row in rows
    )
    return tuple(sorted(cells, key=lambda cell: (cell.day, cell.hour)))


def count_rollup_lead_by_slot(
    *, agency_id: UUID, query: HeatmapQuery, using: str | None = None
) -> SlotCounts:
    """:func:`count_lead_calls_by_slot`'s answer, summed from the rollup's lead grains.

    Each bucket row holds the calls of one zone group of the map; the database adds the
    group's UTC offset at the bucket (the arrays the raw scan adds per call, from Python's
    zone database) and counts per lead-local hour, which fold into the week here as the
    raw scan's do. Exact only where :func:`reads_rollup` holds for the query. Unplaced:
    the calls of group 0 (no E.164, no prefix) and of groups whose zones disagree at the
    bucket. ``DatabaseError`` propagates: the caller then reads calls.
    """
    using = using or conf.HEATMAP_DATABASE
    buckets = window_buckets(LeadAgencyBucket, LeadSegmentBucket, agency_id=agency_id, query=query)
    rows = (
        buckets.using(using)
        .values("bucket", "lead_group", "total_calls", "connected_calls", "meetings_booked")
        .order_by()
    )
    inner_sql, inner_params = rows.query.sql_with_params()
    with bounded_calls_query(using), timed_database():
        offsets = offsets_for(using, query.start, query.end)
        with connections[using].cursor() as cursor:
            cursor.execute(
                _LEAD_ROLLUP_SQL.format(
                    local_hour=lead_local_hour_sql("b.lead_group", "b.bucket", offsets),
                    rows=inner_sql,
                ),
                [*array_literals(offsets), *inner_params],
            )
            hourly = [
                {
                    "local_hour": local_hour,
                    "total_calls": total,
                    "connected_calls": connected,
                    "meetings_booked": booked,
                }
                for local_hour, total, connected, booked in cursor.fetchall()
            ]
    placed, unplaced = fold_lead_rows(hourly)
    return SlotCounts(fold_into_week(placed), unplaced)


#: The lead grains' rows of the window (``{rows}``), each at its bucket's lead-local hour:
#: the UTC start plus the group's offset in the segment of the window the bucket starts
#: in, or NULL (not placed). A bucket lies inside one lead-local hour, as the exactness
#: check in :func:`reads_rollup` makes sure. Buckets emptied by a moved or deleted call
#: stay as zero rows until a repair.
_LEAD_ROLLUP_SQL = """
SELECT {local_hour}, sum(b.total_calls), sum(b.connected_calls), sum(b.meetings_booked)
FROM ({rows}) AS b
GROUP BY 1
HAVING sum(b.total_calls) <> 0
"""


def reads_rollup(query: HeatmapQuery, *, using: str | None = None) -> bool:
    """Whether ``query`` is answered from the rollup (``ANALYTICS_HEATMAP_SOURCE``).

    With ``clock=lead`` also: the rollup counts by the map the app's tables hold, and
    every zone of the map keeps to quarter-hour offsets changing on bucket edges over
    the window (:func:`lead_buckets_answer_exactly`).
    """
    using = using or conf.HEATMAP_DATABASE
    source = conf.HEATMAP_SOURCE
    if source == "raw" or connections[using].vendor != "postgresql":
        return False
    if not buckets_answer_exactly(query.zone.tzinfo, query.start, query.end):
        return False
    state = rollup_state.current_state(using)
    if state is None or not state.trusted:
        if source == "rollup":
            logger.error(
                "ANALYTICS_HEATMAP_SOURCE is 'rollup', but no ready rollup is on database %r; "
                "reading calls. Run: python manage.py heatmap_rollup install",
                using,
            )
        return False
    if query.clock is Clock.LEAD:
        # answers_lead implies a map version (map_current); the test says so to mypy too.
        if not state.answers_lead or state.map_version is None:
            return False
        try:
            return lead_buckets_answer_exactly(using, state.map_version, query.start, query.end)
        except DatabaseError:  # the scan answers, and says why; no failure is cached
            return False
    return True


@functools.lru_cache(maxsize=64)
def lead_buckets_answer_exactly(
    using: str, map_version: str, start: datetime, end: datetime
) -> bool:
    """True when 15-minute buckets place every zone group of the map in its lead-local hour
    over ``[start, end)``: every offset of every zone a whole number of quarter hours, and
    every change of one on a bucket edge. Cached per window and release of the map (which
    fixes its groups); a few milliseconds the first time. ``DatabaseError`` propagates.
    """
    offsets = offsets_for(using, start, end)
    placed = (seconds for seconds in offsets.seconds if seconds != NOT_PLACED)
    return offsets_answer_exactly(offsets.changes, placed)


def cells_for(*, agency_id: UUID, query: HeatmapQuery, using: str | None = None) -> SlotCounts:
    """The heatmap's cells for ``query`` from the rollup where it can answer, else calls.
    ``using`` defaults to ``ANALYTICS_HEATMAP_DATABASE``."""
    using = using or conf.HEATMAP_DATABASE
    if reads_rollup(query, using=using):
        try:
            record_source("rollup")
            if query.clock is Clock.LEAD:
                return count_rollup_lead_by_slot(agency_id=agency_id, query=query, using=using)
            return SlotCounts(count_rollup_by_slot(agency_id=agency_id, query=query, using=using))
        except DatabaseError as exc:
            failed = replica.replica_failure(using, exc)
            if failed is not None:  # the primary answers, not a scan of the same replica
                raise failed from exc
            # Dropped since it was last seen ready, say: the scan answers this request,
            # and the next one reads the rollup's state again.
            logger.warning("Rollup read failed for agency %s; reading calls", agency_id)
            rollup_state.forget(using)
    record_source("raw")
    if query.clock is Clock.LEAD:
        return scan_lead_calls_for(agency_id=agency_id, query=query, using=using)
    return SlotCounts(scan_calls_for(agency_id=agency_id, query=query, using=using))


def scan_calls_for(
    *, agency_id: UUID, query: HeatmapQuery, using: str | None = None
) -> tuple[HeatmapCell, ...]:
    """:func:`count_calls_by_slot` for ``query``: the raw scan, whatever the source."""
    return count_calls_by_slot(
        agency_id=agency_id,
        start=query.start,
        end=query.end,
        campaign_id=query.campaign_id,
        client_id=query.client_id,
        zone=query.zone.tzinfo,
        using=using,
    )


def scan_lead_calls_for(
    *, agency_id: UUID, query: HeatmapQuery, using: str | None = None
) -> SlotCounts:
    """:func:`count_lead_calls_by_slot` for ``query``: the raw scan, whatever the source."""
    return count_lead_calls_by_slot(
        agency_id=agency_id,
        start=query.start,
        end=query.end,
        campaign_id=query.campaign_id,
        client_id=query.client_id,
        using=using,
    )


def heatmap_for(*, agency_id: UUID, query: HeatmapQuery) -> Heatmap:
    """The agency's call heatmap and best times for ``query``, as the endpoint answers it:
    from the replica ``ANALYTICS_HEATMAP_DATABASE`` names, or the primary when it cannot
    (:func:`analytics.heatmap.replica.read`)."""
    counted = replica.read(lambda using: cells_for(agency_id=agency_id, query=query, using=using))
    cells, hours = counted.cells, query.calling_hours
    return Heatmap(
        start_date=query.start_date,
        end_date=query.end_date,
        metric=query.metric,
        timezone=query.zone.name,
        cells=dense_grid(cells) if query.dense else cells,
        best_times=rank_best_times(cells, query.metric, min_calls=query.min_calls, hours=hours),
        clock=query.clock,
        unplaced_calls=counted.unplaced,
        outside_calling_hours=None if hours is None else hours.outside(cells),
    )


def heatmap(
    *,
    agency_id: UUID | str,
    period: Period | str = Period.DAYS_30,
    metric: Metric | str = Metric.CALLS,
    campaign_id: UUID | str | None = None,
    client_id: UUID | str | None = None,
    tz: str = DEFAULT_TIME_ZONE,
    min_calls: int | str = DEFAULT_MIN_CALLS,
    dense: bool | str = False,
    clock: Clock | str = Clock.TZ,
    today: date | None = None,
) -> Heatmap:
    """The endpoint as a function, for ``python manage.py shell``: what
    ``GET /api/dashboard-heatmap`` answers the agency's users for the same parameters
    (``result.as_body()`` is that JSON body).

    Each value is checked by the endpoint's own check (:meth:`HeatmapQuery.parse`), so
    the query string's text is taken as it is there (``dense="false"``, ``min_calls="20"``)
    beside Python's values (``False``, ``20``, ``Period.DAYS_7``, a ``UUID``). A bad value
    is a ``ValueError`` (:class:`~analytics.exceptions.InvalidQuery`) naming each bad
    parameter with the endpoint's message, and a choice's choices; so is a malformed
    ``agency_id``. An agency with no users and no calls is a ``LookupError`` (as
    ``call_heatmap`` says it), not an empty heatmap. ``tz`` is the IANA zone the window
    (and with ``clock="tz"`` the days and hours) is read in; ``today`` defaults to the
    current date there. ``clock="lead"`` reads each call on the local clock of the number
    called.
    """
    try:
        agency = parse_uuid(agency_id)
    except ValueError as exc:
        raise ValueError(f"agency_id: {exc}") from None
    given = {
        "period": period,
        "metric": metric,
        "campaign_id": campaign_id,
        "client_id": client_id,
        "tz": tz,
        "min_calls": min_calls,
        "dense": dense,
        "clock": clock,
    }
    query = HeatmapQuery.parse(given, calling_hours=conf.CALLING_HOURS, today=today)
    try:
        require_agency(agency_id=agency)
    except HeatmapError as exc:
        if exc.code != "unknown_agency":
            raise
        raise LookupError(str(exc)) from exc
    return heatmap_for(agency_id=agency, query=query)


def require_agency(*, agency_id: UUID) -> None:
    """``HeatmapError`` (``unknown_agency``) unless a user belongs to the agency or it made
    a call; ``users_query_failed`` or ``calls_query_failed`` when that cannot be read.

    Tells a mistyped agency from one that made no calls in the window, which would
    otherwise both show an empty heatmap. Both are index-sized lookups.
    """
    lookups = (
        ("users_query_failed", User.objects.filter(agency_id=agency_id)),
        ("calls_query_failed", Call.objects.for_agency(agency_id)),
    )
    for code, rows in lookups:
        try:
            with transaction.atomic():  # a failure never leaves a caller's transaction aborted
                if rows.exists():
                    return
        except DatabaseError as exc:
            # Said to staff, in the admin or a terminal, in one line: what failed (the
            # connection or the query) and the server's reason without its SQL. The
            # endpoint never asks this.
            failed = MESSAGES[code]
            if replica.failure_reason(exc, rows.db) == "unreachable":
                failed = READ_FAILURES["connection"].format(alias=rows.db)
            raise HeatmapError(f"{failed}: {first_line(exc)}", code=code) from exc
    raise HeatmapError(code="unknown_agency")


def known_agencies(*, limit: int = 200) -> list[UUID]:
    """Agencies with users or calls, the first ``limit`` in UUID order, to suggest in the
    admin's agency field.

    Users from ``users``, the small table; calls through an index, never a ``DISTINCT``
    over ``calls`` (:func:`~analytics.heatmap.agencies.agencies_with_calls`). A failed
    read is logged and suggests nothing more: the field still takes any agency typed in.
    """
    found: set[UUID] = set()
    try:
        with transaction.atomic():
            found.update(
                agency
                for agency in User.objects.exclude(agency_id=None)
                .order_by("agency_id")
                .values_list("agency_id", flat=True)
                .distinct()[:limit]
                if agency is not None
            )
    except DatabaseError:
        logger.exception("Listing the agencies of users failed")
    using = router.db_for_read(Call)  # where require_agency() looks for them too
    try:
        with transaction.atomic(using=using):
            found.update(agencies_with_calls(using=using, limit=limit))
    except DatabaseError:
        logger.exception("Listing the agencies of calls failed")
    return sorted(found)[:limit]
