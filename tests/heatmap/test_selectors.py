"""What the heatmap counts and how it reads it: the selectors the shell, the admin, the
command and the endpoint share.

Days, hours and the window are the caller's time zone's, converted by the database;
rates rank by their lower bound; the endpoint answers what the selector answers; and
on PostgreSQL the rollup answers as the raw scan does, whenever it is ready.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from analytics.exceptions import InvalidQuery
from analytics.heatmap.query import HeatmapQuery, heatmap_window
from analytics.heatmap.selectors import cells_for, count_lead_calls_by_slot, heatmap, reads_rollup
from analytics.heatmap.vocabulary import Clock, HeatmapCell, Metric, Period, Zone, time_zone_names
from analytics.models import Call, User
from analytics.rollup import state as rollup_state
from analytics.rollup.install import install, uninstall
from tests.helpers import (
    CAMPAIGNS,
    CLIENTS,
    HEATMAP_CSV_URL,
    HEATMAP_URL,
    KOLKATA,
    NEW_YORK,
    ROLLUP_ZONES,
    MakeCall,
    ended_call,
    insert_random_calls,
    make_calls,
    mint_token,
    query_for,
    sql,
    utc,
    utc_today,
)

pytestmark = pytest.mark.django_db

TODAY = date(2026, 3, 10)  # a Tuesday
TUESDAY_10 = datetime(2026, 3, 10, 10, 30, tzinfo=UTC)
SANTIAGO = "America/Santiago"
ONE_US = timedelta(microseconds=1)
#: The rollup's tests commit: each starts and ends with empty tables and no rollup.
on_the_rollup_database = pytest.mark.usefixtures("rollup_database")


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def slots(agency_id: uuid.UUID, **options: Any) -> list[tuple[int, int, int]]:
    """``(day, hour, total_calls)`` per cell."""
    return [(c.day, c.hour, c.total_calls) for c in heatmap(agency_id=agency_id, **options).cells]


def client_of(agency_id: uuid.UUID) -> APIClient:
    """The endpoint, asked as the agency's user."""
    user = User.objects.get(agency_id=agency_id)
    return APIClient(HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(user.id))}")


# --- what counts, where and when --------------------------------------------------------


def counts(agency_id: uuid.UUID, **options: Any) -> list[tuple[int, int, int, int, int]]:
    result = heatmap(agency_id=agency_id, today=TODAY, **options)
    return [
        (c.day, c.hour, c.total_calls, c.connected_calls, c.meetings_booked) for c in result.cells
    ]


def booked(value: Any) -> dict[str, Any]:
    return {"summary": "Talked about pricing.", "sdr": {"meeting_booked": value}}


def test_connected_means_joined_and_not_unjoined(make_call: MakeCall, agency_id: uuid.UUID) -> None:
    joined = TUESDAY_10 + timedelta(seconds=20)
    make_call(created_at=TUESDAY_10, joined_at=joined, end_reason=None)  # NULL reason: connected
    make_call(created_at=TUESDAY_10, joined_at=joined, end_reason="completed")
    make_call(created_at=TUESDAY_10, joined_at=joined, end_reason="unjoined")
    make_call(created_at=TUESDAY_10, joined_at=None, end_reason=None)
    make_call(created_at=TUESDAY_10, joined_at=None, end_reason="no_answer")
    assert counts(agency_id) == [(2, 10, 5, 2, 0)]


def test_only_ended_calls_count(make_call: MakeCall, agency_id: uuid.UUID) -> None:
    for status in ("queued", "ringing", "in_progress", "failed"):
        make_call(created_at=TUESDAY_10, status=status, joined_at=TUESDAY_10, analysis=booked(True))
    assert counts(agency_id) == []
    make_call(created_at=TUESDAY_10)
    assert counts(agency_id) == [(2, 10, 1, 0, 0)]


@pytest.mark.parametrize(
    ("analysis", "is_booked"),
    [
        (booked(True), True),
        (booked("true"), False),
        (booked(False), False),
        (booked(1), False),
        (booked(None), False),
        (booked([True]), False),
        ({"sdr": {}}, False),
        ({"sdr": "meeting_booked"}, False),
        ({"summary": "No sdr block."}, False),
        ({"meeting_booked": True}, False),
        (None, False),
    ],
    ids=repr,
)
def test_meeting_booked_is_the_json_literal_true_only(
    make_call: MakeCall, agency_id: uuid.UUID, analysis: Any, is_booked: bool
) -> None:
    make_call(created_at=TUESDAY_10, analysis=analysis)
    assert counts(agency_id) == [(2, 10, 1, 0, int(is_booked))]


@pytest.mark.parametrize(
    ("created_at", "day", "hour"),
    [
        (datetime(2026, 3, 8, 0, 0, tzinfo=UTC), 0, 0),  # Sunday midnight
        (datetime(2026, 3, 9, 9, 59, 59, 999999, tzinfo=UTC), 1, 9),
        (datetime(2026, 3, 7, 23, 59, 59, 999999, tzinfo=UTC), 6, 23),  # Saturday
        (datetime(2026, 3, 10, 15, 0, tzinfo=UTC), 2, 15),
    ],
)
def test_buckets_by_utc_weekday_and_hour(
    make_call: MakeCall, agency_id: uuid.UUID, created_at: datetime, day: int, hour: int
) -> None:
    make_call(created_at=created_at)
    assert counts(agency_id) == [(day, hour, 1, 0, 0)]


@pytest.mark.parametrize(
    ("period", "days"), [(Period.DAYS_7, 7), (Period.DAYS_30, 30), (Period.DAYS_90, 90)]
)
def test_window_edges_to_the_microsecond(
    make_call: MakeCall, agency_id: uuid.UUID, period: Period, days: int
) -> None:
    start_date, end_date = heatmap_window(period, today=TODAY)
    assert (start_date, end_date) == (TODAY - timedelta(days=days - 1), TODAY)
    first = datetime(start_date.year, start_date.month, start_date.day, tzinfo=UTC)
    after_last = datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=UTC) + timedelta(days=1)
    one_us = timedelta(microseconds=1)
    inside = [first, after_last - one_us]
    outside = [first - one_us, after_last]
    for moment in inside + outside:
        make_call(created_at=moment)
    result = heatmap(agency_id=agency_id, period=period, today=TODAY)
    assert (result.start_date, result.end_date) == (start_date, end_date)
    seen = {(cell.day, cell.hour): cell.total_calls for cell in result.cells}
    expected: dict[tuple[int, int], int] = {}
    for moment in inside:
        slot = ((moment.isoweekday() % 7), moment.hour)
        expected[slot] = expected.get(slot, 0) + 1
    assert seen == expected
    assert sum(seen.values()) == 2


def test_other_agencies_calls_never_count(
    make_call: MakeCall, agency_id: uuid.UUID, other_agency_id: uuid.UUID
) -> None:
    theirs = uuid.uuid4()
    make_call(created_at=TUESDAY_10, agency_id=other_agency_id, campaign_id=theirs)
    make_call(created_at=TUESDAY_10, agency_id=other_agency_id, client_id=theirs)
    make_call(created_at=TUESDAY_10, campaign_id=uuid.uuid4())
    assert counts(agency_id) == [(2, 10, 1, 0, 0)]
    assert counts(agency_id, campaign_id=theirs) == []
    assert counts(agency_id, client_id=theirs) == []
    assert counts(other_agency_id) == [(2, 10, 2, 0, 0)]


def test_campaign_and_client_filters_combine(make_call: MakeCall, agency_id: uuid.UUID) -> None:
    campaign, other_campaign, client, other_client = (uuid.uuid4() for _ in range(4))
    make_call(created_at=TUESDAY_10, campaign_id=campaign, client_id=client)
    make_call(created_at=TUESDAY_10, campaign_id=campaign, client_id=other_client)
    make_call(created_at=TUESDAY_10, campaign_id=other_campaign, client_id=client)
    make_call(created_at=TUESDAY_10, campaign_id=None, client_id=None)
    assert counts(agency_id) == [(2, 10, 4, 0, 0)]
    assert counts(agency_id, campaign_id=campaign) == [(2, 10, 2, 0, 0)]
    assert counts(agency_id, client_id=client) == [(2, 10, 2, 0, 0)]
    assert counts(agency_id, campaign_id=campaign, client_id=client) == [(2, 10, 1, 0, 0)]
    assert counts(agency_id, campaign_id=other_campaign, client_id=other_client) == []


def test_cells_are_sparse_and_sorted_by_day_then_hour(
    make_call: MakeCall, agency_id: uuid.UUID
) -> None:
    for created_at in [
        datetime(2026, 3, 10, 9, tzinfo=UTC),  # Tuesday
        datetime(2026, 3, 8, 22, tzinfo=UTC),  # Sunday
        datetime(2026, 3, 9, 14, tzinfo=UTC),  # Monday
        datetime(2026, 3, 9, 8, tzinfo=UTC),
        datetime(2026, 3, 9, 8, 45, tzinfo=UTC),
    ]:
        make_call(created_at=created_at)
    assert counts(agency_id) == [
        (0, 22, 1, 0, 0),
        (1, 8, 2, 0, 0),
        (1, 14, 1, 0, 0),
        (2, 9, 1, 0, 0),
    ]


@pytest.mark.parametrize("host_zone", ["Asia/Kolkata", "America/Los_Angeles", "Pacific/Kiritimati"])
def test_host_time_zone_never_moves_a_bucket(
    make_call: MakeCall, agency_id: uuid.UUID, host_zone: str
) -> None:
    make_call(created_at=datetime(2026, 3, 9, 23, 30, tzinfo=UTC))  # Monday 23:xx UTC
    make_call(created_at=datetime(2026, 3, 10, 0, 15, tzinfo=UTC))  # Tuesday 00:xx UTC
    with override_settings(TIME_ZONE=host_zone):
        assert counts(agency_id) == [(1, 23, 1, 0, 0), (2, 0, 1, 0, 0)]


def test_result_ranks_best_times_for_the_metric(make_call: MakeCall, agency_id: uuid.UUID) -> None:
    monday_9 = datetime(2026, 3, 9, 9, tzinfo=UTC)
    make_call(created_at=monday_9)
    make_call(created_at=monday_9)
    make_call(created_at=TUESDAY_10, joined_at=TUESDAY_10, analysis=booked(True))
    result = heatmap(agency_id=agency_id, metric="connected", today=TODAY)
    assert result.metric is Metric.CONNECTED
    assert [(b.label, b.metric_value) for b in result.best_times] == [("Tuesday 10:00", 1)]
    by_calls = heatmap(agency_id=agency_id, today=TODAY)
    assert [(b.label, b.metric_value) for b in by_calls.best_times] == [
        ("Monday 09:00", 2),
        ("Tuesday 10:00", 1),
    ]
    assert by_calls.cells[0] == HeatmapCell(
        day=1, hour=9, total_calls=2, connected_calls=0, meetings_booked=0
    )


def test_shell_call_rejects_unknown_period_and_metric(agency_id: uuid.UUID) -> None:
    with pytest.raises(ValueError, match="5d"):
        heatmap(agency_id=agency_id, period="5d")
    with pytest.raises(ValueError, match="revenue"):
        heatmap(agency_id=agency_id, metric="revenue")


def test_dense_grid_holds_every_slot_and_the_same_best_times(
    make_call: MakeCall, agency_id: uuid.UUID
) -> None:
    make_call(created_at=TUESDAY_10, joined_at=TUESDAY_10)
    make_call(created_at=datetime(2026, 3, 8, 0, 0, tzinfo=UTC))
    sparse = heatmap(agency_id=agency_id, today=TODAY)
    dense = heatmap(agency_id=agency_id, dense=True, today=TODAY)
    assert [(c.day, c.hour) for c in dense.cells] == [(d, h) for d in range(7) for h in range(24)]
    assert [c for c in dense.cells if c.total_calls] == list(sparse.cells)
    assert dense.cells[1] == HeatmapCell(
        day=0, hour=1, total_calls=0, connected_calls=0, meetings_booked=0
    )
    assert dense.best_times == sparse.best_times


def test_dense_grid_in_a_time_zone_places_calls_in_local_slots(
    make_call: MakeCall, agency_id: uuid.UUID
) -> None:
    make_call(created_at=datetime(2026, 3, 10, 3, 45, tzinfo=UTC))  # 09:15 in Kolkata
    grid = heatmap(agency_id=agency_id, tz="Asia/Kolkata", dense=True, today=TODAY).cells
    assert len(grid) == 168
    assert [(c.day, c.hour) for c in grid if c.total_calls] == [(2, 9)]
    assert grid[2 * 24 + 9].total_calls == 1


def test_shell_call_takes_the_endpoints_options(make_call: MakeCall, agency_id: uuid.UUID) -> None:
    for _ in range(20):
        make_call(created_at=TUESDAY_10, joined_at=TUESDAY_10)
    result = heatmap(
        agency_id=agency_id,
        period="7d",
        metric="connect_rate",
        tz="America/New_York",
        min_calls=20,
        dense=False,
        today=TODAY,
    )
    assert result.timezone == "America/New_York"
    assert [(b.label, b.metric_value, b.total_calls) for b in result.best_times] == [
        ("Tuesday 06:00", 1.0, 20)
    ]


# --- the shell function is the endpoint ---------------------------------------------------
# heatmap() takes what the query string takes, refuses the rest with the endpoint's own
# messages (a ValueError), refuses an agency nothing belongs to (a LookupError), and its
# result's as_body() is the endpoint's body.


@pytest.mark.parametrize(
    ("dense", "cells"),
    [("false", 1), ("0", 1), ("FALSE", 1), (False, 1), ("true", 168), ("1", 168), (True, 168)],
)
def test_the_shell_reads_dense_as_the_endpoint_does(
    auth_client: APIClient, make_call: MakeCall, agency_id: uuid.UUID, dense: Any, cells: int
) -> None:
    make_call()
    assert len(heatmap(agency_id=agency_id, dense=dense).cells) == cells
    over_http = auth_client.get(HEATMAP_URL, {"dense": str(dense).lower()}).json()
    assert len(over_http["heatmap"]) == cells


@pytest.mark.parametrize("min_calls", ["20", "20.0", 20])
def test_the_shell_reads_min_calls_text_as_the_endpoint_does(
    make_call: MakeCall, agency_id: uuid.UUID, min_calls: Any
) -> None:
    for _ in range(20):
        make_call(created_at=TUESDAY_10, joined_at=TUESDAY_10)
    make_call(created_at=TUESDAY_10 + timedelta(hours=1), joined_at=TUESDAY_10)
    result = heatmap(agency_id=agency_id, metric="connect_rate", min_calls=min_calls, today=TODAY)
    assert [(b.label, b.total_calls) for b in result.best_times] == [("Tuesday 10:00", 20)]


#: Bad values, as a query string gives them; each refused by the endpoint and the shell.
BAD_VALUES = [
    ("period", "5d"),
    ("period", ""),
    ("metric", "revenue"),
    ("campaign_id", "1 OR 1=1"),
    ("client_id", ""),
    ("tz", "+05:30"),
    ("tz", "Mars/Olympus_Mons"),
    ("tz", "   "),
    ("min_calls", "0"),
    ("min_calls", "100001"),
    ("min_calls", "ten"),
    ("min_calls", "2.5"),
    ("dense", "yes"),
    ("clock", "LEAD"),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_a_bad_value_is_a_value_error_with_the_endpoints_message(
    auth_client: APIClient, agency_id: uuid.UUID, name: str, value: str
) -> None:
    [message] = auth_client.get(HEATMAP_URL, {name: value}).json()[name]
    with pytest.raises(InvalidQuery) as raised:
        heatmap(agency_id=agency_id, **{name: value})
    assert isinstance(raised.value, ValueError)
    assert raised.value.errors == {name: message}
    assert str(raised.value).startswith(f"{name}: {message}")


@pytest.mark.parametrize(
    ("options", "text"),
    [
        ({"period": "5d"}, 'period: "5d" is not a valid choice. Choices: 7d, 30d, 90d.'),
        ({"clock": "LEAD"}, 'clock: "LEAD" is not a valid choice. Choices: tz, lead.'),
        (
            {"metric": "revenue"},
            'metric: "revenue" is not a valid choice. Choices: calls, connected, '
            "meetings_booked, connect_rate, meeting_rate.",
        ),
        ({"min_calls": True}, "min_calls: A valid integer is required."),
        ({"min_calls": 0}, "min_calls: Ensure this value is greater than or equal to 1."),
        ({"dense": 1}, 'dense: Must be "true", "false", "1" or "0".'),
        ({"dense": None}, 'dense: Must be "true", "false", "1" or "0".'),
        ({"campaign_id": 7}, "campaign_id: Must be a valid UUID."),
        (
            {"period": "1y", "tz": "UTC+3", "dense": "on"},
            'period: "1y" is not a valid choice. Choices: 7d, 30d, 90d.\n'
            "tz: Use a time zone name such as America/New_York, not a UTC offset: offsets do "
            "not follow daylight-saving time.\n"
            'dense: Must be "true", "false", "1" or "0".',
        ),
    ],
)
def test_the_value_error_names_each_bad_parameter_and_lists_the_choices(
    agency_id: uuid.UUID, options: dict[str, Any], text: str
) -> None:
    with pytest.raises(InvalidQuery) as raised:
        heatmap(agency_id=agency_id, **options)
    assert str(raised.value) == text


@pytest.mark.parametrize("agency", ["not-a-uuid", "", 42])
def test_a_malformed_agency_id_is_a_value_error(agency: Any) -> None:
    with pytest.raises(ValueError, match=r"^agency_id: Must be a valid UUID\.$") as raised:
        heatmap(agency_id=agency)
    assert type(raised.value) is ValueError  # not Django's ValidationError from the ORM


def test_an_agency_nothing_belongs_to_is_a_lookup_error_as_the_command_says(
    agency_id: uuid.UUID,
) -> None:
    with pytest.raises(LookupError) as raised:
        heatmap(agency_id=agency_id)
    assert str(raised.value) == "No calls and no users belong to this agency; check the id."
    with pytest.raises(LookupError):
        heatmap(agency_id=str(agency_id))


@pytest.mark.usefixtures("user")
def test_an_agency_with_users_and_no_calls_is_an_empty_heatmap(agency_id: uuid.UUID) -> None:
    assert heatmap(agency_id=str(agency_id)).cells == ()


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"metric": "meeting_rate", "min_calls": "2", "dense": "true", "tz": KOLKATA},
        {"clock": "lead", "tz": NEW_YORK, "period": "7d", "dense": "1"},
    ],
)
def test_as_body_is_the_endpoints_body(
    auth_client: APIClient, make_call: MakeCall, agency_id: uuid.UUID, query: dict[str, str]
) -> None:
    today = utc_today()
    for hour, booked in ((8, 0), (13, 2)):
        make_calls(make_call, utc(today.year, today.month, today.day, hour), total=3, booked=booked)
    make_call(phone_number="+1 212 555 0100")
    over_http = auth_client.get(HEATMAP_URL, query)
    assert over_http.status_code == 200
    assert heatmap(agency_id=agency_id, **query).as_body() == over_http.json()


# --- days and hours in the caller's time zone -------------------------------------------


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


@pytest.mark.parametrize(
    ("tz", "expected"),
    [
        ("Pacific/Kiritimati", date(2026, 3, 11)),  # UTC+14: 10:00 on the 11th
        ("Pacific/Pago_Pago", date(2026, 3, 10)),  # UTC-11: 09:00 on the 10th
        (KOLKATA, date(2026, 3, 11)),  # UTC+05:30: 01:30 on the 11th
    ],
)
@pytest.mark.usefixtures("user")
def test_today_is_the_date_in_the_zone(agency_id: uuid.UUID, tz: str, expected: date) -> None:
    with time_machine.travel(utc(2026, 3, 10, 20), tick=False):
        result = heatmap(agency_id=agency_id, period="7d", tz=tz)
    assert result.end_date == expected
    assert result.start_date == expected - timedelta(days=6)


@pytest.mark.usefixtures("user")
def test_kiritimati_is_a_day_ahead_of_pago_pago(agency_id: uuid.UUID) -> None:
    # UTC+14 and UTC-11: 25 hours apart, so never on the same date.
    for moment, apart in ((utc(2026, 3, 10, 10, 30), 2), (utc(2026, 3, 10, 20), 1)):
        with time_machine.travel(moment, tick=False):
            ahead = heatmap(agency_id=agency_id, tz="Pacific/Kiritimati").end_date
            behind = heatmap(agency_id=agency_id, tz="Pacific/Pago_Pago").end_date
        assert ahead - behind == timedelta(days=apart), moment


@pytest.mark.parametrize("host_zone", ["America/Los_Angeles", "Asia/Tokyo"])
def test_host_time_zone_never_moves_a_local_bucket(
    make_call: MakeCall, agency_id: uuid.UUID, host_zone: str
) -> None:
    make_call(created_at=utc(2026, 3, 10, 3, 45))
    with override_settings(TIME_ZONE=host_zone):
        assert slots(agency_id, tz=KOLKATA, today=date(2026, 3, 10)) == [(2, 9, 1)]


def test_every_accepted_zone_answers_on_this_database(
    make_call: MakeCall, agency_id: uuid.UUID
) -> None:
    make_call(created_at=utc(2026, 3, 10, 12))  # 2026-03-09 or -10 or -11 somewhere
    for name in sorted(time_zone_names()):
        result = heatmap(agency_id=agency_id, period="7d", tz=name, today=date(2026, 3, 11))
        assert [c.total_calls for c in result.cells] == [1], name


# --- rates rank by their lower bound ----------------------------------------------------


def test_rate_metric_ranks_by_the_lower_bound(make_call: MakeCall, agency_id: uuid.UUID) -> None:
    make_calls(make_call, at(TODAY, 9), total=1, booked=1)  # 1/1, Tuesday 09:00
    make_calls(make_call, at(TODAY, 15), total=100, booked=40)  # 40/100, Tuesday 15:00
    result = heatmap(agency_id=agency_id, metric="meeting_rate", min_calls=1, today=TODAY)
    assert [(b.label, b.metric_value, b.total_calls) for b in result.best_times] == [
        ("Tuesday 15:00", 0.4, 100),
        ("Tuesday 09:00", 1.0, 1),
    ]
    by_default = heatmap(agency_id=agency_id, metric="meeting_rate", today=TODAY)
    assert [b.label for b in by_default.best_times] == ["Tuesday 15:00"]  # 1 call < 20
    assert [(c.connect_rate, c.meeting_rate) for c in by_default.cells] == [(1.0, 1.0), (0.4, 0.4)]


def test_shell_rejects_min_calls_out_of_range_and_unknown_zones(agency_id: uuid.UUID) -> None:
    for min_calls in (0, 100_001):
        with pytest.raises(ValueError, match="min_calls"):
            heatmap(agency_id=agency_id, min_calls=min_calls)
    with pytest.raises(ValueError, match="time zone"):
        heatmap(agency_id=agency_id, tz="+05:30")


def rollup_answer_equals_raw(client: Any, settings: Any, query: dict[str, str]) -> tuple[Any, str]:
    """Asks for ``query`` (JSON and CSV) from the rollup, then from the raw scan; checks both
    answer 200 with the same bytes, the rollup's requests never read calls and the raw ones
    never the rollup. The rollup's JSON answer, and the SQL its requests ran."""
    settings.ANALYTICS_HEATMAP_SOURCE = "auto"
    with CaptureQueriesContext(connection) as from_rollup:
        rolled = client.get(HEATMAP_URL, query)
        rolled_csv = client.get(HEATMAP_CSV_URL, query)
    settings.ANALYTICS_HEATMAP_SOURCE = "raw"
    with CaptureQueriesContext(connection) as from_raw:
        raw = client.get(HEATMAP_URL, query)
        raw_csv = client.get(HEATMAP_CSV_URL, query)
    assert rolled.status_code == raw.status_code == 200
    assert rolled.content == raw.content, query
    assert rolled_csv.content == raw_csv.content, query
    read = " ".join(q["sql"] for q in from_rollup.captured_queries)
    assert 'FROM "calls"' not in read
    assert not any("analytics_heatmap" in q["sql"] for q in from_raw.captured_queries)
    return rolled, read


# --- on PostgreSQL: the rollup answers as the raw scan does -----------------------------


@pytest.mark.django_db(transaction=True)
@on_the_rollup_database
def test_every_zone_and_filter_answers_byte_for_byte_as_the_raw_scan(
    rollup: None, rollup_agency: uuid.UUID, settings: Any
) -> None:
    insert_random_calls(random.Random(12), rollup_agency, 400)
    client = client_of(rollup_agency)
    asked = seen_calls = 0
    for zone in ROLLUP_ZONES:
        for params in (
            {"period": "90d"},
            {"period": "7d", "metric": "connect_rate", "min_calls": "1"},
            {"period": "30d", "campaign_id": str(CAMPAIGNS[1])},
            {"period": "90d", "client_id": str(CLIENTS[2]), "metric": "meetings_booked"},
            {"period": "90d", "campaign_id": str(CAMPAIGNS[2]), "client_id": str(CLIENTS[1])},
        ):
            query = {**params, "tz": zone}
            rolled, read = rollup_answer_equals_raw(client, settings, query)
            assert "analytics_heatmap" in read
            asked += 1
            seen_calls += sum(cell["total_calls"] for cell in rolled.json()["heatmap"])
    assert asked == len(ROLLUP_ZONES) * 5
    assert seen_calls > 1000


@pytest.mark.django_db(transaction=True)
@on_the_rollup_database
def test_auto_reads_the_rollup_only_when_ready_and_raw_never(settings: Any) -> None:
    query = query_for("Asia/Kathmandu")
    assert not reads_rollup(query)
    install(using="default")
    assert reads_rollup(query)
    settings.ANALYTICS_HEATMAP_SOURCE = "raw"
    assert not reads_rollup(query)
    settings.ANALYTICS_HEATMAP_SOURCE = "auto"
    uninstall(using="default")
    assert not reads_rollup(query)


@pytest.mark.django_db(transaction=True)
@on_the_rollup_database
def test_a_rollup_dropped_behind_the_apps_back_is_answered_from_calls(
    rollup: None, rollup_agency: uuid.UUID, caplog: pytest.LogCaptureFixture
) -> None:
    ended_call(rollup_agency)
    client = client_of(rollup_agency)
    assert rollup_state.rollup_ready("default")  # remembered for a few seconds
    sql("DROP SCHEMA analytics_heatmap CASCADE")
    response = client.get(HEATMAP_URL)
    assert response.status_code == 200
    assert response.json()["heatmap"][0]["total_calls"] == 1
    assert "Rollup read failed" in caplog.text
    assert not rollup_state.rollup_ready("default")


# --- on PostgreSQL: the lead's clock from the rollup, as the raw scan answers it ----------


LEAD_PARAMS = (
    {"period": "90d"},
    {"period": "7d", "metric": "connect_rate", "min_calls": "1"},
    {"period": "30d", "campaign_id": str(CAMPAIGNS[1])},
    {"period": "90d", "client_id": str(CLIENTS[2]), "metric": "meetings_booked", "dense": "1"},
    {"period": "90d", "campaign_id": str(CAMPAIGNS[2]), "client_id": str(CLIENTS[1])},
)


@pytest.mark.django_db(transaction=True)
@on_the_rollup_database
def test_the_lead_clock_from_the_rollup_answers_byte_for_byte_as_the_raw_scan(
    rollup: None, rollup_agency: uuid.UUID, settings: Any
) -> None:
    insert_random_calls(random.Random(19), rollup_agency, 600)
    client = client_of(rollup_agency)
    seen_calls = unplaced = 0
    for zone in ROLLUP_ZONES:
        for params in LEAD_PARAMS:
            query = {**params, "tz": zone, "clock": "lead"}
            rolled, read = rollup_answer_equals_raw(client, settings, query)
            assert "lead_agency_counts" in read or "lead_segment_counts" in read
            seen_calls += sum(cell["total_calls"] for cell in rolled.json()["heatmap"])
            unplaced += rolled.json()["unplaced_calls"]
    assert seen_calls > 1000
    assert unplaced > 100


def lead_query(zone: str, *, today: date | None = None) -> HeatmapQuery:
    return HeatmapQuery.build(
        period=Period.DAYS_90, zone=Zone.named(zone), clock=Clock.LEAD, today=today or utc_today()
    )


def raw_lead_answer(agency_id: uuid.UUID, query: HeatmapQuery) -> Any:
    return count_lead_calls_by_slot(agency_id=agency_id, start=query.start, end=query.end)


@pytest.mark.django_db(transaction=True)
@on_the_rollup_database
def test_a_rollup_counting_by_another_map_leaves_the_lead_clock_to_the_raw_scan(
    rollup: None, rollup_agency: uuid.UUID
) -> None:
    insert_random_calls(random.Random(3), rollup_agency, 100)
    query = lead_query("Asia/Kathmandu")
    assert reads_rollup(query)
    sql("UPDATE analytics_lead_zone_map SET version = 'newer'")
    rollup_state.forget()
    assert not reads_rollup(query)
    assert reads_rollup(query_for("Asia/Kathmandu"))  # the viewer's clock still reads it
    with CaptureQueriesContext(connection) as read:
        answer = cells_for(agency_id=rollup_agency, query=query)
    assert not any("lead_agency_counts" in q["sql"] for q in read.captured_queries)
    assert answer == raw_lead_answer(rollup_agency, query)
    install(using="default")  # rebuilt for the app's map
    assert reads_rollup(query)
    assert cells_for(agency_id=rollup_agency, query=query) == answer


@pytest.mark.django_db(transaction=True)
@on_the_rollup_database
def test_where_a_zone_of_the_map_is_off_the_quarter_hour_the_raw_scan_answers(
    rollup: None, rollup_agency: uuid.UUID
) -> None:
    """In 1930 UTC's buckets are exact, but Amsterdam kept +0:19:32, which no 15-minute
    bucket follows: the lead's clock is read from calls, the viewer's from the rollup."""
    old = date(1930, 6, 30)
    Call.objects.create(
        id=uuid.uuid4(),
        agency_id=rollup_agency,
        status="ended",
        created_at=datetime(1930, 6, 1, 12, 7, tzinfo=UTC),
        phone_number="+91 98200 12345",
    )
    viewer = HeatmapQuery.build(period=Period.DAYS_90, zone=Zone.named("UTC"), today=old)
    assert reads_rollup(viewer)
    query = lead_query("UTC", today=old)
    assert not reads_rollup(query)
    answer = cells_for(agency_id=rollup_agency, query=query)
    assert answer == raw_lead_answer(rollup_agency, query)
    assert answer.cells == (HeatmapCell(0, 17, 1, 0, 0),)  # Sunday 17:37 in India, +5:30
