"""What one heatmap request asks for, checked once: the value every layer after the parser takes.

The query serializer, the admin form and the shell's ``heatmap()`` each turn
plain input into a :class:`HeatmapQuery`; the cache, the selector and the
pages only read it. Free of Django and DRF, like :mod:`analytics.heatmap.vocabulary`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from uuid import UUID

from analytics.heatmap.vocabulary import (
    DEFAULT_MIN_CALLS,
    DEFAULT_ZONE,
    CallingHours,
    Clock,
    Metric,
    Period,
    Zone,
)


def today_in(zone: tzinfo) -> date:
    """Today's date in ``zone``: the last day of every window."""
    return datetime.now(zone).date()


def heatmap_window(period: Period, *, today: date) -> tuple[date, date]:
    """``(start_date, end_date)``: the ``period.days`` calendar days ending today."""
    return today - timedelta(days=period.days - 1), today


def window_bounds(start_date: date, end_date: date, *, zone: tzinfo) -> tuple[datetime, datetime]:
    """``[start_date 00:00, end_date + 1 day 00:00)`` in ``zone``, as UTC instants.

    A midnight that a daylight-saving change skips (``fold=0``) lands on the
    change itself, which is that day's first instant.
    """
    start = datetime.combine(start_date, time.min, tzinfo=zone)
    end = datetime.combine(end_date + timedelta(days=1), time.min, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class HeatmapQuery:
    """One heatmap question, every value already checked and the window already fixed.

    Build it with :meth:`build`, which reads today once in the query's own zone,
    so every layer answers for the same days.
    """

    period: Period
    metric: Metric
    zone: Zone
    #: The sample a slot needs for a rate metric to rank it; the count metrics ignore it.
    min_calls: int
    dense: bool
    campaign_id: UUID | None
    client_id: UUID | None
    clock: Clock
    #: With ``clock=lead``: the hours ``best_times`` ranks in; ``None`` for ``clock=tz``.
    calling_hours: CallingHours | None
    start_date: date
    end_date: date
    #: ``[start, end)``: the window's first and just-after-last instants, in UTC.
    start: datetime
    end: datetime

    @classmethod
    def build(
        cls,
        *,
        period: Period = Period.DAYS_30,
        metric: Metric = Metric.CALLS,
        zone: Zone = DEFAULT_ZONE,
        min_calls: int = DEFAULT_MIN_CALLS,
        dense: bool = False,
        campaign_id: UUID | None = None,
        client_id: UUID | None = None,
        clock: Clock = Clock.TZ,
        calling_hours: CallingHours | None = None,
        today: date | None = None,
    ) -> HeatmapQuery:
        """The query for these values, already checked by the caller's parser (the
        serializer, the form, ``heatmap()``); ``today`` defaults to the current date in ``zone``.
        """
        if today is None:
            today = today_in(zone.tzinfo)
        start_date, end_date = heatmap_window(period, today=today)
        start, end = window_bounds(start_date, end_date, zone=zone.tzinfo)
        return cls(
            period=period,
            metric=metric,
            zone=zone,
            min_calls=min_calls,
            dense=dense,
            campaign_id=campaign_id,
            client_id=client_id,
            clock=clock,
            calling_hours=calling_hours if clock is Clock.LEAD else None,
            start_date=start_date,
            end_date=end_date,
            start=start,
            end=end,
        )

    @property
    def identity(self) -> dict[str, Any]:
        """What the answer depends on, as plain values: the cache key is made from this.

        ``min_calls`` only for a rate metric: the count metrics ignore it, so it must
        not split their cache. The window's dates are in, so no answer outlives its day.
        """
        identity: dict[str, Any] = {
            "period": self.period.value,
            "metric": self.metric.value,
            "tz": self.zone.name,
            "start_date": self.start_date.isoformat(),
            "end_date": self.end_date.isoformat(),
            "campaign_id": None if self.campaign_id is None else str(self.campaign_id),
            "client_id": None if self.client_id is None else str(self.client_id),
            "dense": self.dense,
            "clock": self.clock.value,
        }
        if self.calling_hours is not None:
            identity["calling_hours"] = [self.calling_hours.start, self.calling_hours.end]
        if self.metric.is_rate:
            identity["min_calls"] = self.min_calls
        return identity
