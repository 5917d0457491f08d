// The body's cells as the shapes charts take. A sparse body (the default) lists only the
// slots with calls; these fill the rest so a chart always gets the whole week.
import type { CellValue, Heatmap, Metric } from "./types.js";

/** Days in a row of `toGrid()`, 0 Sunday as in `Date.getDay()`, and hours in a day. */
export const DAYS = 7;
export const HOURS = 24;

/** The cell value each `metric` ranks by, the default of `toGrid()` and `toSeries()`. */
export const METRIC_VALUE: Readonly<Record<Metric, CellValue>> = {
  calls: "total_calls",
  connected: "connected_calls",
  meetings_booked: "meetings_booked",
  connect_rate: "connect_rate",
  meeting_rate: "meeting_rate",
};

/**
 * 7 rows (day 0 Sunday) of 24 hours. `value` defaults to what the body's `metric` ranks.
 * A slot the body leaves out has no calls: 0 for a count, `null` for a rate (as the dense
 * body has it).
 */
export function toGrid(body: Heatmap, value?: CellValue): (number | null)[][] {
  const read = value ?? METRIC_VALUE[body.metric];
  const empty = isRate(read) ? null : 0;
  const grid = Array.from({ length: DAYS }, () => new Array<number | null>(HOURS).fill(empty));
  for (const cell of body.heatmap) {
    const row = grid[cell.day];
    if (row !== undefined && cell.hour >= 0 && cell.hour < HOURS) {
      row[cell.hour] = cell[read];
    }
  }
  return grid;
}

/**
 * The 168 `[hour, day, value]` triples, day then hour, as the heatmap series of ECharts,
 * ApexCharts and Highcharts take them (x the hour, y the day).
 */
export function toSeries(
  body: Heatmap,
  value?: CellValue,
): [hour: number, day: number, value: number | null][] {
  return toGrid(body, value).flatMap((row, day) =>
    row.map((cell, hour): [number, number, number | null] => [hour, day, cell]),
  );
}

function isRate(value: CellValue): boolean {
  return value === "connect_rate" || value === "meeting_rate";
}
