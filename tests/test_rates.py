"""Rates in every cell, best times ranked by them, and the grid they are read from."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from analytics.domain import HeatmapCell, dense_grid, rate
from analytics.selectors import heatmap
from analytics.serializers import HeatmapSerializer
from tests.conftest import HEATMAP_URL, MakeCall

TODAY = date(2026, 3, 10)  # a Tuesday
FIRST_RELEASE_CELL_KEYS = {"day", "hour", "total_calls", "connected_calls", "meetings_booked"}


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def make_calls(make_call: MakeCall, created_at: datetime, *, total: int, booked: int) -> None:
    """``total`` calls in one slot, the first ``booked`` of them connected and booked."""
    for i in range(total):
        won = i < booked
        make_call(
            created_at=created_at,
            joined_at=created_at if won else None,
            analysis={"sdr": {"meeting_booked": won}},
        )


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


def test_dense_grid_fills_every_slot_in_day_then_hour_order() -> None:
    counted = HeatmapCell(day=6, hour=23, total_calls=4, connected_calls=1, meetings_booked=0)
    grid = dense_grid([counted])
    assert [(c.day, c.hour) for c in grid] == [(d, h) for d in range(7) for h in range(24)]
    assert grid[-1] is counted
    assert sum(c.total_calls for c in grid) == 4
    assert dense_grid(grid) == grid


@pytest.mark.django_db
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


@pytest.mark.django_db
def test_shell_rejects_min_calls_out_of_range_and_unknown_zones(agency_id: uuid.UUID) -> None:
    for min_calls in (0, 100_001):
        with pytest.raises(ValueError, match="min_calls"):
            heatmap(agency_id=agency_id, min_calls=min_calls)
    with pytest.raises(ValueError, match="time zone"):
        heatmap(agency_id=agency_id, tz="+05:30")


# Over HTTP.


@pytest.mark.django_db
def test_rate_metric_over_http(auth_client: APIClient, make_call: MakeCall, today: date) -> None:
    make_calls(make_call, at(today, 10), total=3, booked=2)
    response = auth_client.get(HEATMAP_URL, {"metric": "connect_rate", "min_calls": "3"})
    assert response.status_code == 200
    body = response.json()
    day = today.isoweekday() % 7
    assert body["metric"] == "connect_rate"
    assert body["timezone"] == "UTC"
    assert body["heatmap"] == [
        {
            "day": day,
            "hour": 10,
            "total_calls": 3,
            "connected_calls": 2,
            "meetings_booked": 2,
            "connect_rate": 0.6667,
            "meeting_rate": 0.6667,
        }
    ]
    assert body["best_times"] == [
        {
            "day": day,
            "hour": 10,
            "metric_value": 0.6667,
            "label": f"{today.strftime('%A')} 10:00",
            "total_calls": 3,
        }
    ]
    assert '"metric_value":0.6667' in response.content.decode()  # a number, not a string


@pytest.mark.django_db
@pytest.mark.parametrize("params", [{}, {"tz": "UTC"}, {"metric": "meeting_rate"}])
def test_every_answer_carries_the_timezone_and_cell_rates(
    auth_client: APIClient, make_call: MakeCall, params: dict[str, str]
) -> None:
    make_call()
    body = auth_client.get(HEATMAP_URL, params).json()
    assert body["timezone"] == "UTC"
    assert set(body["heatmap"][0]) == FIRST_RELEASE_CELL_KEYS | {"connect_rate", "meeting_rate"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("min_calls", "message"),
    [
        ("0", "Ensure this value is greater than or equal to 1."),
        ("-5", "Ensure this value is greater than or equal to 1."),
        ("100001", "Ensure this value is less than or equal to 100000."),
        ("ten", "A valid integer is required."),
        ("2.5", "A valid integer is required."),
        ("", "This field may not be blank."),
    ],
)
def test_bad_min_calls_is_400(auth_client: APIClient, min_calls: str, message: str) -> None:
    response = auth_client.get(HEATMAP_URL, {"metric": "meeting_rate", "min_calls": min_calls})
    assert response.status_code == 400
    assert response.json() == {"min_calls": [message]}


@pytest.mark.django_db
@pytest.mark.parametrize("min_calls", ["1", "100000"])
def test_min_calls_limits_are_inclusive(auth_client: APIClient, min_calls: str) -> None:
    assert auth_client.get(HEATMAP_URL, {"min_calls": min_calls}).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("dense", "cells"),
    [("true", 168), ("TRUE", 168), ("1", 168), ("false", 1), ("False", 1), ("0", 1)],
)
def test_dense_flag(auth_client: APIClient, make_call: MakeCall, dense: str, cells: int) -> None:
    make_call()
    body = auth_client.get(HEATMAP_URL, {"dense": dense}).json()
    assert len(body["heatmap"]) == cells
    assert len(body["best_times"]) == 1


@pytest.mark.django_db
def test_dense_grid_over_http_is_zero_filled_with_null_rates(
    auth_client: APIClient, make_call: MakeCall, today: date
) -> None:
    make_call(created_at=at(today, 12), joined_at=at(today, 12))
    grid = auth_client.get(HEATMAP_URL, {"dense": "true"}).json()["heatmap"]
    assert [(c["day"], c["hour"]) for c in grid] == [(d, h) for d in range(7) for h in range(24)]
    [called] = [c for c in grid if c["total_calls"]]
    assert (called["day"], called["hour"], called["connect_rate"]) == (
        today.isoweekday() % 7,
        12,
        1.0,
    )
    assert grid[0] == {  # Sunday 00:00: never called, as the call is at noon
        "day": 0,
        "hour": 0,
        "total_calls": 0,
        "connected_calls": 0,
        "meetings_booked": 0,
        "connect_rate": None,
        "meeting_rate": None,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("dense", "message"),
    [
        ("yes", 'Must be "true", "false", "1" or "0".'),
        ("on", 'Must be "true", "false", "1" or "0".'),
        ("2", 'Must be "true", "false", "1" or "0".'),
        ("", "This field may not be blank."),
    ],
)
def test_bad_dense_is_400(auth_client: APIClient, dense: str, message: str) -> None:
    response = auth_client.get(HEATMAP_URL, {"dense": dense})
    assert response.status_code == 400
    assert response.json() == {"dense": [message]}


@pytest.mark.django_db
def test_the_endpoint_answers_what_the_shell_service_answers(
    auth_client: APIClient, make_call: MakeCall, agency_id: uuid.UUID, today: date
) -> None:
    for hour, booked in ((8, 0), (9, 1), (13, 3)):
        make_calls(make_call, at(today, hour), total=4, booked=booked)
    make_calls(make_call, at(today - timedelta(days=1), 23), total=2, booked=2)
    query = {"tz": "Asia/Kolkata", "metric": "meeting_rate", "min_calls": "2", "dense": "true"}
    over_http = auth_client.get(HEATMAP_URL, query)
    in_the_shell = heatmap(
        agency_id=agency_id, tz="Asia/Kolkata", metric="meeting_rate", min_calls=2, dense=True
    )
    assert len(in_the_shell.cells) == 168
    assert len(in_the_shell.best_times) == 3  # the 08:00 UTC slot booked nothing
    assert over_http.json() == json.loads(json.dumps(HeatmapSerializer(in_the_shell).data))
