"""``HeatmapQuery``: built once from plain values, its window fixed, its identity the cache's."""

from __future__ import annotations

import dataclasses
import re
import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from analytics.api.serializers import HeatmapQuerySerializer
from analytics.exceptions import InvalidQuery
from analytics.heatmap.query import (
    HeatmapQuery,
    parse_choice,
    parse_flag,
    parse_min_calls,
    parse_uuid,
)
from analytics.heatmap.vocabulary import DEFAULT_ZONE, Clock, Metric, Period, Zone

TODAY = date(2026, 3, 10)
KOLKATA = Zone.named("Asia/Kolkata")


def test_defaults_are_the_endpoints() -> None:
    query = HeatmapQuery.build(today=TODAY)
    assert (query.period, query.metric, query.zone) == (Period.DAYS_30, Metric.CALLS, DEFAULT_ZONE)
    assert (query.min_calls, query.dense, query.campaign_id, query.client_id) == (
        20,
        False,
        None,
        None,
    )
    assert (query.start_date, query.end_date) == (date(2026, 2, 9), TODAY)
    assert (query.start, query.end) == (
        datetime(2026, 2, 9, tzinfo=UTC),
        datetime(2026, 3, 11, tzinfo=UTC),
    )


def test_the_window_is_read_in_the_querys_zone() -> None:
    query = HeatmapQuery.build(period=Period.DAYS_7, zone=KOLKATA, today=TODAY)
    assert (query.start_date, query.end_date) == (date(2026, 3, 4), TODAY)
    assert query.start == datetime(2026, 3, 3, 18, 30, tzinfo=UTC)  # midnight in Kolkata
    assert query.end == datetime(2026, 3, 10, 18, 30, tzinfo=UTC)


def test_today_defaults_to_the_date_in_the_zone() -> None:
    # 20:00 UTC on the 10th is 01:30 on the 11th in Kolkata.
    with time_machine.travel(datetime(2026, 3, 10, 20, tzinfo=UTC), tick=False):
        query = HeatmapQuery.build(zone=KOLKATA)
        in_utc = HeatmapQuery.build()
    assert query.end_date == date(2026, 3, 11)
    assert in_utc.end_date == TODAY


def test_it_is_frozen() -> None:
    query = HeatmapQuery.build(today=TODAY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        query.min_calls = 1  # type: ignore[misc]


@pytest.mark.parametrize("metric", [m for m in Metric if not m.is_rate])
def test_a_count_metrics_identity_leaves_min_calls_out(metric: Metric) -> None:
    few = HeatmapQuery.build(metric=metric, min_calls=1, today=TODAY)
    many = HeatmapQuery.build(metric=metric, min_calls=500, today=TODAY)
    assert few.identity == many.identity
    assert "min_calls" not in few.identity


@pytest.mark.parametrize("metric", [m for m in Metric if m.is_rate])
def test_a_rate_metrics_identity_keeps_min_calls(metric: Metric) -> None:
    few = HeatmapQuery.build(metric=metric, min_calls=1, today=TODAY)
    many = HeatmapQuery.build(metric=metric, min_calls=500, today=TODAY)
    assert few.identity != many.identity


def test_identity_holds_everything_else_that_changes_the_answer() -> None:
    base = HeatmapQuery.build(today=TODAY).identity
    others = [
        HeatmapQuery.build(period=Period.DAYS_7, today=TODAY),
        HeatmapQuery.build(metric=Metric.CONNECTED, today=TODAY),
        HeatmapQuery.build(zone=KOLKATA, today=TODAY),
        HeatmapQuery.build(dense=True, today=TODAY),
        HeatmapQuery.build(campaign_id=uuid.uuid4(), today=TODAY),
        HeatmapQuery.build(client_id=uuid.uuid4(), today=TODAY),
        HeatmapQuery.build(today=date(2026, 3, 11)),  # a new day, a new window
    ]
    assert all(other.identity != base for other in others)


def test_the_query_serializer_produces_it() -> None:
    campaign = uuid.uuid4()
    params = HeatmapQuerySerializer(
        data={
            "period": "7d",
            "metric": "connect_rate",
            "tz": "Asia/Kolkata",
            "min_calls": "3",
            "dense": "1",
            "campaign_id": str(campaign),
        }
    )
    assert params.is_valid(), params.errors
    query = params.query
    assert isinstance(query, HeatmapQuery)
    assert (query.period, query.metric, query.min_calls, query.dense) == (
        Period.DAYS_7,
        Metric.CONNECT_RATE,
        3,
        True,
    )
    assert query.zone == Zone("Asia/Kolkata", ZoneInfo("Asia/Kolkata"))
    assert (query.campaign_id, query.client_id) == (campaign, None)
    assert query == HeatmapQuery.build(
        period=Period.DAYS_7,
        metric=Metric.CONNECT_RATE,
        zone=KOLKATA,
        min_calls=3,
        dense=True,
        campaign_id=campaign,
        today=query.end_date,
    )


def test_the_query_serializer_defaults_make_the_default_query() -> None:
    params = HeatmapQuerySerializer(data={})
    assert params.is_valid()
    assert params.query == HeatmapQuery.build(today=params.query.end_date)


# --- parse: the one check of plain values, the endpoint's and the shell's ---------------------


def test_parse_reads_the_query_strings_text() -> None:
    campaign = uuid.uuid4()
    text = {
        "period": "7d",
        "metric": "connect_rate",
        "tz": " Asia/Kolkata ",
        "min_calls": "3.0",
        "dense": "TRUE",
        "campaign_id": campaign.hex,
        "clock": "lead",
    }
    python = {
        "period": Period.DAYS_7,
        "metric": Metric.CONNECT_RATE,
        "tz": "Asia/Kolkata",
        "min_calls": 3,
        "dense": True,
        "campaign_id": campaign,
        "clock": Clock.LEAD,
    }
    query = HeatmapQuery.parse(text, today=TODAY)
    assert query == HeatmapQuery.parse(python, today=TODAY)
    assert (query.period, query.min_calls, query.dense, query.campaign_id) == (
        Period.DAYS_7,
        3,
        True,
        campaign,
    )
    assert query.zone == KOLKATA


def test_parse_without_values_is_the_default_query() -> None:
    assert HeatmapQuery.parse({}, today=TODAY) == HeatmapQuery.build(today=TODAY)


def test_parse_reports_every_bad_value_at_once() -> None:
    with pytest.raises(InvalidQuery) as raised:
        HeatmapQuery.parse({"period": "1y", "client_id": "", "min_calls": "9" * 1001})
    assert raised.value.errors == {
        "period": '"1y" is not a valid choice.',
        "client_id": "This field may not be blank.",
        "min_calls": "String value too large.",
    }


def test_parse_refuses_a_name_it_does_not_know() -> None:
    with pytest.raises(TypeError, match="format"):
        HeatmapQuery.parse({"format": "csv"})


@pytest.mark.parametrize(
    ("value", "expected"), [("false", False), ("0", False), ("True", True), ("1", True)]
)
def test_parse_flag_takes_the_query_strings_spellings(value: str, expected: bool) -> None:
    assert parse_flag(value) is expected


@pytest.mark.parametrize("value", ["yes", "on", "t", "2", "", 1, 0, None])
def test_parse_flag_refuses_anything_else(value: object) -> None:
    with pytest.raises(ValueError, match="Must be"):
        parse_flag(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "Ensure this value is greater than or equal to 1."),
        (100_001, "Ensure this value is less than or equal to 100000."),
        ("2.5", "A valid integer is required."),
        (True, "A valid integer is required."),
        (None, "A valid integer is required."),
    ],
)
def test_parse_min_calls_refuses_with_the_endpoints_messages(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_min_calls(value)


@pytest.mark.parametrize(
    ("value", "expected"), [(1, 1), ("100000", 100_000), (" 20 ", 20), ("20.00", 20)]
)
def test_parse_min_calls_takes_the_limits_and_whole_decimals(value: object, expected: int) -> None:
    assert parse_min_calls(value) in (1, 20, 100_000)
    assert parse_min_calls(value) == expected


def test_parse_choice_is_spelled_exactly() -> None:
    assert parse_choice(Clock, "lead") is Clock.LEAD
    with pytest.raises(ValueError, match=r'^"LEAD" is not a valid choice\.$'):
        parse_choice(Clock, "LEAD")


@pytest.mark.parametrize("value", ["nope", "", None, 7, "0" * 33])
def test_parse_uuid_refuses_anything_but_a_uuid(value: object) -> None:
    with pytest.raises(ValueError, match=r"^Must be a valid UUID\.$"):
        parse_uuid(value)
