// toGrid and toSeries on the demo's real bodies: the grid holds exactly the body's cells.
import assert from "node:assert/strict";
import { test } from "node:test";

import { DAYS, HOURS, METRIC_VALUE, toGrid, toSeries } from "../dist/index.js";
import { demoClient } from "./helpers.mjs";

const VALUES = ["total_calls", "connected_calls", "meetings_booked", "connect_rate", "meeting_rate"];

async function bodies(query) {
  const { client } = demoClient();
  const sparse = (await client.getHeatmap({ ...query, tz: "America/Chicago" })).body;
  const dense = (await client.getHeatmap({ ...query, tz: "America/Chicago", dense: true })).body;
  return { sparse, dense };
}

test("the grid is 7 days from Sunday by 24 hours, each slot the body's cell", async () => {
  const { sparse } = await bodies({ period: "30d", metric: "meetings_booked" });
  const grid = toGrid(sparse);

  assert.equal(grid.length, DAYS);
  assert.ok(grid.every((row) => row.length === HOURS));
  assert.ok(sparse.heatmap.length > 20 && sparse.heatmap.length < DAYS * HOURS);
  for (const cell of sparse.heatmap) {
    assert.equal(grid[cell.day][cell.hour], cell.meetings_booked, `day ${cell.day} hour ${cell.hour}`);
  }
  const total = (rows) => rows.flat().reduce((sum, value) => sum + value, 0);
  assert.equal(total(grid), sparse.heatmap.reduce((sum, cell) => sum + cell.meetings_booked, 0));
  assert.ok(total(grid) > 0);
});

test("a sparse body fills in as the server's dense body: 0 for counts, null for rates", async () => {
  const { sparse, dense } = await bodies({ period: "7d", metric: "calls" });

  assert.equal(dense.heatmap.length, DAYS * HOURS);
  assert.ok(dense.heatmap.some((cell) => cell.total_calls === 0 && cell.connect_rate === null));
  for (const value of VALUES) {
    const grid = toGrid(sparse, value);
    assert.deepEqual(grid, toGrid(dense, value), value);
    for (const cell of dense.heatmap) {
      assert.equal(grid[cell.day][cell.hour], cell[value], `${value} day ${cell.day} hour ${cell.hour}`);
    }
  }
});

test("by default the grid shows what the body's metric ranks", async () => {
  for (const metric of ["connected", "meeting_rate"]) {
    const { sparse } = await bodies({ period: "30d", metric });
    assert.equal(sparse.metric, metric);
    assert.deepEqual(toGrid(sparse), toGrid(sparse, METRIC_VALUE[metric]));
  }
  const { sparse } = await bodies({ period: "30d", metric: "meeting_rate" });
  const rates = toGrid(sparse).flat();
  assert.ok(rates.includes(null));
  assert.ok(rates.some((rate) => rate !== null && rate > 0 && rate < 1));
});

test("toSeries gives the 168 [hour, day, value] triples of the grid, day then hour", async () => {
  const { sparse } = await bodies({ period: "30d", metric: "connect_rate" });
  const grid = toGrid(sparse);
  const series = toSeries(sparse);

  assert.equal(series.length, DAYS * HOURS);
  assert.deepEqual(series[0], [0, 0, grid[0][0]]);
  assert.deepEqual(series.at(-1), [23, 6, grid[6][23]]);
  for (const [hour, day, value] of series) {
    assert.equal(value, grid[day][hour]);
  }
  const busiest = sparse.heatmap.reduce((a, b) => (b.total_calls > a.total_calls ? b : a));
  assert.deepEqual(
    toSeries(sparse, "total_calls")[busiest.day * HOURS + busiest.hour],
    [busiest.hour, busiest.day, busiest.total_calls],
  );
});
