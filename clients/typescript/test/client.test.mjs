// createHeatmapClient against the live demo: the token, revalidation, every error's code.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { createHeatmapClient, HeatmapApiError } from "../dist/index.js";
import {
  BASE_URL,
  closedPort,
  demoClient,
  EXPIRED_TOKEN,
  rawGet,
  recordingFetch,
  TOKEN,
} from "./helpers.mjs";

describe("getHeatmap", () => {
  test("answers the server's body with its ETag, the token as a Bearer header", async () => {
    const { client, exchanges } = demoClient();
    const result = await client.getHeatmap({ period: "30d", metric: "connected", tz: "UTC" });
    const raw = await rawGet("/api/dashboard-heatmap", {
      period: "30d",
      metric: "connected",
      tz: "UTC",
    });

    assert.deepEqual(result.body, JSON.parse(raw.text));
    assert.equal(result.body.metric, "connected");
    assert.ok(result.body.heatmap.length > 20);
    assert.equal(result.revalidated, false);
    assert.equal(result.etag, raw.response.headers.get("ETag"));
    assert.match(result.etag, /^"[0-9a-f]+"$/);
    const [sent] = exchanges;
    assert.equal(sent.headers.get("Authorization"), `Bearer ${TOKEN}`);
    assert.equal(sent.headers.get("If-None-Match"), null);
    assert.equal(sent.status, 200);
  });

  test("an identical query revalidates: If-None-Match, no-store, a real 304, the kept body", async () => {
    const { client, exchanges } = demoClient();
    const first = await client.getHeatmap({ period: "7d", metric: "connect_rate", tz: "UTC" });
    // The same query with its parameters in another order is the same query.
    const again = await client.getHeatmap({ tz: "UTC", metric: "connect_rate", period: "7d" });

    assert.equal(again.revalidated, true);
    assert.equal(again.body, first.body);
    assert.equal(again.etag, first.etag);
    assert.deepEqual(
      exchanges.map(({ status, cache }) => [status, cache]),
      [
        [200, "default"],
        [304, "no-store"],
      ],
    );
    assert.equal(exchanges[1].headers.get("If-None-Match"), first.etag);
    assert.equal(exchanges[1].etag, first.etag);
  });

  test("another query is asked in full, and each query keeps its own body", async () => {
    const { client, exchanges } = demoClient();
    const week = await client.getHeatmap({ period: "7d", tz: "UTC" });
    const month = await client.getHeatmap({ period: "30d", tz: "UTC" });
    const weekAgain = await client.getHeatmap({ period: "7d", tz: "UTC" });

    assert.equal(month.revalidated, false);
    assert.notEqual(month.etag, week.etag);
    assert.equal(weekAgain.revalidated, true);
    assert.equal(weekAgain.body, week.body);
    assert.deepEqual(
      exchanges.map(({ status }) => status),
      [200, 200, 304],
    );
  });

  test("each client keeps its own copies", async () => {
    await demoClient().client.getHeatmap({ period: "90d", tz: "UTC" });
    const { client, exchanges } = demoClient();
    const result = await client.getHeatmap({ period: "90d", tz: "UTC" });

    assert.equal(result.revalidated, false);
    assert.equal(exchanges[0].headers.get("If-None-Match"), null);
  });

  test("asks for the token before every request, so a new session is used at once", async () => {
    const tokens = [TOKEN, EXPIRED_TOKEN];
    const asked = [];
    const client = createHeatmapClient({
      baseUrl: BASE_URL,
      getToken: async () => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        const token = tokens[asked.length];
        asked.push(token);
        return token;
      },
    });

    const ok = await client.getHeatmap({ tz: "UTC" });
    const refused = await client.getHeatmap({ tz: "UTC" }).catch((error) => error);

    assert.equal(ok.body.timezone, "UTC");
    assert.equal(asked.length, 2);
    assert.ok(refused instanceof HeatmapApiError);
    assert.equal(refused.code, "token_expired");
  });
});

describe("errors", () => {
  test("a bad query is invalid_query naming every bad field", async () => {
    const { client } = demoClient();
    const error = await client
      .getHeatmap({ tz: "Mars/Olympus_Mons", min_calls: 0 })
      .catch((caught) => caught);

    assert.ok(error instanceof HeatmapApiError);
    assert.ok(error instanceof Error);
    assert.equal(error.name, "HeatmapApiError");
    assert.equal(error.status, 400);
    assert.equal(error.code, "invalid_query");
    assert.deepEqual(Object.keys(error.fields).sort(), ["min_calls", "tz"]);
    assert.match(error.fields.tz[0], /Unknown time zone/);
    assert.match(error.fields.min_calls[0], /greater than or equal to 1/);
    // The detail names each field with its messages, for a page that shows one line.
    assert.ok(error.detail.includes(`tz: ${error.fields.tz[0]}`), error.detail);
    assert.ok(error.detail.includes(`min_calls: ${error.fields.min_calls[0]}`), error.detail);
  });

  test("an expired token is a 401 token_expired, and onUnauthorized hears it first", async () => {
    const heard = [];
    const { client } = demoClient({
      getToken: () => EXPIRED_TOKEN,
      onUnauthorized: (error) => heard.push(error),
    });

    await assert.rejects(client.getHeatmap({ tz: "UTC" }), (error) => {
      assert.ok(error instanceof HeatmapApiError);
      assert.equal(error.status, 401);
      assert.equal(error.code, "token_expired");
      assert.equal(error.detail, "The access token has expired.");
      assert.deepEqual(error.fields, {});
      assert.deepEqual(heard, [error]);
      return true;
    });
  });

  test("no token sends no Authorization: 401 not_authenticated, through the hook", async () => {
    const heard = [];
    const { client, exchanges } = demoClient({
      getToken: async () => null,
      onUnauthorized: (error) => heard.push(error.code),
    });

    await assert.rejects(client.downloadCsv({ tz: "UTC" }), { status: 401, code: "not_authenticated" });
    assert.deepEqual(heard, ["not_authenticated"]);
    assert.equal(exchanges[0].headers.get("Authorization"), null);
  });

  test("the hook is not called for errors other than 401", async () => {
    const heard = [];
    const { client } = demoClient({ onUnauthorized: (error) => heard.push(error) });

    await assert.rejects(client.getHeatmap({ period: "1y" }), { status: 400, code: "invalid_query" });
    assert.deepEqual(heard, []);
  });

  test("no answer at all is status 0 network_error", async () => {
    const client = createHeatmapClient({
      baseUrl: `http://127.0.0.1:${await closedPort()}`,
      getToken: () => TOKEN,
    });

    await assert.rejects(client.getHeatmap(), (error) => {
      assert.ok(error instanceof HeatmapApiError);
      assert.equal(error.status, 0);
      assert.equal(error.code, "network_error");
      assert.match(error.message, /^network_error: fetch failed/);
      return true;
    });
  });

  test("an answer the contract does not describe is unexpected_response with its status", async () => {
    // Nothing is mounted here: the demo's own 404 page, not an API error body.
    const { client } = demoClient({ baseUrl: `${BASE_URL}/not-mounted-here` });

    await assert.rejects(client.getHeatmap(), { status: 404, code: "unexpected_response" });
  });
});
