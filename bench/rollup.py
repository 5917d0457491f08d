"""The rollup's benchmark: reads, the first request after a restart, writers, install, load.

``python -m bench.heatmap`` runs it after the raw-vs-SQL-vs-fetch designs (``--rollup-only``
runs it alone, ``--skip-rollup`` leaves it out). In one run, in this order, so that the
reads see a rollup the code being measured has just installed:

1. Writers without the rollup (uninstalled): single-row inserts, 20k-row
   ``INSERT ... SELECT``, and 8 connections ending calls of one 15-minute bucket
   (:mod:`bench.writers`).
2. The install at full size while writers keep writing, their latencies beside the
   install's own report, then ``verify`` (no difference allowed) and the rollup's size
   (:mod:`bench.install`).
3. The endpoint through Django, raw scan against rollup, unfiltered and for one campaign,
   with both answers compared byte for byte; the rollup's SQL alone (captured from a
   request, run on a psycopg connection); and what a request costs besides that query
   (:mod:`bench.reads`).
4. With ``--restart``: the first rollup request after PostgreSQL restarts (it waits for
   any pytest run on this server to finish first, as a restart would break it;
   :mod:`bench.restart`).
5. The writers' workloads again with the rollup, and the fold of each one's deltas.
6. ``bench.load``'s server and clients on their own database, raw against rollup
   (:func:`bench.load.measure_load`).

It ends with one table of every figure beside its goal and leaves the rollup installed.
Rows it adds to ``calls`` are deleted again (the triggers count that too).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass, fields

from bench.common import DATABASE, WATCH, Line, fold, print_summary, section
from bench.dataset import remove_added_rows
from bench.install import install_under_writers
from bench.load import measure_load
from bench.reads import measure_reads
from bench.restart import measure_restart
from bench.writers import writer_lines, writers_with, writers_without

#: The database bench.load's dataset is rebuilt in, with the rollup, unless one is named.
LOAD_DATABASE = "heatmap_load_rollup"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The rollup's options, on ``python -m bench.heatmap``'s command line."""
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


@dataclass(frozen=True)
class Options:
    """The run's options, named as on the command line."""

    database_url: str
    load_database_url: str
    period: str
    rounds: int
    explain: bool
    restart: bool
    inserts: int
    writer_threads: int
    updates_per_thread: int
    install_writers: int
    load_clients: int
    load_duration: float
    load_rounds: int
    skip_load: bool
    #: code_fingerprint() when the app was imported, to tell a change during the run.
    code: str = ""

    @classmethod
    def from_args(cls, args: argparse.Namespace, *, code: str) -> Options:
        given = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
        load_url = args.load_database_url or on_same_server(args.database_url, LOAD_DATABASE)
        return cls(**{**given, "load_database_url": load_url, "code": code})


def on_same_server(database_url: str, name: str) -> str:
    """``database_url`` with another database name."""
    base, _, rest = database_url.partition("?")
    url = base.rsplit("/", 1)[0] + "/" + name
    return url + ("?" + rest if rest else "")


def import_app() -> str:
    """Import every rollup module now, and fingerprint the code just imported."""
    for module in (
        "analytics.heatmap.selectors",
        "analytics.rollup.inspect",
        "analytics.rollup.install",
    ):
        importlib.import_module(module)
    return code_fingerprint()


def code_fingerprint() -> str:
    """A hash of the app's Python and SQL as they are on disk now; take it as the app is
    imported (bench.heatmap does, with every rollup module) and again at the end.

    The Python is imported once, but the install reads its SQL files when it runs: if
    the app changes during a run, the install mixes two versions and its counts mean
    nothing, so the run says so.
    """
    import hashlib
    from pathlib import Path

    import analytics

    root = Path(analytics.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted([*root.rglob("*.py"), *root.rglob("*.sql")]):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def ensure_installed() -> None:
    """Install the rollup when it is not ready (a rebuilt dataset has none); print the report."""
    from analytics.rollup import state
    from analytics.rollup.install import install

    state.forget()
    if not state.rollup_ready(DATABASE):
        print("the rollup is not installed: installing it first", flush=True)
    # On a ready rollup this only refreshes its functions, to the code being measured.
    report = install(using=DATABASE, progress=lambda line: print(f"    {line}", flush=True))
    if not report.already_installed:
        print(f"    installed in {report.seconds:.1f} s", flush=True)
    # Fold what is pending, as the scheduled fold (every minute) keeps it: near empty.
    moved, ms = fold()
    if moved:
        print(f"folded {moved:,} pending deltas in {ms:,.0f} ms")


def clean_up(database_url: str) -> None:
    """Delete every row the benchmark added; install the rollup when a failure left it out."""
    from django.db import connections

    connections.close_all()
    removed = remove_added_rows(database_url)
    if removed:
        print(f"deleted {removed:,} calls left by the benchmark")
    ensure_installed()


def run(options: Options) -> int:
    """Every measurement of the rollup, then the table of figures against goals.

    However it ends, the rows it added are gone and the rollup is installed again.
    """
    WATCH.start()
    fingerprint = options.code or code_fingerprint()
    try:
        lines = measure_all(options)
    finally:
        clean_up(options.database_url)
    section("summary")
    print_summary(lines)
    WATCH.report()
    if code_fingerprint() != fingerprint:
        print("  WARNING: analytics/ changed on disk during the run: the figures mix versions")
    else:
        print(f"  analytics/ unchanged during the run (code {fingerprint})")
    missed = [line.measure for line in lines if line.met is False]
    print(f"\ngoals met: {sum(line.met is True for line in lines)}, missed: {len(missed)}")
    sys.stdout.flush()
    return 0


def measure_all(options: Options) -> list[Line]:
    """Every measure, in the order that lets the reads see a rollup installed by the code
    being measured; the table lists them in the issue's order."""
    url = options.database_url
    clean_up(url)  # what a run that crashed may have left
    workloads = {
        "inserts": options.inserts,
        "bulk_rows": 20_000,
        "rounds": options.rounds,
        "threads": options.writer_threads,
        "per_thread": options.updates_per_thread,
    }
    without = writers_without(url, **workloads)
    install_lines = install_under_writers(url, writers=options.install_writers)
    lines = measure_reads(
        url, period=options.period, rounds=options.rounds, explain=options.explain
    )
    if options.restart:
        lines += measure_restart(url, period=options.period)
    else:
        lines.append(Line("first request after restart (rollup)", with_="not run (--restart)"))
    with_ = writers_with(url, **workloads)
    lines += writer_lines(without, with_, options.writer_threads) + install_lines
    if not options.skip_load:
        lines += measure_load(
            options.load_database_url,
            clients=options.load_clients,
            duration=options.load_duration,
            rounds=options.load_rounds,
        )
    return lines
