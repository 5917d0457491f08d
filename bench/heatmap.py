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
figures against goals, with ``clock=lead`` beside ``clock=tz`` on each source
(:mod:`bench.lead`). ``--rollup-only`` and ``--skip-rollup`` run one part.
``--calls 100000 --agency-calls 40000`` makes a quick run. It is a program to run
on demand, not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC
from typing import Any

from bench import rollup
from bench.common import (
    Cells,
    answer_runner,
    calls_read,
    cells_of,
    configure_django,
    explain,
    in_fresh_process,
    statement_runner,
    timed_ms,
    window,
)
from bench.dataset import (
    BIG_AGENCY_ID,
    BIG_AGENCY_USER_ID,
    SMALL_AGENCY_USER_ID,
    DatasetSpec,
    ensure_dataset,
)
from heatmap_project.harness import Connection, connect, ensure_database

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/heatmap_bench"

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


def endpoint_runner(period: str, user_id: Any = BIG_AGENCY_USER_ID) -> Callable[[], Cells]:
    """(a) The endpoint end to end through Django's request handling: its cells."""
    run = answer_runner({"period": period}, user_id)
    return lambda: cells_of(run())


def sql_runner(
    connection: Connection, sql: str, params: dict[str, Any], settings: dict[str, str] | None = None
) -> Callable[[], Cells]:
    """(b) One hand-written statement, optionally under the endpoint's ``SET LOCAL`` settings."""
    run = statement_runner(connection, sql, params, settings)
    return lambda: {(d, h): (t, c, b) for d, h, t, c, b in run()}


def edge_runner(connection: Connection, params: dict[str, Any]) -> Callable[[], Cells]:
    """(c) The edge function's design: every matching row's columns, counted in code."""

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
    growth: float = in_fresh_process(_peak_rss_growth, database_url, design, period, timeout=1800)
    return growth


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
    rollup.add_arguments(parser)
    args = parser.parse_args(argv)

    spec = DatasetSpec(
        total_calls=args.calls, big_agency_calls=args.agency_calls, other_agencies=args.agencies
    )
    ensure_database(args.database_url)
    connection = connect(args.database_url)
    configure_django(args.database_url)
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
    return rollup.run(rollup.Options.from_args(args, code=code))


def raw_designs(args: argparse.Namespace, connection: Connection) -> int:
    """Designs (a)-(c) on the raw scan: the endpoint, the fastest SQL, fetch-and-count."""
    from analytics.heatmap.limits import heatmap_settings

    start, end = window(args.period)
    params = {"agency": str(BIG_AGENCY_ID), "start": start, "end": end}
    runners: dict[str, Callable[[], Cells]] = {"a endpoint": endpoint_runner(args.period)}
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
            timings[name].append(timed_ms(run))

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
        sql = calls_read(answer_runner({"period": args.period}))
        print("\n-- endpoint's calls query, under its settings")
        print(explain(connection, sql, None, heatmap_settings()))
        for name, floor_sql in FLOOR_QUERIES.items():
            print(f"\n-- sql {name}, PostgreSQL's default settings\n")
            print(explain(connection, floor_sql, params))
    return 0


if __name__ == "__main__":
    sys.exit(main())
