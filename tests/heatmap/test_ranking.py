"""The pure ranking step: no database involved."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics.heatmap.ranking import rank_best_times, slot_label, wilson_lower_bound
from analytics.heatmap.vocabulary import BestTime, HeatmapCell, Metric


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


# Rates: ranked by the lower bound of their 95% Wilson score interval.


def test_wilson_lower_bound_matches_the_textbook_values() -> None:
    assert wilson_lower_bound(1, 1) == pytest.approx(0.2065, abs=1e-4)
    assert wilson_lower_bound(40, 100) == pytest.approx(0.3094, abs=1e-4)
    assert wilson_lower_bound(0, 10) == 0.0
    assert wilson_lower_bound(0, 0) == 0.0


@given(
    successes=st.integers(min_value=1, max_value=5_000),
    extra=st.integers(min_value=0, max_value=5_000),
    factor=st.integers(min_value=2, max_value=50),
)
def test_the_bound_stays_below_the_rate_and_rises_with_the_sample(
    successes: int, extra: int, factor: int
) -> None:
    trials = successes + extra
    bound = wilson_lower_bound(successes, trials)
    assert 0.0 < bound <= successes / trials
    assert wilson_lower_bound(successes * factor, trials * factor) > bound


def test_one_out_of_one_does_not_beat_forty_out_of_a_hundred() -> None:
    cells = [cell(1, 9, total=1, booked=1), cell(2, 10, total=100, booked=40)]
    best = rank_best_times(cells, Metric.MEETING_RATE, min_calls=1)
    assert best == (
        BestTime(day=2, hour=10, metric_value=0.4, label="Tuesday 10:00", total_calls=100),
        BestTime(day=1, hour=9, metric_value=1.0, label="Monday 09:00", total_calls=1),
    )


def test_rates_rank_the_requested_rate() -> None:
    cells = [
        cell(1, 9, total=30, connected=27, booked=1),
        cell(2, 10, total=30, connected=6, booked=9),
    ]
    assert [b.label for b in rank_best_times(cells, Metric.CONNECT_RATE)] == [
        "Monday 09:00",
        "Tuesday 10:00",
    ]
    assert [b.label for b in rank_best_times(cells, Metric.MEETING_RATE)] == [
        "Tuesday 10:00",
        "Monday 09:00",
    ]


def test_min_calls_decides_which_slots_may_rank() -> None:
    cells = [cell(1, 9, total=19, connected=19), cell(2, 10, total=20, connected=5)]
    assert [(b.hour, b.total_calls) for b in rank_best_times(cells, Metric.CONNECT_RATE)] == [
        (10, 20)
    ]
    assert [b.hour for b in rank_best_times(cells, Metric.CONNECT_RATE, min_calls=19)] == [9, 10]
    assert rank_best_times(cells, Metric.CONNECT_RATE, min_calls=21) == ()


def test_min_calls_does_not_touch_the_count_metrics() -> None:
    cells = [cell(1, 9, total=3, connected=1), cell(2, 10, total=1, connected=1)]
    for metric in (Metric.CALLS, Metric.CONNECTED, Metric.MEETINGS_BOOKED):
        assert rank_best_times(cells, metric, min_calls=100) == rank_best_times(cells, metric)
    assert all(b.total_calls is None for b in rank_best_times(cells, Metric.CALLS))


def test_zero_rate_slots_are_left_out() -> None:
    cells = [cell(1, 9, total=50, connected=0), cell(2, 10, total=50, connected=1)]
    assert [b.hour for b in rank_best_times(cells, Metric.CONNECT_RATE)] == [10]
    assert rank_best_times(cells, Metric.MEETING_RATE) == ()


def test_metric_value_is_the_observed_rate_to_four_decimals() -> None:
    [best] = rank_best_times([cell(3, 14, total=21, booked=2)], Metric.MEETING_RATE)
    assert (best.metric_value, best.total_calls, best.label) == (0.0952, 21, "Wednesday 14:00")


def test_equal_rates_and_samples_go_to_the_earlier_slot() -> None:
    cells = [cell(4, 8, total=40, connected=20), cell(1, 15, total=40, connected=20)]
    best = rank_best_times(cells, Metric.CONNECT_RATE)
    assert [(b.day, b.hour) for b in best] == [(1, 15), (4, 8)]


def test_tied_bounds_go_to_the_larger_sample_then_the_earlier_slot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Different samples practically never share a bound; force one to see the rule.
    monkeypatch.setattr(
        "analytics.heatmap.ranking.wilson_lower_bound", lambda successes, trials: 0.5
    )
    cells = [
        cell(0, 8, total=30, connected=10),
        cell(5, 9, total=90, connected=10),
        cell(2, 11, total=30, connected=25),
    ]
    best = rank_best_times(cells, Metric.CONNECT_RATE)
    assert [(b.day, b.hour) for b in best] == [(5, 9), (0, 8), (2, 11)]


def test_rates_keep_at_most_five() -> None:
    cells = [cell(day, 12, total=20 + day, connected=10) for day in range(7)]
    assert len(rank_best_times(cells, Metric.CONNECT_RATE)) == 5
