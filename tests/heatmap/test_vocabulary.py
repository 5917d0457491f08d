"""The heatmap's vocabulary: hours folded into the week, rates, the dense grid, zone names,
and the query parameters' facts as the endpoint's 400 answers tell them."""

from __future__ import annotations

import json
import zoneinfo
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.backends.utils import split_tzname_delta
from django.utils.timezone import _get_timezone_name

from analytics.heatmap.vocabulary import (
    BestTime,
    Heatmap,
    HeatmapCell,
    Metric,
    Zone,
    dense_grid,
    fold_into_week,
    rate,
    time_zone,
    time_zone_names,
)
from tests.helpers import BAD_ZONES, KOLKATA, NEW_YORK


def hour(moment: datetime, total: int, connected: int = 0, booked: int = 0) -> dict[str, object]:
    return {
        "local_hour": moment,
        "total_calls": total,
        "connected_calls": connected,
        "meetings_booked": booked,
    }


# --- hours folded into the week ---------------------------------------------------------


def test_hours_fold_into_weekday_slots_by_wall_clock() -> None:
    new_york = ZoneInfo(NEW_YORK)
    rows = [
        hour(datetime(2026, 3, 10, 9, tzinfo=new_york), 2, 1, 1),  # Tuesday 09
        hour(datetime(2026, 3, 3, 9, tzinfo=new_york), 3, 2, 0),  # a week earlier, same slot
        hour(datetime(2026, 3, 8, 23, tzinfo=new_york), 1),  # Sunday 23
        hour(datetime(2026, 3, 9, 0), 4),  # naive (USE_TZ = False): Monday 00
    ]
    assert fold_into_week(rows) == (
        HeatmapCell(day=0, hour=23, total_calls=1, connected_calls=0, meetings_booked=0),
        HeatmapCell(day=1, hour=0, total_calls=4, connected_calls=0, meetings_booked=0),
        HeatmapCell(day=2, hour=9, total_calls=5, connected_calls=3, meetings_booked=1),
    )


def test_nothing_folds_into_nothing() -> None:
    assert fold_into_week([]) == ()


# --- rates, min_calls and the dense grid ------------------------------------------------


@pytest.mark.parametrize(
    ("part", "whole", "expected"),
    [(2, 3, 0.6667), (1, 3, 0.3333), (1, 32, 0.0313), (1, 8, 0.125), (0, 5, 0.0), (5, 5, 1.0)],
)
def test_rates_round_half_up_to_four_decimals(part: int, whole: int, expected: float) -> None:
    assert rate(part, whole) == expected
    assert json.dumps(rate(part, whole)) == repr(expected)


def test_a_rate_needs_a_call() -> None:
    with pytest.raises(ValueError, match="at least one call"):
        rate(0, 0)


def test_cells_carry_rates_and_none_without_calls() -> None:
    cell = HeatmapCell(day=1, hour=9, total_calls=3, connected_calls=2, meetings_booked=1)
    assert (cell.connect_rate, cell.meeting_rate) == (0.6667, 0.3333)
    empty = HeatmapCell(day=1, hour=10, total_calls=0, connected_calls=0, meetings_booked=0)
    assert (empty.connect_rate, empty.meeting_rate) == (None, None)


def test_the_body_is_in_jsons_types_and_the_endpoints_order() -> None:
    """The shell's way to the endpoint's body; tests/heatmap/test_selectors.py compares the two."""
    result = Heatmap(
        start_date=date(2026, 3, 4),
        end_date=date(2026, 3, 10),
        metric=Metric.MEETING_RATE,
        timezone="Asia/Kolkata",
        cells=(HeatmapCell(2, 10, 3, 2, 1), HeatmapCell(2, 11, 0, 0, 0)),
        best_times=(BestTime(2, 10, 0.3333, "Tuesday 10:00", total_calls=3),),
    )
    body = result.as_body()
    assert list(body) == [
        "period",
        "metric",
        "timezone",
        "clock",
        "unplaced_calls",
        "outside_calling_hours",
        "heatmap",
        "best_times",
    ]
    assert json.loads(json.dumps(body)) == body
    assert body["period"] == {"start_date": "2026-03-04", "end_date": "2026-03-10"}
    assert (body["metric"], body["clock"], body["unplaced_calls"]) == ("meeting_rate", "tz", None)
    assert body["heatmap"][1] == {
        "day": 2,
        "hour": 11,
        "total_calls": 0,
        "connected_calls": 0,
        "meetings_booked": 0,
        "connect_rate": None,
        "meeting_rate": None,
    }
    assert body["best_times"] == [
        {"day": 2, "hour": 10, "metric_value": 0.3333, "label": "Tuesday 10:00", "total_calls": 3}
    ]


def test_a_count_metrics_best_time_has_no_sample_size() -> None:
    assert BestTime(1, 9, 7, "Monday 09:00").as_body() == {
        "day": 1,
        "hour": 9,
        "metric_value": 7,
        "label": "Monday 09:00",
    }


def test_dense_grid_fills_every_slot_in_day_then_hour_order() -> None:
    counted = HeatmapCell(day=6, hour=23, total_calls=4, connected_calls=1, meetings_booked=0)
    grid = dense_grid([counted])
    assert [(c.day, c.hour) for c in grid] == [(d, h) for d in range(7) for h in range(24)]
    assert grid[-1] is counted
    assert sum(c.total_calls for c in grid) == 4
    assert dense_grid(grid) == grid


# --- time zone names --------------------------------------------------------------------


def test_rejected_names_never_reach_zoneinfo(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ZoneInfo`` would open ``key`` under the zone directories: only known names get there."""
    real, asked = zoneinfo.ZoneInfo, []

    def spy(key: str) -> zoneinfo.ZoneInfo:
        asked.append(key)
        return real(key)

    monkeypatch.setattr(zoneinfo, "ZoneInfo", spy)
    for name, _ in BAD_ZONES:
        with pytest.raises(ValueError, match="time zone"):
            time_zone(name)
    assert asked == []
    assert time_zone(KOLKATA) == real(KOLKATA)
    assert asked == [KOLKATA]


def test_utc_needs_no_zone_database() -> None:
    assert time_zone("UTC") is UTC


def test_accepted_names_are_iana_names_django_reads_as_names() -> None:
    names = time_zone_names()
    assert {"UTC", "Etc/UTC", NEW_YORK, KOLKATA, "Asia/Kathmandu", "Australia/Eucla"} <= names
    assert {"Etc/GMT-3", "GMT+0", "localtime", "Factory"}.isdisjoint(names)
    # Django splits "Etc/GMT-10" into a zone and an offset; nothing accepted may be split.
    assert [name for name in names if split_tzname_delta(name)[2] is not None] == []


#: PostgreSQL's abbreviations that are also zone names, and the IANA zone of the same rules.
ABBREVIATION_ZONES = [
    ("CET", "Europe/Brussels"),
    ("MET", "Europe/Brussels"),
    ("EET", "Europe/Athens"),
    ("WET", "Europe/Lisbon"),
]


@pytest.mark.parametrize(("name", "sent_as"), ABBREVIATION_ZONES)
def test_names_postgresql_reads_as_abbreviations_keep_their_daylight_saving_time(
    name: str, sent_as: str
) -> None:
    """PostgreSQL would read ``CET`` as a fixed +01:00; SQL is sent a zone of CET's rules."""
    zone = Zone.named(name)
    year = datetime.now(UTC).year
    for instant in (datetime(year, 7, 15, 12, tzinfo=UTC), datetime(year, 1, 15, 12, tzinfo=UTC)):
        assert instant.astimezone(zone.tzinfo).utcoffset() == (
            instant.astimezone(ZoneInfo(name)).utcoffset()
        )
    assert _get_timezone_name(zone.tzinfo) == sent_as
    assert zone.name == name


@pytest.mark.django_db
@pytest.mark.usefixtures("on_postgresql")
def test_postgresql_reads_every_accepted_name_as_python_does() -> None:
    """Each name's zone, as Django names it to SQL, gives PostgreSQL Python's wall clock."""
    names = sorted(time_zone_names())
    sent = [_get_timezone_name(time_zone(name)) for name in names]
    instants = [datetime(2026, 7, 15, 12, tzinfo=UTC), datetime(2026, 1, 15, 12, tzinfo=UTC)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT z.name, i.instant, i.instant AT TIME ZONE z.sent "
            "FROM unnest(%s::text[], %s::text[]) AS z (name, sent) "
            "CROSS JOIN unnest(%s::timestamptz[]) AS i (instant)",
            [names, sent, instants],
        )
        rows = cursor.fetchall()
    assert len(rows) == 2 * len(names)
    differ = [
        (name, instant.isoformat(), local.isoformat())
        for name, instant, local in rows
        if local != instant.astimezone(ZoneInfo(name)).replace(tzinfo=None)
    ]
    assert differ == []
