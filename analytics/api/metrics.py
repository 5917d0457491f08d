"""Prometheus metrics of the heatmap: imported only with ``prometheus_client`` installed
(the ``prometheus`` extra).

Per answer (:func:`observe_answer`): a counter by source and status, the database time
by source, the scan-slot wait. At scrape time (:class:`RollupCollector`): the rollup's
pending deltas, the age of the oldest and the time of the last fold, read from the
primary. All registered in prometheus_client's default registry, which a host's
django-prometheus ``/metrics`` exports; :func:`metrics_view` exports them too, and in
gunicorn's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``) with the rollup's gauges,
which django-prometheus's view then leaves out. No label carries an agency, a user or a
filter: their numbers are unbounded and they are the tenants' business.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import datetime

from django.db import DatabaseError, connections, transaction
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from analytics.db import set_local, table_readable
from analytics.heatmap.measure import Measurement
from analytics.rollup.sql import SCHEMA

logger = logging.getLogger(__name__)

#: The sources that read the database, whose time the histogram observes.
READ_SOURCES = ("rollup", "raw", "fallback")
#: The sources that may have waited for a scan slot.
SCAN_SOURCES = ("raw", "fallback")
#: Where the rollup's gauges are read: the primary, where the fold runs and the
#: triggers append (a replica's copy lags by its replay).
ROLLUP_DATABASE = "default"
#: A scrape never waits long on a busy primary: past this the gauges are left out.
SCRAPE_STATEMENT_TIMEOUT = "2s"

#: From a cached answer (under a millisecond) to the statement timeout's 10 s.
DATABASE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
#: A free slot costs a cache round trip (under 1 ms); the scan cap waits up to 5 s
#: (``analytics.heatmap.limits.SCAN_WAIT_SECONDS``) before a 503.
SCAN_WAIT_BUCKETS = (0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 3, 4, 5, 6)

REQUESTS = Counter(
    "analytics_heatmap_requests",
    "Heatmap answers, by the source that answered (cache, rollup, raw, fallback, or none "
    "when refused before reading) and HTTP status.",
    ["source", "status"],
)
DATABASE_SECONDS = Histogram(
    "analytics_heatmap_database_seconds",
    "Time a heatmap answer spent in its database read, by source.",
    ["source"],
    buckets=DATABASE_BUCKETS,
)
SCAN_WAIT_SECONDS = Histogram(
    "analytics_heatmap_scan_wait_seconds",
    "Time a scan of calls waited for one of its agency's scan slots.",
    buckets=SCAN_WAIT_BUCKETS,
)


def observe_answer(*, source: str, status: int, measurement: Measurement) -> None:
    """Count one heatmap answer and observe its times."""
    REQUESTS.labels(source=source, status=str(status)).inc()
    if source in READ_SOURCES:
        DATABASE_SECONDS.labels(source=source).observe(measurement.database_seconds)
    if source in SCAN_SOURCES or measurement.scan_wait_seconds:
        SCAN_WAIT_SECONDS.observe(measurement.scan_wait_seconds)


class RollupCollector(Collector):
    """The rollup's backlog, read from the primary at every scrape (one short query).

    ``analytics_heatmap_rollup_readable`` is 0 where the rollup is not installed, not
    readable by this role, or the read failed (logged); the other gauges are then left
    out, as are those an older install cannot tell (no ``appended_at``, no
    ``maintenance`` table) and the last fold's time before any fold ran.
    """

    def __init__(self, using: str = ROLLUP_DATABASE) -> None:
        self.using = using

    def describe(self) -> Iterator[Metric]:
        # Without describe() registering would collect(): a query at import time.
        yield from self.families()

    def families(self) -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily(
                "analytics_heatmap_rollup_readable",
                "1 when the rollup's backlog could be read from the primary, else 0.",
            ),
            GaugeMetricFamily(
                "analytics_heatmap_rollup_pending_deltas",
                "Deltas the triggers appended that no fold has moved into the rollup yet.",
            ),
            GaugeMetricFamily(
                "analytics_heatmap_rollup_oldest_pending_age_seconds",
                "Age of the oldest pending delta (0 when none is pending).",
            ),
            GaugeMetricFamily(
                "analytics_heatmap_rollup_last_fold_timestamp_seconds",
                "Unix time the last fold ran.",
            ),
        )

    def collect(self) -> Iterator[Metric]:
        readable, pending, age, last_fold = self.families()
        try:
            backlog = self.read_backlog()
        except DatabaseError:
            logger.warning("Reading the rollup's backlog for metrics failed", exc_info=True)
            backlog = None
        readable.add_metric([], 0 if backlog is None else 1)
        yield readable
        if backlog is None:
            return
        count, oldest_age, last_fold_at = backlog
        pending.add_metric([], count)
        yield pending
        if oldest_age is not None:
            age.add_metric([], oldest_age)
            yield age
        if last_fold_at is not None:
            last_fold.add_metric([], last_fold_at.timestamp())
            yield last_fold

    def read_backlog(self) -> tuple[int, float | None, datetime | None] | None:
        """Pending deltas, the oldest's age in seconds and the last fold's time; ``None``
        without a rollup this role may read (asked of the catalogs, so nothing is logged
        by the server)."""
        connection = connections[self.using]
        if connection.vendor != "postgresql":
            return None
        with transaction.atomic(using=self.using), connection.cursor() as cursor:
            if not table_readable(cursor, SCHEMA, "pending"):
                return None
            set_local(cursor, {"statement_timeout": SCRAPE_STATEMENT_TIMEOUT})
            cursor.execute(
                "SELECT EXISTS (SELECT FROM pg_catalog.pg_attribute WHERE attrelid = "
                "to_regclass(%s) AND attname = 'appended_at' AND NOT attisdropped)",
                [f"{SCHEMA}.pending"],
            )
            dated = cursor.fetchone()[0]
            oldest = "extract(epoch FROM now() - min(appended_at))" if dated else "NULL"
            cursor.execute(f"SELECT count(*), {oldest}::float8 FROM {SCHEMA}.pending")
            count, age = cursor.fetchone()
            last_fold_at = None
            if table_readable(cursor, SCHEMA, "maintenance"):
                cursor.execute(f"SELECT max(last_fold_at) FROM {SCHEMA}.maintenance")
                last_fold_at = cursor.fetchone()[0]
        return count, (0.0 if age is None and dated else age), last_fold_at


ROLLUP_COLLECTOR = RollupCollector()
REGISTRY.register(ROLLUP_COLLECTOR)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus' text exposition of the default registry, or in multiprocess mode of
    every worker's files plus the rollup's gauges (read once, by this process).

    A host without django-prometheus routes ``/metrics`` here; keep it off the public
    internet (the demo serves it only with ``METRICS_ENABLED``).
    """
    registry = REGISTRY
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # registers itself
        registry.register(ROLLUP_COLLECTOR)
    # The text format, or OpenMetrics when the scraper asks for it.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(registry), content_type=content_type)
