"""Pick the best times to call from counted cells: pure, so testable without a database."""

from __future__ import annotations

from collections.abc import Iterable

from analytics.domain import DAY_NAMES, BestTime, HeatmapCell, Metric

BEST_TIMES_LIMIT = 5


def slot_label(day: int, hour: int) -> str:
    """``slot_label(1, 9) == "Monday 09:00"``, in English whatever the server's locale."""
    return f"{DAY_NAMES[day]} {hour:02d}:00"


def rank_best_times(
    cells: Iterable[HeatmapCell], metric: Metric, *, limit: int = BEST_TIMES_LIMIT
) -> tuple[BestTime, ...]:
    """The ``limit`` slots with the highest count; zero slots never, ties to the earlier slot."""
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
