// The package as a user gets it: `npm pack`, then the tarball installed into a throwaway
// project whose TypeScript page is type-checked under `tsc --strict` against the packed
// .d.ts files, compiled, and run with Node against the live demo.
//
//   npm run build && python ../../scripts/with_demo -- npm run check:tarball
//
// Exits non-zero, saying why, if the tarball holds anything but package.json and dist's
// ES modules and declarations, if its version is not the API's, or if the consumer fails.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE = dirname(dirname(fileURLToPath(import.meta.url)));
const OPENAPI = join(PACKAGE, "..", "..", "openapi.yaml");
// What the pinned TypeScript of the lockfile is, the consumer installs by version.
const TYPESCRIPT = JSON.parse(readFileSync(join(PACKAGE, "package.json"), "utf8"))
  .devDependencies.typescript;
// npm adds these to any tarball; everything else must be dist's ESM and declarations.
const ALWAYS_PACKED = new Set(["package.json", "README.md"]);
const SHIPPED = /^dist\/[\w-]+\.(js|d\.ts)$/;

function npm(args, cwd) {
  return execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
}

function fail(message) {
  console.error(`check-tarball: ${message}`);
  process.exit(1);
}

for (const name of ["HEATMAP_BASE_URL", "HEATMAP_TOKEN"]) {
  if (!process.env[name]) {
    fail(`${name} is unset: run it as \`python ../../scripts/with_demo -- npm run check:tarball\``);
  }
}
if (!existsSync(join(PACKAGE, "dist", "index.js"))) {
  fail("dist/ is not built: run `npm run build` first");
}

const work = mkdtempSync(join(tmpdir(), "check-tarball-"));
try {
  // 1. The tarball: only what a consumer needs, at the API's version.
  const [packed] = JSON.parse(
    npm(["pack", "--json", "--ignore-scripts", "--pack-destination", work], PACKAGE),
  );
  const files = packed.files.map(({ path }) => path).sort();
  const stray = files.filter((path) => !ALWAYS_PACKED.has(path) && !SHIPPED.test(path));
  if (stray.length > 0) {
    fail(`${packed.filename} holds files it should not: ${stray.join(", ")}`);
  }
  for (const needed of ["dist/index.js", "dist/index.d.ts", "dist/api.d.ts"]) {
    if (!files.includes(needed)) {
      fail(`${packed.filename} lacks ${needed}`);
    }
  }
  const apiVersion = /^info:\n(?: {2}.*\n)*? {2}version: (\S+)$/m.exec(readFileSync(OPENAPI, "utf8"))?.[1];
  if (packed.version !== apiVersion) {
    fail(`the package is ${packed.version}, the API (openapi.yaml) ${apiVersion}`);
  }
  console.log(`check-tarball: ${packed.filename}, ${files.length} files: ${files.join(" ")}`);

  // 2. A throwaway project that installs it as a user would.
  const consumer = join(work, "consumer");
  mkdirSync(consumer);
  writeFileSync(
    join(consumer, "package.json"),
    JSON.stringify({ name: "consumer", private: true, type: "module" }, null, 2),
  );
  npm(
    ["install", "--no-audit", "--no-fund", join(work, packed.filename), `typescript@${TYPESCRIPT}`],
    consumer,
  );
  writeFileSync(
    join(consumer, "tsconfig.json"),
    JSON.stringify(
      {
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          lib: ["ES2022", "DOM"],
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: false,
          outDir: "out",
        },
        include: ["page.ts"],
      },
      null,
      2,
    ),
  );
  // What a page would write: no cast, no `any`, no `!`; it only exports functions, so it
  // compiles without Node's types, and run.mjs hands it the demo's address and token.
  writeFileSync(
    join(consumer, "page.ts"),
    `import {
  createHeatmapClient,
  HeatmapApiError,
  toGrid,
  toSeries,
  type Heatmap,
  type HeatmapResult,
} from "agency-call-analytics-client";

export async function busiestHour(baseUrl: string, token: string): Promise<string> {
  const client = createHeatmapClient({ baseUrl, getToken: async () => token });
  const first: HeatmapResult = await client.getHeatmap({ period: "30d", metric: "calls", tz: "UTC" });
  const again = await client.getHeatmap({ period: "30d", metric: "calls", tz: "UTC" });
  const body: Heatmap = first.body;
  const grid = toGrid(body);
  const inGrid = grid.flat().reduce<number>((sum, value) => sum + (value ?? 0), 0);
  const inBody = body.heatmap.reduce((sum, cell) => sum + cell.total_calls, 0);
  if (inGrid !== inBody || inBody === 0) {
    throw new Error(\`the grid holds \${inGrid} calls, the body \${inBody}\`);
  }
  if (!again.revalidated || again.body !== body) {
    throw new Error("the same query again was not a 304 answered with the kept body");
  }
  const [hour, day, calls] = toSeries(body).reduce((a, b) => ((b[2] ?? 0) > (a[2] ?? 0) ? b : a));
  const file = await client.downloadCsv({ period: "30d", tz: "UTC" });
  let refused = "no error";
  try {
    await client.getHeatmap({ min_calls: 0 });
  } catch (error) {
    refused = error instanceof HeatmapApiError ? \`\${error.status} \${error.code}\` : String(error);
  }
  return \`\${inBody} calls; busiest day \${day} hour \${hour} (\${calls}); revalidated with a 304; \${file.filename}; \${refused}\`;
}
`,
  );
  writeFileSync(
    join(consumer, "run.mjs"),
    `import { busiestHour } from "./out/page.js";
console.log(await busiestHour(process.env.HEATMAP_BASE_URL, process.env.HEATMAP_TOKEN));
`,
  );
  execFileSync(join(consumer, "node_modules", ".bin", "tsc"), ["-p", "."], {
    cwd: consumer,
    stdio: "inherit",
  });
  const said = execFileSync("node", ["run.mjs"], { cwd: consumer, encoding: "utf8" }).trim();
  console.log(`check-tarball: the consumer says: ${said}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
