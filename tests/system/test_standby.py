"""``ANALYTICS_HEATMAP_DATABASE`` on a real streaming hot standby, raw scan and rollup alike.

Runs in tox's ``py313-django61-standby-psycopg3`` (``scripts/standby run``): ``DATABASE_URL``
is a primary of its own, ``DATABASE_REPLICA_URL`` a hot standby of it made by
``pg_basebackup -R``, cancelling a query that holds up replay after 1 s
(``max_standby_streaming_delay``) with ``hot_standby_feedback`` off. The test database is
created on the primary and reaches the standby by replication (``tests/settings.py``: the
replica alias is a ``MIRROR`` of default). Each test commits its writes on the primary,
waits until the standby has replayed the primary's WAL position, then reads.

Without ``DATABASE_REPLICA_URL`` the module skips; in the standby environment
(``STANDBY_TESTS=required``) a missing standby fails instead.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.db import DatabaseError, connections, transaction
from rest_framework.test import APIClient

from analytics.heatmap import replica
from analytics.heatmap.limits import bounded_calls_query
from analytics.rollup import state as rollup_state
from heatmap_project import harness
from heatmap_project.harness import Connection, connect
from tests.helpers import HEATMAP_URL, ROOT, MakeCall

STANDBY_URL = os.environ.get("DATABASE_REPLICA_URL", "")
STANDBY_DIR = os.environ.get("STANDBY_DIR", "")
SCRIPT = ROOT / "scripts" / "standby"

if not (STANDBY_URL and STANDBY_DIR) and os.environ.get("STANDBY_TESTS") == "required":
    raise RuntimeError(
        "STANDBY_TESTS=required but no standby: run through `scripts/standby run DIR -- ...`"
    )
pytestmark = [
    pytest.mark.skipif(
        not (STANDBY_URL and STANDBY_DIR),
        reason="needs a hot standby: tox -e py313-django61-standby-psycopg3 (scripts/standby)",
    ),
    pytest.mark.django_db(transaction=True, databases=["default", "replica"]),
]

#: What reads heatmaps: the raw scan's table, and the rollup's tables behind its views.
CALLS = ("calls",)
ROLLUP_TABLES = ("agency_buckets", "segment_buckets", "pending")
#: How long the standby may take to replay what the primary committed, here.
REPLAY_TIMEOUT = 30.0

# --- the two servers ----------------------------------------------------------------------


def test_database() -> str:
    """The test database's name: the same on both servers."""
    name: str = connections["default"].settings_dict["NAME"]
    return name


test_database.__test__ = False  # type: ignore[attr-defined]  # not a test, despite its name


def on_standby() -> Connection:
    """An autocommit connection to the standby's copy of the test database."""
    return connect(STANDBY_URL, dbname=test_database())


def on_primary() -> Connection:
    """An autocommit connection to the primary's test database, apart from Django's."""
    return connect(os.environ["DATABASE_URL"], dbname=test_database())


def one(connection: Connection, statement: str, params: list[Any] | None = None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchone()[0]


def wait_for_replay(timeout: float = REPLAY_TIMEOUT) -> None:
    """Until the standby has replayed everything the primary has written so far."""
    try:
        harness.wait_for_replay(os.environ["DATABASE_URL"], STANDBY_URL, timeout=timeout)
    except TimeoutError as late:
        raise AssertionError(str(late)) from None


def replayed(standby: Connection, lsn: str) -> bool:
    """The standby has replayed the WAL up to ``lsn``."""
    done: bool = one(standby, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn])
    return done


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.05)


def scans(connection: Connection, tables: tuple[str, ...]) -> int:
    """Sequential and index scans of ``tables`` that this server has counted."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT COALESCE(sum(COALESCE(seq_scan, 0) + COALESCE(idx_scan, 0)), 0) "
            "FROM pg_stat_user_tables WHERE relname = ANY(%s)",
            [list(tables)],
        )
        return int(cursor.fetchone()[0])


def settle(*servers: Connection) -> None:
    """Django's connections closed, and their backends gone from each server: a backend
    flushes its statistics on the way out, so the counters now include its reads."""
    for alias in ("default", "replica"):
        connections[alias].close()
    for server in servers:
        wait_until(
            lambda server=server: one(
                server,
                "SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
            ),
            10,
            "Django's backends to exit",
        )


def standby_script(command: str) -> None:
    subprocess.run([str(SCRIPT), command, STANDBY_DIR], check=True, timeout=120)


# --- fixtures -----------------------------------------------------------------------------

ReadHeatmap = Callable[[str], Any]


@pytest.fixture
def heatmap(auth_client: APIClient, settings: Any) -> ReadHeatmap:
    """The agency's heatmap as the endpoint answers it, read from the alias given."""

    def read(alias: str) -> Any:
        settings.ANALYTICS_HEATMAP_DATABASE = alias
        response = auth_client.get(HEATMAP_URL)
        assert response.status_code == 200, response.content
        return response.json()

    return read


@pytest.fixture(autouse=True)
def fresh_replica() -> Iterator[None]:
    """Each test asks the standby afresh: no process memory of it down or lagging."""
    replica.forget()
    yield
    replica.forget()


@pytest.fixture
def raw(settings: Any) -> None:
    settings.ANALYTICS_HEATMAP_SOURCE = "raw"


@pytest.fixture
def calls(make_call: MakeCall, today: date) -> None:
    """Seven ended calls of the agency over three hours of today, committed on the primary
    and replayed on the standby."""
    nine = datetime(today.year, today.month, today.day, 9, tzinfo=UTC)
    for minutes in (5, 20, 40, 65, 70, 130, 135):
        at = nine + timedelta(minutes=minutes)
        make_call(created_at=at, joined_at=at if minutes % 2 else None)
    wait_for_replay()


@pytest.fixture
def standby_rollup(rollup: None, settings: Any) -> Iterator[None]:
    """The rollup installed on the primary (committed, so replicated) and read first."""
    settings.ANALYTICS_HEATMAP_SOURCE = "rollup"
    rollup_state.forget()
    yield
    rollup_state.forget()


# --- the standby serves the heatmap --------------------------------------------------------


def test_the_replica_is_a_hot_standby_of_the_primary() -> None:
    """What the rest of the module relies on: the replica alias is a standby in recovery,
    streaming from the primary, and refuses writes."""
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery(), current_setting('hot_standby_feedback')")
        assert cursor.fetchone() == (True, "off")
        with pytest.raises(DatabaseError, match="read-only transaction"):
            cursor.execute("CREATE TABLE h21_h7_refused (id int)")
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery(), count(*) FROM pg_stat_replication")
        assert cursor.fetchone() == (False, 1)


def test_the_raw_scan_is_served_by_the_standby_and_equals_the_primary(
    raw: None, calls: None, heatmap: ReadHeatmap, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="analytics")
    primary_answer = heatmap("default")
    assert sum(cell["total_calls"] for cell in primary_answer["heatmap"]) == 7
    with closing(on_primary()) as primary, closing(on_standby()) as standby:
        settle(primary, standby)
        before = scans(primary, CALLS), scans(standby, CALLS)

        standby_answer = heatmap("replica")
        source = answered_from(caplog)

        settle(primary, standby)
        after = scans(primary, CALLS), scans(standby, CALLS)
    assert standby_answer == primary_answer
    assert after[1] > before[1], "the standby's statistics show no scan of calls"
    assert after[0] == before[0], "the primary scanned calls"
    assert source == "raw"


def test_the_rollup_is_served_by_the_standby_and_equals_the_primary(
    standby_rollup: None,
    calls: None,
    heatmap: ReadHeatmap,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="analytics")
    settings.ANALYTICS_HEATMAP_SOURCE = "raw"
    raw_answer = heatmap("default")
    settings.ANALYTICS_HEATMAP_SOURCE = "rollup"
    primary_answer = heatmap("default")
    assert primary_answer == raw_answer
    with closing(on_primary()) as primary, closing(on_standby()) as standby:
        settle(primary, standby)
        before = [
            scans(server, tables)
            for server in (primary, standby)
            for tables in (CALLS, ROLLUP_TABLES)
        ]

        standby_answer = heatmap("replica")
        source = answered_from(caplog)

        settle(primary, standby)
        after = [
            scans(server, tables)
            for server in (primary, standby)
            for tables in (CALLS, ROLLUP_TABLES)
        ]
    assert standby_answer == primary_answer
    primary_calls, primary_rollup, standby_calls, standby_rollup_scans = (
        later - earlier for earlier, later in zip(before, after, strict=True)
    )
    assert standby_rollup_scans > 0, "the standby's statistics show no read of the rollup"
    assert standby_calls == 0, "the standby scanned calls: the rollup did not answer"
    assert (primary_calls, primary_rollup) == (0, 0), "the primary answered"
    assert source == "rollup"


def test_a_call_committed_on_the_primary_is_in_the_standbys_answer_once_replayed(
    raw: None, calls: None, make_call: MakeCall, heatmap: ReadHeatmap
) -> None:
    before = heatmap("replica")
    make_call()
    wait_for_replay()

    after = heatmap("replica")

    total = sum(cell["total_calls"] for cell in after["heatmap"])
    assert total == sum(cell["total_calls"] for cell in before["heatmap"]) + 1
    assert after == heatmap("default")


def test_what_the_read_path_does_works_on_a_standby(standby_rollup: None, settings: Any) -> None:
    """``SET LOCAL`` (the query's bounds) and the rollup's state read run on the standby,
    as the raw and rollup reads above show whole (docs/performance.md, "Scaling out")."""
    settings.ANALYTICS_HEATMAP_STATEMENT_TIMEOUT = 7.0
    standby = connections["replica"]
    with bounded_calls_query("replica"), standby.cursor() as cursor:
        cursor.execute("SELECT current_setting('statement_timeout'), current_setting('jit')")
        assert cursor.fetchone() == ("7s", "off")
    assert not standby.in_atomic_block
    with standby.cursor() as cursor:  # the SET LOCAL ended with its transaction
        cursor.execute("SELECT current_setting('statement_timeout')")
        assert cursor.fetchone()[0] == "0"
    wait_for_replay()
    rollup_state.forget()
    assert rollup_state.rollup_ready("replica")


# --- the defined answers: the primary answers when the standby cannot -----------------------


def answered_from(caplog: pytest.LogCaptureFixture) -> str:
    """The source the last answer's line on ``analytics.heatmap.requests`` names: what
    operators count (``docs/operating.md``)."""
    lines = [record for record in caplog.records if record.name == "analytics.heatmap.requests"]
    assert lines, "no answer was reported"
    source: str = lines[-1].source
    return source


def fell_back(caplog: pytest.LogCaptureFixture, reason: str) -> bool:
    """A warning on the ``analytics`` logger says the primary answered instead, and why
    (``fallback_reason``: ``unreachable``, ``lagging`` or ``conflict``)."""
    return any(
        record.name.split(".")[0] == "analytics"
        and record.levelno == logging.WARNING
        and "primary" in record.getMessage()
        and getattr(record, "fallback_reason", None) == reason
        for record in caplog.records
    )


def test_a_stopped_standby_falls_back_to_the_primary(
    raw: None, calls: None, heatmap: ReadHeatmap, caplog: pytest.LogCaptureFixture
) -> None:
    primary_answer = heatmap("default")
    connections["replica"].close()
    standby_script("stop-standby")
    try:
        caplog.set_level(logging.INFO, logger="analytics")
        answer = heatmap("replica")
    finally:
        connections["replica"].close()
        standby_script("start-standby")
    assert answer == primary_answer
    assert fell_back(caplog, "unreachable")
    assert answered_from(caplog) == "fallback"


@contextmanager
def replay_paused() -> Iterator[Connection]:
    """Replay paused on the standby (WAL is still received), resumed on the way out."""
    with closing(connect(STANDBY_URL, dbname="postgres")) as standby:
        one(standby, "SELECT pg_wal_replay_pause()")
        try:
            wait_until(
                lambda: one(standby, "SELECT pg_get_wal_replay_pause_state()") == "paused",
                10,
                "replay to pause",
            )
            yield standby
        finally:
            one(standby, "SELECT pg_wal_replay_resume()")


def test_a_standby_lagging_more_than_the_setting_falls_back_to_the_primary(
    raw: None,
    calls: None,
    make_call: MakeCall,
    heatmap: ReadHeatmap,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.ANALYTICS_HEATMAP_REPLICA_MAX_LAG = 1.0
    with replay_paused() as standby:
        make_call()  # committed on the primary, received by the standby, not replayed
        with closing(on_primary()) as primary:
            primary_lsn = one(primary, "SELECT pg_current_wal_lsn()")
        wait_until(
            lambda: one(
                standby,
                "SELECT pg_last_wal_receive_lsn() >= %s::pg_lsn "
                "AND pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn() "
                "AND now() - pg_last_xact_replay_timestamp() > interval '1.5 s'",
                [str(primary_lsn)],
            ),
            15,
            "the standby to lag 1.5 s behind WAL it has received",
        )
        primary_answer = heatmap("default")
        caplog.set_level(logging.INFO, logger="analytics")

        answer = heatmap("replica")

    assert sum(cell["total_calls"] for cell in answer["heatmap"]) == 8  # the new call too
    assert answer == primary_answer
    assert fell_back(caplog, "lagging")
    assert answered_from(caplog) == "fallback"


@contextmanager
def replay_conflict() -> Iterator[threading.Thread]:
    """A primary transaction whose replay cancels the standby's next read of calls.

    On the primary: ``REINDEX INDEX`` (its ACCESS EXCLUSIVE lock on one index of calls, its
    primary key's if it has one, is replayed on the standby), held open. The standby's read
    of calls then locks calls and waits for that index while it plans. The primary next
    takes ACCESS EXCLUSIVE on calls itself: replaying it waits for the read's lock, and
    after ``max_standby_streaming_delay`` (1 s) the standby cancels the read ("canceling
    statement due to conflict with recovery", 40001), or after ``deadlock_timeout`` (1 s)
    the read finds it waits for replay that waits for it ("deadlock detected", 40P01):
    whichever comes first, replay goes on and the read is gone. Once the standby has
    replayed the lock, the primary rolls back and calls is free again there, for the
    fallback.
    """
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT indexrelid::regclass::text FROM pg_index "
            "WHERE indrelid = 'calls'::regclass ORDER BY indisprimary DESC LIMIT 1"
        )
        primary_index = cursor.fetchone()[0]
    ready = threading.Event()
    failures: list[BaseException] = []

    def hold() -> None:
        try:
            with (
                closing(on_primary()) as primary,
                closing(on_primary()) as flusher,
                closing(on_standby()) as standby,
            ):
                primary.autocommit = False
                with primary.cursor() as cursor:
                    cursor.execute(f'REINDEX INDEX "{primary_index}"')
                    # The lock of a transaction still open is written to WAL but not sent
                    # until a commit flushes it: another session's commit does.
                    cursor.execute("SELECT pg_current_wal_insert_lsn()")
                    one(flusher, "SELECT txid_current()")
                    lsn = str(cursor.fetchone()[0])
                    wait_until(
                        lambda: replayed(standby, lsn),
                        REPLAY_TIMEOUT,
                        "the standby to replay the index's lock",
                    )
                    ready.set()
                    wait_until(
                        lambda: one(
                            standby,
                            "SELECT count(*) > 0 FROM pg_stat_activity WHERE "
                            "datname = current_database() AND wait_event_type = 'Lock'",
                        ),
                        30,
                        "the standby's read to wait for the index",
                    )
                    cursor.execute("LOCK TABLE calls IN ACCESS EXCLUSIVE MODE")
                    cursor.execute("SELECT pg_current_wal_insert_lsn()")
                    locked = str(cursor.fetchone()[0])
                    one(flusher, "SELECT txid_current()")
                    # Replay passes the lock only once the read is cancelled.
                    wait_until(
                        lambda: replayed(standby, locked),
                        30,
                        "the standby to cancel the read and replay the lock",
                    )
                primary.rollback()
        except BaseException as exc:  # told to the test, which joins the thread
            failures.append(exc)
            ready.set()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert ready.wait(REPLAY_TIMEOUT + 5)
    if failures:
        raise failures[0]
    try:
        yield thread
    finally:
        thread.join(60)
        if failures:
            raise failures[0]


def test_a_read_cancelled_by_a_replay_conflict_falls_back_to_the_primary(
    raw: None, calls: None, heatmap: ReadHeatmap, caplog: pytest.LogCaptureFixture
) -> None:
    primary_answer = heatmap("default")
    caplog.set_level(logging.INFO, logger="analytics")
    with replay_conflict():
        answer = heatmap("replica")
    assert answer == primary_answer
    assert fell_back(caplog, "conflict")
    assert answered_from(caplog) == "fallback"


def test_a_replay_conflict_cancels_the_standbys_read(
    raw: None, calls: None, agency_id: uuid.UUID, settings: Any
) -> None:
    """The conflict the fallback answers, as the standby raises it to the read itself."""
    settings.ANALYTICS_HEATMAP_DATABASE = "replica"
    with (
        replay_conflict(),
        pytest.raises(DatabaseError, match=r"conflict with recovery|deadlock detected"),
        transaction.atomic(using="replica"),
        connections["replica"].cursor() as cursor,
    ):
        cursor.execute("SELECT count(*) FROM calls WHERE agency_id = %s", [agency_id])
