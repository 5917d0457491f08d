// The page an agency's SPA would show, built on the client alone: sign in with a token,
// choose what to see, read the 7x24 grid and the best times, download the CSV.
// Plain DOM, no framework: what it shows is what the client gives, nothing recomputed.
import {
  DAYS,
  HOURS,
  HeatmapApiError,
  browserTimeZone,
  createHeatmapClient,
  saveCsv,
  toGrid,
  type Heatmap,
  type HeatmapClient,
  type HeatmapQuery,
  type HeatmapResult,
  type Metric,
} from "../src/index.js";
import "./style.css";

type Period = NonNullable<HeatmapQuery["period"]>;
type Clock = Heatmap["clock"];

// Typed as records over the API's own enums: a new metric or period fails the type check here.
const METRICS: Record<Metric, string> = {
  calls: "Calls",
  connected: "Connected calls",
  meetings_booked: "Meetings booked",
  connect_rate: "Connect rate",
  meeting_rate: "Meeting rate",
};
const PERIODS: Record<Period, string> = {
  "7d": "Last 7 days",
  "30d": "Last 30 days",
  "90d": "Last 90 days",
};
const RATES: ReadonlySet<Metric> = new Set(["connect_rate", "meeting_rate"]);
// Row headers only; the best times carry the API's own labels ("Tuesday 10:00").
const DAY_NAMES = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
// Survives a reload of this tab, never another tab or a closed browser: like a session.
const TOKEN_KEY = "heatmap-demo-token";

function element<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) {
    throw new Error(`the page lacks #${id}`);
  }
  return found as T;
}

const page = {
  apiShown: element("api-base"),
  signIn: element<HTMLFormElement>("sign-in"),
  tokenInput: element<HTMLInputElement>("token-input"),
  expired: element("expired"),
  expiredDetail: element("expired-detail"),
  controls: element<HTMLFormElement>("controls"),
  metric: element<HTMLSelectElement>("metric"),
  period: element<HTMLSelectElement>("period"),
  browserZone: element("browser-zone"),
  downloadCsv: element<HTMLButtonElement>("download-csv"),
  signOut: element<HTMLButtonElement>("sign-out"),
  error: element("error"),
  results: element("results"),
  summary: element("summary"),
  leadCounts: element("lead-counts"),
  table: element<HTMLTableElement>("heatmap"),
  caption: element("heatmap-caption"),
  bestTimes: element<HTMLOListElement>("best-times"),
  status: element("status"),
  answer: element("answer"),
  etag: element("etag"),
};

type State = "signed-out" | "loading" | "ready" | "expired" | "error";

let apiBase = "";
let token: string | null = null;
let client: HeatmapClient | null = null;
// Answers to an older request than the latest are dropped: the choices may change mid-flight.
let latestRequest = 0;

/** Where the API is: this page's origin, or `?api=<origin>` when the page is served elsewhere. */
function apiBaseUrl(): string {
  const asked = new URLSearchParams(window.location.search).get("api");
  if (asked === null || asked === "") {
    return window.location.origin;
  }
  const url = new URL(asked);
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`?api= must be an http(s) address, not ${asked}`);
  }
  return url.origin + url.pathname.replace(/\/+$/, "");
}

/** `#token=...` signs in once; the fragment then leaves the address bar and the history. */
function takeTokenFromFragment(): string | null {
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  const found = fragment.get("token");
  if (found === null) {
    return null;
  }
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
  return found.trim() || null;
}

function setState(state: State): void {
  document.body.dataset.state = state;
  const signedIn = token !== null;
  page.signIn.hidden = signedIn;
  page.controls.hidden = !signedIn;
  page.signOut.hidden = !signedIn;
  page.expired.hidden = state !== "expired";
  page.results.hidden = state !== "ready" && state !== "loading";
  page.error.hidden = state !== "error";
  page.table.setAttribute("aria-busy", String(state === "loading"));
}

function signIn(newToken: string): void {
  token = newToken;
  window.sessionStorage.setItem(TOKEN_KEY, newToken);
  // A new session gets a new client: nothing kept from the last one (bodies, ETags) is reused.
  client = createHeatmapClient({
    baseUrl: apiBase,
    getToken: () => token,
    onUnauthorized: sessionEnded,
  });
  void load();
}

function signOut(): void {
  token = null;
  client = null;
  window.sessionStorage.removeItem(TOKEN_KEY);
  page.answer.textContent = "Not signed in.";
  setState("signed-out");
}

/** Every 401, whatever asked: the token is dropped and a new one is asked for. */
function sessionEnded(error: HeatmapApiError): void {
  signOut();
  page.expiredDetail.textContent = `(${error.code}: ${error.detail})`;
  page.expiredDetail.dataset.code = error.code;
  page.answer.textContent = `401 ${error.code}`;
  setState("expired");
  page.tokenInput.value = "";
  page.tokenInput.focus();
}

function selectedClock(): Clock {
  const checked = page.controls.querySelector<HTMLInputElement>("input[name=clock]:checked");
  return checked?.value === "lead" ? "lead" : "tz";
}

/** What the controls ask for; `tz` is left to the client, which sends the browser's zone. */
function currentQuery(): HeatmapQuery {
  return {
    metric: page.metric.value as Metric,
    period: page.period.value as Period,
    clock: selectedClock(),
  };
}

async function load(): Promise<void> {
  if (client === null) {
    return;
  }
  const request = ++latestRequest;
  setState("loading");
  try {
    const result = await client.getHeatmap(currentQuery());
    if (request === latestRequest) {
      show(result);
      setState("ready");
    }
  } catch (error) {
    if (request === latestRequest) {
      failed(error);
    }
  }
}

async function downloadCsv(): Promise<void> {
  if (client === null) {
    return;
  }
  page.downloadCsv.disabled = true;
  try {
    const file = await client.downloadCsv(currentQuery());
    saveCsv(file);
    page.status.dataset.csvFilename = file.filename;
    page.answer.textContent = `Saved ${file.filename}.`;
  } catch (error) {
    failed(error);
  } finally {
    page.downloadCsv.disabled = false;
  }
}

function failed(error: unknown): void {
  if (error instanceof HeatmapApiError && error.status === 401) {
    return; // sessionEnded has shown it
  }
  const message =
    error instanceof HeatmapApiError
      ? `${error.status || "No answer"} ${error.code}: ${error.detail}`
      : String(error);
  page.error.textContent = message;
  page.error.dataset.code = error instanceof HeatmapApiError ? error.code : "page_error";
  setState("error");
}

function formatValue(value: number | null, rate: boolean): string {
  if (value === null) {
    return "";
  }
  return rate ? `${(value * 100).toFixed(0)}%` : count(value);
}

function count(value: number): string {
  return value.toLocaleString("en-US");
}

function buildTable(): void {
  const head = page.table.createTHead().insertRow();
  const corner = document.createElement("th");
  corner.scope = "col";
  corner.textContent = "Day";
  head.append(corner);
  for (let hour = 0; hour < HOURS; hour++) {
    const th = document.createElement("th");
    th.scope = "col";
    th.abbr = `${String(hour).padStart(2, "0")}:00`;
    th.textContent = String(hour).padStart(2, "0");
    head.append(th);
  }
  const body = page.table.createTBody();
  for (let day = 0; day < DAYS; day++) {
    const row = body.insertRow();
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = DAY_NAMES[day] ?? String(day);
    row.append(th);
    for (let hour = 0; hour < HOURS; hour++) {
      const cell = row.insertCell();
      cell.id = `cell-${day}-${hour}`;
      cell.className = "cell";
      cell.dataset.day = String(day);
      cell.dataset.hour = String(hour);
    }
  }
}

function show({ body, etag, revalidated }: HeatmapResult): void {
  const rate = RATES.has(body.metric);
  const grid = toGrid(body);
  const values = grid.flat().filter((value): value is number => value !== null);
  const top = Math.max(0, ...values);
  const best = new Set(body.best_times.map((slot) => `${slot.day}-${slot.hour}`));
  grid.forEach((row, day) => {
    row.forEach((value, hour) => {
      const cell = element(`cell-${day}-${hour}`);
      const level = value === null || top === 0 ? 0 : value / top;
      cell.dataset.value = value === null ? "" : String(value);
      cell.textContent = formatValue(value, rate);
      cell.style.setProperty("--level", level.toFixed(3));
      cell.classList.toggle("none", value === null || value === 0);
      cell.classList.toggle("dark", level > 0.55);
      cell.classList.toggle("best", best.has(`${day}-${hour}`));
    });
  });

  const hours = body.clock === "lead" ? "the lead's local hours" : `hours in ${body.timezone}`;
  page.caption.textContent = `${METRICS[body.metric]} by day and hour (${hours})`;
  page.summary.textContent =
    `${body.period.start_date} to ${body.period.end_date} in ${body.timezone}; ` +
    `${METRICS[body.metric].toLowerCase()}, ${hours}.`;
  page.summary.dataset.timezone = body.timezone;
  page.summary.dataset.metric = body.metric;
  page.summary.dataset.clock = body.clock;
  showLeadCounts(body);

  page.bestTimes.replaceChildren(
    ...body.best_times.map((slot) => {
      const item = document.createElement("li");
      item.dataset.day = String(slot.day);
      item.dataset.hour = String(slot.hour);
      const label = document.createElement("span");
      label.className = "label";
      label.textContent = slot.label;
      const value = document.createElement("span");
      value.className = "value";
      value.textContent =
        rate && slot.total_calls !== undefined
          ? `${formatValue(slot.metric_value, true)} of ${count(slot.total_calls)} calls`
          : formatValue(slot.metric_value, rate);
      item.append(label, " ", value);
      return item;
    }),
  );
  if (body.best_times.length === 0) {
    const item = document.createElement("li");
    item.className = "empty";
    item.textContent = "No calls to rank yet.";
    page.bestTimes.append(item);
  }

  const answers = Number(page.status.dataset.answers ?? "0") + 1;
  page.status.dataset.answers = String(answers);
  page.status.dataset.revalidated = String(revalidated);
  const at = new Date().toLocaleTimeString("en-GB");
  page.answer.textContent = revalidated
    ? `Not modified (304) at ${at}: showing the answer kept from before.`
    : `Fresh answer (200) at ${at}.`;
  page.answer.className = revalidated ? "revalidated" : "fresh";
  page.etag.textContent = etag ?? "not readable (the API does not expose ETag)";
  page.etag.dataset.etag = etag ?? "";
}

function showLeadCounts(body: Heatmap): void {
  const lead = body.clock === "lead";
  page.leadCounts.hidden = !lead;
  page.leadCounts.dataset.unplaced = String(body.unplaced_calls ?? "");
  page.leadCounts.dataset.outside = String(body.outside_calling_hours ?? "");
  if (!lead) {
    page.leadCounts.textContent = "";
    return;
  }
  const unplaced =
    `${count(body.unplaced_calls ?? 0)} calls to numbers no time zone could be found for ` +
    "are left out";
  const outside =
    body.outside_calling_hours === null
      ? "no calling hours are set"
      : `${count(body.outside_calling_hours)} calls were made outside the lead's calling hours`;
  page.leadCounts.textContent = `${unplaced}; ${outside}.`;
}

function fillSelect(
  select: HTMLSelectElement,
  options: Record<string, string>,
  chosen: string,
): void {
  const entries = Object.entries(options);
  select.replaceChildren(
    ...entries.map(([value, text]) => new Option(text, value, false, value === chosen)),
  );
}

function start(): void {
  fillSelect(page.metric, METRICS, "calls");
  fillSelect(page.period, PERIODS, "30d");
  buildTable();
  page.browserZone.textContent = browserTimeZone();
  try {
    apiBase = apiBaseUrl();
  } catch (error) {
    failed(error);
    page.signIn.hidden = true;
    return;
  }
  page.apiShown.textContent = apiBase;

  page.signIn.addEventListener("submit", (event) => {
    event.preventDefault();
    const pasted = page.tokenInput.value.trim();
    if (pasted !== "") {
      page.tokenInput.value = "";
      signIn(pasted);
    }
  });
  page.controls.addEventListener("change", () => void load());
  // Refresh asks again: the client sends the kept ETag, and a 304 keeps the body shown.
  page.controls.addEventListener("submit", (event) => {
    event.preventDefault();
    void load();
  });
  page.downloadCsv.addEventListener("click", () => void downloadCsv());
  page.signOut.addEventListener("click", signOut);

  // A link with a new token opened in this tab changes only the fragment: no reload.
  window.addEventListener("hashchange", () => {
    const linked = takeTokenFromFragment();
    if (linked !== null) {
      signIn(linked);
    }
  });

  const found = takeTokenFromFragment() ?? window.sessionStorage.getItem(TOKEN_KEY);
  if (found === null) {
    setState("signed-out");
  } else {
    signIn(found);
  }
}

start();
