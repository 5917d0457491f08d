"""The pure ranking step: no database involved."""

from __future__ import annotations

import pytest

from analytics.domain import BestTime, HeatmapCell, Metric
from analytics.ranking import rank_best_times, slot_label


def cell(day: int, hour: int, total: int = 0, connected: int = 0, booked: int = 0) -> HeatmapCell:
    return HeatmapCell(
        day=day, hour=hour, total_calls=total, connected_calls=connected, meetings_booked=booked
    )


@pytest.mark.parametrize(
    ("day", "hour", "label"),
    [
        (0, 0, "Sunday 00:00"),
        (1, 9, "Monday 09:00"),
        (2, 10, "Tuesday 10:00"),
        (6, 23, "Saturday 23:00"),
    ],
)
def test_labels_are_english_day_and_zero_padded_hour(day: int, hour: int, label: str) -> None:
    assert slot_label(day, hour) == label


def test_ranks_by_the_requested_metric() -> None:
    cells = [
        cell(1, 9, total=10, connected=1, booked=0),
        cell(2, 10, total=3, connected=3, booked=2),
    ]
    assert [b.label for b in rank_best_times(cells, Metric.CALLS)] == [
        "Monday 09:00",
        "Tuesday 10:00",
    ]
    assert [b.label for b in rank_best_times(cells, Metric.CONNECTED)] == [
        "Tuesday 10:00",
        "Monday 09:00",
    ]
    assert rank_best_times(cells, Metric.MEETINGS_BOOKED) == (
        BestTime(day=2, hour=10, metric_value=2, label="Tuesday 10:00"),
    )


def test_keeps_at_most_five_and_leaves_out_zero_slots() -> None:
    cells = [cell(day, 12, total=day + 1, booked=0) for day in range(7)]
    best = rank_best_times(cells, Metric.CALLS)
    assert [b.metric_value for b in best] == [7, 6, 5, 4, 3]
    assert rank_best_times(cells, Metric.MEETINGS_BOOKED) == ()


def test_ties_go_to_the_earlier_day_then_hour() -> None:
    cells = [cell(3, 8, total=4), cell(1, 15, total=4), cell(1, 9, total=4), cell(0, 23, total=2)]
    assert [(b.day, b.hour) for b in rank_best_times(cells, Metric.CALLS)] == [
        (1, 9),
        (1, 15),
        (3, 8),
        (0, 23),
    ]


def test_empty_heatmap_has_no_best_times() -> None:
    assert rank_best_times([], Metric.CALLS) == ()
