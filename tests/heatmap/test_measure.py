"""A heatmap answer's measurement: recorded inside measuring(), nothing outside it."""

from __future__ import annotations

import time

import pytest

from analytics.heatmap.measure import (
    Measurement,
    measuring,
    record_scan_wait,
    record_source,
    timed_database,
)


def test_the_recorders_fill_the_open_measurement() -> None:
    with measuring() as measurement:
        record_source("rollup")
        record_source("raw")  # the rollup's read failed: the scan answers
        record_scan_wait(0.25)
        record_scan_wait(0.5)
        with timed_database():
            time.sleep(0.02)
    assert measurement.source == "raw"
    assert measurement.scan_wait_seconds == 0.75
    assert 0.02 <= measurement.database_seconds < 1


def test_a_fallback_stays_the_source_whatever_the_primary_read() -> None:
    with measuring() as recorded_first:
        record_source("fallback")
        record_source("rollup")  # the primary's read, after the replica's failed
    with measuring() as recorded_last:
        record_source("raw")  # the replica's read, which failed
        record_source("fallback")
    assert recorded_first.source == recorded_last.source == "fallback"


def slow_failing_query() -> None:
    with timed_database():
        time.sleep(0.01)
        raise RuntimeError


def test_database_time_counts_a_block_that_raised() -> None:
    with measuring() as measurement, pytest.raises(RuntimeError):
        slow_failing_query()
    assert measurement.database_seconds >= 0.01


def test_outside_a_measurement_every_recorder_is_a_no_op() -> None:
    with measuring() as earlier:
        pass
    record_source("raw")
    record_scan_wait(1.0)
    with timed_database():
        pass
    assert earlier == Measurement()


def test_measurements_nest_without_mixing() -> None:
    with measuring() as outer:
        record_source("cache")
        with measuring() as inner:
            record_source("raw")
        record_scan_wait(0.1)
    assert (outer.source, outer.scan_wait_seconds) == ("cache", 0.1)
    assert (inner.source, inner.scan_wait_seconds) == ("raw", 0.0)
