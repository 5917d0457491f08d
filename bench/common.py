"""What every benchmark here shares: the Django they run in, the endpoint asked in-process,
statements under the endpoint's settings, timings and figures, sections and the table of
goals.

Django is imported inside the functions: a program imports this module before it
configures Django (:func:`configure_django`) for the database it is given.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import dj_database_url

from bench.dataset import BIG_AGENCY_USER_ID
from heatmap_project.harness import JWT_SECRET, Connection, access_token

HEATMAP_PATH = "/api/dashboard-heatmap"
#: ``ANALYTICS_HEATMAP_SOURCE`` values: the raw scan, or what a host sets (the rollup
#: when it is installed and ready).
RAW = "raw"
ROLLUP = "auto"
DATABASE = "default"

#: (day, hour) -> (total, connected, booked): an answer's numbers, from any design.
Cells = dict[tuple[int, int], tuple[int, int, int]]


# --- the Django the measures run in -------------------------------------------------------


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
        # Designs (a)-(c) are the raw scan; the rollup's measures switch it (use_source).
        ANALYTICS_HEATMAP_SOURCE=RAW,
    )
    django.setup()


def use_source(source: str) -> None:
    """Point the selectors at ``source`` and drop the 5-second readiness cache, as a deploy
    would: the next request asks the database whether the rollup is ready."""
    from django.conf import settings

    from analytics.rollup import state

    settings.ANALYTICS_HEATMAP_SOURCE = source
    state.forget()


def fold() -> tuple[int, float]:
    """One fold as ``manage.py heatmap_rollup fold`` runs it (``fold_pending``: the fold,
    then a VACUUM of ``pending``): (deltas moved, ms)."""
    from analytics.rollup.inspect import fold_pending

    began = time.perf_counter()
    moved = fold_pending(using=DATABASE)
    return moved, (time.perf_counter() - began) * 1000


def in_fresh_process(target: Callable[..., None], *args: Any, timeout: float) -> Any:
    """What ``target(*args, queue)`` puts on the queue, run in a spawned process: one with
    its own memory and its own Django settings."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get(timeout=timeout)
    process.join()
    return result


def window(period: str) -> tuple[datetime, datetime]:
    """The period's window ``[start, end)``, as the endpoint's query has it for ``tz=UTC``
    today."""
    from analytics.heatmap.query import HeatmapQuery
    from analytics.heatmap.vocabulary import Period

    query = HeatmapQuery.build(period=Period(period))
    return query.start, query.end


# --- the endpoint, and statements on a connection of our own -----------------------------


def endpoint_client(user_id: Any = BIG_AGENCY_USER_ID) -> Any:
    """Django's test client, signed in as ``user_id``."""
    from django.test import Client

    return Client(HTTP_AUTHORIZATION=f"Bearer {access_token(user_id)}")


def answer_runner(
    params: Mapping[str, str], user_id: Any = BIG_AGENCY_USER_ID
) -> Callable[[], bytes]:
    """One endpoint request through Django's test client; the whole body, to compare bytes."""
    client = endpoint_client(user_id)

    def run() -> bytes:
        response = client.get(HEATMAP_PATH, dict(params))
        if response.status_code != 200:
            raise SystemExit(f"endpoint answered {response.status_code}: {response.content!r}")
        return bytes(response.content)

    return run


def cells_of(body: bytes) -> Cells:
    return {
        (c["day"], c["hour"]): (c["total_calls"], c["connected_calls"], c["meetings_booked"])
        for c in json.loads(body)["heatmap"]
    }


def statements_of(run: Callable[[], object]) -> list[str]:
    """The SQL a request sends, parameters inlined (Django's client-side binding)."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connections[DATABASE]) as queries:
        run()
    return [query["sql"] for query in queries.captured_queries]


def calls_read(run: Callable[[], object]) -> str:
    """The request's one statement that reads ``calls`` (the raw scan)."""
    reads = [sql for sql in statements_of(run) if 'FROM "calls"' in sql]
    if len(reads) != 1:
        raise SystemExit(f"the request read calls in {len(reads)} statements, not one")
    return reads[0]


def statement_runner(
    connection: Connection,
    sql: str,
    params: Any = None,
    settings: Mapping[str, str] | None = None,
) -> Callable[[], list[Any]]:
    """One statement's rows: alone, or with ``settings`` as the endpoint sends it, in its own
    transaction under ``SET LOCAL`` (BEGIN, one set_config for all, the query, COMMIT)."""
    from analytics.db import set_local

    def run() -> list[Any]:
        with connection.cursor() as cursor:
            if settings:
                cursor.execute("BEGIN")
                set_local(cursor, dict(settings))
            cursor.execute(sql, params)
            rows: list[Any] = cursor.fetchall()
            if settings:
                cursor.execute("COMMIT")
        return rows

    return run


def explain(
    connection: Connection, sql: str, params: Any, settings: Mapping[str, str] | None = None
) -> str:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of the statement, under ``settings`` when given."""
    rows = statement_runner(connection, "EXPLAIN (ANALYZE, BUFFERS) " + sql, params, settings)()
    return "\n".join(row[0] for row in rows)


# --- timings and figures ------------------------------------------------------------------


def timed_ms(run: Callable[[], object]) -> float:
    began = time.perf_counter()
    run()
    return (time.perf_counter() - began) * 1000


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: the value ``share`` of the answers came in at or under."""
    ordered = sorted(values)
    rank = max(1, round(share * len(ordered)))
    return ordered[rank - 1]


def number(value: float) -> str:
    """Three significant figures or so, with thousands separators."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


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


# --- the table of goals -------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One row of the final table."""

    measure: str
    without: str = ""
    with_: str = ""
    ratio: str = ""
    goal: str = ""
    met: bool | None = None


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


# --- sections, and the pytest runs that disturb them --------------------------------------


def pytest_processes() -> list[str]:
    """``pgrep -f pytest``, less this process and its parent."""
    found = subprocess.run(["pgrep", "-af", "pytest"], capture_output=True, text=True).stdout
    mine = {str(os.getpid()), str(os.getppid())}
    return [line for line in found.splitlines() if line.split(" ", 1)[0] not in mine]


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


def section(title: str) -> None:
    WATCH.sections.append((title, time.monotonic()))
    print(f"\n== {title} ==", flush=True)
