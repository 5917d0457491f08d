"""The rollup's install at full size while writers keep writing, their latencies beside the
install's own report; then ``verify`` (no difference allowed) and the rollup's size."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from contextlib import closing
from datetime import timedelta
from typing import Any

from bench.common import DATABASE, Line, fold, number, percentile, section
from bench.dataset import (
    INSTALL_INSERT,
    INSTALL_TOGGLE,
    SINGLE_INSERT,
    add_in_progress,
    bench_ids,
    delete_kind,
    one_bucket,
    single_insert_params,
)
from heatmap_project.harness import connect

TOGGLE_CALL = (
    "UPDATE calls SET status = CASE status WHEN 'ended' THEN 'in_progress'::call_status "
    "ELSE 'ended'::call_status END WHERE id = %s"
)
#: Calls each toggling writer flips, in turn.
TOGGLED = 1000


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
        n = 0
        with closing(connect(self.database_url)) as connection, connection.cursor() as cursor:
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


def install_under_writers(database_url: str, *, writers: int) -> list[Line]:
    """Install at full size while writers write; verify; the rollup's size."""
    from analytics.rollup.install import install

    section(f"2. install while {writers} writers keep writing, then verify")
    with closing(connect(database_url)) as connection, connection.cursor() as cursor:
        delete_kind(cursor)
        add_in_progress(
            cursor, INSTALL_TOGGLE, TOGGLED * writers, one_bucket() - timedelta(hours=5)
        )
    threads = [
        Writer(
            database_url,
            INSTALL_INSERT if number % 2 == 0 else INSTALL_TOGGLE,
            number,
            bench_ids(INSTALL_TOGGLE, TOGGLED * writers, start=1 + number, step=writers),
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
    print(
        f"  install's report: {report.seconds:.1f} s, {report.rows_counted:,} ended calls counted "
        f"into {report.buckets_written:,} rows; trigger_lock_ms {report.trigger_lock_ms:,.0f}, "
        f"swap_lock_ms {report.swap_lock_ms:,.0f}, longest_block_ms "
        f"{report.longest_block_ms:,.0f}"
    )
    before, during = writer_latencies(threads, timeline, began, ended)
    differences, verify_seconds = verify_and_clean(database_url)
    size = rollup_size()
    return [
        Line(
            f"install ({report.rows_counted:,} ended calls counted)",
            with_=f"{report.seconds:.1f} s",
        ),
        Line(
            "  install's report: trigger_lock_ms / swap_lock_ms",
            with_=f"{report.trigger_lock_ms:,.0f} / {report.swap_lock_ms:,.0f} ms",
        ),
        Line(
            "  writers' statements during install: p99 / max",
            f"p99 {number(percentile(before, 0.99))} ms before",
            f"{number(percentile(during, 0.99))} / {number(max(during))} ms",
        ),
        Line(
            "verify after install (differences)",
            with_=f"{len(differences)} in {verify_seconds:.0f} s",
            goal="0",
            met=not differences,
        ),
        size,
    ]


def writer_latencies(
    threads: Sequence[Writer], timeline: list[tuple[float, str]], began: float, ended: float
) -> tuple[list[float], list[float]]:
    """Print the writers' latencies before and during the install, and the slowest statements
    with the install's step they started in; the latencies before and during (ms)."""
    errors = [error for thread in threads for error in thread.errors]
    records = [record for thread in threads for record in thread.records]
    before = [ms for start, ms in records if start < began]
    started_during = [ms for start, ms in records if began <= start < ended]
    # A statement that started before the install and ended inside it waited for it too.
    during = [ms for start, ms in records if start < ended and start + ms / 1000 > began]
    print(
        f"  writers' statements before the install: {len(before):,}, p50 "
        f"{number(percentile(before, 0.5))} ms, p99 {number(percentile(before, 0.99))} ms, "
        f"max {number(max(before))} ms"
    )
    print(
        f"  writers' statements during the install: {len(during):,}, p50 "
        f"{number(percentile(during, 0.5))} ms, "
        f"p99 {number(percentile(during, 0.99))} ms, "
        f"max {number(max(during))} ms; errors {len(errors)}"
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
    if not started_during:
        raise SystemExit("no writer statement ran during the install")
    return before, during


def verify_and_clean(database_url: str) -> tuple[list[Any], float]:
    """``verify``, the fold of the writers' deltas, their calls deleted; exits on a
    difference. The differences and the seconds verify took."""
    from analytics.rollup.inspect import rollup_differences

    verify_began = time.monotonic()
    differences = rollup_differences(using=DATABASE)
    verify_seconds = time.monotonic() - verify_began
    print(f"  verify: {len(differences)} differences ({verify_seconds:.1f} s)")
    for difference in differences[:10]:
        print(f"    {difference}")
    pending, fold_ms = fold()
    print(
        f"  fold of the deltas written during and after the install: {pending:,} in "
        f"{fold_ms:,.0f} ms"
    )
    with closing(connect(database_url)) as connection, connection.cursor() as cursor:
        removed = delete_kind(cursor)
    fold()
    print(f"  deleted the writers' {removed:,} calls")
    if differences:
        raise SystemExit(f"verify found {len(differences)} differences after the install")
    return differences, verify_seconds


def rollup_size() -> Line:
    """Print the rollup's size beside calls'; its row of the table."""
    from analytics.rollup.inspect import rollup_status

    status = rollup_status(using=DATABASE)
    share = status.rollup_bytes / status.calls_bytes
    print(
        f"  size: rollup {status.rollup_bytes / 2**20:,.0f} MB "
        f"({status.agency_rows:,} agency rows, {status.segment_rows:,} segment rows, "
        f"{status.pending_rows:,} pending), calls {status.calls_bytes / 2**20:,.0f} MB: {share:.1%}"
    )
    return Line(
        "size, with indexes",
        f"calls {status.calls_bytes / 2**20:,.0f} MB",
        f"rollup {status.rollup_bytes / 2**20:,.0f} MB",
        f"{share:.1%}",
    )
