// agency-call-analytics-client: a typed browser client for GET /api/dashboard-heatmap
// (docs/client.md). Everything a page imports comes from here.
export {
  browserTimeZone,
  type ClientOptions,
  createHeatmapClient,
  type HeatmapClient,
  type HeatmapResult,
} from "./client.js";
export { type CsvFile, FALLBACK_CSV_FILENAME, saveCsv } from "./csv.js";
export { HeatmapApiError, INVALID_QUERY, NETWORK_ERROR, UNEXPECTED_RESPONSE } from "./errors.js";
export { DAYS, HOURS, METRIC_VALUE, toGrid, toSeries } from "./grid.js";
export type {
  BestTime,
  CellValue,
  Heatmap,
  HeatmapCell,
  HeatmapQuery,
  Metric,
} from "./types.js";
export type { components, operations, paths } from "./api.js";
