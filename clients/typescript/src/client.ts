// The client: openapi-fetch over the generated paths, with what every page would otherwise
// write by hand: the token per request, revalidation with the kept ETag, one error type.
import createClient from "openapi-fetch";

import type { paths } from "./api.js";
import { type CsvFile, csvFile } from "./csv.js";
import { errorFromAnswer, HeatmapApiError, NETWORK_ERROR, UNEXPECTED_RESPONSE } from "./errors.js";
import type { Heatmap, HeatmapQuery } from "./types.js";

export interface ClientOptions {
  /**
   * The origin (and any prefix) where the host mounts `analytics.urls` under `/api/`,
   * e.g. `"http://127.0.0.1:8000"`.
   */
  baseUrl: string;
  /**
   * The signed-in user's access token, asked for before every request so a refreshed
   * session is used at once; with supabase-js:
   * `async () => (await supabase.auth.getSession()).data.session?.access_token`.
   * No token: the request goes without `Authorization` and is a 401 `not_authenticated`.
   */
  getToken: () => string | null | undefined | Promise<string | null | undefined>;
  /** Called with every 401 before the promise rejects with it: sign the user in again. */
  onUnauthorized?: (error: HeatmapApiError) => void;
  /** The `fetch` to send with; `globalThis.fetch` (looked up per request) when left out. */
  fetch?: typeof fetch;
}

export interface HeatmapResult {
  /** The JSON body: the one just sent, or the kept one when the server answered 304. */
  body: Heatmap;
  /** The `ETag` the server sent (a cross-origin page reads it only when CORS exposes it). */
  etag: string | null;
  /** True when the server answered 304 Not Modified and `body` is the kept one. */
  revalidated: boolean;
}

export interface HeatmapClient {
  /**
   * `GET /api/dashboard-heatmap`. `tz` defaults to `browserTimeZone()`. The body and ETag
   * are kept per query, and the next identical query sends `If-None-Match` (bypassing the
   * browser's HTTP cache), so an unchanged answer is a bodiless 304.
   */
  getHeatmap(query?: HeatmapQuery): Promise<HeatmapResult>;
  /** `GET /api/dashboard-heatmap.csv`: the file and the name the server gave it. */
  downloadCsv(query?: HeatmapQuery): Promise<CsvFile>;
}

/**
 * The browser's IANA zone (`Intl`), or `"UTC"` when it names none (ICU says `Etc/Unknown`
 * when the system's zone is not one it knows, which the API would refuse).
 */
export function browserTimeZone(): string {
  let zone: string | undefined;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch {
    zone = undefined;
  }
  return zone && zone !== "Etc/Unknown" ? zone : "UTC";
}

interface Kept {
  etag: string;
  body: Heatmap;
}

type Send = (request: Request) => Promise<Response>;

export function createHeatmapClient(options: ClientOptions): HeatmapClient {
  const api = createClient<paths>({ baseUrl: options.baseUrl });
  // The last body and ETag of each query, in memory: this client's, for this page's life.
  const kept = new Map<string, Kept>();

  async function headers(extra: Record<string, string> = {}): Promise<Record<string, string>> {
    const token = await options.getToken();
    return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
  }

  /** Runs one openapi-fetch call; whatever it throws becomes a `HeatmapApiError`. */
  async function exchange<R>(call: (send: Send) => Promise<R>): Promise<R> {
    let answer: Response | undefined;
    const send: Send = async (request) => {
      try {
        answer = await (options.fetch ?? globalThis.fetch)(request);
      } catch (cause) {
        // fetch rejects with no detail a page could act on: offline, refused, or CORS.
        throw new HeatmapApiError(0, NETWORK_ERROR, messageOf(cause));
      }
      return answer;
    };
    try {
      return await call(send);
    } catch (error) {
      if (error instanceof HeatmapApiError) {
        throw error;
      }
      // An answer arrived but its body could not be read as the contract says.
      const status = answer?.status ?? 0;
      throw new HeatmapApiError(status, status ? UNEXPECTED_RESPONSE : NETWORK_ERROR, messageOf(error));
    }
  }

  function failure(response: Response, body: unknown): HeatmapApiError {
    const error = errorFromAnswer(response.status, body);
    if (error.status === 401) {
      options.onUnauthorized?.(error);
    }
    return error;
  }

  return {
    async getHeatmap(query = {}) {
      const params = withZone(query);
      const key = queryKey(params);
      const previous = kept.get(key);
      const sent = await headers(previous ? { "If-None-Match": previous.etag } : {});
      const { data, error, response } = await exchange((send) =>
        api.GET("/api/dashboard-heatmap", {
          params: { query: params },
          headers: sent,
          fetch: send,
          // A conditional request must reach the server, or the browser's own cache
          // answers it with a 200 and the 304 is never seen.
          ...(previous ? { cache: "no-store" as const } : {}),
        }),
      );
      if (response.status === 304 && previous !== undefined) {
        return { body: previous.body, etag: previous.etag, revalidated: true };
      }
      if (!response.ok || data === undefined) {
        throw failure(response, error);
      }
      const etag = response.headers.get("ETag");
      if (etag) {
        kept.set(key, { etag, body: data });
      } else {
        kept.delete(key);
      }
      return { body: data, etag, revalidated: false };
    },

    async downloadCsv(query = {}) {
      const params = withZone(query);
      const sent = await headers();
      const { data, error, response } = await exchange((send) =>
        api.GET("/api/dashboard-heatmap.csv", {
          params: { query: params },
          headers: sent,
          fetch: send,
          parseAs: "text",
        }),
      );
      if (!response.ok || data === undefined) {
        throw failure(response, error);
      }
      return csvFile(data, response.headers.get("Content-Disposition"));
    },
  };
}

/** The query as sent: `tz` filled in, parameters left `undefined` dropped. */
function withZone(query: HeatmapQuery): HeatmapQuery {
  const given = Object.entries(query).filter(([, value]) => value !== undefined);
  return { ...Object.fromEntries(given), tz: query.tz ?? browserTimeZone() };
}

/** One key per distinct query, whatever order its parameters were given in. */
function queryKey(query: HeatmapQuery): string {
  const entries = Object.entries(query).map(([name, value]) => [name, String(value)]);
  return JSON.stringify(entries.sort(([a = ""], [b = ""]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
    return `${error.message}${cause}`;
  }
  return String(error);
}
