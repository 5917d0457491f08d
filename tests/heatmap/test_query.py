"""``HeatmapQuery``: built once from plain values, its window fixed, its identity the cache's."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from analytics.api.serializers import HeatmapQuerySerializer
from analytics.heatmap.query import HeatmapQuery
from analytics.heatmap.vocabulary import DEFAULT_ZONE, Metric, Period, Zone

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
