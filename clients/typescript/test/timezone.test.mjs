// tz defaults to the zone the browser (here Node's Intl) is in. Its own file: node:test
// runs each file in its own process, so setting TZ here changes no other test's zone.
import assert from "node:assert/strict";
import { test } from "node:test";

process.env.TZ = "America/New_York";

const { browserTimeZone } = await import("../dist/index.js");
const { demoClient } = await import("./helpers.mjs");

test("browserTimeZone is Intl's zone", () => {
  assert.equal(browserTimeZone(), "America/New_York");
  assert.equal(browserTimeZone(), Intl.DateTimeFormat().resolvedOptions().timeZone);
});

test("without tz, both paths ask in the browser's zone", async () => {
  const { client, exchanges } = demoClient();
  const { body } = await client.getHeatmap({ period: "7d" });
  const file = await client.downloadCsv({ period: "7d" });

  assert.equal(body.timezone, "America/New_York");
  assert.deepEqual(
    exchanges.map(({ url }) => url.searchParams.get("tz")),
    ["America/New_York", "America/New_York"],
  );
  assert.match(file.filename, new RegExp(`-to-${body.period.end_date}-calls\\.csv$`));
});

test("a tz given wins, and is a query of its own", async () => {
  const { client, exchanges } = demoClient();
  await client.getHeatmap({ period: "7d" });
  const tokyo = await client.getHeatmap({ period: "7d", tz: "Asia/Tokyo" });
  const explicit = await client.getHeatmap({ period: "7d", tz: "America/New_York" });

  assert.equal(tokyo.body.timezone, "Asia/Tokyo");
  assert.equal(tokyo.revalidated, false);
  // The default filled in is the same query as naming the zone.
  assert.equal(explicit.revalidated, true);
  assert.deepEqual(
    exchanges.map(({ status }) => status),
    [200, 200, 304],
  );
});
