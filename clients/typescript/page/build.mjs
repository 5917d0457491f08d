// Builds the demo page into heatmap_project/, so `make demo` serves it without Node.
//
//   node page/build.mjs          write the built files into the checkout
//   node page/build.mjs --check  build in memory, write nothing, and exit 1 naming each
//                                committed file that differs byte for byte from that build
//                                (or is missing, or is in the folder but not built)
//
// One HTML source, one output: index.html beside app.js and app.css, which it names by
// absolute URLs under the demo's STATIC_URL (/static/heatmap_project/page/app.js). The demo
// returns that file as it is at `/` (heatmap_project/views.py) and serves the folder under
// /static/; a second origin serves the page the same way, index.html at any path and
// heatmap_project/static/ under /static/. Each asset URL carries a hash of its bytes, so a
// browser never runs yesterday's app.js after a rebuild. The output depends on the sources
// and the esbuild the lockfile pins only: no timestamps, no file paths, no comments.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";

const PAGE = dirname(fileURLToPath(import.meta.url));
const PACKAGE = dirname(PAGE);
const CHECKOUT = join(PACKAGE, "..", "..");
// The built folder's path inside the checkout.
const STATIC_DIR = "heatmap_project/static/heatmap_project/page";
// Where the page's URLs find that folder: heatmap_project/settings.py's STATIC_URL, then the
// folder's path under heatmap_project/static/.
const STATIC_URL = "/static/heatmap_project/page/";
const BANNER = "Built by clients/typescript/page/build.mjs from page/index.html: do not edit.";

/** The page's files, as { path inside the checkout: bytes }. */
async function build() {
  const result = await esbuild.build({
    absWorkingDir: PACKAGE,
    entryPoints: [{ in: "page/main.ts", out: "app" }],
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: ["es2022"],
    charset: "utf8",
    legalComments: "none",
    sourcemap: false,
    outdir: "out",
    write: false,
    logLevel: "warning",
  });
  const assets = {};
  for (const file of result.outputFiles) {
    assets[relative(join(PACKAGE, "out"), file.path)] = Buffer.from(file.contents);
  }
  const names = Object.keys(assets).sort();
  if (names.join() !== "app.css,app.js") {
    throw new Error(`esbuild wrote ${names.join(", ")}; expected app.css and app.js`);
  }
  const version = (name) => createHash("sha256").update(assets[name]).digest("hex").slice(0, 12);
  const source = readFileSync(join(PAGE, "index.html"), "utf8");
  const html = source
    .replace("%APP_CSS%", `${STATIC_URL}app.css?v=${version("app.css")}`)
    .replace("%APP_JS%", `${STATIC_URL}app.js?v=${version("app.js")}`)
    .replace("<head>", `<head>\n<!-- ${BANNER} -->`);
  return {
    [`${STATIC_DIR}/app.css`]: assets["app.css"],
    [`${STATIC_DIR}/app.js`]: assets["app.js"],
    [`${STATIC_DIR}/index.html`]: Buffer.from(html),
  };
}

function write(root, files) {
  for (const [path, bytes] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), bytes);
  }
}

/** Committed files that differ from (or are missing beside) the fresh build's `files`. */
function differences(files) {
  const stale = [];
  for (const [path, built] of Object.entries(files)) {
    const committed = join(CHECKOUT, path);
    if (!existsSync(committed) || !readFileSync(committed).equals(built)) {
      stale.push(`${path} differs from a fresh build`);
    }
  }
  for (const path of strays(files)) {
    stale.push(`${path} is not built by page/build.mjs`);
  }
  return stale;
}

/** Files in the built folder that this build does not make (left by an older one). */
function strays(files) {
  const folder = join(CHECKOUT, STATIC_DIR);
  const names = existsSync(folder) ? readdirSync(folder) : [];
  return names.map((name) => `${STATIC_DIR}/${name}`).filter((path) => !(path in files));
}

const files = await build();
if (process.argv.includes("--check")) {
  const stale = differences(files);
  for (const line of stale) {
    console.error(`page/build.mjs --check: ${line}`);
  }
  if (stale.length > 0) {
    console.error("Run `npm run build:page` in clients/typescript and commit the result.");
    process.exitCode = 1;
  } else {
    console.log(`page/build.mjs --check: ${Object.keys(files).length} files match a fresh build`);
  }
} else {
  // The folder is the build's: what an older build left there and this one does not make goes.
  for (const path of strays(files)) {
    rmSync(join(CHECKOUT, path), { recursive: true });
    console.log(`removed ${path}`);
  }
  write(CHECKOUT, files);
  for (const path of Object.keys(files)) {
    console.log(`wrote ${path}`);
  }
}
