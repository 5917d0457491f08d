"""Load: the demo project under gunicorn on PostgreSQL, driven by concurrent clients.

    python -m bench.load                        # 30 s, 32 clients
    python -m bench.load --short                # 5 s: what CI runs
    python -m bench.load --cache-ttl 60         # with the Redis answer cache on
    python -m bench.load --short --pooler-url postgres://postgres@127.0.0.1:6543/heatmap_load
                                                # gunicorn reaches PostgreSQL through a
                                                # transaction-mode pooler (scripts/pgbouncer)
    python -m bench.load --short --database-url PRIMARY/heatmap_standby \
        --replica-url STANDBY/heatmap_standby   # heatmaps read from a hot standby of the
                                                # primary (scripts/standby; tox's standby env)

(re)builds the database ``heatmap_load`` (an agency with 50,000 calls over 90
days, a second agency with 10,000, three users each), starts the demo project
under gunicorn with several sync workers on a free port of 127.0.0.1, fetches
every request of the mix once on its own, then drives the server from this
process with ``--clients`` asyncio/httpx clients for ``--duration`` seconds:
a mix of periods, metrics, filters, time zones and CSV, from six users of the
two agencies. It prints requests per second, p50/p95/p99 latency, the count
of non-2xx answers and the peak number of PostgreSQL connections to the
database (``pg_stat_activity``, sampled every 50 ms), and exits 1 unless:

- no request failed and every answer was a 2xx;
- the connections never outnumbered the workers (each sync worker keeps one);
- every answer equals the single-request answer to the same request.

By default answers are not cached (``HEATMAP_CACHE_TTL=0``), so every request
reaches PostgreSQL, and throttling is off: a handful of users make thousands
of requests a minute here, which is not what the throttle is for. It is a
program to run on demand, not a test.

The rollup's run (``python -m bench.heatmap``) drives the same server and clients
(:func:`measure_load`) on a database of its own, once from the raw scan and once from
the rollup.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from typing import Any

import dj_database_url

from bench.common import (
    DATABASE,
    HEATMAP_PATH,
    RAW,
    ROLLUP,
    Line,
    configure_django,
    in_fresh_process,
    number,
    percentile,
    section,
)
from bench.dataset import CAMPAIGNS, CLIENTS, DROP_DATASET, INSERT_CALLS, migrate_app_tables
from heatmap_project.harness import (
    access_token,
    admin_connection,
    connect,
    demo_server,
    ensure_database,
    wait_for_replay,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/heatmap_load"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
#: Gunicorn sync workers: 2 x cores + 1, as gunicorn suggests.
DEFAULT_WORKERS = 2 * (os.cpu_count() or 1) + 1

AGENCIES = {
    uuid.UUID("10ad0000-0000-4000-8000-00000000000a"): 50_000,
    uuid.UUID("10ad0000-0000-4000-8000-00000000000b"): 10_000,
}
USERS = {
    uuid.UUID(f"10ad0000-0000-4000-9000-{str(agency)[-1]}{index:011d}"): agency
    for agency in AGENCIES
    for index in range(3)
}


# --- the database -------------------------------------------------------------------------


def build_dataset(database_url: str, *, seed: float = 0.7) -> None:
    """Create the database if needed, configure this process's Django on it and fill it
    afresh (a few seconds for 60k calls)."""
    ensure_database(database_url)
    configure_django(database_url)
    from django.db import connection

    from analytics.models import create_reference_tables

    with connection.cursor() as cursor:
        cursor.execute(DROP_DATASET)  # the rollup's run installs a rollup here
    create_reference_tables()
    migrate_app_tables()  # the zone map the rollup's triggers place numbers with
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [seed])
        for agency, calls in AGENCIES.items():
            cursor.execute(
                INSERT_CALLS, {"agency": str(agency), "agencies": 1, "rows": calls, "days": 90}
            )
        for user, agency in USERS.items():
            cursor.execute("INSERT INTO users (id, agency_id) VALUES (%s, %s)", [user, agency])
        cursor.execute("VACUUM ANALYZE calls")
        cursor.execute("VACUUM ANALYZE users")
    connection.close()


class ConnectionSampler(threading.Thread):
    """Samples ``pg_stat_activity`` for the database's client connections, keeps the peak.

    Its own connection is to ``postgres``, so it never counts itself.
    """

    def __init__(self, database_url: str, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.database_url = database_url
        self.database = dj_database_url.parse(database_url)["NAME"]
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        with admin_connection(self.database_url) as admin, admin.cursor() as cursor:
            while not self.stopped.is_set():
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = %s AND backend_type = 'client backend'",
                    [self.database],
                )
                self.peak = max(self.peak, cursor.fetchone()[0])
                self.samples += 1
                self.stopped.wait(self.interval)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)


# --- the load -----------------------------------------------------------------------------


def request_mix(size: int = 24, *, seed: int = 7) -> list[dict[str, str]]:
    """``size`` distinct requests over periods, metrics, filters, zones and CSV."""
    periods = ["7d", "30d", "90d"]
    metrics = ["calls", "connected", "meetings_booked", "connect_rate", "meeting_rate"]
    extras: list[dict[str, str]] = [
        {},
        {"campaign_id": str(CAMPAIGNS[3])},
        {"client_id": str(CLIENTS[7])},
        {"campaign_id": str(CAMPAIGNS[5]), "client_id": str(CLIENTS[17])},
        {"tz": "America/New_York"},
        {"tz": "Asia/Kolkata", "dense": "true"},
        {"min_calls": "50"},
        {"format": "csv"},
    ]
    every = [
        {"period": period, "metric": metric, **extra}
        for period, metric, extra in itertools.product(periods, metrics, extras)
    ]
    return random.Random(seed).sample(every, size)


def server_env(
    *,
    cache_ttl: int = 0,
    throttle_rate: str = "",
    agency_throttle_rate: str = "",
    max_concurrent_scans: str = "",
) -> dict[str, str]:
    """The demo's settings for a run: by default uncached, unthrottled, no scan cap."""
    return {
        "HEATMAP_CACHE_TTL": str(cache_ttl),
        "HEATMAP_THROTTLE_RATE": throttle_rate,
        "HEATMAP_AGENCY_THROTTLE_RATE": agency_throttle_rate,
        "HEATMAP_MAX_CONCURRENT_SCANS": max_concurrent_scans,
    }


@dataclass(frozen=True)
class Plan:
    """What the clients do: how many, for how long, as which users, asking what."""

    clients: int
    duration: float
    mix: list[dict[str, str]] = field(default_factory=request_mix)
    tokens: Mapping[uuid.UUID, str] = field(
        default_factory=lambda: {user: access_token(user) for user in USERS}
    )


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    compared: int = 0
    differing: list[str] = field(default_factory=list)
    #: Answers whose window moved on (midnight passed in their zone) since the reference.
    rolled_over: int = 0

    @property
    def non_2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)


Key = tuple[uuid.UUID, int]


async def reference_answers(base_url: str, plan: Plan) -> tuple[dict[Key, bytes], list[float]]:
    """Each agency's answer to each request of the mix, asked one at a time, and the latencies."""
    import httpx

    answers: dict[Key, bytes] = {}
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        for user, agency in USERS.items():
            if any(key[0] == agency for key in answers):
                continue
            for index, params in enumerate(plan.mix):
                headers = {"Authorization": f"Bearer {plan.tokens[user]}"}
                started = time.perf_counter()
                response = await http.get(HEATMAP_PATH, params=params, headers=headers)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise SystemExit(f"{params} answered {response.status_code}: {response.text}")
                answers[(agency, index)] = response.content
    return answers, latencies


async def drive(base_url: str, plan: Plan, expected: Mapping[Key, bytes]) -> tuple[Results, float]:
    import httpx

    results = Results()
    limits = httpx.Limits(max_connections=plan.clients, max_keepalive_connections=plan.clients)
    users = list(USERS)
    mix = plan.mix

    async def client(number: int, http: httpx.AsyncClient, deadline: float) -> None:
        rng = random.Random(number)
        while time.monotonic() < deadline:
            user = rng.choice(users)
            index = rng.randrange(len(mix))
            started = time.perf_counter()
            try:
                response = await http.get(
                    HEATMAP_PATH,
                    params=mix[index],
                    headers={"Authorization": f"Bearer {plan.tokens[user]}"},
                )
            except httpx.HTTPError as exc:
                results.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            results.latencies.append(time.perf_counter() - started)
            results.statuses[response.status_code] = (
                results.statuses.get(response.status_code, 0) + 1
            )
            if response.status_code != 200:
                if len(results.errors) < 20:
                    results.errors.append(f"{response.status_code}: {response.text[:200]}")
                continue
            reference = expected[(USERS[user], index)]
            results.compared += 1
            if response.content != reference:
                if _window(response.content) != _window(reference):
                    results.rolled_over += 1
                else:
                    results.differing.append(f"{mix[index]} for agency {USERS[user]}")

    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as http:
        started = time.monotonic()
        deadline = started + plan.duration
        await asyncio.gather(*(client(n, http, deadline) for n in range(plan.clients)))
        elapsed = time.monotonic() - started
    return results, elapsed


def _window(body: bytes) -> bytes:
    """The part of an answer that names its window: a JSON ``period``, or a CSV's first row."""
    text = body.decode(errors="replace")
    start = text.find('"period"')
    return (text[start : text.find("}", start)] if start >= 0 else "").encode()


@dataclass
class LoadRun:
    """One run: the answers asked one at a time and their latencies, then the load's."""

    expected: dict[Key, bytes]
    alone: list[float]
    results: Results
    elapsed: float
    peak_connections: int
    samples: int


def run_load(base_url: str, database_url: str, plan: Plan) -> LoadRun:
    """The mix asked once, one request at a time, then :func:`drive`, with the database's
    connections sampled all along."""
    expected, alone = asyncio.run(reference_answers(base_url, plan))
    sampler = ConnectionSampler(database_url)
    sampler.start()
    try:
        results, elapsed = asyncio.run(drive(base_url, plan, expected))
    finally:
        sampler.stop()
    return LoadRun(expected, alone, results, elapsed, sampler.peak, sampler.samples)


def report(run: LoadRun, plan: Plan, *, workers: int, database: str, cache_ttl: int) -> list[str]:
    """Print the figures; return what failed (nothing when the run meets every requirement)."""
    results, elapsed, peak_connections = run.results, run.elapsed, run.peak_connections
    count = len(results.latencies)
    ms = [latency * 1000 for latency in results.latencies] or [0.0]
    calls = " + ".join(f"{calls:,}" for calls in AGENCIES.values())
    cache = f"answers cached {cache_ttl} s in Redis" if cache_ttl else "no answer cache"
    print(
        f"load: {plan.clients} clients for {elapsed:.1f} s against {workers} gunicorn sync "
        f"workers\n"
        f"  dataset      {database}: {calls} calls, {len(USERS)} users of 2 agencies; {cache}\n"
        f"  requests     {count:,} ({count / elapsed:,.1f}/s)\n"
        f"  latency      p50 {percentile(ms, 0.50):.1f} ms  p95 {percentile(ms, 0.95):.1f} ms  "
        f"p99 {percentile(ms, 0.99):.1f} ms  max {max(ms):.1f} ms  "
        f"mean {statistics.fmean(ms):.1f} ms\n"
        f"  non-2xx      {results.non_2xx}  (failed requests: {len(results.errors)})\n"
        f"  answers      {results.compared:,} compared with the single-request answer: "
        f"{len(results.differing)} differ"
        + (f" ({results.rolled_over} from after midnight, skipped)" if results.rolled_over else "")
        + f"\n  PostgreSQL   peak {peak_connections} connections to {database} "
        f"({run.samples:,} samples; {workers} workers)",
        flush=True,
    )
    failures = []
    if count == 0:
        failures.append("no request completed")
    if results.non_2xx or results.errors:
        failures.append(f"{results.non_2xx} non-2xx answers, {len(results.errors)} failures")
        failures.extend(f"    {error}" for error in results.errors[:5])
    if peak_connections > workers:
        failures.append(f"{peak_connections} connections for {workers} workers: a leak")
    if results.differing:
        failures.append(f"{len(results.differing)} answers differ from the single-request one")
        failures.extend(f"    {what}" for what in results.differing[:5])
    return failures


def report_standby(
    standby: dict[str, int], primary: dict[str, int], sampler: ConnectionSampler, workers: int
) -> list[str]:
    """Print where the reads ran; return what failed: the standby must have scanned calls,
    the primary not (a fallback to it is logged by the server and fails the run too)."""
    print(
        f"  standby      scans of calls: {standby['calls']:,} on the standby, "
        f"{primary['calls']:,} on the primary; peak {sampler.peak} connections to the "
        f"standby ({sampler.samples:,} samples; {workers} workers)",
        flush=True,
    )
    failures = []
    if standby["calls"] == 0:
        failures.append("the standby scanned no calls: it served no heatmap")
    if primary["calls"]:
        failures.append(f"the primary scanned calls {primary['calls']} times: it served heatmaps")
    if sampler.peak > workers:
        failures.append(f"{sampler.peak} connections to the standby for {workers} workers")
    return failures


# --- the rollup's run: raw scan against rollup -------------------------------------------


def _prepare_load_database(database_url: str, queue: Any) -> None:
    """In a fresh process (Django is configured per database): the load's dataset, and
    the rollup installed on it."""
    build_dataset(database_url)
    from analytics.rollup.install import install

    installed = install(using=DATABASE)
    queue.put((installed.seconds, installed.rows_counted))


def scans(database_url: str) -> dict[str, int]:
    """Scans of calls and of the rollup tables so far (the statistics PostgreSQL keeps)."""
    with closing(connect(database_url)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT relname, COALESCE(seq_scan, 0) + COALESCE(idx_scan, 0) "
            "FROM pg_stat_user_tables WHERE relname IN "
            "('calls', 'agency_buckets', 'segment_buckets')"
        )
        found = {name: int(count) for name, count in cursor.fetchall()}
    return {
        "calls": found.get("calls", 0),
        "rollup": found.get("agency_buckets", 0) + found.get("segment_buckets", 0),
    }


@contextmanager
def counting_scans(*counted: tuple[str, dict[str, int]]) -> Iterator[None]:
    """The scans each ``(database URL, into)`` pair's server makes during the block, into
    ``into``: all counted before, and after one wait on the way out."""
    before = [scans(database_url) for database_url, _ in counted]
    yield
    time.sleep(1.5)  # backends flush their statistics when they exit, at most a second later
    for (database_url, into), earlier in zip(counted, before, strict=True):
        after = scans(database_url)
        into.update({name: after[name] - earlier[name] for name in after})


def measure_load(load_url: str, *, clients: int, duration: float, rounds: int) -> list[Line]:
    """The load's server (demo project, gunicorn) and clients, uncached and unthrottled,
    once serving from the raw scan and once from the rollup, alternating."""
    section(f"6. bench.load, {clients} clients, uncached: raw scan against rollup")
    seconds, rows = in_fresh_process(_prepare_load_database, load_url, timeout=600)
    database = dj_database_url.parse(load_url)["NAME"]
    print(f"  built {database} and installed its rollup ({rows:,} ended calls, {seconds:.1f} s)")
    plan = Plan(clients, duration)
    rates: dict[str, list[float]] = {RAW: [], ROLLUP: []}
    p50s: dict[str, list[float]] = {RAW: [], ROLLUP: []}
    answers: dict[str, dict[Key, bytes]] = {}
    for _ in range(rounds):
        for source in (RAW, ROLLUP):
            env = {**server_env(), "HEATMAP_SOURCE": source}
            counted: dict[str, int] = {}
            with (
                counting_scans((load_url, counted)),
                demo_server(database_url=load_url, workers=DEFAULT_WORKERS, env=env) as server,
            ):
                run = run_load(server.base_url, load_url, plan)
            print(f"  -- HEATMAP_SOURCE={source}")
            failures = report(run, plan, workers=DEFAULT_WORKERS, database=database, cache_ttl=0)
            print(f"  scans: calls {counted['calls']:,}, rollup tables {counted['rollup']:,}")
            if failures:
                raise SystemExit(f"load with HEATMAP_SOURCE={source} failed: {failures}")
            if source == ROLLUP and counted["calls"] > counted["rollup"]:
                raise SystemExit("the rollup server scanned calls more than the rollup")
            answers.setdefault(source, run.expected)
            ms = [latency * 1000 for latency in run.results.latencies]
            rates[source].append(len(ms) / run.elapsed)
            p50s[source].append(percentile(ms, 0.5))
    differing = [
        key
        for key, body in answers[RAW].items()
        if body != answers[ROLLUP][key] and _window(body) == _window(answers[ROLLUP][key])
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
        ),
        Line(
            f"load, {clients} clients: p50 latency",
            f"{number(statistics.median(p50s[RAW]))} ms",
            f"{number(statistics.median(p50s[ROLLUP]))} ms",
            f"{p50:.1f}x faster",
        ),
    ]


# --- the command --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument(
        "--pooler-url",
        default="",
        help="serve through this transaction-mode pooler in front of --database-url's "
        "database (DATABASE_POOL_MODE=transaction); the dataset and the connection count "
        "still use --database-url",
    )
    parser.add_argument(
        "--replica-url",
        default="",
        help="read heatmaps from this hot standby of --database-url (DATABASE_REPLICA_URL: "
        "the demo sets ANALYTICS_HEATMAP_DATABASE to it); the run fails unless the standby "
        "scanned calls and the primary did not",
    )
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load (30)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (32)")
    parser.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help="gunicorn sync workers (2 x cores + 1, as gunicorn suggests)",
    )
    parser.add_argument("--short", action="store_true", help="a 5-second run, for CI")
    parser.add_argument(
        "--cache-ttl", type=int, default=0, help="HEATMAP_CACHE_TTL; above 0 caches in Redis"
    )
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--throttle-rate", default="", help="HEATMAP_THROTTLE_RATE (default: off)")
    parser.add_argument(
        "--agency-throttle-rate", default="", help="HEATMAP_AGENCY_THROTTLE_RATE (default: off)"
    )
    parser.add_argument(
        "--max-concurrent-scans",
        default="",
        help="HEATMAP_MAX_CONCURRENT_SCANS (default: no cap, to measure the database's capacity)",
    )
    args = parser.parse_args(argv)
    database = dj_database_url.parse(args.database_url)["NAME"]

    started = time.monotonic()
    build_dataset(args.database_url)
    print(f"load: built {database} in {time.monotonic() - started:.1f} s", flush=True)
    env = server_env(
        cache_ttl=args.cache_ttl,
        throttle_rate=args.throttle_rate,
        agency_throttle_rate=args.agency_throttle_rate,
        max_concurrent_scans=args.max_concurrent_scans,
    )
    if args.cache_ttl > 0 or args.throttle_rate or args.agency_throttle_rate:
        env["REDIS_URL"] = args.redis_url
    if args.pooler_url:
        env["DATABASE_POOL_MODE"] = "transaction"
        print(f"load: serving through the transaction-mode pooler at {args.pooler_url}")
    standby_scans: dict[str, int] = {}
    primary_scans: dict[str, int] = {}
    standby_sampler = ConnectionSampler(args.replica_url) if args.replica_url else None
    if args.replica_url:
        try:
            waited = wait_for_replay(args.database_url, args.replica_url, timeout=300.0)
        except (RuntimeError, TimeoutError) as failed:
            raise SystemExit(str(failed)) from None
        env["DATABASE_REPLICA_URL"] = args.replica_url
        print(f"load: reading from the hot standby, which replayed the dataset in {waited:.1f} s")
    plan = Plan(args.clients, 5.0 if args.short else args.duration)
    served_from = args.pooler_url or args.database_url
    with ExitStack() as stack:
        if standby_sampler is not None:
            # Left last (after the workers' exit flushed their statistics): the scans.
            stack.enter_context(
                counting_scans(
                    (args.replica_url, standby_scans), (args.database_url, primary_scans)
                )
            )
            standby_sampler.start()
            stack.callback(standby_sampler.stop)
        server = stack.enter_context(
            demo_server(database_url=served_from, workers=args.workers, env=env)
        )
        run = run_load(server.base_url, args.database_url, plan)
        restarted = server.worker_boots() - args.workers
    print(
        f"load: {len(run.alone)} reference answers, one at a time: "
        f"median {statistics.median(run.alone) * 1000:.1f} ms",
        flush=True,
    )
    failures = report(run, plan, workers=args.workers, database=database, cache_ttl=args.cache_ttl)
    if restarted:
        failures.append(f"{restarted} gunicorn workers were restarted during the run")
    if standby_sampler is not None:
        failures.extend(report_standby(standby_scans, primary_scans, standby_sampler, args.workers))
    for failure in failures:
        print(f"FAILED: {failure}" if not failure.startswith(" ") else failure, file=sys.stderr)
    print("load: OK" if not failures else "load: FAILED", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
