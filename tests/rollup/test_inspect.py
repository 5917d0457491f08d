"""What the rollup holds on the lead's clock, where it differs from calls, and which map it
counts by: ``status``, ``verify`` and ``repair`` over the lead grains; and the fold and
repair one at a time, serialised by a row no other login may touch.

On a real PostgreSQL server; each test commits and leaves the rollup uninstalled
(``rollup_database``).
"""

from __future__ import annotations

import io
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections

from analytics.db import sqlstate
from analytics.exceptions import RollupError
from analytics.rollup.inspect import (
    fold_pending,
    repair_rollup,
    rollup_differences,
    rollup_status,
)
from analytics.rollup.install import install
from tests.helpers import ON_THE_ROLLUP_DATABASE, SHIPPED, insert_random_calls, intruder, sql

pytestmark = ON_THE_ROLLUP_DATABASE


@pytest.fixture
def folded_calls(rollup: None, rollup_agency: uuid.UUID) -> None:
    """300 random calls of every kind of number, folded into the grains."""
    insert_random_calls(random.Random(7), rollup_agency, 300)
    fold_pending(using="default")


def test_verify_finds_a_planted_difference_in_a_lead_bucket_and_repair_mends_it(
    folded_calls: None, rollup_agency: uuid.UUID
) -> None:
    assert rollup_differences(using="default") == []
    [(bucket, group)] = sql(
        "SELECT bucket, lead_group FROM analytics_heatmap.lead_agency_buckets "
        "WHERE lead_group > 0 ORDER BY bucket LIMIT 1"
    )
    sql(
        "UPDATE analytics_heatmap.lead_agency_buckets SET total_calls = total_calls + 2 "
        "WHERE bucket = %s AND lead_group = %s",
        [bucket, group],
    )
    sql(
        "DELETE FROM analytics_heatmap.lead_segment_buckets "
        "WHERE ctid = (SELECT min(ctid) FROM analytics_heatmap.lead_segment_buckets)"
    )
    found = rollup_differences(using="default", agency_id=rollup_agency)
    assert sorted(difference.grain for difference in found) == ["lead_agency", "lead_segment"]
    [planted] = [difference for difference in found if difference.grain == "lead_agency"]
    assert (planted.bucket, planted.lead_group) == (bucket, group)
    assert planted.rollup[0] == planted.fresh[0] + 2
    out = io.StringIO()
    with pytest.raises(CommandError, match="2 rollup buckets differ"):
        call_command("heatmap_rollup", "verify", stdout=out)
    assert f"agency {rollup_agency} lead zone group {group} at " in out.getvalue()
    assert repair_rollup(using="default", agency_id=rollup_agency) == 2
    assert rollup_differences(using="default") == []
    assert repair_rollup(using="default") == 0


def test_status_names_the_rollups_map_and_the_apps_and_what_to_run_when_they_differ(
    folded_calls: None,
) -> None:
    status = rollup_status(using="default")
    assert status.map_current
    assert status.map_version == status.app_map_version == SHIPPED
    assert status.lead_agency_rows > 0
    assert status.lead_segment_rows >= status.lead_agency_rows
    out = io.StringIO()
    call_command("heatmap_rollup", "status", stdout=out)
    assert f"Time-zone map: phonenumbers {SHIPPED}, as the app's tables hold" in out.getvalue()
    sql("UPDATE analytics_lead_zone_map SET version = 'newer'")
    out = io.StringIO()
    call_command("heatmap_rollup", "status", stdout=out)  # still ready: exit 0
    assert (
        f"the rollup counts by phonenumbers {SHIPPED}, the app's tables hold phonenumbers newer; "
        "clock=lead reads calls until you run python manage.py heatmap_rollup install"
    ) in out.getvalue()
    out = io.StringIO()
    call_command("heatmap_rollup", "install", stdout=out)
    rebuilt = f"Rebuilt for the time-zone map of phonenumbers newer (it counted by {SHIPPED})"
    assert rebuilt in out.getvalue()
    assert rollup_status(using="default").map_current
    assert rollup_differences(using="default") == []


def test_without_a_map_in_the_apps_tables_the_rollup_answers_the_viewers_clock_alone(
    rollup_database: None,
) -> None:
    """Tables without a map, as before the migration that loads it (or after a committing
    test's flush): install goes on without it, and says so."""
    sql("DELETE FROM analytics_lead_prefix_range")
    sql("DELETE FROM analytics_lead_zone_map")
    out = io.StringIO()
    call_command("heatmap_rollup", "install", stdout=out)
    assert "The app's tables hold no time-zone map" in out.getvalue()
    status = rollup_status(using="default")
    assert status.current
    assert not status.map_current
    assert install(using="default").already_installed  # no map to remap to


# --- one fold or repair at a time, and only the app's role may hold it ----------------------


@pytest.fixture
def pending(rollup: None, rollup_agency: uuid.UUID) -> int:
    """300 random calls written after the install: their deltas pending, how many rows."""
    insert_random_calls(random.Random(11), rollup_agency, 300)
    [(rows,)] = sql("SELECT count(*) FROM analytics_heatmap.pending")
    assert rows > 0
    return int(rows)


@pytest.fixture
def fold_in_flight() -> Iterator[Any]:
    """Another session of the app's role, in a fold it has not committed yet: it holds the
    maintenance row until the test commits it (or the fixture rolls it back)."""
    other = connection.get_new_connection(connection.get_connection_params())
    try:
        other.cursor().execute("SELECT analytics_heatmap.fold()")
        yield other
    finally:
        other.rollback()
        other.close()


def finishes_within(seconds: float, work: Callable[[], Any]) -> Any:
    """``work()``'s result, run in a thread of its own; fails when it takes longer."""
    results: list[Any] = []

    def run() -> None:
        try:
            results.append(work())
        finally:
            connections.close_all()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still waiting after {seconds} s"
    return results[0]


def test_a_login_holding_the_old_advisory_key_stalls_neither_the_fold_nor_a_repair(
    pending: int,
) -> None:
    with intruder() as login:
        login.cursor().execute("SELECT pg_advisory_lock(hashtext('analytics_heatmap'))")
        assert fold_pending(using="default") == pending
        assert sql("SELECT count(*) FROM analytics_heatmap.pending") == [(0,)]
        sql(
            "UPDATE analytics_heatmap.agency_buckets SET total_calls = total_calls + 1 "
            "WHERE ctid = (SELECT min(ctid) FROM analytics_heatmap.agency_buckets)"
        )
        assert finishes_within(10, lambda: repair_rollup(using="default")) == 1
    assert rollup_differences(using="default") == []


def test_another_login_may_neither_lock_the_maintenance_row_nor_fold_or_repair(
    rollup: None,
) -> None:
    """The app's role locks it; any other login is refused by the schema it lives in."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_fold_at FROM analytics_heatmap.maintenance FOR UPDATE NOWAIT")
        assert cursor.fetchall() == [(None,)]  # no fold yet
    with intruder() as login:
        for statement in (
            "SELECT * FROM analytics_heatmap.maintenance FOR UPDATE",
            "SELECT analytics_heatmap.fold()",
            "SELECT analytics_heatmap.repair()",
        ):
            with pytest.raises(Exception, match="permission denied for schema") as refused:
                login.cursor().execute(statement)
            assert sqlstate(refused.value) == "42501", statement  # insufficient_privilege


def test_of_two_folds_at_once_one_folds_and_the_other_says_it_did_not_run(
    pending: int, fold_in_flight: Any
) -> None:
    said = (
        "fold did not run: another fold or repair is running (it holds "
        f"analytics_heatmap.maintenance); {pending:,} deltas stay pending for the next fold"
    )
    with pytest.raises(RollupError) as refused:
        fold_pending(using="default")
    assert str(refused.value) == said
    fold_in_flight.commit()
    assert sql("SELECT count(*) FROM analytics_heatmap.pending") == [(0,)]
    [(folded_at, folded)] = sql(
        "SELECT last_fold_at, last_folded FROM analytics_heatmap.maintenance"
    )
    assert folded_at is not None
    assert folded == pending
    status = rollup_status(using="default")
    assert (status.last_fold_at, status.last_folded) == (folded_at, pending)
    out = io.StringIO()
    call_command("heatmap_rollup", "status", stdout=out)
    assert f"Last fold: {folded_at.isoformat()}, {pending:,} deltas moved." in out.getvalue()
    assert fold_pending(using="default") == 0  # nothing left: it ran, and says 0


@pytest.fixture
def damaged(pending: int, rollup_agency: uuid.UUID) -> None:
    """The pending calls folded, one of their buckets then made wrong (one call too many),
    and 300 more calls written: their deltas pending for the next fold."""
    assert fold_pending(using="default") == pending
    sql(
        "UPDATE analytics_heatmap.agency_buckets SET total_calls = total_calls + 1 "
        "WHERE ctid = (SELECT min(ctid) FROM analytics_heatmap.agency_buckets)"
    )
    assert len(rollup_differences(using="default")) == 1
    insert_random_calls(random.Random(13), rollup_agency, 300)
    assert sql("SELECT count(*) FROM analytics_heatmap.pending") != [(0,)]


def backend_pid(raw_connection: Any) -> int:
    cursor = raw_connection.cursor()
    cursor.execute("SELECT pg_backend_pid()")
    return int(cursor.fetchone()[0])


def test_a_repair_waits_for_the_fold_in_flight_then_mends(
    damaged: None, fold_in_flight: Any
) -> None:
    repairing = threading.Thread(target=lambda: finishes_within(10, repair_both))
    mended: list[int] = []

    def repair_both() -> None:
        mended.append(repair_rollup(using="default"))

    folding = backend_pid(fold_in_flight)
    repairing.start()
    repairing.join(0.5)
    assert repairing.is_alive()  # queued behind the fold's lock on the maintenance row
    # ... and it is that: its backend waits on a lock the fold's backend holds.
    waiting = sql(
        "SELECT DISTINCT a.wait_event_type, %s = ANY(pg_blocking_pids(a.pid)) "
        "FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid AND NOT l.granted "
        "WHERE a.query LIKE %s AND a.pid <> pg_backend_pid()",
        [folding, "%analytics_heatmap.repair(%"],
    )
    assert waiting == [("Lock", True)]
    fold_in_flight.commit()
    repairing.join(10)
    assert not repairing.is_alive()
    assert mended == [1]  # the damaged bucket, mended after the fold, not before it
    assert rollup_differences(using="default") == []
