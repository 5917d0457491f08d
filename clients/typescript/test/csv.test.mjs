// downloadCsv and saveCsv: the server's file, under the server's name.
import assert from "node:assert/strict";
import { resolveObjectURL } from "node:buffer";
import { test } from "node:test";

import { HeatmapApiError, saveCsv } from "../dist/index.js";
import { demoClient, rawGet } from "./helpers.mjs";

test("the file is the server's text under the name its Content-Disposition gives", async () => {
  const { client } = demoClient();
  const query = { period: "30d", metric: "meeting_rate", tz: "Europe/Berlin" };
  const file = await client.downloadCsv(query);
  const raw = await rawGet("/api/dashboard-heatmap.csv", query);
  const { body } = await client.getHeatmap(query);

  assert.equal(file.text, raw.text);
  assert.equal(
    raw.response.headers.get("Content-Disposition"),
    `attachment; filename="${file.filename}"`,
  );
  const { start_date, end_date } = body.period;
  assert.equal(file.filename, `call-heatmap-${start_date}-to-${end_date}-meeting_rate.csv`);
  const lines = file.text.split("\r\n");
  assert.equal(
    lines[0],
    "day,day_name,hour,total_calls,connected_calls,meetings_booked,connect_rate,meeting_rate",
  );
  assert.equal(lines.filter((line) => line !== "").length, body.heatmap.length + 1);
  const [first] = body.heatmap;
  assert.ok(lines[1].startsWith(`${first.day},`) && lines[1].includes(`,${first.total_calls},`));
  const blob = file.blob();
  assert.equal(blob.type, "text/csv;charset=utf-8");
  assert.equal(await blob.text(), file.text);
});

test("on the lead's clock the file is named so", async () => {
  const { client } = demoClient();
  const file = await client.downloadCsv({ clock: "lead", tz: "UTC" });

  assert.match(file.filename, /^call-heatmap-\d{4}-\d\d-\d\d-to-\d{4}-\d\d-\d\d-calls-lead\.csv$/);
});

test("a bad query on the CSV path is the same invalid_query", async () => {
  const { client } = demoClient();
  const error = await client.downloadCsv({ metric: "revenue" }).catch((caught) => caught);

  assert.ok(error instanceof HeatmapApiError);
  assert.equal(error.status, 400);
  assert.equal(error.code, "invalid_query");
  assert.deepEqual(Object.keys(error.fields), ["metric"]);
});

test("saveCsv clicks a hidden <a download> whose object URL holds the file", async () => {
  const { client } = demoClient();
  const file = await client.downloadCsv({ period: "7d", tz: "UTC" });
  // The few DOM calls saveCsv makes, written down; the object URL is Node's real one.
  const events = [];
  const link = {
    style: {},
    click() {
      events.push(["click", this.href, this.download, this.style.display]);
    },
    remove() {
      events.push(["remove"]);
    },
  };
  const doc = {
    createElement: (tag) => (events.push(["create", tag]), link),
    body: { append: (node) => events.push(["append", node === link]) },
  };

  saveCsv(file, doc);

  assert.deepEqual(
    events.map(([name]) => name),
    ["create", "append", "click", "remove"],
  );
  const [, href, download, display] = events[2];
  assert.equal(download, file.filename);
  assert.equal(display, "none");
  assert.match(href, /^blob:/);
  assert.equal(await resolveObjectURL(href).text(), file.text);
});
