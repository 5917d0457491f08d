"""Which zones and windows 15-minute buckets answer exactly: checked, never assumed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest

from analytics.heatmap.query import heatmap_window, window_bounds
from analytics.heatmap.vocabulary import Period
from analytics.rollup.buckets import buckets_answer_exactly, offsets_answer_exactly

TODAY = date(2026, 12, 1)


def answers_exactly(zone_name: str, today: date = TODAY, period: Period = Period.DAYS_90) -> bool:
    zone = UTC if zone_name == "UTC" else ZoneInfo(zone_name)
    start_date, end_date = heatmap_window(period, today=today)
    start, end = window_bounds(start_date, end_date, zone=zone)
    return buckets_answer_exactly(zone, start, end)


@pytest.mark.parametrize(
    "zone",
    [
        "UTC",
        "Asia/Kathmandu",  # +5:45
        "Pacific/Chatham",  # +12:45 / +13:45, DST on 2026-09-27
        "Australia/Lord_Howe",  # +10:30 / +11, a half-hour DST on 2026-10-04
        "America/St_Johns",  # -3:30 / -2:30, DST ends 2026-11-01
        "Pacific/Kiritimati",  # +14
        "America/New_York",
        "Asia/Kolkata",
    ],
)
def test_every_zone_answers_exactly_today_across_its_daylight_saving_changes(zone: str) -> None:
    assert answers_exactly(zone)
    assert answers_exactly(zone, period=Period.DAYS_7)


@pytest.mark.parametrize(
    ("zone", "today"),
    [
        ("Europe/Amsterdam", date(1937, 8, 1)),  # +0:19:32 Amsterdam Mean Time
        ("Asia/Kathmandu", date(1920, 3, 1)),  # +5:41:16, local mean time
        ("Pacific/Kiritimati", date(1979, 3, 1)),  # -10:40
        ("America/St_Johns", date(1900, 3, 1)),  # -3:30:52
    ],
)
def test_a_zone_off_the_quarter_hour_is_answered_by_the_raw_scan(zone: str, today: date) -> None:
    assert not answers_exactly(zone, today=today)


class ChangesAt(tzinfo):
    """+1:00, then +2:00 from ``change`` on: whole quarter hours, changing where it is told."""

    def __init__(self, change: datetime) -> None:
        self.change = change

    def offset_at(self, utc: datetime) -> timedelta:
        return timedelta(hours=2) if utc >= self.change else timedelta(hours=1)

    def utcoffset(self, dt: datetime | None) -> timedelta:
        assert dt is not None  # good enough away from the change, all this test asks
        return self.offset_at(dt.replace(tzinfo=UTC) - timedelta(hours=1))

    def fromutc(self, dt: datetime) -> datetime:
        utc = dt.replace(tzinfo=UTC)
        return (utc + self.offset_at(utc)).replace(tzinfo=self)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)


@pytest.mark.parametrize(("minute", "exact"), [(0, True), (15, True), (7, False), (44, False)])
def test_an_offset_change_counts_only_on_a_bucket_edge(minute: int, exact: bool) -> None:
    """Both offsets are whole quarter hours; only where the change falls decides."""
    zone = ChangesAt(datetime(2026, 11, 1, 3, minute, tzinfo=UTC))
    start = datetime(2026, 10, 25, tzinfo=UTC)
    assert buckets_answer_exactly(zone, start, start + timedelta(days=14)) is exact


def test_bounds_off_a_bucket_edge_are_not_exact() -> None:
    start = datetime(2026, 11, 1, 0, 7, tzinfo=UTC)
    assert not buckets_answer_exactly(UTC, start, start + timedelta(days=7))
    fixed = timezone(timedelta(hours=5, minutes=45))
    edge = datetime(2026, 11, 1, tzinfo=UTC)
    assert buckets_answer_exactly(fixed, edge, edge + timedelta(days=7))


# --- the lead's clock: every zone of the map at once --------------------------------------


def test_offsets_of_whole_quarter_hours_changing_on_bucket_edges_are_exact() -> None:
    """What the lead's clock asks of the map's offsets over a window (in seconds)."""
    edge = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    assert offsets_answer_exactly([edge, edge + timedelta(minutes=45)], [-18000, 20700, 49500])
    assert offsets_answer_exactly([], [])
    assert not offsets_answer_exactly([edge + timedelta(minutes=7)], [0])
    assert not offsets_answer_exactly([edge + timedelta(microseconds=1)], [0])
    assert not offsets_answer_exactly([edge], [1172])  # Amsterdam's +0:19:32
