// What every test file needs: the live demo scripts/with_demo started, and a window on
// the wire. Run through `npm test` under `python scripts/with_demo -- npm test`.
import { createServer } from "node:net";

import { createHeatmapClient } from "../dist/index.js";

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is unset: run the tests as \`scripts/with_demo -- npm test\``);
  }
  return value;
}

export const BASE_URL = required("HEATMAP_BASE_URL");
export const TOKEN = required("HEATMAP_TOKEN");
export const EXPIRED_TOKEN = required("HEATMAP_EXPIRED_TOKEN");

/**
 * The real fetch, with each exchange written down: what was sent (URL, headers, cache
 * mode) and the status that came back. Nothing is answered in the server's place.
 */
export function recordingFetch() {
  const exchanges = [];
  async function fetchAndRecord(request) {
    const response = await fetch(request);
    exchanges.push({
      url: new URL(request.url),
      headers: new Headers(request.headers),
      cache: request.cache,
      status: response.status,
      etag: response.headers.get("ETag"),
    });
    return response;
  }
  return { fetch: fetchAndRecord, exchanges };
}

/** A client of the demo with the demo user's token, its exchanges recorded. */
export function demoClient(options = {}) {
  const wire = recordingFetch();
  const client = createHeatmapClient({
    baseUrl: BASE_URL,
    getToken: () => TOKEN,
    fetch: wire.fetch,
    ...options,
  });
  return { client, exchanges: wire.exchanges };
}

/** The body and headers the server answers, read without the client. */
export async function rawGet(path, query, token = TOKEN) {
  const url = new URL(path, BASE_URL);
  for (const [name, value] of Object.entries(query)) {
    url.searchParams.set(name, String(value));
  }
  const response = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
  return { response, text: await response.text() };
}

/** A port of 127.0.0.1 that nothing listens on (it was just bound and let go). */
export async function closedPort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}
