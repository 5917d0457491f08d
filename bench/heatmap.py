"""Benchmark: the endpoint against the fastest SQL and against fetch-and-count.

    python -m bench.heatmap --database-url postgres://postgres@127.0.0.1:5432/heatmap_bench

measures, alternating and over several rounds, the median and spread of
(a) the endpoint end to end through Django's request handling, (b) the
fastest hand-written SQL statement for the same 168 cells, and (c) the
original edge function's design (fetch every matching row, count in Python),
checks that all three agree, prints a/b and c/a, and reports each design's
peak memory growth in a fresh process. Then it measures the 15-minute rollup
(:mod:`bench.rollup`): raw scan against rollup through the endpoint, the first
request after a restart (``--restart``), writers with and without the rollup's
triggers, the install under writers, and the load run, ending in one table of
figures against goals. ``--rollup-only`` and ``--skip-rollup`` run one part.
``--calls 100000 --agency-calls 40000`` makes a quick run. It is a program to run
on demand, not a test.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from typing import Any

import dj_database_url

from bench.dataset import (
    BIG_AGENCY_ID,
    BIG_AGENCY_USER_ID,
    SMALL_AGENCY_USER_ID,
    DatasetSpec,
    ensure_dataset,
)
from bench.support import JWT_SECRET, Connection, access_token, connect, ensure_database

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/heatmap_bench"

Cells = dict[tuple[int, int], tuple[int, int, int]]

_WHERE = (
    "agency_id = %(agency)s AND status = 'ended' "
    "AND created_at >= %(start)s AND created_at < %(end)s"
)
_COUNTS = (
    "count(*) AS total, "
    "count(*) FILTER (WHERE joined_at IS NOT NULL "
    "AND end_reason IS DISTINCT FROM 'unjoined') AS connected, "
    "count(*) FILTER (WHERE analysis -> 'sdr' -> 'meeting_booked' = 'true'::jsonb) AS booked"
)
_UTC = "created_at AT TIME ZONE 'UTC'"
#: Candidates for the floor (b); the fastest median is the one the ratio uses.
FLOOR_QUERIES = {
    "extract": f"SELECT EXTRACT(DOW FROM {_UTC})::int, EXTRACT(HOUR FROM {_UTC})::int, "
    f"{_COUNTS} FROM calls WHERE {_WHERE} GROUP BY 1, 2",
    "date_part": f"SELECT date_part('dow', {_UTC})::int, date_part('hour', {_UTC})::int, "
    f"{_COUNTS} FROM calls WHERE {_WHERE} GROUP BY 1, 2",
    "date_trunc": "SELECT date_part('dow', hour)::int, date_part('hour', hour)::int, "
    "sum(total)::int, sum(connected)::int, sum(booked)::int FROM ("
    f"SELECT date_trunc('hour', {_UTC}) AS hour, {_COUNTS} FROM calls WHERE {_WHERE} "
    "GROUP BY 1) AS hourly GROUP BY 1, 2",
}
EDGE_QUERY = f"SELECT * FROM calls WHERE {_WHERE}"


def configure_django(database_url: str) -> None:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark",
        ALLOWED_HOSTS=["testserver"],
        USE_TZ=True,
        TIME_ZONE="UTC",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "rest_framework",
            "analytics",
        ],
        ROOT_URLCONF="bench.urls",
        DATABASES={"default": dj_database_url.parse(database_url, conn_max_age=600)},
        SUPABASE_JWT_SECRET=JWT_SECRET,
        ANALYTICS_HEATMAP_CACHE_TTL=0,  # measure the work, not a cache hit
        ANALYTICS_HEATMAP_STATEMENT_TIMEOUT=600,  # a cold first read of 3.4 GB takes >10 s here
        ANALYTICS_HEATMAP_THROTTLE_RATE=None,  # the rollup section asks hundreds of times a minute
        ANALYTICS_HEATMAP_AGENCY_THROTTLE_RATE=None,
        ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS=None,  # the raw designs are measured uncapped
        # Designs (a)-(c) are the raw scan; bench.rollup switches the source for its own part.
        ANALYTICS_HEATMAP_SOURCE="raw",
    )
    django.setup()


def window(period: str) -> tuple[datetime, datetime]:
    from analytics.domain import Period
    from analytics.queries import heatmap_window

    start_date, end_date = heatmap_window(Period(period), today=datetime.now(UTC).date())
    return (
        datetime.combine(start_date, clock.min, tzinfo=UTC),
        datetime.combine(end_date + timedelta(days=1), clock.min, tzinfo=UTC),
    )


def endpoint_runner(period: str, user_id: Any = BIG_AGENCY_USER_ID) -> Callable[[], Cells]:
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Bearer {access_token(user_id)}")

    def run() -> Cells:
        response = client.get("/api/dashboard-heatmap", {"period": period})
        if response.status_code != 200:
            raise SystemExit(f"endpoint answered {response.status_code}: {response.content!r}")
        return {
            (c["day"], c["hour"]): (c["total_calls"], c["connected_calls"], c["meetings_booked"])
            for c in response.json()["heatmap"]
        }

    return run


def sql_runner(
    connection: Connection, sql: str, params: dict[str, Any], settings: dict[str, str] | None = None
) -> Callable[[], Cells]:
    """One hand-written statement, optionally under the endpoint's ``SET LOCAL`` settings."""

    def run() -> Cells:
        with connection.cursor() as cursor:
            if settings:
                cursor.execute("BEGIN")
                for name, value in settings.items():
                    cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
            cursor.execute(sql, params)
            rows = cursor.fetchall()
            if settings:
                cursor.execute("COMMIT")
        return {(d, h): (t, c, b) for d, h, t, c, b in rows}

    return run


def edge_runner(connection: Connection, params: dict[str, Any]) -> Callable[[], Cells]:
    """The edge function's design: every matching row's columns, counted in code."""

    def run() -> Cells:
        with connection.cursor() as cursor:
            cursor.execute(EDGE_QUERY, params)
            names = [column.name for column in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        total: Counter[tuple[int, int]] = Counter()
        connected: Counter[tuple[int, int]] = Counter()
        booked: Counter[tuple[int, int]] = Counter()
        for row in rows:
            created = row["created_at"].astimezone(UTC)
            slot = (created.isoweekday() % 7, created.hour)
            total[slot] += 1
            if row["joined_at"] is not None and row["end_reason"] != "unjoined":
                connected[slot] += 1
            sdr = (row["analysis"] or {}).get("sdr")
            if isinstance(sdr, dict) and sdr.get("meeting_booked") is True:
                booked[slot] += 1
        return {slot: (total[slot], connected[slot], booked[slot]) for slot in total}

    return run


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _peak_rss_growth(database_url: str, design: str, period: str, queue: Any) -> None:
    """In a fresh process: warm up on a small agency, then the big one; report peak RSS growth.

    Linux's high-water mark (VmHWM) is reset just before the measured run
    (``clear_refs`` 5), so the figure is that run's peak over its starting RSS.
    """
    configure_django(database_url)
    start, end = window(period)
    if design == "a":
        endpoint_runner("7d", SMALL_AGENCY_USER_ID)()
        runner = endpoint_runner(period)
    else:
        connection = connect(database_url)
        params = {"agency": str(BIG_AGENCY_ID), "start": start, "end": end}
        edge_runner(connection, {**params, "agency": "b16a9e0c-0000-4000-8000-300000000001"})()
        runner = edge_runner(connection, params)
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    before = _status_kb("VmRSS")
    runner()
    queue.put((_status_kb("VmHWM") - before) / 1024)


def peak_rss_growth_mb(database_url: str, design: str, period: str) -> float:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_peak_rss_growth, args=(database_url, design, period, queue))
    process.start()
    growth: float = queue.get(timeout=1800)
    process.join()
    return growth


def explain(
    connection: Connection, sql: str, params: Any, settings: dict[str, str] | None = None
) -> str:
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        for name, value in (settings or {}).items():
            cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("COMMIT")
    return plan


def endpoint_sql(period: str) -> str:
    """The SQL the endpoint sends for the calls query, captured from a real request."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        endpoint_runner(period)()
    [calls_query] = [q["sql"] for q in queries.captured_queries if '"calls"' in q["sql"]]
    return calls_query


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--calls", type=int, default=3_000_000, help="rows in calls")
    parser.add_argument("--agency-calls", type=int, default=1_000_000, help="big agency, 90 days")
    parser.add_argument("--agencies", type=int, default=200, help="other agencies")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--period", default="90d", choices=["7d", "30d", "90d"])
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN (ANALYZE, BUFFERS)")
    parser.add_argument("--skip-memory", action="store_true")
    group = parser.add_argument_group("the rollup (bench/rollup.py)")
    group.add_argument("--rollup-only", action="store_true", help="skip designs (a)-(c)")
    group.add_argument("--skip-rollup", action="store_true", help="designs (a)-(c) only")
    group.add_argument(
        "--restart",
        action="store_true",
        help="time the first request after restarting PostgreSQL (pg_ctlcluster, as root; "
        "waits until no pytest runs, up to 10 minutes)",
    )
    group.add_argument("--inserts", type=int, default=2000, help="single-row INSERTs timed")
    group.add_argument("--writer-threads", type=int, default=8, help="concurrent UPDATE writers")
    group.add_argument("--updates-per-thread", type=int, default=1000)
    group.add_argument("--install-writers", type=int, default=4, help="writers during install")
    group.add_argument(
        "--load-database-url",
        default=None,
        help="bench.load's dataset, rebuilt with the rollup (default: heatmap_load_rollup on "
        "--database-url's server; not heatmap_load, which the tox load environment uses)",
    )
    group.add_argument("--load-clients", type=int, default=32)
    group.add_argument("--load-duration", type=float, default=10.0, help="seconds per run")
    group.add_argument("--load-rounds", type=int, default=2, help="runs per source, alternating")
    group.add_argument("--skip-load", action="store_true")
    args = parser.parse_args(argv)

    spec = DatasetSpec(
        total_calls=args.calls, big_agency_calls=args.agency_calls, other_agencies=args.agencies
    )
    ensure_database(args.database_url)
    connection = connect(args.database_url)
    configure_django(args.database_url)
    from bench import rollup

    code = rollup.import_app()
    print(f"dataset: {spec.fingerprint}")
    print("built" if ensure_dataset(connection, spec) else "reused (same spec)")

    if not args.rollup_only:
        status = raw_designs(args, connection)
        if status:
            return status
    if args.skip_rollup:
        return 0
    connection.close()
    load_url = args.load_database_url or _on_same_server(args.database_url, "heatmap_load_rollup")
    return rollup.run(
        rollup.Options(
            database_url=args.database_url,
            load_database_url=load_url,
            period=args.period,
            rounds=args.rounds,
            explain=args.explain,
            restart=args.restart,
            inserts=args.inserts,
            threads=args.writer_threads,
            per_thread=args.updates_per_thread,
            install_writers=args.install_writers,
            load_clients=args.load_clients,
            load_duration=args.load_duration,
            load_rounds=args.load_rounds,
            skip_load=args.skip_load,
            code=code,
        )
    )


def _on_same_server(database_url: str, name: str) -> str:
    """``database_url`` with another database name."""
    base, _, rest = database_url.partition("?")
    url = base.rsplit("/", 1)[0] + "/" + name
    return url + ("?" + rest if rest else "")


def raw_designs(args: argparse.Namespace, connection: Connection) -> int:
    """Designs (a)-(c) on the raw scan: the endpoint, the fastest SQL, fetch-and-count."""
    start, end = window(args.period)
    params = {"agency": str(BIG_AGENCY_ID), "start": start, "end": end}
    runners: dict[str, Callable[[], Cells]] = {"a endpoint": endpoint_runner(args.period)}
    from analytics.db import heatmap_settings

    # Each candidate as PostgreSQL plans it by default, and under the endpoint's settings.
    for name, sql in FLOOR_QUERIES.items():
        runners[f"b sql {name}"] = sql_runner(connection, sql, params)
        runners[f"b sql {name} +set"] = sql_runner(connection, sql, params, heatmap_settings())
    runners["c fetch-and-count"] = edge_runner(connection, params)

    answers = {name: run() for name, run in runners.items()}  # warm-up, and the answers
    reference = answers["a endpoint"]
    for name, cells in answers.items():
        if cells != reference:
            print(f"MISMATCH: {name} differs from the endpoint's answer", file=sys.stderr)
            return 1
    calls = sum(total for total, _, _ in reference.values())
    print(f"all designs agree: {len(reference)} cells, {calls:,} ended calls in {args.period}")

    timings: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(args.rounds):
        for name, run in runners.items():
            began = time.perf_counter()
            run()
            timings[name].append((time.perf_counter() - began) * 1000)

    print(f"\n{'design':<26}{'median ms':>11}{'min':>9}{'max':>9}   ({args.rounds} rounds)")
    medians = {name: statistics.median(values) for name, values in timings.items()}
    for name, values in timings.items():
        print(f"{name:<26}{medians[name]:>11.1f}{min(values):>9.1f}{max(values):>9.1f}")
    floor_name = min((n for n in medians if n.startswith("b ")), key=medians.__getitem__)
    a, b, c = medians["a endpoint"], medians[floor_name], medians["c fetch-and-count"]
    print(f"\na/b = {a / b:.2f}  (endpoint / fastest SQL, {floor_name!r}; target <= 1.3)")
    print(f"c/a = {c / a:.2f}  (fetch-and-count / endpoint; target >= 5)")

    if not args.skip_memory:
        endpoint_growth = peak_rss_growth_mb(args.database_url, "a", args.period)
        edge_growth = peak_rss_growth_mb(args.database_url, "c", args.period)
        print(
            f"peak RSS growth: endpoint {endpoint_growth:.1f} MB (target < 20 MB), "
            f"fetch-and-count {edge_growth:.1f} MB"
        )

    if args.explain:
        from analytics.db import heatmap_settings

        sql = endpoint_sql(args.period)
        print("\n-- endpoint's calls query, under its settings")
        print(explain(connection, sql, None, heatmap_settings()))
        for name, floor_sql in FLOOR_QUERIES.items():
            print(f"\n-- sql {name}, PostgreSQL's default settings\n")
            print(explain(connection, floor_sql, params))
    return 0


if __name__ == "__main__":
    sys.exit(main())
