"""Writers of calls with and without the rollup's triggers.

The same three workloads on each side: single-row inserts, a 20k-row ``INSERT ... SELECT``
and its ``DELETE``, and connections ending calls of one 15-minute bucket at once. With
the rollup the triggers only append deltas and the upserts happen in the fold, so each
workload's deltas are folded after it and the fold is timed too (a scheduler would run
it every minute, off the writers' path). Every row added is deleted again.
"""

from __future__ import annotations

import statistics
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field

from bench.common import (
    DATABASE,
    ROLLUP,
    Line,
    Sample,
    fold,
    number,
    percentile,
    section,
    timed_ms,
    use_source,
)
from bench.dataset import (
    BIG_AGENCY_ID,
    BULK,
    CALL_COLUMNS,
    CAMPAIGN_OF_ROW,
    CLIENT_OF_ROW,
    ENDING,
    SINGLE,
    SINGLE_INSERT,
    add_in_progress,
    bench_id,
    bench_ids,
    delete_kind,
    one_bucket,
    phone_number_sql,
    single_insert_params,
)
from heatmap_project.harness import Connection, connect

#: A batch of ended calls spread over 90 days and every campaign and client: the
#: triggers' hard case, nearly a segment bucket per row.
BULK_INSERT = f"""
INSERT INTO calls ({CALL_COLUMNS})
SELECT ('bec0ffee-0000-0000-0002-' || lpad(to_hex(n), 12, '0'))::uuid, %(agency)s::uuid,
       {CAMPAIGN_OF_ROW},
       {CLIENT_OF_ROW},
       'ended', created_at,
       CASE WHEN n %% 5 < 2 THEN created_at + interval '12 seconds' END,
       created_at + interval '95 seconds',
       (CASE WHEN n %% 5 < 2 THEN 'completed' ELSE 'no_answer' END)::call_end_reason,
       jsonb_build_object('summary', repeat(md5(n::text), 20),
                          'sdr', jsonb_build_object('meeting_booked', n %% 12 = 0)),
       {{phone_number}}, 95
FROM (
    SELECT n, now() - interval '1 hour' - random() * interval '88 days' AS created_at,
           random() AS r_phone
    FROM generate_series(1, %(rows)s) AS n
) AS generated""".replace("{phone_number}", phone_number_sql("r_phone", "n"))
END_CALL = (
    "UPDATE calls SET status = 'ended', joined_at = created_at + interval '12 seconds', "
    "ended_at = created_at + interval '60 seconds', end_reason = 'completed', "
    "duration_seconds = 48 WHERE id = %s"
)


@dataclass
class WriterFigures:
    single_ms: Sample
    bulk_ms: Sample
    bulk_delete_ms: Sample
    updates_per_second: float
    update_ms: Sample
    #: With the rollup: each fold of one workload's deltas, (deltas moved, ms).
    folds: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    def fold_figures(self) -> list[tuple[str, str, str]]:
        """Each workload's folds: its name, the deltas moved, and the time they took."""
        return [
            (
                name,
                f"{statistics.median(n for n, _ in done):,.0f} deltas",
                Sample([ms for _, ms in done]).show(),
            )
            for name, done in self.folds.items()
            if name != "warm-up"
        ]


def measure_writers(
    database_url: str,
    *,
    label: str,
    folding: bool,
    inserts: int,
    bulk_rows: int,
    rounds: int,
    threads: int,
    per_thread: int,
) -> WriterFigures:
    """One side: the same three workloads, then every added row deleted."""
    print(f"\n-- writers, {label}", flush=True)
    folds: dict[str, list[tuple[int, float]]] = {}

    def folded(name: str) -> None:
        if folding:
            folds.setdefault(name, []).append(fold())

    with closing(connect(database_url)) as connection:
        try:
            with connection.cursor() as cursor:
                delete_kind(cursor)
                for n in range(100):  # warm-up: the plan, the index pages, the rollup's rows
                    cursor.execute(SINGLE_INSERT, single_insert_params(SINGLE, 10_000_000 + n))
                folded("warm-up")
                single = Sample()
                for n in range(inserts):
                    params = single_insert_params(SINGLE, n)
                    single.values.append(
                        timed_ms(lambda p=params: cursor.execute(SINGLE_INSERT, p))
                    )
                folded(f"{inserts:,} single-row INSERTs")
                delete_kind(cursor, SINGLE)
                folded("warm-up")
                print(
                    f"  single-row INSERT, autocommit: p50 {number(single.median)} ms, "
                    f"p99 {number(percentile(single.values, 0.99))} ms over {inserts:,}"
                )
                bulk, bulk_delete = Sample(), Sample()
                batch = {"agency": str(BIG_AGENCY_ID), "rows": bulk_rows}
                for round_number in range(rounds):
                    cursor.execute("SELECT setseed(%s)", [0.1 + round_number / 100])
                    bulk.values.append(timed_ms(lambda: cursor.execute(BULK_INSERT, batch)))
                    folded(f"a {bulk_rows // 1000}k-row INSERT ... SELECT")
                    bulk_delete.values.append(timed_ms(lambda: delete_kind(cursor, BULK)))
                    folded(f"its {bulk_rows // 1000}k-row DELETE")
                print(
                    f"  {bulk_rows:,}-row INSERT ... SELECT: {bulk.show()}; its DELETE "
                    f"{bulk_delete.show()} ({rounds} rounds)"
                )
            rate, update_ms = concurrent_endings(database_url, connection, threads, per_thread)
            with connection.cursor() as cursor:
                folded(f"{threads * per_thread:,} UPDATEs of one bucket")
                delete_kind(cursor, ENDING)
                folded("warm-up")
            print(
                f"  {threads} connections ending calls of one 15-minute bucket: "
                f"{rate:,.0f} updates/s (p50 {number(update_ms.median)} ms, "
                f"p99 {number(percentile(update_ms.values, 0.99))} ms per UPDATE)"
            )
        finally:
            with connection.cursor() as cursor:
                delete_kind(cursor)
                folded("warm-up")
    figures = WriterFigures(single, bulk, bulk_delete, rate, update_ms, folds)
    for name, moved, took in figures.fold_figures():
        print(f"  fold after {name}: {moved} in {took}")
    return figures


def concurrent_endings(
    database_url: str, connection: Connection, threads: int, per_thread: int
) -> tuple[float, Sample]:
    """``threads`` connections each set their own calls of one bucket from in_progress to
    ended, one autocommit UPDATE a call; every UPDATE adds to that bucket's agency row."""
    rows = threads * per_thread
    with connection.cursor() as cursor:
        add_in_progress(cursor, ENDING, rows, one_bucket())
    latencies: list[list[float]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads + 1)

    def writer(number: int) -> None:
        with closing(connect(database_url)) as own, own.cursor() as cursor:
            ids = bench_ids(ENDING, rows, start=1 + number, step=threads)
            cursor.execute(END_CALL, [bench_id(ENDING, 0)])  # connection and plan warm
            start.wait()
            for call_id in ids:
                latencies[number].append(timed_ms(lambda c=call_id: cursor.execute(END_CALL, [c])))

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM calls WHERE id BETWEEN %s AND %s AND status = 'ended'",
            [bench_id(ENDING, 0), bench_id(ENDING, 0xFFFF_FFFF_FFFF)],
        )
        ended = cursor.fetchone()[0]
        if ended != rows:
            raise SystemExit(f"{ended} of {rows} calls were ended by the concurrent writers")
    every = Sample([ms for own in latencies for ms in own])
    return rows / elapsed, every


def ratio_line(measure: str, without: str, with_: str, ratio: float, goal: str = "") -> Line:
    """A row of the table with the ratio with/without, met when it is within ``goal``
    (``"<= 1.3x"`` or ``">= 0.7x"``; no goal, nothing to meet)."""
    met = None
    if goal:
        bound = float(goal[3:].rstrip("x"))
        met = ratio <= bound if goal.startswith("<=") else ratio >= bound
    return Line(measure, without, with_, f"{ratio:.2f}x", goal, met)


def writer_lines(without: WriterFigures, with_: WriterFigures, threads: int) -> list[Line]:
    single = with_.single_ms.median / without.single_ms.median
    bulk = with_.bulk_ms.median / without.bulk_ms.median
    delete = with_.bulk_delete_ms.median / without.bulk_delete_ms.median
    rate = with_.updates_per_second / without.updates_per_second
    single_ms = [f"{number(figures.single_ms.median)} ms" for figures in (without, with_)]
    bulk_ms = [figures.bulk_ms.show() for figures in (without, with_)]
    delete_ms = [figures.bulk_delete_ms.show() for figures in (without, with_)]
    rates = [f"{figures.updates_per_second:,.0f} updates/s" for figures in (without, with_)]
    return [
        ratio_line("single-row INSERT, p50", *single_ms, single, "<= 1.3x"),
        ratio_line("20k-row INSERT ... SELECT", *bulk_ms, bulk, "<= 1.5x"),
        ratio_line("  its DELETE (the triggers count it too)", *delete_ms, delete),
        ratio_line(f"{threads} writers ending calls of one bucket", *rates, rate, ">= 0.7x"),
    ] + [
        Line(f"  fold after {name}", with_=f"{moved}, {took}")
        for name, moved, took in with_.fold_figures()
    ]


def writers_without(database_url: str, **workloads: int) -> WriterFigures:
    """The writers' workloads with the rollup uninstalled: no triggers on calls."""
    from analytics.rollup.install import uninstall

    section("1. writers without the rollup (uninstalled)")
    uninstall(using=DATABASE)
    use_source(ROLLUP)
    return measure_writers(database_url, label="without the rollup", folding=False, **workloads)


def writers_with(database_url: str, **workloads: int) -> WriterFigures:
    """The same workloads with the rollup's triggers, each fold timed; then verify."""
    from analytics.rollup.inspect import rollup_differences

    section("5. writers with the rollup")
    figures = measure_writers(database_url, label="with the rollup", folding=True, **workloads)
    differences = rollup_differences(using=DATABASE, agency_id=BIG_AGENCY_ID)
    print(f"  verify, big agency, after every write and delete: {len(differences)} differences")
    if differences:
        raise SystemExit(f"{len(differences)} differences after the writers' runs")
    return figures
