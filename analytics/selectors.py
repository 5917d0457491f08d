"""Reads behind the heatmap; usable as they are from ``python manage.py shell``."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, DatabaseError, transaction
from django.db.models import Count
from django.db.models.functions import ExtractHour, ExtractWeekDay
from django.utils import timezone

from analytics.domain import CallsQueryError, Heatmap, HeatmapCell, Metric, Period
from analytics.models import CONNECTED, MEETING_BOOKED, Call
from analytics.ranking import rank_best_times

logger = logging.getLogger(__name__)


def heatmap_window(period: Period, *, today: date) -> tuple[date, date]:
    """``(start_date, end_date)``: the ``period.days`` calendar days ending today."""
    return today - timedelta(days=period.days - 1), today


def count_calls_by_slot(
    *,
    agency_id: UUID,
    start: datetime,
    end: datetime,
    campaign_id: UUID | None = None,
    client_id: UUID | None = None,
    using: str = DEFAULT_DB_ALIAS,
) -> tuple[HeatmapCell, ...]:
    """Ended calls created in ``[start, end)``, counted per UTC (day, hour) in one query.

    ``tzinfo`` is passed explicitly so the host's ``TIME_ZONE`` never moves a bucket.
    """
    rows = (
        Call.objects.using(using)
        .for_agency(agency_id)
        .ended()
        .created_between(start, end)
        .for_campaign(campaign_id)
        .for_client(client_id)
        .annotate(
            # ExtractWeekDay numbers Sunday 1 ... Saturday 7; the API numbers from 0.
            day=ExtractWeekDay("created_at", tzinfo=UTC) - 1,
            hour=ExtractHour("created_at", tzinfo=UTC),
        )
        .values("day", "hour")
        .annotate(
            total_calls=Count("pk"),
            connected_calls=Count("pk", filter=CONNECTED),
            meetings_booked=Count("pk", filter=MEETING_BOOKED),
        )
        .order_by("day", "hour")
    )
    try:
        # Its own transaction (a savepoint inside a caller's) so a failed query
        # never leaves the connection in an aborted transaction.
        with transaction.atomic(using=using):
            return tuple(HeatmapCell(**row) for row in rows)
    except DatabaseError as exc:
        logger.exception("Calls query failed for agency %s", agency_id)
        raise CallsQueryError("Failed to query calls table") from exc


def heatmap(
    *,
    agency_id: UUID,
    period: Period | str = Period.DAYS_30,
    metric: Metric | str = Metric.CALLS,
    campaign_id: UUID | None = None,
    client_id: UUID | None = None,
    today: date | None = None,
) -> Heatmap:
    """The agency's call heatmap and best times to call, as the endpoint answers it.

    ``today`` defaults to the current UTC date; pass one to look at another window.
    """
    period, metric = Period(period), Metric(metric)
    if today is None:
        today = timezone.now().astimezone(UTC).date()
    start_date, end_date = heatmap_window(period, today=today)
    cells = count_calls_by_slot(
        agency_id=agency_id,
        start=datetime.combine(start_date, time.min, tzinfo=UTC),
        end=datetime.combine(end_date + timedelta(days=1), time.min, tzinfo=UTC),
        campaign_id=campaign_id,
        client_id=client_id,
    )
    return Heatmap(
        start_date=start_date,
        end_date=end_date,
        metric=metric,
        cells=cells,
        best_times=rank_best_times(cells, metric),
    )
