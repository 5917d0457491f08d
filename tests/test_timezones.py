"""Days, hours and the window in the caller's time zone, converted by the database."""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import caches
from django.db.backends.utils import split_tzname_delta
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from analytics import domain
from analytics.domain import time_zone, time_zone_names
from analytics.selectors import heatmap
from tests.conftest import HEATMAP_URL, MakeCall

NEW_YORK, KOLKATA, SANTIAGO = "America/New_York", "Asia/Kolkata", "America/Santiago"
OFFSET_MESSAGE = (
    "Use a time zone name such as America/New_York, not a UTC offset: "
    "offsets do not follow daylight-saving time."
)
UNKNOWN_MESSAGE = "Unknown time zone; use an IANA name such as America/New_York."
ONE_US = timedelta(microseconds=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def slots(agency_id: uuid.UUID, **options: Any) -> list[tuple[int, int, int]]:
    """``(day, hour, total_calls)`` per cell."""
    return [(c.day, c.hour, c.total_calls) for c in heatmap(agency_id=agency_id, **options).cells]


def local_today(name: str) -> date:
    return timezone.now().astimezone(ZoneInfo(name)).date()


@pytest.mark.django_db
def test_spring_forward_puts_each_call_in_its_local_hour(
    make_call: MakeCall, agency_id: uuid.UUID
) -> None:
    # New York, Sunday 2026-03-08: 02:00 EST is 03:00 EDT, at 07:00 UTC.
    make_call(created_at=utc(2026, 3, 8, 6, 30))  # 01:30 EST
    make_call(created_at=utc(2026, 3, 8, 7, 0))  # 03:00 EDT
    make_call(created_at=utc(2026, 3, 8, 7, 59))  # 03:59 EDT
    make_call(created_at=utc(2026, 3, 6, 14, 0))  # Friday 09:00 EST
    make_call(created_at=utc(2026, 3, 9, 13, 0))  # Monday 09:00 EDT
    in_new_york = slots(agency_id, tz=NEW_YORK, today=date(2026, 3, 10))
    assert in_new_york == [(0, 1, 1), (0, 3, 2), (1, 9, 1), (5, 9, 1)]
    assert slots(agency_id, today=date(2026, 3, 10)) == [
        (0, 6, 1),
        (0, 7, 2),
        (1, 13, 1),
        (5, 14, 1),
    ]


@pytest.mark.django_db
def test_fall_back_counts_the_repeated_hour_twice_over(
    make_call: MakeCall, agency_id: uuid.UUID
) -> None:
    # New York, Sunday 2026-11-01: 02:00 EDT is 01:00 EST again, at 06:00 UTC.
    make_call(created_at=utc(2026, 11, 1, 4, 59))  # 00:59 EDT
    make_call(created_at=utc(2026, 11, 1, 5, 15))  # 01:15 EDT
    make_call(created_at=utc(2026, 11, 1, 6, 15))  # 01:15 EST, an hour later
    make_call(created_at=utc(2026, 11, 1, 7, 0))  # 02:00 EST
    assert slots(agency_id, tz=NEW_YORK, today=date(2026, 11, 3)) == [
        (0, 0, 1),
        (0, 1, 2),
        (0, 2, 1),
    ]


@pytest.mark.django_db
def test_half_hour_zone_splits_a_utc_hour(make_call: MakeCall, agency_id: uuid.UUID) -> None:
    make_call(created_at=utc(2026, 3, 10, 3, 45))  # Tuesday 09:15 in Kolkata
    make_call(created_at=utc(2026, 3, 10, 3, 15))  # Tuesday 08:45 in Kolkata
    make_call(created_at=utc(2026, 3, 9, 18, 30))  # Monday 18:30 UTC is Tuesday 00:00 there
    result = heatmap(agency_id=agency_id, tz=KOLKATA, today=date(2026, 3, 10))
    assert [(c.day, c.hour) for c in result.cells] == [(2, 0), (2, 8), (2, 9)]
    assert [b.label for b in result.best_times] == [
        "Tuesday 00:00",
        "Tuesday 08:00",
        "Tuesday 09:00",
    ]
    assert result.timezone == KOLKATA
    assert slots(agency_id, today=date(2026, 3, 10)) == [(1, 18, 1), (2, 3, 2)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("tz", "today", "first", "after_last", "expected"),
    [
        # Wednesday 2026-03-04 00:00 EST ... Wednesday 2026-03-11 00:00 EDT.
        (NEW_YORK, date(2026, 3, 10), utc(2026, 3, 4, 5), utc(2026, 3, 11, 4), [(2, 23), (3, 0)]),
        (
            KOLKATA,
            date(2026, 3, 10),
            utc(2026, 3, 3, 18, 30),
            utc(2026, 3, 10, 18, 30),
            [(2, 23), (3, 0)],
        ),
        # Santiago skips Sunday 2026-09-06 00:00: the day starts at 01:00 (-03).
        (SANTIAGO, date(2026, 9, 12), utc(2026, 9, 6, 4), utc(2026, 9, 13, 3), [(0, 1), (6, 23)]),
    ],
)
def test_window_edges_are_local_midnights_to_the_microsecond(
    make_call: MakeCall,
    agency_id: uuid.UUID,
    tz: str,
    today: date,
    first: datetime,
    after_last: datetime,
    expected: list[tuple[int, int]],
) -> None:
    for moment in (first - ONE_US, first, after_last - ONE_US, after_last):
        make_call(created_at=moment)
    result = heatmap(agency_id=agency_id, period="7d", tz=tz, today=today)
    assert (result.start_date, result.end_date) == (today - timedelta(days=6), today)
    assert [(c.day, c.hour, c.total_calls) for c in result.cells] == [(*s, 1) for s in expected]


@pytest.mark.django_db
def test_without_tz_the_same_data_gives_the_utc_answer(
    make_call: MakeCall, agency_id: uuid.UUID
) -> None:
    for moment in (utc(2026, 3, 8, 6, 30), utc(2026, 3, 8, 7), utc(2026, 3, 10, 3, 45)):
        make_call(created_at=moment)
    default = heatmap(agency_id=agency_id, today=date(2026, 3, 10))
    assert default == heatmap(agency_id=agency_id, tz="UTC", today=date(2026, 3, 10))
    assert default.timezone == "UTC"
    assert [(c.day, c.hour) for c in default.cells] == [(0, 6), (0, 7), (2, 3)]
    in_kolkata = slots(agency_id, tz=KOLKATA, today=date(2026, 3, 10))
    assert in_kolkata == [(0, 12, 2), (2, 9, 1)]  # 12:00 and 12:30, then 09:15


@pytest.mark.django_db
@pytest.mark.parametrize("tz", ["Pacific/Kiritimati", "Pacific/Pago_Pago", KOLKATA])
def test_today_is_the_date_in_the_zone(agency_id: uuid.UUID, tz: str) -> None:
    before = local_today(tz)
    result = heatmap(agency_id=agency_id, period="7d", tz=tz)
    assert result.end_date in {before, local_today(tz)}
    assert result.start_date == result.end_date - timedelta(days=6)


@pytest.mark.django_db
def test_kiritimati_is_a_day_ahead_of_pago_pago(agency_id: uuid.UUID) -> None:
    # UTC+14 and UTC-11: 25 hours apart, so never on the same date.
    ahead = heatmap(agency_id=agency_id, tz="Pacific/Kiritimati").end_date
    behind = heatmap(agency_id=agency_id, tz="Pacific/Pago_Pago").end_date
    assert ahead - behind in {timedelta(days=1), timedelta(days=2)}


@pytest.mark.django_db
@pytest.mark.parametrize("host_zone", ["America/Los_Angeles", "Asia/Tokyo"])
def test_host_time_zone_never_moves_a_local_bucket(
    make_call: MakeCall, agency_id: uuid.UUID, host_zone: str
) -> None:
    make_call(created_at=utc(2026, 3, 10, 3, 45))
    with override_settings(TIME_ZONE=host_zone):
        assert slots(agency_id, tz=KOLKATA, today=date(2026, 3, 10)) == [(2, 9, 1)]


@pytest.mark.django_db
def test_tz_over_http_answers_in_local_days_and_hours(
    auth_client: APIClient, make_call: MakeCall
) -> None:
    today = local_today(KOLKATA)
    make_call(
        created_at=datetime(today.year, today.month, today.day, 9, 15, tzinfo=ZoneInfo(KOLKATA))
    )
    response = auth_client.get(HEATMAP_URL, {"tz": KOLKATA, "period": "7d"})
    assert response.status_code == 200
    body = response.json()
    assert body["timezone"] == KOLKATA
    assert body["period"]["end_date"] in {today.isoformat(), local_today(KOLKATA).isoformat()}
    day = today.isoweekday() % 7
    assert body["heatmap"] == [
        {
            "day": day,
            "hour": 9,
            "total_calls": 1,
            "connected_calls": 0,
            "meetings_booked": 0,
            "connect_rate": 0.0,
            "meeting_rate": 0.0,
        }
    ]
    label = f"{today.strftime('%A')} 09:00"
    assert body["best_times"] == [{"day": day, "hour": 9, "metric_value": 1, "label": label}]


@pytest.mark.django_db
def test_explicit_utc_answers_with_the_timezone(
    auth_client: APIClient, make_call: MakeCall
) -> None:
    make_call()
    body = auth_client.get(HEATMAP_URL, {"tz": "UTC"}).json()
    assert body["timezone"] == "UTC"
    assert body["heatmap"][0]["hour"] == 12


BAD_ZONES = [
    ("+05:30", OFFSET_MESSAGE),
    ("UTC+3", OFFSET_MESSAGE),
    ("GMT-5", OFFSET_MESSAGE),
    ("-0500", OFFSET_MESSAGE),
    ("Etc/GMT-3", OFFSET_MESSAGE),  # in the zone database, but an offset (and sign-inverted)
    ("Etc/GMT+10", OFFSET_MESSAGE),
    ("Mars/Olympus_Mons", UNKNOWN_MESSAGE),
    ("america/new_york", UNKNOWN_MESSAGE),
    ("localtime", UNKNOWN_MESSAGE),
    ("Factory", UNKNOWN_MESSAGE),
    ("posix/Asia/Kolkata", UNKNOWN_MESSAGE),
    ("../etc/passwd", UNKNOWN_MESSAGE),
    ("/etc/passwd", UNKNOWN_MESSAGE),
    ("/usr/share/zoneinfo/UTC", UNKNOWN_MESSAGE),
    ("Asia/Kolkata/../../../../etc/passwd", UNKNOWN_MESSAGE),
    ("Asia/Kolkata\x00", UNKNOWN_MESSAGE),
    ("A" * 5000, UNKNOWN_MESSAGE),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("tz", "message"), [*BAD_ZONES, ("", "This field may not be blank.")])
def test_bad_tz_is_400_with_a_field_message(auth_client: APIClient, tz: str, message: str) -> None:
    response = auth_client.get(HEATMAP_URL, {"tz": tz})
    assert response.status_code == 400
    assert response.json() == {"tz": [message]}


@pytest.mark.django_db
def test_tz_is_checked_once_per_request(
    auth_client: APIClient, make_call: MakeCall, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parsed by the serializer; the cache, the selector and the window take its ``Zone``."""
    settings.ANALYTICS_HEATMAP_CACHE_TTL = 60  # through the cache too
    caches["default"].clear()
    real, asked = domain.time_zone, []

    def spy(name: str) -> tzinfo:
        asked.append(name)
        return real(name)

    monkeypatch.setattr(domain, "time_zone", spy)
    make_call()
    response = auth_client.get(HEATMAP_URL, {"tz": KOLKATA})
    assert response.status_code == 200
    assert response.json()["timezone"] == KOLKATA
    assert asked == [KOLKATA]


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


@pytest.mark.django_db
def test_every_accepted_zone_answers_on_this_database(
    make_call: MakeCall, agency_id: uuid.UUID
) -> None:
    make_call(created_at=utc(2026, 3, 10, 12))  # 2026-03-09 or -10 or -11 somewhere
    for name in sorted(time_zone_names()):
        result = heatmap(agency_id=agency_id, period="7d", tz=name, today=date(2026, 3, 11))
        assert [c.total_calls for c in result.cells] == [1], name
