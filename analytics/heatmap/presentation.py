"""How a heatmap looks to people: colours, shading blocks and labels, free of Django.

The admin page and ``manage.py call_heatmap`` draw the same 7x24 picture from the
same :class:`~analytics.heatmap.vocabulary.Heatmap`; keeping the scale here keeps the two
alike, and lets it be tested without a database.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from analytics.heatmap.ranking import slot_label
from analytics.heatmap.vocabulary import (
    DAY_NAMES,
    CallCounts,
    CallingHours,
    Clock,
    Heatmap,
    HeatmapCell,
    Metric,
    dense_grid,
)

Number = int | float

#: Viridis, the perceptually uniform scale of matplotlib, sampled at 9 even stops
#: (dark purple to yellow). Lightness rises steadily along it, so it reads in
#: grey-scale and to colour-blind eyes alike.
VIRIDIS = (
    "#440154",
    "#472d7b",
    "#3b528b",
    "#2c728e",
    "#21908c",
    "#27ad81",
    "#5dc863",
    "#aadc32",
    "#fde725",
)
#: The scale as shown: light for few calls, dark for many, like ink on the admin's white page.
SCALE = tuple(reversed(VIRIDIS))

#: Terminal shading, from nothing to the most; index 0 is a slot with nothing to show.
BLOCKS = " ░▒▓█"
#: For a terminal whose encoding has no block characters.
ASCII_BLOCKS = " .:*#"
#: The terminal's width: every line ``manage.py call_heatmap`` prints fits in it.
TERMINAL_WIDTH = 80
#: Columns per hour in the terminal grid: 24 hours of two fit 80 with the day and its total.
HOUR_WIDTH = 2

EN_DASH = "\N{EN DASH}"

HOURS = range(24)
DAYS = range(len(DAY_NAMES))


@dataclass(frozen=True, slots=True)
class Shade:
    """A cell's colours: its background and a text colour that stays readable on it."""

    background: str
    foreground: str


#: A slot with nothing to show (no calls, or too few for its rate): apart from the scale.
EMPTY = Shade(background="#f2f2f2", foreground="#767676")


def parse_hex(colour: str) -> tuple[int, int, int]:
    """``"#21908c"`` as ``(33, 144, 140)``."""
    digits = colour.removeprefix("#")
    if len(digits) != 6:
        raise ValueError(f"Not a #rrggbb colour: {colour!r}")
    red, green, blue = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
    return red, green, blue


def to_hex(red: float, green: float, blue: float) -> str:
    return "#" + "".join(f"{round(channel):02x}" for channel in (red, green, blue))


def interpolate(stops: Sequence[str], fraction: float) -> str:
    """The colour ``fraction`` (0 to 1, clamped) of the way along evenly spaced ``stops``."""
    if not stops:
        raise ValueError("A colour scale needs at least one stop.")
    if len(stops) == 1:
        return stops[0]
    position = min(max(fraction, 0.0), 1.0) * (len(stops) - 1)
    index = min(int(position), len(stops) - 2)
    weight = position - index
    low, high = parse_hex(stops[index]), parse_hex(stops[index + 1])
    red, green, blue = (a + (b - a) * weight for a, b in zip(low, high, strict=True))
    return to_hex(red, green, blue)


def relative_luminance(colour: str) -> float:
    """WCAG 2's relative luminance, 0 (black) to 1 (white)."""

    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(channel) for channel in parse_hex(colour))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def readable_text(background: str) -> str:
    """Black or white, whichever has the higher WCAG contrast ratio on ``background``."""
    luminance = relative_luminance(background)
    on_black = (luminance + 0.05) / 0.05
    on_white = 1.05 / (luminance + 0.05)
    return "#000000" if on_black >= on_white else "#ffffff"


def fraction_of(value: Number | None, maximum: Number) -> float:
    """Where ``value`` sits on ``[0, maximum]``; nothing to show (``None``, 0, no maximum) is 0."""
    if value is None or value <= 0 or maximum <= 0:
        return 0.0
    return min(value / maximum, 1.0)


def shade(value: Number | None, maximum: Number, *, stops: Sequence[str] = SCALE) -> Shade:
    """The colours of a cell holding ``value`` when the busiest cell holds ``maximum``.

    Zero and ``None`` are :data:`EMPTY`, apart from the scale, so a slot with one
    call never looks like a slot with none.
    """
    if value is None or value <= 0 or maximum <= 0:
        return EMPTY
    background = interpolate(stops, fraction_of(value, maximum))
    return Shade(background=background, foreground=readable_text(background))


def level(value: Number | None, maximum: Number, *, levels: int) -> int:
    """``0`` for nothing, else ``1..levels``: the quarter (for 4 levels) ``value`` falls in.

    Any value above zero gets at least level 1, so a quiet slot stays visible.
    """
    fraction = fraction_of(value, maximum)
    if fraction <= 0:
        return 0
    return max(1, min(levels, math.ceil(fraction * levels - 1e-9)))


def blocks_for(encoding: str | None) -> str:
    """:data:`BLOCKS` where ``encoding`` can write them, else :data:`ASCII_BLOCKS`.

    ``None`` is a text stream with no byte encoding (``StringIO``): it takes anything.
    """
    try:
        BLOCKS.encode(encoding or "utf-8")
    except (LookupError, UnicodeEncodeError):
        return ASCII_BLOCKS
    return BLOCKS


def format_value(value: Number | None, *, is_rate: bool, decimals: int = 0) -> str:
    """A count as ``"1,234"``, a rate (0 to 1) as a percentage, nothing as a dash."""
    if value is None:
        return EN_DASH
    if is_rate:
        return f"{value * 100:.{decimals}f}%"
    return f"{value:,}"


def metric_value(cell: CallCounts, metric: Metric) -> Number | None:
    """What the picture shows for ``metric`` in ``cell``: its count, or its rate."""
    if metric is Metric.CONNECT_RATE:
        return cell.connect_rate
    if metric is Metric.MEETING_RATE:
        return cell.meeting_rate
    return cell.count(metric)


def on_scale(cell: HeatmapCell, metric: Metric, *, min_calls: int) -> bool:
    """Whether ``cell`` is shaded: a count above zero, or a rate over ``min_calls`` calls or more.

    A rate from two calls (1 of 1 is 100%) would otherwise set the scale's top
    and wash every trustworthy slot out; the ranking ignores such slots too.
    """
    if metric.is_rate:
        return cell.total_calls >= min_calls and bool(metric_value(cell, metric))
    return bool(metric_value(cell, metric))


@dataclass(frozen=True, slots=True)
class GridCell:
    day: int
    hour: int
    value: Number | None
    text: str
    shade: Shade
    block_level: int
    is_best: bool
    title: str


@dataclass(frozen=True, slots=True)
class GridRow:
    day: int
    name: str
    cells: tuple[GridCell, ...]
    total: str


@dataclass(frozen=True, slots=True)
class LegendEntry:
    label: str
    shade: Shade
    block_level: int


@dataclass(frozen=True, slots=True)
class Totals(CallCounts):
    total_calls: int
    connected_calls: int
    meetings_booked: int


@dataclass(frozen=True, slots=True)
class Grid:
    """A heatmap laid out for people: days down, hours across, totals at the edges."""

    metric: Metric
    maximum: Number
    rows: tuple[GridRow, ...]
    hour_totals: tuple[str, ...]
    total: str
    totals: Totals
    legend: tuple[LegendEntry, ...]


METRIC_NAMES = {
    Metric.CALLS: "calls",
    Metric.CONNECTED: "connected calls",
    Metric.MEETINGS_BOOKED: "meetings booked",
    Metric.CONNECT_RATE: "connect rate",
    Metric.MEETING_RATE: "meeting rate",
}


def metric_name(metric: Metric) -> str:
    return METRIC_NAMES.get(metric, metric.value.replace("_", " "))


def summed(cells: Sequence[HeatmapCell]) -> Totals:
    return Totals(
        total_calls=sum(cell.total_calls for cell in cells),
        connected_calls=sum(cell.connected_calls for cell in cells),
        meetings_booked=sum(cell.meetings_booked for cell in cells),
    )


def total_text(cells: Sequence[HeatmapCell], metric: Metric) -> str:
    """A row's or column's total: the count summed, or the rate over all its calls."""
    return format_value(metric_value(summed(cells), metric), is_rate=metric.is_rate)


def cell_title(cell: HeatmapCell, label: str) -> str:
    """The tooltip: every count in the slot, whatever the metric shades."""
    return (
        f"{label}: {cell.total_calls:,} calls, {cell.connected_calls:,} connected, "
        f"{cell.meetings_booked:,} meetings booked"
    )


def legend(
    maximum: Number, metric: Metric, *, levels: int = len(BLOCKS) - 1
) -> tuple[LegendEntry, ...]:
    """One entry per shading level: its range of values, its colour and its block.

    The colour shown for a level is the scale at the level's top, as a cell at
    that value would be painted.
    """
    nothing = "too few calls" if metric.is_rate else "none"
    entries = [LegendEntry(label=nothing, shade=EMPTY, block_level=0)]
    if maximum <= 0:
        return tuple(entries)
    for step in range(1, levels + 1):
        low, high = maximum * (step - 1) / levels, maximum * step / levels
        if metric.is_rate:
            label = f"≤ {format_value(high, is_rate=True)}"
        else:
            first, last = math.floor(low) + 1, math.floor(high)
            if first > last:
                continue  # too few distinct counts to fill every level
            label = f"{first:,}" if first == last else f"{first:,}{EN_DASH}{last:,}"
        entries.append(LegendEntry(label=label, shade=shade(high, maximum), block_level=step))
    return tuple(entries)


def gradient_css(stops: Sequence[str] = SCALE) -> str:
    """The scale as a CSS ``linear-gradient``, for the admin page's legend bar."""
    last = len(stops) - 1
    parts = ", ".join(f"{colour} {100 * i / last:g}%" for i, colour in enumerate(stops))
    return f"linear-gradient(to right, {parts})"


def scale_ticks(maximum: Number, metric: Metric, *, count: int = 5) -> tuple[str, ...]:
    """Labels for ``count`` evenly spaced points along the legend bar, from 0 to ``maximum``."""
    if maximum <= 0:
        return ()
    points = (maximum * i / (count - 1) for i in range(count))
    if metric.is_rate:
        return tuple(format_value(point, is_rate=True) for point in points)
    return tuple(format_value(round(point), is_rate=False) for point in points)


def build_grid(result: Heatmap, *, min_calls: int = 1) -> Grid:
    """Lay ``result`` out as 7 rows of 24 cells, shaded on one scale, with totals.

    ``min_calls`` matters only for a rate metric: slots with fewer calls show
    their rate unshaded, as the ranking also leaves them out.
    """
    metric = result.metric
    cells = dense_grid(result.cells)
    by_slot = {(cell.day, cell.hour): cell for cell in cells}
    shaded = [cell for cell in cells if on_scale(cell, metric, min_calls=min_calls)]
    maximum: Number = max((metric_value(cell, metric) or 0 for cell in shaded), default=0)
    best = {(best.day, best.hour) for best in result.best_times}

    def grid_cell(cell: HeatmapCell) -> GridCell:
        value = metric_value(cell, metric)
        counted = on_scale(cell, metric, min_calls=min_calls)
        return GridCell(
            day=cell.day,
            hour=cell.hour,
            value=value,
            text=format_value(value, is_rate=metric.is_rate),
            shade=shade(value, maximum) if counted else EMPTY,
            block_level=level(value, maximum, levels=len(BLOCKS) - 1) if counted else 0,
            is_best=(cell.day, cell.hour) in best,
            title=cell_title(cell, slot_label(cell.day, cell.hour)),
        )

    rows = tuple(
        GridRow(
            day=day,
            name=DAY_NAMES[day],
            cells=tuple(grid_cell(by_slot[day, hour]) for hour in HOURS),
            total=total_text([by_slot[day, hour] for hour in HOURS], metric),
        )
        for day in DAYS
    )
    return Grid(
        metric=metric,
        maximum=maximum,
        rows=rows,
        hour_totals=tuple(
            total_text([by_slot[day, hour] for day in DAYS], metric) for hour in HOURS
        ),
        total=total_text(cells, metric),
        totals=summed(cells),
        legend=legend(maximum, metric),
    )


def best_time_text(value: Number, metric: Metric) -> str:
    return format_value(value, is_rate=metric.is_rate, decimals=1)


@dataclass(frozen=True, slots=True)
class BestTimeText:
    """A best time as shown: its slot, its value and, for a rate, the calls it is over."""

    label: str
    value: str
    #: ``"1,234"``: the rate's sample size; ``None`` for a count metric.
    total_calls: str | None


def best_times_text(result: Heatmap) -> tuple[BestTimeText, ...]:
    """``result``'s best times, best first, as the admin page and the command show them."""
    return tuple(
        BestTimeText(
            label=best.label,
            value=best_time_text(best.metric_value, result.metric),
            total_calls=None if best.total_calls is None else f"{best.total_calls:,}",
        )
        for best in result.best_times
    )


@dataclass(frozen=True, slots=True)
class TotalsText:
    """The window's totals as shown: counts with thousands separators, rates to 0.1%."""

    calls: str
    connected: str
    meetings: str
    connect_rate: str
    meeting_rate: str


def totals_text(totals: Totals) -> TotalsText:
    return TotalsText(
        calls=f"{totals.total_calls:,}",
        connected=f"{totals.connected_calls:,}",
        meetings=f"{totals.meetings_booked:,}",
        connect_rate=format_value(totals.connect_rate, is_rate=True, decimals=1),
        meeting_rate=format_value(totals.meeting_rate, is_rate=True, decimals=1),
    )


def render_text(grid: Grid, *, blocks: str = BLOCKS) -> list[str]:
    """The grid for a terminal: hours across (every other one labelled), days down, then
    the legend; no line wider than :data:`TERMINAL_WIDTH`.

    Each slot is its shading block twice over, so a busy stretch of the day reads as
    one bar.
    """
    total_width = max(len("total"), *(len(row.total) for row in grid.rows))
    hours = "".join(f"{hour:02d}" if hour % 2 == 0 else " " * HOUR_WIDTH for hour in HOURS)
    lines = [f"    {hours} {'total':>{total_width}}"]
    for row in grid.rows:
        bar = "".join(blocks[cell.block_level] * HOUR_WIDTH for cell in row.cells)
        lines.append(f"{row.name[:3]:<3} {bar} {row.total:>{total_width}}")
    lines.append("")
    legend_items = [f"[{blocks[entry.block_level] * 2}] {entry.label}" for entry in grid.legend]
    lines.extend(packed(f"Legend ({metric_name(grid.metric)}):", legend_items))
    return lines


def packed(lead: str, items: Sequence[str], *, separator: str = "  ") -> list[str]:
    """``lead`` then ``items`` on as few lines as fit :data:`TERMINAL_WIDTH`, never
    splitting an item; a continued line is indented under the first item."""
    indent = " " * (len(lead) + 1)
    lines: list[str] = []
    line, first = f"{lead} ", True
    for item in items:
        candidate = line + ("" if first else separator) + item
        if first or len(candidate) <= TERMINAL_WIDTH:
            line, first = candidate, False
        else:
            lines.append(line)
            line = indent + item
    return [*lines, line.rstrip()]


def wrapped(text: str, *, indent: str = "") -> list[str]:
    """A sentence for a terminal: lines of :data:`TERMINAL_WIDTH` at most, continued
    two spaces in; ids and zone names are never split."""
    return textwrap.wrap(
        text,
        width=TERMINAL_WIDTH,
        initial_indent=indent,
        subsequent_indent=indent + "  ",
        break_long_words=False,
        break_on_hyphens=False,
    )


#: Whose clock the grid's days and hours are on, as the admin's form offers it.
CLOCK_NAMES = {Clock.TZ: "Time zone (tz)", Clock.LEAD: "Lead's local time"}


def hours_text(hours: CallingHours) -> str:
    """The calling hours as a range of wall-clock times, ``08:00`` to ``21:00`` with an en
    dash between, the end excluded."""
    return f"{hours.start:02d}:00{EN_DASH}{hours.end:02d}:00"


def clock_caption(result: Heatmap) -> str:
    """Where the grid's days and hours are: in ``timezone``, or in each lead's own."""
    if result.clock is Clock.LEAD:
        return f"window in {result.timezone}, days and hours in each lead's local time"
    return f"hours in {result.timezone}"


@dataclass(frozen=True, slots=True)
class LeadClockText:
    """What the lead's clock left out or flags, as the admin page and the command say it."""

    #: Ended calls in the window whose number the time-zone map could not place.
    unplaced: str
    #: Placed calls outside the calling hours; ``None`` without calling hours.
    outside: str | None
    #: :func:`hours_text`; ``None`` without calling hours (the setting is ``None``).
    hours: str | None


def lead_clock_text(result: Heatmap, hours: CallingHours | None) -> LeadClockText | None:
    """``result``'s two counts of the lead's clock; ``None`` on the viewer's clock (``tz``)."""
    if result.clock is not Clock.LEAD:
        return None
    outside = result.outside_calling_hours
    return LeadClockText(
        unplaced=f"{result.unplaced_calls or 0:,}",
        outside=None if outside is None else f"{outside:,}",
        hours=None if hours is None or outside is None else hours_text(hours),
    )


def lead_clock_lines(text: LeadClockText) -> list[str]:
    """:func:`lead_clock_text` for a terminal: one line per count."""
    lines = [f"Not placed: {text.unplaced} calls (no single time zone for their number)."]
    if text.outside is None:
        lines.append("Calling hours: none set (ANALYTICS_CALLING_HOURS is None).")
    else:
        lines.append(
            f"Outside the calling hours ({text.hours}, lead-local): {text.outside} calls; "
            "best times rank only hours inside them."
        )
    return lines
