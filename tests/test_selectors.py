"""What the heatmap counts, through the selector the shell and the API share."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.test import override_settings

from analytics.domain import HeatmapCell, Metric, Period
from analytics.queries import heatmap_window
from analytics.selectors import heatmap
from tests.conftest import MakeCall

pytestmark = pytest.mark.django_db

TODAY = date(2026, 3, 10)  # a Tuesday
TUESDAY_10 = datetime(2026, 3, 10, 10, 30, tzinfo=UTC)


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
