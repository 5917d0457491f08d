"""Load: the demo project under gunicorn on PostgreSQL, driven by concurrent clients.

    python -m bench.load                        # 30 s, 32 clients
    python -m bench.load --short                # 5 s: what CI runs
    python -m bench.load --cache-ttl 60         # with the Redis answer cache on
    python -m bench.load --short --pooler-url postgres://postgres@127.0.0.1:6543/heatmap_load
                                                # gunicorn reaches PostgreSQL through a
                                                # transaction-mode pooler (scripts/pgbouncer)

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
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dj_database_url

from bench.support import JWT_SECRET, access_token, admin_connection, ensure_database

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/heatmap_load"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
HEATMAP_PATH = "/api/dashboard-heatmap"

AGENCIES = {
    uuid.UUID("10ad0000-0000-4000-8000-00000000000a"): 50_000,
    uuid.UUID("10ad0000-0000-4000-8000-00000000000b"): 10_000,
}
USERS = {
    uuid.UUID(f"10ad0000-0000-4000-9000-{str(agency)[-1]}{index:011d}"): agency
    for agency in AGENCIES
    for index in range(3)
}
# bench.dataset's INSERT_CALLS gives every agency these 14 campaigns and 20 clients.
CAMPAIGNS = [uuid.UUID(f"b16a9e0c-0000-4000-8000-1{n:011d}") for n in range(14)]
CLIENTS = [uuid.UUID(f"b16a9e0c-0000-4000-8000-2{n:011d}") for n in range(20)]


# --- the database -------------------------------------------------------------------------


def build_dataset(database_url: str, *, seed: float = 0.7) -> None:
    """Create the database if needed and fill it afresh (a few seconds for 60k calls)."""
    import django
    from django.conf import settings
    from django.db import connection

    from bench.dataset import INSERT_CALLS

    ensure_database(database_url)
    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "analytics"],
        DATABASES={"default": dj_database_url.parse(database_url)},
        USE_TZ=True,
    )
    django.setup()
    from analytics.reference_tables import create_reference_tables

    with connection.cursor() as cursor:
        # A rollup (bench.rollup installs one here) would outlive calls and stay "ready"
        # with the old counts, its triggers gone with the table: it goes first.
        cursor.execute(
            "DROP SCHEMA IF EXISTS analytics_heatmap CASCADE; DROP TABLE IF EXISTS calls, users; "
            "DROP TYPE IF EXISTS call_status, call_end_reason"
        )
    create_reference_tables()
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


# --- the server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class DemoServer:
    """The demo project under gunicorn; ``log`` holds its stderr (one line per worker boot)."""

    base_url: str
    process: subprocess.Popen[bytes]
    log: Path
    workers: int

    def worker_boots(self) -> int:
        return self.log.read_text(errors="replace").count("Booting worker with pid")


@contextmanager
def demo_server(
    *, database_url: str, workers: int, env: Mapping[str, str], log: Path | None = None
) -> Iterator[DemoServer]:
    """Serve the demo project under gunicorn on 127.0.0.1, stopping it on the way out."""
    port = free_port()
    log = log or Path(tempfile.mkstemp(prefix="heatmap-gunicorn-", suffix=".log")[1])
    server_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "DATABASE_"))},
        "DJANGO_SETTINGS_MODULE": "heatmap_project.settings",
        "DATABASE_URL": database_url,
        "SUPABASE_JWT_SECRET": JWT_SECRET,
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        **env,
    }
    if "REDIS_URL" not in env:
        server_env.pop("REDIS_URL", None)
    command = [
        *[sys.executable, "-m", "gunicorn", "heatmap_project.wsgi:application"],
        *["--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", "sync"],
        *["--timeout", "60", "--graceful-timeout", "5", "--log-level", "info"],
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=server_env, stdout=output, stderr=subprocess.STDOUT
        )
    server = DemoServer(f"http://127.0.0.1:{port}", process, log, workers)
    try:
        deadline = time.monotonic() + 60
        while server.worker_boots() < workers or not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


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


async def reference_answers(
    base_url: str, tokens: Mapping[uuid.UUID, str], mix: list[dict[str, str]]
) -> tuple[dict[Key, bytes], list[float]]:
    """Each agency's answer to each request of the mix, asked one at a time, and the latencies."""
    import httpx

    answers: dict[Key, bytes] = {}
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        for user, agency in USERS.items():
            if any(key[0] == agency for key in answers):
                continue
            for index, params in enumerate(mix):
                headers = {"Authorization": f"Bearer {tokens[user]}"}
                started = time.perf_counter()
                response = await http.get(HEATMAP_PATH, params=params, headers=headers)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise SystemExit(f"{params} answered {response.status_code}: {response.text}")
                answers[(agency, index)] = response.content
    return answers, latencies


async def drive(
    base_url: str,
    *,
    clients: int,
    duration: float,
    tokens: Mapping[uuid.UUID, str],
    mix: list[dict[str, str]],
    expected: Mapping[Key, bytes],
) -> tuple[Results, float]:
    import httpx

    results = Results()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    users = list(USERS)

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
                    headers={"Authorization": f"Bearer {tokens[user]}"},
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
        deadline = started + duration
        await asyncio.gather(*(client(n, http, deadline) for n in range(clients)))
        elapsed = time.monotonic() - started
    return results, elapsed


def _window(body: bytes) -> bytes:
    """The part of an answer that names its window: a JSON ``period``, or a CSV's first row."""
    text = body.decode(errors="replace")
    start = text.find('"period"')
    return (text[start : text.find("}", start)] if start >= 0 else "").encode()


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: the value ``share`` of the answers came in at or under."""
    ordered = sorted(values)
    rank = max(1, round(share * len(ordered)))
    return ordered[rank - 1]


def drive_sampled(
    base_url: str,
    database_url: str,
    *,
    clients: int,
    duration: float,
    tokens: Mapping[uuid.UUID, str],
    mix: list[dict[str, str]],
    expected: Mapping[Key, bytes],
) -> tuple[Results, float, ConnectionSampler]:
    """:func:`drive`, with the database's connections sampled all along."""
    sampler = ConnectionSampler(database_url)
    sampler.start()
    try:
        results, elapsed = asyncio.run(
            drive(
                base_url,
                clients=clients,
                duration=duration,
                tokens=tokens,
                mix=mix,
                expected=expected,
            )
        )
    finally:
        sampler.stop()
    return results, elapsed, sampler


def report(
    results: Results,
    elapsed: float,
    *,
    clients: int,
    workers: int,
    peak_connections: int,
    samples: int,
    database: str,
    cache_ttl: int,
) -> list[str]:
    """Print the figures; return what failed (nothing when the run meets every requirement)."""
    count = len(results.latencies)
    ms = [latency * 1000 for latency in results.latencies] or [0.0]
    calls = " + ".join(f"{calls:,}" for calls in AGENCIES.values())
    cache = f"answers cached {cache_ttl} s in Redis" if cache_ttl else "no answer cache"
    print(
        f"load: {clients} clients for {elapsed:.1f} s against {workers} gunicorn sync workers\n"
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
        f"({samples:,} samples; {workers} workers)",
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
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load (30)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (32)")
    parser.add_argument(
        "--workers",
        type=int,
        default=2 * (os.cpu_count() or 1) + 1,
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
    duration = 5.0 if args.short else args.duration
    database = dj_database_url.parse(args.database_url)["NAME"]

    started = time.monotonic()
    build_dataset(args.database_url)
    print(f"load: built {database} in {time.monotonic() - started:.1f} s", flush=True)
    env = {
        "HEATMAP_CACHE_TTL": str(args.cache_ttl),
        "HEATMAP_THROTTLE_RATE": args.throttle_rate,
        "HEATMAP_AGENCY_THROTTLE_RATE": args.agency_throttle_rate,
        "HEATMAP_MAX_CONCURRENT_SCANS": args.max_concurrent_scans,
    }
    if args.cache_ttl > 0 or args.throttle_rate or args.agency_throttle_rate:
        env["REDIS_URL"] = args.redis_url
    if args.pooler_url:
        env["DATABASE_POOL_MODE"] = "transaction"
        print(f"load: serving through the transaction-mode pooler at {args.pooler_url}")
    tokens = {user: access_token(user) for user in USERS}
    mix = request_mix()
    served_from = args.pooler_url or args.database_url
    with demo_server(database_url=served_from, workers=args.workers, env=env) as server:
        expected, alone = asyncio.run(reference_answers(server.base_url, tokens, mix))
        print(
            f"load: {len(alone)} reference answers, one at a time: "
            f"median {statistics.median(alone) * 1000:.1f} ms",
            flush=True,
        )
        results, elapsed, sampler = drive_sampled(
            server.base_url,
            args.database_url,
            clients=args.clients,
            duration=duration,
            tokens=tokens,
            mix=mix,
            expected=expected,
        )
        restarted = server.worker_boots() - args.workers
    failures = report(
        results,
        elapsed,
        clients=args.clients,
        workers=args.workers,
        peak_connections=sampler.peak,
        samples=sampler.samples,
        database=database,
        cache_ttl=args.cache_ttl,
    )
    if restarted:
        failures.append(f"{restarted} gunicorn workers were restarted during the run")
    for failure in failures:
        print(f"FAILED: {failure}" if not failure.startswith(" ") else failure, file=sys.stderr)
    print("load: OK" if not failures else "load: FAILED", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
