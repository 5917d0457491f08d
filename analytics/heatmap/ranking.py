"""Pick the best times to call from counted cells: pure, so testable without a database."""

from __future__ import annotations

import math
from collections.abc import Iterable
from statistics import NormalDist

from analytics.heatmap.vocabulary import (
    DAY_NAMES,
    DEFAULT_MIN_CALLS,
    BestTime,
    CallingHours,
    HeatmapCell,
    Metric,
    rate,
)

BEST_TIMES_LIMIT = 5

#: The normal quantile of a two-sided 95% interval, 1.95996...
Z_95 = NormalDist().inv_cdf(0.975)


def slot_label(day: int, hour: int) -> str:
    """``slot_label(1, 9) == "Monday 09:00"``, in English whatever the server's locale."""
    return f"{DAY_NAMES[day]} {hour:02d}:00"


def wilson_lower_bound(successes: int, trials: int, *, z: float = Z_95) -> float:
    """The lower end of the Wilson score interval for ``successes / trials``.

    The rate a slot can be trusted to reach: it sits close to the observed rate
    for a large sample and far below it for a small one, so 1 out of 1
    (0.21) ranks below 40 out of 100 (0.31).
    """
    if successes <= 0 or trials <= 0:
        return 0.0  # exactly, where the formula leaves float dust
    p = successes / trials
    z2 = z * z
    centre = p + z2 / (2 * trials)
    margin = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return max(0.0, (centre - margin) / (1 + z2 / trials))


def rank_best_times(
    cells: Iterable[HeatmapCell],
    metric: Metric,
    *,
    min_calls: int = DEFAULT_MIN_CALLS,
    limit: int = BEST_TIMES_LIMIT,
    hours: CallingHours | None = None,
) -> tuple[BestTime, ...]:
    """The ``limit`` best slots for ``metric``; slots where it is 0 never.

    Counts rank by size, ties to the earlier slot. Rates rank by their Wilson
    lower bound among slots with at least ``min_calls`` calls, ties to the larger
    sample, then the earlier slot; ``min_calls`` does nothing for counts. With
    ``hours``, only slots whose hour is inside them rank: a time a lead may not be
    called is never a best time, however well it did.
    """
    if hours is not None:
        cells = [cell for cell in cells if hours.allow(cell.hour)]
    if metric.is_rate:
        return _rank_by_rate(cells, metric, min_calls=min_calls, limit=limit)
    ranked = sorted(
        (cell for cell in cells if cell.count(metric) > 0),
        key=lambda cell: (-cell.count(metric), cell.day, cell.hour),
    )
    return tuple(
        BestTime(
            day=cell.day,
            hour=cell.hour,
            metric_value=cell.count(metric),
            label=slot_label(cell.day, cell.hour),
        )
        for cell in ranked[:limit]
    )


def _rank_by_rate(
    cells: Iterable[HeatmapCell], metric: Metric, *, min_calls: int, limit: int
) -> tuple[BestTime, ...]:
    eligible = [cell for cell in cells if cell.count(metric) > 0 and cell.total_calls >= min_calls]
    ranked = sorted(
        eligible,
        key=lambda cell: (
            -wilson_lower_bound(cell.count(metric), cell.total_calls),
            -cell.total_calls,
            cell.day,
            cell.hour,
        ),
    )
    return tuple(
        BestTime(
            day=cell.day,
            hour=cell.hour,
            metric_value=rate(cell.count(metric), cell.total_calls),
            label=slot_label(cell.day, cell.hour),
            total_calls=cell.total_calls,
        )
        for cell in ranked[:limit]
    )
