"""Operating figures: what ``/metrics`` says after the demo served real load.

    python -m bench.metrics                       # 10 s of load per source, 16 clients
    python -m bench.metrics --duration 30 --clients 32

(re)builds :mod:`bench.load`'s database (two agencies, 60,000 calls), serves the demo
under gunicorn in Prometheus' multiprocess mode (``METRICS_ENABLED`` and a fresh
``PROMETHEUS_MULTIPROC_DIR``, several sync workers, answers cached 60 s in each worker,
the app's scan cap of 2), and drives it with :mod:`bench.load`'s clients: first from the
raw scan, then, on a second server sharing the directory, from the rollup (installed and
folded once in between) while 500 calls written after the fold wait unfolded. It then
scrapes ``/metrics`` and prints what docs/operating.md's dashboard would show: answers
by source and status, p50/p95 database time by source and scan wait, the rollup's
gauges, and the exposition's size. A program to run on demand, not a test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families

from bench.common import fold
from bench.load import AGENCIES, DEFAULT_WORKERS, Plan, build_dataset, run_load, server_env
from heatmap_project.harness import demo_server

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/heatmap_metrics"

#: Calls written after the rollup's install and never folded: its backlog to report.
UNFOLDED_CALLS = 500


def scrape(base_url: str) -> str:
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=30) as response:
        return str(response.read().decode())


def quantile(share: float, buckets: list[tuple[float, float]]) -> float:
    """``histogram_quantile()`` as PromQL computes it, from cumulative ``(le, count)``."""
    buckets = sorted(buckets)
    total = buckets[-1][1]
    if total == 0:
        return float("nan")
    rank = share * total
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if upper == float("inf"):
                return lower
            return lower + (upper - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = upper, count
    return lower


def figures(text: str) -> list[str]:
    answers: dict[tuple[str, str], float] = {}
    histograms: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    gauges: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "analytics_heatmap_requests_total":
                answers[sample.labels["source"], sample.labels["status"]] = sample.value
            elif sample.name.endswith("_bucket") and sample.name.startswith("analytics_"):
                key = (sample.name.removesuffix("_bucket"), sample.labels.get("source", ""))
                histograms[key].append((float(sample.labels["le"]), sample.value))
            elif family.type == "gauge" and sample.name.startswith("analytics_heatmap_rollup_"):
                gauges[sample.name] = sample.value
    lines = [f"metrics: exposition of {len(text.encode()):,} bytes"]
    total = sum(answers.values())
    for (source, status), count in sorted(answers.items()):
        lines.append(
            f"answers: source={source} status={status}: {count:,.0f} ({count / total:.1%})"
        )
    for (name, source), buckets in sorted(histograms.items()):
        label = f" source={source}" if source else ""
        lines.append(
            f"{name}{label}: p50 {quantile(0.5, buckets) * 1000:.1f} ms, "
            f"p95 {quantile(0.95, buckets) * 1000:.1f} ms over {buckets[-1][1]:,.0f}"
        )
    now = time.time()
    for name, value in sorted(gauges.items()):
        shown = f"{now - value:.1f} s ago" if name.endswith("_timestamp_seconds") else f"{value:g}"
        lines.append(f"{name}: {shown}")
    return lines


def write_calls(count: int) -> None:
    """``count`` ended calls of the first agency, now: deltas the rollup's triggers append."""
    from django.db import connection

    agency = next(iter(AGENCIES))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO calls (id, agency_id, status, created_at) "
            "SELECT gen_random_uuid(), %s, 'ended', now() - random() * interval '7 days' "
            "FROM generate_series(1, %s)",
            [str(agency), count],
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per source (10)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (16)")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    args = parser.parse_args(argv)
    build_dataset(args.database_url)  # also configures this process's Django on it
    plan = Plan(args.clients, args.duration)
    with tempfile.TemporaryDirectory(prefix="heatmap-metrics-") as metrics_dir:
        env = {
            **server_env(cache_ttl=60, max_concurrent_scans="2"),
            "METRICS_ENABLED": "1",
            "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
        }
        with demo_server(database_url=args.database_url, workers=args.workers, env=env) as raw:
            run = run_load(raw.base_url, args.database_url, plan)
            print(f"metrics: raw scan, {len(run.results.latencies):,} answers", flush=True)
        from analytics.rollup.install import install

        install(using="default")
        fold()  # one fold, then the writes below wait for the next
        write_calls(UNFOLDED_CALLS)
        with demo_server(database_url=args.database_url, workers=args.workers, env=env) as rollup:
            run = run_load(rollup.base_url, args.database_url, plan)
            print(f"metrics: rollup, {len(run.results.latencies):,} answers", flush=True)
            text = scrape(rollup.base_url)
    for line in figures(text):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
