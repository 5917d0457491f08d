"""The rollup's benchmark: reads, the first request after a restart, writers, install, load.

``python -m bench.heatmap`` runs it after the raw-vs-SQL-vs-fetch designs (``--rollup-only``
runs it alone, ``--skip-rollup`` leaves it out). In one run, in this order, so that the
reads see a rollup the code being measured has just installed:

1. Writers without the rollup (uninstalled): single-row inserts, 20k-row
   ``INSERT ... SELECT``, and 8 connections ending calls of one 15-minute bucket.
2. The install at full size while writers keep writing, their latencies beside the
   install's own report, then ``verify`` (no difference allowed) and the rollup's size.
3. The endpoint through Django, raw scan against rollup, unfiltered and for one campaign,
   with both answers compared byte for byte; the rollup's SQL alone (captured from a
   request, run on a psycopg connection); and what a request costs besides that query.
4. With ``--restart``: the first rollup request after PostgreSQL restarts (it waits for
   any pytest run on this server to finish first, as a restart would break it).
5. The writers' workloads again with the rollup, and the fold of each one's deltas.
6. ``bench.load``'s server and clients on their own database, raw against rollup.

It ends with one table of every figure beside its goal and leaves the rollup installed.
Rows it adds to ``calls`` are deleted again (the triggers count that too).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dj_database_url

from bench.dataset import BIG_AGENCY_ID, BIG_AGENCY_USER_ID, SMALL_AGENCY_USER_ID
from bench.load import percentile
from bench.support import Connection, access_token, connect

RAW = "raw"
ROLLUP = "auto"  # what a host sets: the rollup when it is installed and ready
DATABASE = "default"

#: bench.dataset names campaign n "b16a9e0c-0000-4000-8000-1" + n (11 digits), n < 14.
CAMPAIGN_ID = uuid.UUID("b16a9e0c-0000-4000-8000-100000000003")
CLIENT_ID = uuid.UUID("b16a9e0c-0000-4000-8000-200000000007")

#: Rows this benchmark adds to calls have ids in this range: UUID version 0, which
#: gen_random_uuid() (version 4) never makes, so the range holds only ours, and one
#: DELETE through the primary key removes them, leftovers of a crashed run included.
BENCH_IDS = ("bec0ffee-0000-0000-0000-000000000000", "bec0ffee-0000-0000-ffff-ffffffffffff")
SINGLE, BULK, ENDING, INSTALL_INSERT, INSTALL_TOGGLE, TINY = 1, 2, 3, 4, 5, 6

CALL_COLUMNS = (
    "id, agency_id, campaign_id, client_id, status, created_at, joined_at, ended_at, "
    "end_reason, analysis, phone_number, duration_seconds"
)

#: Rollup requests per round: each takes milliseconds, so more samples cost nothing.
ROLLUP_REPEAT = 20


def bench_id(kind: int, n: int) -> str:
    return f"bec0ffee-0000-0000-{kind:04x}-{n:012x}"


# --- figures ------------------------------------------------------------------------------


@dataclass
class Sample:
    """Timings of one measure, in ms (or another unit): median and spread."""

    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def show(self, unit: str = "ms") -> str:
        low, high = min(self.values), max(self.values)
        return f"{number(self.median)} {unit} ({number(low)}-{number(high)})"


def number(value: float) -> str:
    """Three significant figures or so, with thousands separators."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


@dataclass(frozen=True)
class Line:
    """One row of the final table."""

    measure: str
    without: str
    with_: str
    ratio: str
    goal: str
    met: bool | None


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A Markdown table with padded columns: readable here and pasted into the docs as it is."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    print(line(headers))
    print("| " + " | ".join("-" * w for w in widths) + " |")
    for row in rows:
        print(line(row))


def print_summary(lines: Sequence[Line]) -> None:
    mark = {True: "yes", False: "NO", None: "-"}
    print_table(
        ["measure", "without / raw", "with / rollup", "ratio", "goal", "met?"],
        [[x.measure, x.without, x.with_, x.ratio, x.goal, mark[x.met]] for x in lines],
    )


class PytestWatch(threading.Thread):
    """Notes every 2 s whether a pytest runs on this machine: its tests share PostgreSQL
    and both cores with the benchmark, so figures taken meanwhile are disturbed."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, bool]] = []
        self.sections: list[tuple[str, float]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.samples.append((time.monotonic(), bool(pytest_processes())))
            self.stopped.wait(2.0)

    def report(self) -> None:
        """Per section, the share of samples in which a pytest ran."""
        self.stopped.set()
        bounds = [*self.sections, ("", time.monotonic())]
        for (title, start), (_, end) in itertools.pairwise(bounds):
            seen = [busy for at, busy in self.samples if start <= at < end]
            if seen and any(seen):
                share = sum(seen) / len(seen)
                print(f"  pytest was running during {share:.0%} of section {title!r}")
        if not any(busy for _, busy in self.samples):
            print("  no pytest ran on this machine during the run")


WATCH = PytestWatch()


def import_app() -> str:
    """Import every rollup module now, and fingerprint the code just imported."""
    import analytics.rollup.inspect
    import analytics.rollup.install
    import analytics.selectors  # noqa: F401

    return code_fingerprint()


def code_fingerprint() -> str:
    """A hash of the app's Python and SQL as they are on disk now; take it as the app is
    imported (bench.heatmap does, with every rollup module) and again at the end.

    The Python is imported once, but the install reads its SQL files when it runs: if
    the app changes during a run, the install mixes two versions and its counts mean
    nothing, so the run says so.
    """
    import hashlib
    from pathlib import Path

    import analytics

    root = Path(analytics.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted([*root.rglob("*.py"), *root.rglob("*.sql")]):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def section(title: str) -> None:
    WATCH.sections.append((title, time.monotonic()))
    print(f"\n== {title} ==", flush=True)


# --- the source the selectors read --------------------------------------------------------


def use_source(source: str) -> None:
    """Point the selectors at ``source`` and drop the 5-second readiness cache, as a deploy
    would: the next request asks the database whether the rollup is ready."""
    from django.conf import settings

    from analytics.rollup import state

    settings.ANALYTICS_HEATMAP_SOURCE = source
    state.forget()


def ensure_installed() -> None:
    """Install the rollup when it is not ready (a rebuilt dataset has none); print the report."""
    from analytics.rollup import state
    from analytics.rollup.install import install

    state.forget()
    if not state.rollup_ready(DATABASE):
        print("the rollup is not installed: installing it first", flush=True)
    # On a ready rollup this only refreshes its functions, to the code being measured.
    report = install(using=DATABASE, progress=lambda line: print(f"    {line}", flush=True))
    if not report.already_installed:
        print(f"    installed in {report.seconds:.1f} s", flush=True)
    fold_all()


def fold_all() -> None:
    """Fold what is pending, as the scheduled fold (every minute) keeps it: near empty."""
    moved, ms = fold()
    if moved:
        print(f"folded {moved:,} pending deltas in {ms:,.0f} ms")


# --- 1. reads -----------------------------------------------------------------------------


def answer_runner(
    params: Mapping[str, str], user_id: Any = BIG_AGENCY_USER_ID
) -> Callable[[], bytes]:
    """One endpoint request through Django's test client; the whole body, to compare bytes."""
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Bearer {access_token(user_id)}")

    def run() -> bytes:
        response = client.get("/api/dashboard-heatmap", dict(params))
        if response.status_code != 200:
            raise SystemExit(f"endpoint answered {response.status_code}: {response.content!r}")
        return bytes(response.content)

    return run


def statements_of(run: Callable[[], object]) -> list[str]:
    """The SQL a request sends, parameters inlined (Django's client-side binding)."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connections[DATABASE]) as queries:
        run()
    return [query["sql"] for query in queries.captured_queries]


def rollup_statement(run: Callable[[], object]) -> str:
    """The request's read of the rollup; exits when the request read calls instead."""
    sqls = statements_of(run)
    reads = [sql for sql in sqls if 'FROM "analytics_heatmap".' in sql]
    if len(reads) != 1 or any('FROM "calls"' in sql for sql in sqls):
        raise SystemExit("the request did not read the rollup (is it installed and ready?)")
    return reads[0]


def query_runner(
    connection: Connection, sql: str, *, in_transaction: bool
) -> Callable[[], list[Any]]:
    """The rollup's statement alone, or wrapped as the endpoint sends it: its own
    transaction under ``SET LOCAL`` settings (BEGIN, set_config, the query, COMMIT)."""
    from analytics.db import heatmap_settings

    settings = heatmap_settings()

    def run() -> list[Any]:
        with connection.cursor() as cursor:
            if in_transaction:
                cursor.execute("BEGIN")
                cursor.execute(
                    "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(settings)),
                    [item for pair in settings.items() for item in pair],
                )
            cursor.execute(sql)
            rows: list[Any] = cursor.fetchall()
            if in_transaction:
                cursor.execute("COMMIT")
        return rows

    return run


def cells_of(body: bytes) -> dict[tuple[int, int], tuple[int, int, int]]:
    return {
        (c["day"], c["hour"]): (c["total_calls"], c["connected_calls"], c["meetings_booked"])
        for c in json.loads(body)["heatmap"]
    }


def timed_ms(run: Callable[[], object]) -> float:
    began = time.perf_counter()
    run()
    return (time.perf_counter() - began) * 1000


@contextmanager
def phase_timers(into: dict[str, float]) -> Iterator[None]:
    """Add each phase's milliseconds of the requests made inside to ``into``.

    The phases are the view's steps, called one after another, so they add up; what is
    left of a request is Django's and DRF's handling and the test client's.
    """
    from unittest import mock

    from rest_framework.renderers import JSONRenderer

    from analytics import views
    from analytics.authentication import SupabaseJWTAuthentication
    from analytics.serializers import HeatmapQuerySerializer, HeatmapSerializer

    targets: list[tuple[str, object, str]] = [
        ("token and users row (authentication)", SupabaseJWTAuthentication, "authenticate"),
        ("query string (HeatmapQuerySerializer)", HeatmapQuerySerializer, "is_valid"),
        ("selector: readiness, SET LOCAL, rollup query, fold, rank", views, "cached_heatmap"),
        ("answer serializers (HeatmapSerializer)", HeatmapSerializer, "to_representation"),
        ("ETag (json.dumps and sha256 of the body)", views, "conditional_response"),
        ("JSON rendering", JSONRenderer, "render"),
    ]
    with ExitStack() as stack:
        for label, owner, name in targets:
            original = getattr(owner, name)

            def timed(*args: Any, _original: Any = original, _label: str = label, **kw: Any) -> Any:
                began = time.perf_counter()
                try:
                    return _original(*args, **kw)
                finally:
                    into[_label] = into.get(_label, 0.0) + (time.perf_counter() - began) * 1000

            stack.enter_context(mock.patch.object(owner, name, timed))
        yield


def request_breakdown(run: Callable[[], object], repeat: int) -> None:
    """Where one rollup request's time goes: the view's phases and each statement's round
    trip, medians over ``repeat`` requests."""
    from django.db import connections

    totals: list[float] = []
    phases: dict[str, list[float]] = {}
    per_statement: dict[str, list[float]] = {}
    seen: list[tuple[str, float]] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            seen.append((sql, (time.perf_counter() - began) * 1000))

    for _ in range(repeat):
        seen.clear()
        spent: dict[str, float] = {}
        with connections[DATABASE].execute_wrapper(wrapper), phase_timers(spent):
            totals.append(timed_ms(run))
        for label, ms in spent.items():
            phases.setdefault(label, []).append(ms)
        phases.setdefault("the rest: Django and DRF handling, the test client", []).append(
            totals[-1] - sum(spent.values())
        )
        for index, (sql, ms) in enumerate(seen):
            key = f"{index + 1}. {' '.join(sql.split())[:76]}"
            per_statement.setdefault(key, []).append(ms)
    print(
        f"one rollup request, unfiltered, medians of {repeat}: "
        f"{number(statistics.median(totals))} ms"
    )
    for label, values in phases.items():
        print(f"  {number(statistics.median(values)):>7} ms  {label}")
    statement_ms = sum(statistics.median(values) for values in per_statement.values())
    print(f"  of which {len(per_statement)} statements, {number(statement_ms)} ms:")
    for key, values in per_statement.items():
        print(f"  {number(statistics.median(values)):>7} ms    {key}")


def measure_reads(database_url: str, *, period: str, rounds: int, explain: bool) -> list[Line]:
    """Section 1: the endpoint on the raw scan and on the rollup, and the rollup query alone."""
    section(f"3. the {period} answer through Django: raw scan against rollup")
    unfiltered = {"period": period}
    campaign = {"period": period, "campaign_id": str(CAMPAIGN_ID)}
    checked: dict[str, tuple[dict[str, str], uuid.UUID]] = {
        "unfiltered": (unfiltered, BIG_AGENCY_USER_ID),
        "one campaign": (campaign, BIG_AGENCY_USER_ID),
        "one client": ({"period": period, "client_id": str(CLIENT_ID)}, BIG_AGENCY_USER_ID),
        "campaign and client, meeting_rate": (
            {**campaign, "client_id": str(CLIENT_ID), "metric": "meeting_rate"},
            BIG_AGENCY_USER_ID,
        ),
        "Asia/Kathmandu (+5:45), connect_rate": (
            {"period": period, "tz": "Asia/Kathmandu", "metric": "connect_rate"},
            BIG_AGENCY_USER_ID,
        ),
        "America/New_York, dense": (
            {"period": period, "tz": "America/New_York", "dense": "1"},
            BIG_AGENCY_USER_ID,
        ),
        "small agency": (unfiltered, SMALL_AGENCY_USER_ID),
        "tiny agency": (unfiltered, TINY_USER_ID),
    }
    add_tiny_agency(database_url)
    for name, (params, user) in checked.items():
        use_source(RAW)
        raw = answer_runner(params, user)()
        use_source(ROLLUP)
        run = answer_runner(params, user)
        rollup_statement(run)  # it reads the rollup
        rolled = run()
        if raw != rolled:
            print(
                f"MISMATCH for {name} ({params}):\n"
                f"  raw    {raw[:300]!r}\n  rollup {rolled[:300]!r}"
            )
            raise SystemExit(f"the rollup's answer differs from the raw scan's for {name}")
    print(f"rollup and raw answers identical, full JSON bytes, for {len(checked)} requests:")
    print("  " + "; ".join(checked))

    def ended_calls(params: dict[str, str], user: uuid.UUID) -> int:
        return sum(total for total, _, _ in cells_of(answer_runner(params, user)()).values())

    print(
        f"ended calls in {period}: big agency {ended_calls(unfiltered, BIG_AGENCY_USER_ID):,}, "
        f"{ended_calls(campaign, BIG_AGENCY_USER_ID):,} of them in campaign {CAMPAIGN_ID}; "
        f"small agency {ended_calls(unfiltered, SMALL_AGENCY_USER_ID):,}; "
        f"tiny agency {ended_calls(unfiltered, TINY_USER_ID):,}"
    )
    small = answer_runner(unfiltered, SMALL_AGENCY_USER_ID)
    tiny = answer_runner(unfiltered, TINY_USER_ID)
    tiny_slots = len(cells_of(tiny()))

    from analytics.rollup import state

    connection = connect(database_url)
    try:
        runs = {"unfiltered": answer_runner(unfiltered), "one campaign": answer_runner(campaign)}
        sqls = {name: rollup_statement(run) for name, run in runs.items()}
        queries = {
            name: query_runner(connection, sql, in_transaction=False) for name, sql in sqls.items()
        }
        wrapped = {
            name: query_runner(connection, sql, in_transaction=True) for name, sql in sqls.items()
        }
        for name, query in queries.items():  # the query alone gives the endpoint's cells
            direct = {(d - 1, h): (t, c, b) for d, h, t, c, b in query()}
            if direct != cells_of(runs[name]()):
                raise SystemExit(f"the captured rollup query ({name}) gives other cells")

        samples: dict[str, Sample] = {}

        def add(label: str, value: float) -> None:
            samples.setdefault(label, Sample()).values.append(value)

        # Each rollup measure is repeated in a block, so its median is the steady state of
        # that request; the raw scan reads a million rows either way.
        for _ in range(rounds):
            use_source(RAW)
            for name, run in runs.items():
                add(f"endpoint, raw scan, {name}", timed_ms(run))
            use_source(ROLLUP)
            state.rollup_ready(DATABASE)  # asked once per 5 s per process; not timed here
            for name, run in runs.items():
                for label, step in (
                    (f"endpoint, rollup, {name}", run),
                    (f"rollup query alone, {name}", queries[name]),
                    (f"rollup query in its transaction, {name}", wrapped[name]),
                ):
                    for _ in range(ROLLUP_REPEAT):
                        add(label, timed_ms(step))
            for label, step in (
                ("endpoint, rollup, small agency, unfiltered", small),
                ("endpoint, rollup, tiny agency, unfiltered", tiny),
            ):
                for _ in range(ROLLUP_REPEAT):
                    add(label, timed_ms(step))

        print(f"\n{'measure':<52}{'median ms':>11}{'min':>9}{'max':>9}{'samples':>9}")
        for label, sample in samples.items():
            print(
                f"{label:<52}{sample.median:>11.2f}{min(sample.values):>9.2f}"
                f"{max(sample.values):>9.2f}{len(sample.values):>9}"
            )
        print()
        request_breakdown(runs["unfiltered"], repeat=ROLLUP_REPEAT)
        median = {label: sample.median for label, sample in samples.items()}
        fixed = median["endpoint, rollup, unfiltered"] - median["rollup query alone, unfiltered"]
        tiny_ms = median["endpoint, rollup, tiny agency, unfiltered"]
        print(
            f"fixed cost of a request: endpoint minus query alone {number(fixed)} ms; "
            f"the tiny agency's whole request ({tiny_slots} slots from about 1,000 bucket "
            f"rows) {number(tiny_ms)} ms"
        )
        if explain:
            from analytics.db import heatmap_settings
            from bench.heatmap import explain as explain_plan

            for name, sql in sqls.items():
                print(f"\n-- the endpoint's rollup query, {name}, under its settings\n{sql}\n")
                print(explain_plan(connection, sql, None, heatmap_settings()))
    finally:
        connection.close()
        remove_tiny_agency(database_url)

    lines = []
    for name, goal in (("unfiltered", 50.0), ("one campaign", 10.0)):
        raw_sample = samples[f"endpoint, raw scan, {name}"]
        rollup_sample = samples[f"endpoint, rollup, {name}"]
        speedup = raw_sample.median / rollup_sample.median
        lines.append(
            Line(
                f"{period} endpoint, {name}",
                raw_sample.show(),
                rollup_sample.show(),
                f"{speedup:,.0f}x faster",
                f">= {goal:.0f}x faster",
                speedup >= goal,
            )
        )
    for name in ("unfiltered", "one campaign"):
        alone = samples[f"rollup query alone, {name}"]
        lines.append(Line(f"  rollup query alone, {name}", "", alone.show(), "", "", None))
    lines.append(
        Line("  request's fixed cost (endpoint - query)", "", f"{number(fixed)} ms", "", "", None)
    )
    lines.append(
        Line(
            "  whole request, tiny agency",
            "",
            samples["endpoint, rollup, tiny agency, unfiltered"].show(),
            "",
            "",
            None,
        )
    )
    return lines


#: An agency of its own with 1,008 ended calls over 90 days, in every (day, hour) slot:
#: its request reads a few hundred bucket rows and so shows a request's fixed cost.
TINY_AGENCY_ID = uuid.UUID("bec0ffee-0000-0000-0006-000000000000")
TINY_USER_ID = uuid.UUID("bec0ffee-0000-0000-0006-000000000001")
TINY_CALLS = f"""
INSERT INTO calls ({CALL_COLUMNS})
SELECT ('bec0ffee-0000-0000-0006-' || lpad(to_hex(n), 12, '0'))::uuid, %(agency)s::uuid,
       NULL, NULL, 'ended', created_at, created_at + interval '12 seconds',
       created_at + interval '95 seconds', 'completed', NULL, '+15559990000', 95
FROM (
    SELECT n, date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
              - make_interval(days => 1 + n %% 89, hours => -(n %% 24), mins => -7) AS created_at
    FROM generate_series(1, 1008) AS n
) AS generated"""


def add_tiny_agency(database_url: str) -> None:
    connection = connect(database_url)
    try:
        with connection.cursor() as cursor:
            remove_tiny(cursor)
            cursor.execute(TINY_CALLS, {"agency": str(TINY_AGENCY_ID)})
            cursor.execute(
                "INSERT INTO users (id, agency_id) VALUES (%s, %s)",
                [str(TINY_USER_ID), str(TINY_AGENCY_ID)],
            )
    finally:
        connection.close()


def remove_tiny(cursor: Any) -> None:
    cursor.execute("DELETE FROM users WHERE id = %s", [str(TINY_USER_ID)])
    delete_kind(cursor, TINY)


def remove_tiny_agency(database_url: str) -> None:
    connection = connect(database_url)
    try:
        with connection.cursor() as cursor:
            remove_tiny(cursor)
    finally:
        connection.close()


# --- 2. the first request after a restart -------------------------------------------------


def pytest_processes() -> list[str]:
    """``pgrep -f pytest``, less this process and its parent."""
    found = subprocess.run(["pgrep", "-af", "pytest"], capture_output=True, text=True).stdout
    mine = {str(os.getpid()), str(os.getppid())}
    return [line for line in found.splitlines() if line.split(" ", 1)[0] not in mine]


def wait_for_no_pytest(timeout: float = 600.0, poll: float = 5.0) -> bool:
    """Poll until no pytest runs on this machine (its tests use this server); False on timeout."""
    deadline = time.monotonic() + timeout
    running = pytest_processes()
    while running:
        if time.monotonic() > deadline:
            return False
        print(f"  waiting for pytest to finish ({len(running)} processes): {running[0][:100]}")
        time.sleep(poll)
        running = pytest_processes()
    return True


def restart_postgresql(database_url: str) -> float:
    """Restart the cluster and wait until it accepts connections again; seconds it took."""
    began = time.monotonic()
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "restart"],
        check=True,
        capture_output=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            connect(database_url).close()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    return time.monotonic() - began


def measure_restart(database_url: str, *, period: str) -> list[Line]:
    """Section 2: PostgreSQL restarted (shared buffers empty, OS page cache kept), then the
    first rollup request, with a fresh connection as a new or reconnecting worker has."""
    from django.db import connections

    section("4. the first request after a PostgreSQL restart")
    goal = "< 0.5 s and a 200"
    if not wait_for_no_pytest():
        print("  pytest still running after 10 minutes: not restarting the server")
        return [Line("first rollup request after restart", "", "skipped (pytest)", "", goal, None)]
    connections.close_all()
    seconds = restart_postgresql(database_url)
    print(f"  restarted PostgreSQL in {seconds:.1f} s")
    connections.close_all()
    use_source(ROLLUP)
    from django.test import Client

    results: dict[str, tuple[int, float]] = {}
    for name, source in (("rollup", ROLLUP), ("raw scan, right after", RAW)):
        use_source(source)
        client = Client(HTTP_AUTHORIZATION=f"Bearer {access_token(BIG_AGENCY_USER_ID)}")
        began = time.perf_counter()
        response = client.get("/api/dashboard-heatmap", {"period": period})
        results[name] = (response.status_code, time.perf_counter() - began)
        print(
            f"  first {name} request: {response.status_code} in {results[name][1] * 1000:,.0f} ms"
        )
    status, first = results["rollup"]
    raw_status, raw_first = results["raw scan, right after"]
    return [
        Line(
            "first request after restart (rollup)",
            f"raw, next: {raw_first * 1000:,.0f} ms ({raw_status})",
            f"{first * 1000:,.0f} ms ({status})",
            "",
            goal,
            status == 200 and first < 0.5,
        )
    ]


# --- 3. writers ---------------------------------------------------------------------------

SINGLE_INSERT = f"""
INSERT INTO calls ({CALL_COLUMNS}) VALUES (
    %(id)s, %(agency)s, %(campaign)s, %(client)s, 'ended', %(created)s,
    %(created)s::timestamptz + interval '12 seconds',
    %(created)s::timestamptz + interval '95 seconds',
    'completed', %(analysis)s::jsonb, '+15559990000', 95
)"""
#: A batch of ended calls spread over 90 days and every campaign and client: the
#: triggers' hard case, nearly a segment bucket per row.
BULK_INSERT = f"""
INSERT INTO calls ({CALL_COLUMNS})
SELECT ('bec0ffee-0000-0000-0002-' || lpad(to_hex(n), 12, '0'))::uuid, %(agency)s::uuid,
       ('b16a9e0c-0000-4000-8000-1' || lpad((n %% 14)::text, 11, '0'))::uuid,
       ('b16a9e0c-0000-4000-8000-2' || lpad((n %% 20)::text, 11, '0'))::uuid,
       'ended', created_at,
       CASE WHEN n %% 5 < 2 THEN created_at + interval '12 seconds' END,
       created_at + interval '95 seconds',
       (CASE WHEN n %% 5 < 2 THEN 'completed' ELSE 'no_answer' END)::call_end_reason,
       jsonb_build_object('summary', repeat(md5(n::text), 20),
                          'sdr', jsonb_build_object('meeting_booked', n %% 12 = 0)),
       '+15559990000', 95
FROM (
    SELECT n, now() - interval '1 hour' - random() * interval '88 days' AS created_at
    FROM generate_series(1, %(rows)s) AS n
) AS generated"""
#: Calls in progress, all created in one 15-minute bucket, for the concurrent writers.
IN_PROGRESS = f"""
INSERT INTO calls ({CALL_COLUMNS})
SELECT ('bec0ffee-0000-0000-' || lpad(to_hex(%(kind)s), 4, '0') || '-'
        || lpad(to_hex(n), 12, '0'))::uuid, %(agency)s::uuid,
       ('b16a9e0c-0000-4000-8000-1' || lpad((n %% 14)::text, 11, '0'))::uuid,
       ('b16a9e0c-0000-4000-8000-2' || lpad((n %% 20)::text, 11, '0'))::uuid,
       'in_progress', %(bucket)s::timestamptz + (n %% 900) * interval '1 second',
       NULL, NULL, NULL, NULL, '+15559990000', NULL
FROM generate_series(1, %(rows)s) AS n"""
END_CALL = (
    "UPDATE calls SET status = 'ended', joined_at = created_at + interval '12 seconds', "
    "ended_at = created_at + interval '60 seconds', end_reason = 'completed', "
    "duration_seconds = 48 WHERE id = %s"
)
TOGGLE_CALL = (
    "UPDATE calls SET status = CASE status WHEN 'ended' THEN 'in_progress'::call_status "
    "ELSE 'ended'::call_status END WHERE id = %s"
)
DELETE_KIND = "DELETE FROM calls WHERE id BETWEEN %s AND %s"


def delete_kind(cursor: Any, kind: int | None = None) -> int:
    """Delete this benchmark's rows (of one kind, or all) through the primary key."""
    if kind is None:
        cursor.execute(DELETE_KIND, list(BENCH_IDS))
    else:
        cursor.execute(DELETE_KIND, [bench_id(kind, 0), bench_id(kind, 0xFFFF_FFFF_FFFF)])
    return int(cursor.rowcount)


def analysis_document(n: int) -> str:
    """An analysis of about 0.7 KB, like the dataset's: a summary beside ``sdr``."""
    summary = uuid.uuid5(uuid.NAMESPACE_OID, str(n)).hex * 20
    sdr = {"meeting_booked": n % 12 == 0, "sentiment": "positive", "next_step": "follow up"}
    return json.dumps({"summary": summary, "sdr": sdr})


def single_insert_params(kind: int, n: int) -> dict[str, Any]:
    """An ended call of the big agency created in the last hour, as a live app inserts it."""
    return {
        "id": bench_id(kind, n),
        "agency": str(BIG_AGENCY_ID),
        "campaign": f"b16a9e0c-0000-4000-8000-1{n % 14:011d}",
        "client": f"b16a9e0c-0000-4000-8000-2{n % 20:011d}",
        "created": datetime.now(UTC) - timedelta(seconds=120 + n % 3600),
        "analysis": analysis_document(n),
    }


def one_bucket() -> datetime:
    """Yesterday's 10:00-10:15 UTC bucket: inside every window, never in the future."""
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    return datetime(yesterday.year, yesterday.month, yesterday.day, 10, tzinfo=UTC)


@dataclass
class WriterFigures:
    single_ms: Sample
    bulk_ms: Sample
    bulk_delete_ms: Sample
    updates_per_second: float
    update_ms: Sample
    #: With the rollup: each fold of one workload's deltas, (deltas moved, ms).
    folds: dict[str, list[tuple[int, float]]] = field(default_factory=dict)


def fold() -> tuple[int, float]:
    """One fold as ``manage.py heatmap_rollup fold`` runs it (``fold_pending``: the fold,
    then a VACUUM of ``pending``): (deltas moved, ms)."""
    from analytics.rollup.inspect import fold_pending

    began = time.perf_counter()
    moved = fold_pending(using=DATABASE)
    return moved, (time.perf_counter() - began) * 1000


def measure_writers(
    database_url: str,
    *,
    label: str,
    folding: bool,
    inserts: int,
    bulk_rows: int,
    rounds: int,
    threads: int,
    per_thread: int,
) -> WriterFigures:
    """Section 3, one side: the same three workloads, then every added row deleted.

    With the rollup the triggers only append deltas, and the upserts happen in the fold,
    so each workload's deltas are folded after it and the fold is timed too (a scheduler
    would run it every minute, off the writers' path).
    """
    print(f"\n-- writers, {label}", flush=True)
    folds: dict[str, list[tuple[int, float]]] = {}

    def folded(name: str) -> None:
        if folding:
            folds.setdefault(name, []).append(fold())

    connection = connect(database_url)
    try:
        with connection.cursor() as cursor:
            delete_kind(cursor)
            for n in range(100):  # warm-up: the plan, the index pages, the rollup's rows
                cursor.execute(SINGLE_INSERT, single_insert_params(SINGLE, 10_000_000 + n))
            folded("warm-up")
            single = Sample()
            for n in range(inserts):
                params = single_insert_params(SINGLE, n)
                began = time.perf_counter()
                cursor.execute(SINGLE_INSERT, params)
                single.values.append((time.perf_counter() - began) * 1000)
            folded(f"{inserts:,} single-row INSERTs")
            delete_kind(cursor, SINGLE)
            folded("warm-up")
            print(
                f"  single-row INSERT, autocommit: p50 {number(single.median)} ms, "
                f"p99 {number(percentile(single.values, 0.99))} ms over {inserts:,}"
            )
            bulk, bulk_delete = Sample(), Sample()
            for round_number in range(rounds):
                cursor.execute("SELECT setseed(%s)", [0.1 + round_number / 100])
                began = time.perf_counter()
                cursor.execute(BULK_INSERT, {"agency": str(BIG_AGENCY_ID), "rows": bulk_rows})
                bulk.values.append((time.perf_counter() - began) * 1000)
                folded(f"a {bulk_rows // 1000}k-row INSERT ... SELECT")
                began = time.perf_counter()
                delete_kind(cursor, BULK)
                bulk_delete.values.append((time.perf_counter() - began) * 1000)
                folded(f"its {bulk_rows // 1000}k-row DELETE")
            print(
                f"  {bulk_rows:,}-row INSERT ... SELECT: {bulk.show()}; its DELETE "
                f"{bulk_delete.show()} ({rounds} rounds)"
            )
        rate, update_ms = concurrent_endings(database_url, connection, threads, per_thread)
        with connection.cursor() as cursor:
            folded(f"{threads * per_thread:,} UPDATEs of one bucket")
            delete_kind(cursor, ENDING)
            folded("warm-up")
        print(
            f"  {threads} connections ending calls of one 15-minute bucket: {rate:,.0f} updates/s "
            f"(p50 {number(update_ms.median)} ms, "
            f"p99 {number(percentile(update_ms.values, 0.99))} ms per UPDATE)"
        )
        for name, done in folds.items():
            if name != "warm-up":
                moved = statistics.median(n for n, _ in done)
                took = Sample([ms for _, ms in done])
                print(f"  fold after {name}: {moved:,.0f} deltas in {took.show()}")
    finally:
        with connection.cursor() as cursor:
            delete_kind(cursor)
            folded("warm-up")
        connection.close()
    return WriterFigures(single, bulk, bulk_delete, rate, update_ms, folds)


def concurrent_endings(
    database_url: str, connection: Connection, threads: int, per_thread: int
) -> tuple[float, Sample]:
    """``threads`` connections each set their own calls of one bucket from in_progress to
    ended, one autocommit UPDATE a call; every UPDATE adds to that bucket's agency row."""
    rows = threads * per_thread
    with connection.cursor() as cursor:
        cursor.execute(
            IN_PROGRESS,
            {"kind": ENDING, "agency": str(BIG_AGENCY_ID), "rows": rows, "bucket": one_bucket()},
        )
    latencies: list[list[float]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads + 1)

    def writer(number: int) -> None:
        own = connect(database_url)
        try:
            with own.cursor() as cursor:
                ids = [bench_id(ENDING, n) for n in range(1 + number, rows + 1, threads)]
                cursor.execute(END_CALL, [bench_id(ENDING, 0)])  # connection and plan warm
                start.wait()
                for call_id in ids:
                    began = time.perf_counter()
                    cursor.execute(END_CALL, [call_id])
                    latencies[number].append((time.perf_counter() - began) * 1000)
        finally:
            own.close()

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM calls WHERE id BETWEEN %s AND %s AND status = 'ended'",
            [bench_id(ENDING, 0), bench_id(ENDING, 0xFFFF_FFFF_FFFF)],
        )
        ended = cursor.fetchone()[0]
        if ended != rows:
            raise SystemExit(f"{ended} of {rows} calls were ended by the concurrent writers")
    every = Sample([ms for own in latencies for ms in own])
    return rows / elapsed, every


def writer_lines(without: WriterFigures, with_: WriterFigures, threads: int) -> list[Line]:
    single = with_.single_ms.median / without.single_ms.median
    bulk = with_.bulk_ms.median / without.bulk_ms.median
    delete = with_.bulk_delete_ms.median / without.bulk_delete_ms.median
    rate = with_.updates_per_second / without.updates_per_second
    return [
        Line(
            "single-row INSERT, p50",
            f"{number(without.single_ms.median)} ms",
            f"{number(with_.single_ms.median)} ms",
            f"{single:.2f}x",
            "<= 1.3x",
            single <= 1.3,
        ),
        Line(
            "20k-row INSERT ... SELECT",
            without.bulk_ms.show(),
            with_.bulk_ms.show(),
            f"{bulk:.2f}x",
            "<= 1.5x",
            bulk <= 1.5,
        ),
        Line(
            "  its DELETE (the triggers count it too)",
            without.bulk_delete_ms.show(),
            with_.bulk_delete_ms.show(),
            f"{delete:.2f}x",
            "",
            None,
        ),
        Line(
            f"{threads} writers ending calls of one bucket",
            f"{without.updates_per_second:,.0f} updates/s",
            f"{with_.updates_per_second:,.0f} updates/s",
            f"{rate:.2f}x",
            ">= 0.7x",
            rate >= 0.7,
        ),
    ] + [
        Line(
            f"  fold after {name}",
            "",
            f"{statistics.median(n for n, _ in done):,.0f} deltas, "
            f"{Sample([ms for _, ms in done]).show()}",
            "",
            "",
            None,
        )
        for name, done in with_.folds.items()
        if name != "warm-up"
    ]


# --- 4. install under writers ------------------------------------------------------------


class Writer(threading.Thread):
    """Keeps writing calls at a steady pace on its own connection and records when each
    statement started and how long it took; ``toggle`` flips its calls between in_progress
    and ended (counted in, then out), ``insert`` adds ended calls."""

    def __init__(self, database_url: str, kind: int, number: int, ids: Sequence[str]) -> None:
        super().__init__(daemon=True)
        self.database_url, self.kind, self.number, self.ids = database_url, kind, number, ids
        self.records: list[tuple[float, float]] = []
        self.errors: list[str] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        connection = connect(self.database_url)
        n = 0
        try:
            with connection.cursor() as cursor:
                while not self.stopped.is_set():
                    if self.kind == INSTALL_INSERT:
                        sql = SINGLE_INSERT
                        params: Any = single_insert_params(INSTALL_INSERT, self.number << 32 | n)
                    else:
                        sql, params = TOGGLE_CALL, [self.ids[n % len(self.ids)]]
                    began = time.monotonic()
                    try:
                        cursor.execute(sql, params)
                    except Exception as exc:
                        self.errors.append(f"{type(exc).__name__}: {exc}")
                    self.records.append((began, (time.monotonic() - began) * 1000))
                    n += 1
                    time.sleep(0.002)
        finally:
            connection.close()


def install_under_writers(database_url: str, *, writers: int) -> list[Line]:
    """Section 4: install at full size while writers write; verify; the rollup's size."""
    from analytics.rollup.inspect import rollup_differences, rollup_status
    from analytics.rollup.install import install

    section(f"2. install while {writers} writers keep writing, then verify")
    toggled = 1000
    connection = connect(database_url)
    with connection.cursor() as cursor:
        delete_kind(cursor)
        cursor.execute(
            IN_PROGRESS,
            {
                "kind": INSTALL_TOGGLE,
                "agency": str(BIG_AGENCY_ID),
                "rows": toggled * writers,
                "bucket": one_bucket() - timedelta(hours=5),
            },
        )
    threads = [
        Writer(
            database_url,
            INSTALL_INSERT if number % 2 == 0 else INSTALL_TOGGLE,
            number,
            [
                bench_id(INSTALL_TOGGLE, n)
                for n in range(1 + number, toggled * writers + 1, writers)
            ],
        )
        for number in range(writers)
    ]
    timeline: list[tuple[float, str]] = []

    def progress(line: str) -> None:
        timeline.append((time.monotonic(), line))
        print(f"    +{timeline[-1][0] - timeline[0][0]:5.1f} s  {line}", flush=True)

    for thread in threads:
        thread.start()
    try:  # the writers stop however the install ends: none may outlive the clean-up
        time.sleep(3)  # the writers' pace before the install
        began = time.monotonic()
        timeline.append((began, "creating the triggers, then counting"))
        report = install(using=DATABASE, progress=progress)
        ended = time.monotonic()
        time.sleep(2)
    finally:
        for thread in threads:
            thread.stopped.set()
        for thread in threads:
            thread.join(timeout=30)
    errors = [error for thread in threads for error in thread.errors]
    records = [record for thread in threads for record in thread.records]
    before = [ms for start, ms in records if start < began]
    during = [ms for start, ms in records if began <= start < ended]
    # A statement that started before the install and ended inside it waited for it too.
    overlapping = [ms for start, ms in records if start < ended and start + ms / 1000 > began]
    print(
        f"  install's report: {report.seconds:.1f} s, {report.rows_counted:,} ended calls counted "
        f"into {report.buckets_written:,} rows; trigger_lock_ms {report.trigger_lock_ms:,.0f}, "
        f"swap_lock_ms {report.swap_lock_ms:,.0f}, longest_block_ms "
        f"{report.longest_block_ms:,.0f}"
    )
    print(
        f"  writers' statements before the install: {len(before):,}, p50 "
        f"{number(percentile(before, 0.5))} ms, p99 {number(percentile(before, 0.99))} ms, "
        f"max {number(max(before))} ms"
    )
    print(
        f"  writers' statements during the install: {len(overlapping):,}, p50 "
        f"{number(percentile(overlapping, 0.5))} ms, "
        f"p99 {number(percentile(overlapping, 0.99))} ms, "
        f"max {number(max(overlapping))} ms; errors {len(errors)}"
    )
    for error in errors[:5]:
        print(f"    {error}")
    print("  the slowest writer statements, and the install's step they started in:")
    for start, ms in sorted(records, key=lambda record: -record[1])[:5]:
        step = [line for at, line in timeline if at <= start]
        doing = step[-1] if step and start < ended else "after the install"
        if start < began:
            doing = "before the install"
        elif step and "building the rollup" in doing:
            doing = "swapping the tables in (after the build)"
        elif step and doing.startswith("counting calls:") and " in " in doing:
            doing = "building the new tables (after the count)"
        print(f"    {number(ms):>7} ms at +{start - began:5.1f} s: {doing[:70]}")
    if not during:
        raise SystemExit("no writer statement ran during the install")

    verify_began = time.monotonic()
    differences = rollup_differences(using=DATABASE)
    verify_seconds = time.monotonic() - verify_began
    print(f"  verify: {len(differences)} differences ({verify_seconds:.1f} s)")
    for difference in differences[:10]:
        print(f"    {difference}")
    with connection.cursor() as cursor:
        pending, fold_ms = fold()
        print(
            f"  fold of the deltas written during and after the install: {pending:,} in "
            f"{fold_ms:,.0f} ms"
        )
        removed = delete_kind(cursor)
        fold()
    connection.close()
    print(f"  deleted the writers' {removed:,} calls")
    if differences:
        raise SystemExit(f"verify found {len(differences)} differences after the install")

    status = rollup_status(using=DATABASE)
    share = status.rollup_bytes / status.calls_bytes
    print(
        f"  size: rollup {status.rollup_bytes / 2**20:,.0f} MB "
        f"({status.agency_rows:,} agency rows, {status.segment_rows:,} segment rows, "
        f"{status.pending_rows:,} pending), calls {status.calls_bytes / 2**20:,.0f} MB: {share:.1%}"
    )
    longest = max(overlapping)
    return [
        Line(
            f"install ({report.rows_counted:,} ended calls counted)",
            "",
            f"{report.seconds:.1f} s",
            "",
            "",
            None,
        ),
        Line(
            "  install's report: trigger_lock_ms / swap_lock_ms",
            "",
            f"{report.trigger_lock_ms:,.0f} / {report.swap_lock_ms:,.0f} ms",
            "",
            "",
            None,
        ),
        Line(
            "  writers' statements during install: p99 / max",
            f"p99 {number(percentile(before, 0.99))} ms before",
            f"{number(percentile(overlapping, 0.99))} / {number(longest)} ms",
            "",
            "",
            None,
        ),
        Line(
            "verify after install (differences)",
            "",
            f"{len(differences)} in {verify_seconds:.0f} s",
            "",
            "0",
            not differences,
        ),
        Line(
            "size, with indexes",
            f"calls {status.calls_bytes / 2**20:,.0f} MB",
            f"rollup {status.rollup_bytes / 2**20:,.0f} MB",
            f"{share:.1%}",
            "",
            None,
        ),
    ]


def writers_without(database_url: str, **workloads: int) -> WriterFigures:
    """The writers' workloads with the rollup uninstalled: no triggers on calls."""
    from analytics.rollup.install import uninstall

    section("1. writers without the rollup (uninstalled)")
    uninstall(using=DATABASE)
    use_source(ROLLUP)
    return measure_writers(database_url, label="without the rollup", folding=False, **workloads)


def writers_with(database_url: str, **workloads: int) -> WriterFigures:
    """The same workloads with the rollup's triggers, each fold timed; then verify."""
    from analytics.rollup.inspect import rollup_differences

    section("5. writers with the rollup")
    figures = measure_writers(database_url, label="with the rollup", folding=True, **workloads)
    differences = rollup_differences(using=DATABASE, agency_id=BIG_AGENCY_ID)
    print(f"  verify, big agency, after every write and delete: {len(differences)} differences")
    if differences:
        raise SystemExit(f"{len(differences)} differences after the writers' runs")
    return figures


# --- 5. load ------------------------------------------------------------------------------


def _prepare_load_database(database_url: str, queue: Any) -> None:
    """In a fresh process (Django is configured per database): bench.load's dataset, and
    the rollup installed on it."""
    from bench.load import build_dataset

    build_dataset(database_url)
    from analytics.rollup.install import install

    report = install(using=DATABASE)
    queue.put((report.seconds, report.rows_counted))


def prepare_load_database(database_url: str) -> tuple[float, int]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_prepare_load_database, args=(database_url, queue))
    process.start()
    result: tuple[float, int] = queue.get(timeout=600)
    process.join()
    return result


def scans(database_url: str) -> dict[str, int]:
    """Scans of calls and of the rollup tables so far (the statistics PostgreSQL keeps)."""
    connection = connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT relname, COALESCE(seq_scan, 0) + COALESCE(idx_scan, 0) "
                "FROM pg_stat_user_tables WHERE relname IN "
                "('calls', 'agency_buckets', 'segment_buckets')"
            )
            found = {name: int(count) for name, count in cursor.fetchall()}
    finally:
        connection.close()
    return {
        "calls": found.get("calls", 0),
        "rollup": found.get("agency_buckets", 0) + found.get("segment_buckets", 0),
    }


@contextmanager
def counting_scans(database_url: str, into: dict[str, int]) -> Iterator[None]:
    before = scans(database_url)
    yield
    time.sleep(1.5)  # backends flush their statistics when they exit, at most a second later
    after = scans(database_url)
    into.update({name: after[name] - before[name] for name in after})


def measure_load(load_url: str, *, clients: int, duration: float, rounds: int) -> list[Line]:
    """Section 5: bench.load's server (demo project, gunicorn) and clients, uncached and
    unthrottled, once serving from the raw scan and once from the rollup, alternating."""
    from bench import load

    section(f"6. bench.load, {clients} clients, uncached: raw scan against rollup")
    seconds, rows = prepare_load_database(load_url)
    database = dj_database_url.parse(load_url)["NAME"]
    print(f"  built {database} and installed its rollup ({rows:,} ended calls, {seconds:.1f} s)")
    workers = 2 * (os.cpu_count() or 1) + 1
    tokens = {user: access_token(user) for user in load.USERS}
    mix = load.request_mix()
    rates: dict[str, list[float]] = {RAW: [], ROLLUP: []}
    p50s: dict[str, list[float]] = {RAW: [], ROLLUP: []}
    answers: dict[str, dict[tuple[uuid.UUID, int], bytes]] = {}
    for _ in range(rounds):
        for source in (RAW, ROLLUP):
            env = {
                "HEATMAP_CACHE_TTL": "0",
                "HEATMAP_THROTTLE_RATE": "",
                "HEATMAP_AGENCY_THROTTLE_RATE": "",
                "HEATMAP_MAX_CONCURRENT_SCANS": "",
                "HEATMAP_SOURCE": source,
            }
            counted: dict[str, int] = {}
            with (
                counting_scans(load_url, counted),
                load.demo_server(database_url=load_url, workers=workers, env=env) as server,
            ):
                expected, _ = asyncio.run(load.reference_answers(server.base_url, tokens, mix))
                results, elapsed, sampler = load.drive_sampled(
                    server.base_url,
                    load_url,
                    clients=clients,
                    duration=duration,
                    tokens=tokens,
                    mix=mix,
                    expected=expected,
                )
            print(f"  -- HEATMAP_SOURCE={source}")
            failures = load.report(
                results,
                elapsed,
                clients=clients,
                workers=workers,
                peak_connections=sampler.peak,
                samples=sampler.samples,
                database=database,
                cache_ttl=0,
            )
            print(f"  scans: calls {counted['calls']:,}, rollup tables {counted['rollup']:,}")
            if failures:
                raise SystemExit(f"load with HEATMAP_SOURCE={source} failed: {failures}")
            if source == ROLLUP and counted["calls"] > counted["rollup"]:
                raise SystemExit("the rollup server scanned calls more than the rollup")
            answers.setdefault(source, expected)
            ms = [latency * 1000 for latency in results.latencies]
            rates[source].append(len(ms) / elapsed)
            p50s[source].append(percentile(ms, 0.5))
    differing = [
        key
        for key, body in answers[RAW].items()
        if body != answers[ROLLUP][key] and load._window(body) == load._window(answers[ROLLUP][key])
    ]
    if differing:
        raise SystemExit(f"{len(differing)} load answers differ between raw and rollup")
    print(f"  the {len(answers[RAW])} reference answers are identical from raw and rollup")
    rate = statistics.median(rates[ROLLUP]) / statistics.median(rates[RAW])
    p50 = statistics.median(p50s[RAW]) / statistics.median(p50s[ROLLUP])
    return [
        Line(
            f"load, {clients} clients: requests/s",
            f"{statistics.median(rates[RAW]):,.0f}/s",
            f"{statistics.median(rates[ROLLUP]):,.0f}/s",
            f"{rate:.1f}x",
            "",
            None,
        ),
        Line(
            f"load, {clients} clients: p50 latency",
            f"{number(statistics.median(p50s[RAW]))} ms",
            f"{number(statistics.median(p50s[ROLLUP]))} ms",
            f"{p50:.1f}x faster",
            "",
            None,
        ),
    ]


# --- the section --------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    database_url: str
    load_database_url: str
    period: str
    rounds: int
    explain: bool
    restart: bool
    inserts: int
    threads: int
    per_thread: int
    install_writers: int
    load_clients: int
    load_duration: float
    load_rounds: int
    skip_load: bool
    #: code_fingerprint() when the app was imported, to tell a change during the run.
    code: str = ""


def run(options: Options) -> int:
    """Every measurement of the rollup, then the table of figures against goals.

    However it ends, the rows it added are gone and the rollup is installed again.
    """
    WATCH.start()
    fingerprint = options.code or code_fingerprint()
    try:
        lines = measure_all(options)
    finally:
        clean_up(options.database_url)
    section("summary")
    print_summary(lines)
    WATCH.report()
    if code_fingerprint() != fingerprint:
        print("  WARNING: analytics/ changed on disk during the run: the figures mix versions")
    else:
        print(f"  analytics/ unchanged during the run (code {fingerprint})")
    missed = [line.measure for line in lines if line.met is False]
    print(f"\ngoals met: {sum(line.met is True for line in lines)}, missed: {len(missed)}")
    sys.stdout.flush()
    return 0


def clean_up(database_url: str) -> None:
    """Delete every row the benchmark added; install the rollup when a failure left it out."""
    from django.db import connections

    connections.close_all()
    connection = connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM users WHERE id = %s", [str(TINY_USER_ID)])
            removed = delete_kind(cursor)
            # Its inserts and deletes leave dead rows; vacuumed, the space is reused and
            # calls stays the size it was built at, run after run.
            cursor.execute("VACUUM calls")
    finally:
        connection.close()
    if removed:
        print(f"deleted {removed:,} calls left by the benchmark")
    ensure_installed()


def measure_all(options: Options) -> list[Line]:
    """Every measure, in the order that lets the reads see a rollup installed by the code
    being measured; the table lists them in the issue's order."""
    clean_up(options.database_url)  # what a run that crashed may have left
    workloads = {
        "inserts": options.inserts,
        "bulk_rows": 20_000,
        "rounds": options.rounds,
        "threads": options.threads,
        "per_thread": options.per_thread,
    }
    without = writers_without(options.database_url, **workloads)
    install_lines = install_under_writers(options.database_url, writers=options.install_writers)
    lines = measure_reads(
        options.database_url, period=options.period, rounds=options.rounds, explain=options.explain
    )
    if options.restart:
        lines += measure_restart(options.database_url, period=options.period)
    else:
        lines.append(
            Line("first request after restart (rollup)", "", "not run (--restart)", "", "", None)
        )
    with_ = writers_with(options.database_url, **workloads)
    lines += writer_lines(without, with_, options.threads) + install_lines
    if not options.skip_load:
        lines += measure_load(
            options.load_database_url,
            clients=options.load_clients,
            duration=options.load_duration,
            rounds=options.load_rounds,
        )
    return lines
