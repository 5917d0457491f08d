"""The heatmap's vocabulary: plain values, free of Django and DRF."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date


class Period(enum.StrEnum):
    DAYS_7 = "7d"
    DAYS_30 = "30d"
    DAYS_90 = "90d"

    @property
    def days(self) -> int:
        return int(self.value.removesuffix("d"))


class Metric(enum.StrEnum):
    """What ``best_times`` ranks; each names the heatmap count it ranks by."""

    CALLS = "calls"
    CONNECTED = "connected"
    MEETINGS_BOOKED = "meetings_booked"

    @property
    def count_field(self) -> str:
        return _COUNT_FIELDS[self]


_COUNT_FIELDS = {
    Metric.CALLS: "total_calls",
    Metric.CONNECTED: "connected_calls",
    Metric.MEETINGS_BOOKED: "meetings_booked",
}

#: ``day`` numbering: 0 is Sunday, as in JavaScript's ``Date.getDay()``.
DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


@dataclass(frozen=True, slots=True)
class HeatmapCell:
    day: int
    hour: int
    total_calls: int
    connected_calls: int
    meetings_booked: int

    def count(self, metric: Metric) -> int:
        value: int = getattr(self, metric.count_field)
        return value


@dataclass(frozen=True, slots=True)
class BestTime:
    day: int
    hour: int
    metric_value: int
    label: str


@dataclass(frozen=True, slots=True)
class Heatmap:
    start_date: date
    end_date: date
    metric: Metric
    cells: tuple[HeatmapCell, ...]
    best_times: tuple[BestTime, ...]


class CallsQueryError(Exception):
    """The database could not answer the calls query (it has been logged)."""
