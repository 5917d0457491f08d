// The contract without this package: an SPA using the generated types with openapi-fetch
// alone, as openapi-typescript and openapi-fetch give them. Every read below must
// type-check under `tsc --strict` with no cast, no `any`, no `!`, so openapi.yaml stays
// usable by a page that does not take the client. Only type-checked (`npm run check`);
// the client itself runs against the demo in test/*.test.mjs.
import createClient from "openapi-fetch";

import type { components, paths } from "../../src/api.js";

type Heatmap = components["schemas"]["Heatmap"];

const client = createClient<paths>({ baseUrl: "https://example.test" });

export function describe(body: Heatmap): string {
  const busiest = body.heatmap.reduce((most, cell) => Math.max(most, cell.total_calls), 0);
  const best = body.best_times.map((slot) => `${slot.label} (${slot.metric_value})`).join(", ");
  return `${body.timezone}: busiest slot ${busiest} calls; best ${best}`;
}

// The lead's clock: whose hours the cells are in, and the two counts, `null` on the viewer's.
type Clock = Heatmap["clock"];

export function leadClockNote(body: Heatmap): string {
  const clock: "tz" | "lead" = body.clock;
  const unplaced: number | null = body.unplaced_calls;
  const outside: number | null = body.outside_calling_hours;
  if (clock === "tz" || unplaced === null) {
    return `hours in ${body.timezone}`;
  }
  const hours = outside === null ? "no calling hours set" : `${outside} outside the calling hours`;
  return `lead-local hours; ${unplaced} calls not placed, ${hours}`;
}

export async function loadHeatmap(token: string, clock: Clock = "lead"): Promise<string> {
  const { data, error, response } = await client.GET("/api/dashboard-heatmap", {
    params: {
      query: { period: "7d", metric: "connect_rate", tz: "America/New_York", dense: true, clock },
    },
    headers: { Authorization: `Bearer ${token}` },
  });
  if (data !== undefined) {
    // The JSON 200: one media type, so `data` is the Heatmap itself.
    const cells: number = data.heatmap.length;
    const first = data.heatmap[0];
    const rate: number | null | undefined = first?.connect_rate;
    const slot = data.best_times[0];
    const sample: number | undefined = slot?.total_calls;
    const zone: string = data.timezone;
    const from: string = data.period.start_date;
    const note = leadClockNote(data);
    return `${describe(data)} (${cells} cells from ${from} in ${zone}; ${rate}, ${sample}; ${note})`;
  }
  // Every error body of the operation: `{detail, code}`, or the 400's map of bad parameters.
  if (response.status === 400 && !("code" in error)) {
    return periodMessages(error).join(" ");
  }
  if ("code" in error && typeof error.code === "string" && typeof error.detail === "string") {
    const code: string = error.code;
    const detail: string = error.detail;
    return `${response.status} ${code}: ${detail}`;
  }
  return `${response.status}`;
}

// Each documented error body, read by its own type.
type Errors = paths["/api/dashboard-heatmap"]["get"]["responses"];
type Unauthorized = Errors[401]["content"]["application/json"];
type Forbidden = Errors[403]["content"]["application/json"];
type ServerError = Errors[500]["content"]["application/json"];
type BadQuery = Errors[400]["content"]["application/json"];

export function signInAgain(body: Unauthorized): boolean {
  const expired: boolean = body.code === "token_expired";
  return expired || body.code === "not_authenticated" || body.detail.length === 0;
}

export function noAgency(body: Forbidden): string {
  const code: "user_not_found" | "user_without_agency" | "anonymous_user" = body.code;
  return `${code}: ${body.detail}`;
}

export function databaseDown(body: ServerError): string {
  const code: "calls_query_failed" | "users_query_failed" | "sessions_query_failed" =
    body.code;
  return `${code}: ${body.detail}`;
}

// 503: the keys cannot be read, or the agency's scans are busy; both say when to retry.
type Unavailable = Errors[503]["content"]["application/json"];
type PreconditionFailed = Errors[412]["content"]["application/json"];

export function retryLater(body: Unavailable): boolean {
  const code: "jwks_unavailable" | "scans_busy" = body.code;
  return code === "scans_busy" || code === "jwks_unavailable";
}

export function staleCopy(body: PreconditionFailed): boolean {
  return body.code === "precondition_failed";
}

export function periodMessages(body: BadQuery): string[] {
  const messages: string[] | undefined = body["period"];
  return messages ?? [];
}

export function clockMessages(body: BadQuery): string[] {
  const messages: string[] | undefined = body["clock"];
  return messages ?? [];
}

// The CSV operation: its 200 is the file's text.
export async function downloadCsv(token: string): Promise<string | undefined> {
  const { data } = await client.GET("/api/dashboard-heatmap.csv", {
    params: { query: { period: "30d", dense: true, clock: "lead" } },
    headers: { Authorization: `Bearer ${token}` },
    parseAs: "text",
  });
  const text: string | undefined = data;
  return text?.split("\r\n")[0];
}
