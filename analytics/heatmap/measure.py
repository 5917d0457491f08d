"""What one heatmap answer cost: which source answered, its database time, its scan wait.

The view opens :func:`measuring` once per request; the code that reads (the cache, the
selectors, the scan slots, the replica fallback) records into it through a context
variable, so no layer passes a measurement down or returns one up. Outside a
measurement (a management command, the admin, a test calling a selector) every
recorder is a no-op. The view then reports the measurement (a log line, a
``Server-Timing`` header, Prometheus metrics: ``analytics.api.metrics``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class Measurement:
    """One heatmap answer's numbers, filled in while it is computed."""

    #: Which source answered: ``"cache"``, ``"rollup"``, ``"raw"`` or ``"fallback"``
    #: (the primary, after the replica failed or lagged); ``None`` before any read.
    source: str | None = None
    #: Wall time spent in the heatmap's database queries.
    database_seconds: float = 0.0
    #: Wall time spent waiting for a scan slot (the per-agency scan cap).
    scan_wait_seconds: float = 0.0


_current: ContextVar[Measurement | None] = ContextVar("analytics_heatmap_measurement", default=None)


@contextmanager
def measuring() -> Iterator[Measurement]:
    """Measure the code run inside: the recorders below write into the measurement yielded."""
    measurement = Measurement()
    token = _current.set(measurement)
    try:
        yield measurement
    finally:
        _current.reset(token)


#: The source that stays once recorded: the primary's read after a replica failed or
#: lagged records ``"rollup"`` or ``"raw"`` as any read does, and is still the fallback.
FALLBACK = "fallback"


def record_source(source: str) -> None:
    """Say which source is answering: each read records its own before it starts (so a
    read that fails is counted against it), and a later one wins, but for ``"fallback"``,
    which stays."""
    measurement = _current.get()
    if measurement is not None and measurement.source != FALLBACK:
        measurement.source = source


def record_scan_wait(seconds: float) -> None:
    """Add time spent waiting for a scan slot."""
    measurement = _current.get()
    if measurement is not None:
        measurement.scan_wait_seconds += seconds


@contextmanager
def timed_database() -> Iterator[None]:
    """Add the wall time of the block (its database queries) to the measurement, even
    when the block raises."""
    measurement = _current.get()
    if measurement is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        measurement.database_seconds += time.perf_counter() - started
