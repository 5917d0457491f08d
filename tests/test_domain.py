"""Pure domain helpers: no database."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from analytics.domain import HeatmapCell, fold_into_week

NEW_YORK = ZoneInfo("America/New_York")


def hour(moment: datetime, total: int, connected: int = 0, booked: int = 0) -> dict[str, object]:
    return {
        "local_hour": moment,
        "total_calls": total,
        "connected_calls": connected,
        "meetings_booked": booked,
    }


def test_hours_fold_into_weekday_slots_by_wall_clock() -> None:
    rows = [
        hour(datetime(2026, 3, 10, 9, tzinfo=NEW_YORK), 2, 1, 1),  # Tuesday 09
        hour(datetime(2026, 3, 3, 9, tzinfo=NEW_YORK), 3, 2, 0),  # a week earlier, same slot
        hour(datetime(2026, 3, 8, 23, tzinfo=NEW_YORK), 1),  # Sunday 23
        hour(datetime(2026, 3, 9, 0), 4),  # naive (USE_TZ = False): Monday 00
    ]
    assert fold_into_week(rows) == (
        HeatmapCell(day=0, hour=23, total_calls=1, connected_calls=0, meetings_booked=0),
        HeatmapCell(day=1, hour=0, total_calls=4, connected_calls=0, meetings_booked=0),
        HeatmapCell(day=2, hour=9, total_calls=5, connected_calls=3, meetings_booked=1),
    )


def test_nothing_folds_into_nothing() -> None:
    assert fold_into_week([]) == ()
