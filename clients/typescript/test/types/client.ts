// A page's use of this package's public API: every line must type-check under
// `tsc --strict` (with exactOptionalPropertyTypes and noUncheckedIndexedAccess) with no
// cast, no `any`, no `!`. Only type-checked (`npm run check`); test/*.test.mjs runs it.
import {
  browserTimeZone,
  type CellValue,
  createHeatmapClient,
  type CsvFile,
  type Heatmap,
  HeatmapApiError,
  type HeatmapQuery,
  type HeatmapResult,
  type Metric,
  saveCsv,
  toGrid,
  toSeries,
} from "../../src/index.js";

interface Session {
  access_token: string;
}
declare const supabase: {
  auth: { getSession(): Promise<{ data: { session: Session | null } }> };
};

const client = createHeatmapClient({
  baseUrl: "https://api.example.test",
  getToken: async () => (await supabase.auth.getSession()).data.session?.access_token,
  onUnauthorized: (error) => {
    const code: string = error.code;
    console.info(`sign in again (${code})`);
  },
});

export async function show(metric: Metric = "connect_rate"): Promise<string> {
  const query: HeatmapQuery = { period: "30d", metric, clock: "lead", dense: false, min_calls: 30 };
  try {
    const result: HeatmapResult = await client.getHeatmap(query);
    const body: Heatmap = result.body;
    const fresh: boolean = !result.revalidated;
    const etag: string | null = result.etag;
    const grid: (number | null)[][] = toGrid(body);
    const tuesdayTen: number | null | undefined = grid[2]?.[10];
    const value: CellValue = "meeting_rate";
    const series: [number, number, number | null][] = toSeries(body, value);
    const best: string | undefined = body.best_times[0]?.label;
    const unplaced: number | null = body.unplaced_calls;
    return `${fresh} ${etag} ${tuesdayTen} ${series.length} ${best} ${unplaced}`;
  } catch (error) {
    if (error instanceof HeatmapApiError) {
      const status: number = error.status;
      const fields: Record<string, string[]> = error.fields;
      const tz: string[] | undefined = fields["tz"];
      return `${status} ${error.code}: ${error.detail} ${tz?.join(" ")}`;
    }
    throw error;
  }
}

export async function download(): Promise<string> {
  const file: CsvFile = await client.downloadCsv({ tz: browserTimeZone(), metric: "calls" });
  saveCsv(file);
  saveCsv(file, document);
  const blob: Blob = file.blob();
  return `${file.filename} ${file.text.length} ${blob.size}`;
}

// Pass a fetch of your own (a test's, or one with a timeout).
export const withFetch = createHeatmapClient({
  baseUrl: "/",
  getToken: () => null,
  fetch: (input, init) => fetch(input, init),
});
