// The endpoint's shapes, named once from the types openapi-typescript generates from
// openapi.yaml (src/api.d.ts), so a change to the contract changes them.
import type { components, operations } from "./api.js";

/** The JSON 200 body of `GET /api/dashboard-heatmap`. */
export type Heatmap = components["schemas"]["Heatmap"];

/** One (day, hour) slot of `Heatmap["heatmap"]`. */
export type HeatmapCell = components["schemas"]["HeatmapCell"];

/** One entry of `Heatmap["best_times"]`, with the API's own label ("Tuesday 10:00"). */
export type BestTime = components["schemas"]["BestTime"];

/** What `best_times` ranks: `calls`, `connected`, `meetings_booked` or a rate. */
export type Metric = Heatmap["metric"];

/**
 * The query parameters both paths take. `format` is left out: the client asks each path
 * for its own format.
 */
export type HeatmapQuery = Omit<
  NonNullable<operations["dashboard_heatmap"]["parameters"]["query"]>,
  "format"
>;

/**
 * A cell's number that `toGrid()` and `toSeries()` can read: `total_calls`,
 * `connected_calls`, `meetings_booked`, `connect_rate` or `meeting_rate`.
 */
export type CellValue = Exclude<keyof HeatmapCell, "day" | "hour">;
