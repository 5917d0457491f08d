"""Colours, shading blocks and the laid-out grid: pure functions, no database."""

from __future__ import annotations

from datetime import date

import pytest

from analytics.heatmap.presentation import (
    ASCII_BLOCKS,
    BLOCKS,
    EMPTY,
    SCALE,
    TERMINAL_WIDTH,
    VIRIDIS,
    BestTimeText,
    Totals,
    TotalsText,
    best_times_text,
    blocks_for,
    build_grid,
    format_value,
    gradient_css,
    interpolate,
    legend,
    level,
    packed,
    readable_text,
    render_text,
    scale_ticks,
    shade,
    totals_text,
    wrapped,
)
from analytics.heatmap.vocabulary import BestTime, Heatmap, HeatmapCell, Metric


def result(*cells: HeatmapCell, metric: Metric = Metric.CALLS, best: tuple[int, int] = (2, 10)):
    best_time = BestTime(day=best[0], hour=best[1], metric_value=1, label="Tuesday 10:00")
    return Heatmap(
        start_date=date(2026, 3, 1),
        end_date=date(2026, 3, 30),
        metric=metric,
        timezone="UTC",
        cells=cells,
        best_times=(best_time,),
    )


def test_interpolate_hits_the_stops_and_blends_between_them() -> None:
    assert interpolate(["#000000", "#ffffff"], 0) == "#000000"
    assert interpolate(["#000000", "#ffffff"], 1) == "#ffffff"
    assert interpolate(["#000000", "#ffffff"], 0.5) == "#808080"
    assert interpolate(["#000000", "#ff0000", "#ffffff"], 0.75) == "#ff8080"
    assert interpolate(VIRIDIS, -3) == VIRIDIS[0]
    assert interpolate(VIRIDIS, 7) == VIRIDIS[-1]
    with pytest.raises(ValueError, match="at least one stop"):
        interpolate([], 0.5)


def test_the_scale_runs_light_to_dark_so_more_calls_look_darker() -> None:
    assert SCALE[0] == "#fde725"
    assert SCALE[-1] == "#440154"
    assert shade(1, 100).background != shade(100, 100).background
    assert shade(100, 100).background == SCALE[-1]


@pytest.mark.parametrize(("background", "text"), [("#fde725", "#000000"), ("#440154", "#ffffff")])
def test_text_stays_readable_on_its_background(background: str, text: str) -> None:
    assert readable_text(background) == text


def test_nothing_to_show_is_apart_from_the_scale() -> None:
    assert shade(0, 10) == EMPTY
    assert shade(None, 10) == EMPTY
    assert shade(5, 0) == EMPTY
    assert EMPTY.background not in {interpolate(SCALE, i / 100) for i in range(101)}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, " "),
        (None, " "),
        (1, "░"),
        (25, "░"),
        (26, "▒"),
        (50, "▒"),
        (75, "▓"),
        (76, "█"),
        (100, "█"),
    ],
)
def test_blocks_shade_by_quarter_and_never_hide_a_call(value: int | None, expected: str) -> None:
    assert BLOCKS[level(value, 100, levels=len(BLOCKS) - 1)] == expected


def test_one_call_out_of_many_still_shows() -> None:
    assert level(1, 10_000, levels=4) == 1
    assert BLOCKS[level(1, 10_000, levels=len(BLOCKS) - 1)] == "░"


def test_terminals_that_cannot_write_blocks_get_ascii() -> None:
    assert blocks_for("utf-8") == BLOCKS
    assert blocks_for(None) == BLOCKS
    assert blocks_for("ascii") == ASCII_BLOCKS
    assert blocks_for("latin-1") == ASCII_BLOCKS
    assert blocks_for("no-such-codec") == ASCII_BLOCKS


def test_values_are_formatted_as_counts_or_percentages() -> None:
    assert format_value(1234, is_rate=False) == "1,234"
    assert format_value(0.4231, is_rate=True) == "42%"
    assert format_value(0.4231, is_rate=True, decimals=1) == "42.3%"
    assert format_value(None, is_rate=True) == "\N{EN DASH}"


def test_legend_gives_each_block_its_range_of_counts() -> None:
    labels = [(entry.block_level, entry.label) for entry in legend(8, Metric.CALLS)]
    assert labels == [
        (0, "none"),
        (1, "1\N{EN DASH}2"),
        (2, "3\N{EN DASH}4"),
        (3, "5\N{EN DASH}6"),
        (4, "7\N{EN DASH}8"),
    ]
    # Too few distinct counts for every level: empty ranges are left out.
    assert [entry.label for entry in legend(2, Metric.CALLS)] == ["none", "1", "2"]
    assert [entry.label for entry in legend(0, Metric.CALLS)] == ["none"]
    assert legend(0.5, Metric.CONNECT_RATE)[-1].label == "≤ 50%"


def test_gradient_and_ticks_for_the_admin_legend() -> None:
    assert (
        gradient_css(["#000000", "#ffffff"])
        == "linear-gradient(to right, #000000 0%, #ffffff 100%)"
    )
    assert scale_ticks(8, Metric.CALLS) == ("0", "2", "4", "6", "8")
    assert scale_ticks(0.5, Metric.MEETING_RATE, count=3) == ("0%", "25%", "50%")
    assert scale_ticks(0, Metric.CALLS) == ()


def test_build_grid_lays_out_seven_days_of_24_hours_with_totals() -> None:
    grid = build_grid(
        result(
            HeatmapCell(2, 10, total_calls=8, connected_calls=4, meetings_booked=1),
            HeatmapCell(2, 14, total_calls=2, connected_calls=2, meetings_booked=0),
            HeatmapCell(5, 10, total_calls=4, connected_calls=0, meetings_booked=0),
        )
    )
    assert [row.name for row in grid.rows][:3] == ["Sunday", "Monday", "Tuesday"]
    assert all(len(row.cells) == 24 for row in grid.rows)
    busiest = grid.rows[2].cells[10]
    assert (busiest.text, busiest.is_best, busiest.shade.background) == ("8", True, SCALE[-1])
    assert busiest.title == "Tuesday 10:00: 8 calls, 4 connected, 1 meetings booked"
    assert grid.rows[2].cells[14].block_level == 1
    assert grid.rows[0].cells[0].shade == EMPTY
    assert grid.rows[0].cells[0].text == "0"
    assert (grid.rows[2].total, grid.rows[5].total, grid.rows[0].total) == ("10", "4", "0")
    assert grid.hour_totals[10] == "12"
    assert grid.total == "14"
    assert (grid.totals.total_calls, grid.totals.connect_rate) == (14, 0.4286)


def test_rates_shade_only_slots_with_enough_calls() -> None:
    grid = build_grid(
        result(
            HeatmapCell(1, 9, total_calls=1, connected_calls=1, meetings_booked=0),  # 100%
            HeatmapCell(1, 10, total_calls=40, connected_calls=20, meetings_booked=0),  # 50%
            HeatmapCell(1, 11, total_calls=40, connected_calls=10, meetings_booked=0),  # 25%
            metric=Metric.CONNECT_RATE,
        ),
        min_calls=20,
    )
    monday = grid.rows[1].cells
    assert grid.maximum == 0.5  # 1 of 1 does not set the top of the scale
    assert (monday[9].text, monday[9].shade) == ("100%", EMPTY)
    assert monday[10].shade.background == SCALE[-1]
    assert monday[11].block_level == 2
    assert monday[12].text == "\N{EN DASH}"  # no calls, no rate
    assert grid.rows[1].total == "38%"  # 31 of 81
    assert grid.rows[0].total == "\N{EN DASH}"


def test_render_text_draws_hours_across_and_days_down() -> None:
    grid = build_grid(
        result(
            HeatmapCell(2, 10, total_calls=8, connected_calls=0, meetings_booked=0),
            HeatmapCell(2, 11, total_calls=1, connected_calls=0, meetings_booked=0),
        )
    )
    lines = render_text(grid)
    # Two columns an hour, every other hour labelled over its own two.
    assert lines[0].split()[:3] == ["00", "02", "04"]
    assert lines[0].index("10") == 4 + 10 * 2
    assert lines[0].split()[-1] == "total"
    tuesday = lines[3]
    assert tuesday.startswith("Tue ")
    slots = tuesday[4 : 4 + 48]
    assert slots[20:22] == "██"
    assert slots[22:24] == "░░"
    assert slots.replace("█", "").replace("░", "").strip() == ""
    assert tuesday.endswith(" 9")
    assert lines[-1].startswith("Legend (calls): [  ] none  [░░] 1\N{EN DASH}2")
    ascii_lines = render_text(grid, blocks=ASCII_BLOCKS)
    assert "##.." in ascii_lines[3]


@pytest.mark.parametrize("metric", list(Metric))
def test_render_text_fits_80_columns_however_large_the_counts(metric: Metric) -> None:
    """Millions of calls a slot: the totals and the legend's ranges still fit a terminal."""
    cells = [
        HeatmapCell(day, hour, total_calls=n, connected_calls=n // 3, meetings_booked=n // 7)
        for day in range(7)
        for hour in range(24)
        for n in [9_876_543 * (hour + 1)]
    ]
    lines = render_text(build_grid(result(*cells, metric=metric)))
    assert max(len(line) for line in lines) <= TERMINAL_WIDTH
    assert len(lines[1]) == len(lines[0])  # the totals column lines up
    # The legend's five entries went on, wrapped: none was split.
    legend = " ".join(lines[lines.index("") + 1 :])
    assert legend.count("[") == 5


def test_packed_wraps_between_items_under_the_first() -> None:
    items = [f"[##] {n:,}\N{EN DASH}{n + 999_999:,}" for n in range(1, 5_000_000, 1_000_000)]
    lines = packed("Legend (calls):", items)
    assert lines == [
        "Legend (calls): [##] 1\N{EN DASH}1,000,000  [##] 1,000,001\N{EN DASH}2,000,000",
        "                [##] 2,000,001\N{EN DASH}3,000,000  [##] 3,000,001\N{EN DASH}4,000,000",
        "                [##] 4,000,001\N{EN DASH}5,000,000",
    ]


def test_wrapped_never_splits_an_id_or_a_zone() -> None:
    zone = "America/Argentina/ComodRivadavia"
    agency = "6542c900-4ac6-5c45-976c-48d5992fb375"
    lines = wrapped(f"Agency {agency}: 2026-01-01 to 2026-03-31 (90 days), hours in {zone}.")
    assert max(len(line) for line in lines) <= TERMINAL_WIDTH
    assert lines[1].startswith("  ")
    assert agency in lines[0]
    assert any(zone in line for line in lines)


def test_totals_text_separates_thousands_and_gives_rates_to_a_tenth() -> None:
    totals = Totals(total_calls=12_345, connected_calls=1_234, meetings_booked=0)
    assert totals_text(totals) == TotalsText(
        calls="12,345", connected="1,234", meetings="0", connect_rate="10.0%", meeting_rate="0.0%"
    )
    assert totals_text(Totals(0, 0, 0)).connect_rate == "\N{EN DASH}"  # no calls, no rate


def test_best_times_text_shows_a_rate_with_its_sample_and_a_count_alone() -> None:
    counted = result(best=(2, 10))
    assert best_times_text(counted) == (
        BestTimeText(label="Tuesday 10:00", value="1", total_calls=None),
    )
    rate = BestTime(day=1, hour=9, metric_value=0.4286, label="Monday 09:00", total_calls=1_400)
    rated = Heatmap(
        start_date=date(2026, 3, 1),
        end_date=date(2026, 3, 30),
        metric=Metric.CONNECT_RATE,
        timezone="UTC",
        cells=(),
        best_times=(rate,),
    )
    assert best_times_text(rated) == (
        BestTimeText(label="Monday 09:00", value="42.9%", total_calls="1,400"),
    )
