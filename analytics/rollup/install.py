"""Install and uninstall the rollup, and backfill it online while writers keep writing.

Install runs in three steps:

1. The SQL of ``analytics/sql/rollup/`` creates the schema, the empty rollup and the
   lead's time-zone map (copied from the app's tables into the lookup function); then,
   in a transaction of their own, the triggers. Creating a trigger waits for the writers
   of ``calls`` in flight and makes new ones wait until this commits: milliseconds,
   under a lock timeout, retried. From its commit on, every write to ``calls`` appends
   its deltas to ``pending``.
2. One REPEATABLE READ snapshot counts ``calls`` block range by block range (one
   pass over the table, with progress), takes off the deltas ``pending`` already held
   as that same snapshot sees them (those writes are in the count), and bulk-loads
   the result into new tables, indexed afterwards. Nothing anyone else uses is locked.
3. The new tables replace the empty ones and the rollup is marked ready. The heatmap
   reads them with ``pending`` beside them, so every write is counted once: before
   the snapshot by the count, after it by its deltas. Writers do not wait for this.

A failed install drops everything it made.

On a ready rollup of an older version in ``UPGRADES_FROM``, install upgrades it in place
first (one transaction: what this version adds, the functions refreshed, the version
bumped), its counts kept. On a ready rollup whose map is not the app's (a release shipped
a newer one), install remaps it, online too: step 1 becomes a transaction that loads the
new map (after the writers in flight, which counted by the old one, commit), and steps 2
and 3 rebuild every grain while the old ones still answer ``clock=tz``. ``clock=lead``
reads calls meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper

from analytics.db import first_line, set_local, sqlstate
from analytics.exceptions import RollupError
from analytics.models import Call, LeadPrefixRange, LeadZoneMap
from analytics.rollup import state
from analytics.rollup.sql import (
    SCHEMA,
    TRIGGERS,
    UPGRADES_FROM,
    VERSION,
    calls_table_name,
    install_script,
    load_lead_map_statement,
    objects_script,
    record_calls_shape_statement,
    triggers_script,
    uninstall_script,
)

Progress = Callable[[str], None]

#: Rows counted per block range of ``calls`` in step 2.
COUNT_CHUNK_ROWS = 100_000
#: How long the DDL may wait for a lock on ``calls`` before it lets writers pass and retries.
LOCK_TIMEOUT_MS = 2_000
LOCK_ATTEMPTS = 5
#: SQLSTATE lock_not_available: ``lock_timeout`` ran out.
LOCK_NOT_AVAILABLE = "55P03"


#: Step 2's settings, and verify's. A block range's row estimate is poor, so the planner
#: would sort every row with its ``analysis`` (spilling to disk) where a hash table fits;
#: the memory is one session's, for the seconds these take.
COUNTING_SETTINGS = {
    "enable_sort": "off",
    "work_mem": "64MB",
    "maintenance_work_mem": "128MB",
    "jit": "off",
}


@dataclass(frozen=True, slots=True)
class InstallReport:
    already_installed: bool
    rows_counted: int = 0
    buckets_written: int = 0
    seconds: float = 0.0
    #: How long the first transaction held the lock that makes writers of calls wait.
    trigger_lock_ms: float = 0.0
    #: How long step 3 took; it holds a lock only ``TRUNCATE`` and DDL on calls wait for.
    swap_lock_ms: float = 0.0
    #: The ``phonenumbers`` release of the map the lead grains now count by; ``None`` when
    #: the app's tables hold none (``clock=lead`` then reads calls).
    map_version: str | None = None
    #: Rebuilt for the app's newer map, from the release in ``remapped_from``.
    remapped: bool = False
    remapped_from: str | None = None
    #: The older version this install upgraded in place, its counts kept.
    upgraded_from: int | None = None

    @property
    def longest_block_ms(self) -> float:
        """The longest any writer of calls waited for the install: step 1 alone."""
        return self.trigger_lock_ms


def install(*, using: str, progress: Progress = lambda line: None) -> InstallReport:
    """Install the rollup on ``using``, refresh its functions when it is installed, or
    remap it when its time-zone map is not the app's.

    Idempotent: on a ready rollup of this version and map nothing is counted again.
    """
    connection = postgresql_connection(using)
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            calls = check_privileges(cursor)
            load_map = load_map_statement(cursor, progress)
        current = state.read_state(using)
        readers: list[str] = []
        upgraded_from = current.version if upgradable(current) else None
        if upgraded_from is not None:
            run_ddl(connection, upgrade_script(calls), progress)
            current = state.read_state(using)
        if current.answers and not needs_remap(current):
            if upgraded_from is None:
                run_ddl(connection, install_script(calls), progress)
            return InstallReport(
                already_installed=True,
                map_version=current.map_version,
                upgraded_from=upgraded_from,
            )
        if current.answers:
            progress(
                f"the rollup counts by the map of phonenumbers {current.map_version}, the "
                f"app's tables hold {current.app_map_version}: rebuilding it for that map"
            )
        elif current.installed:
            # Unfinished, older, or missing triggers (so it missed writes): built anew,
            # for the roles that read it as well.
            with connection.cursor() as cursor:
                readers = rollup_readers(cursor)
            progress("removing an unfinished, older or stale rollup first")
            run_ddl(connection, uninstall_script(calls), progress)
        try:
            if current.answers:
                lock_ms = run_ddl(connection, remap_script(calls, load_map), progress)
            else:
                # The objects and the map first, which no writer waits for; then the triggers.
                run_ddl(
                    connection,
                    objects_script(calls) + STATE + load_map + grant_usage(readers),
                    progress,
                )
                lock_ms = run_ddl(connection, triggers_script(calls), progress)
            rows, buckets = backfill(connection, calls, progress)
            swap_ms = run_ddl(connection, swap_script(calls), progress)
            with transaction.atomic(using=using), connection.cursor() as cursor:
                cursor.execute(f"TRUNCATE {SCHEMA}.backfill_delta")
        except BaseException:
            remove_after_failure(connection, calls)
            raise
        done = state.read_state(using)
    except DatabaseError as exc:
        raise RollupError(f"install failed: {first_line(exc)}") from exc
    finally:
        state.forget(using)
    return InstallReport(
        already_installed=False,
        rows_counted=rows,
        buckets_written=buckets,
        seconds=time.monotonic() - started,
        trigger_lock_ms=lock_ms,
        swap_lock_ms=swap_ms,
        map_version=done.map_version,
        remapped=current.answers,
        remapped_from=current.map_version,
        upgraded_from=upgraded_from,
    )


#: The rollup's state row, not ready: written with the objects, before the map.
STATE = f"\nINSERT INTO {SCHEMA}.rollup_state (version) VALUES ({VERSION});\n"


def upgradable(current: state.RollupState) -> bool:
    """A ready rollup of an older version this one upgrades in place, with all its triggers
    (so it missed no write)."""
    return current.ready and current.version in UPGRADES_FROM and current.triggers == len(TRIGGERS)


def upgrade_script(calls: str) -> str:
    """Every file (they only add what is new and refresh the functions), then the version.
    One transaction: the maintenance row the new fold() locks is there before it is."""
    return install_script(calls) + f"\nUPDATE {SCHEMA}.rollup_state SET version = {VERSION};\n"


def rollup_readers(cursor: CursorWrapper) -> list[str]:
    """The roles, besides its owner, granted USAGE on the rollup's schema: the ones that read
    it (5_privileges.sql grants them SELECT on its tables at every install)."""
    cursor.execute(
        "SELECT pg_get_userbyid(acl.grantee) FROM pg_catalog.pg_namespace AS n, "
        "aclexplode(n.nspacl) AS acl WHERE n.nspname = %s AND acl.privilege_type = 'USAGE' "
        "AND acl.grantee NOT IN (n.nspowner, 0) ORDER BY 1",
        [SCHEMA],
    )
    return [row[0] for row in cursor.fetchall()]


def grant_usage(readers: list[str]) -> str:
    """USAGE on the new schema again for the roles that read the one a rebuild dropped."""
    return "".join(f'\nGRANT USAGE ON SCHEMA {SCHEMA} TO "{reader}";' for reader in readers)


def remap_script(calls: str, load_map: str) -> str:
    """Step 1 of a remap: the new map, loaded under the lock creating a trigger takes. The
    writers in flight counted by the old map and commit first, so step 2's snapshot counts
    their writes; new ones wait the milliseconds until this commits, then count by the new.

    ``remapping`` keeps the lead grains from being read and fold() from moving
    ``pending`` until step 3; ``truncated_at`` is cleared for step 3's check. The
    maintenance row is locked first, so a fold in flight commits before it and every later
    one sees ``remapping``.
    """
    return "\n".join(
        [
            f"LOCK TABLE {calls} IN SHARE ROW EXCLUSIVE MODE;",
            f"SELECT FROM {SCHEMA}.maintenance FOR UPDATE;",
            f"UPDATE {SCHEMA}.rollup_state SET remapping = true, truncated_at = NULL;",
            load_map,
        ]
    )


def needs_remap(current: state.RollupState) -> bool:
    """The app's tables hold a map the lead grains do not count by (or a remap was cut
    short). Without a map in the app's tables there is nothing to remap to."""
    return current.app_map_version is not None and not current.map_current


def load_map_statement(cursor: CursorWrapper, progress: Progress) -> str:
    """``load_lead_map()`` for the app's map tables; nothing (and a line saying why) when the
    migration that creates them has not run: the rollup then answers ``clock=tz`` alone.
    The grant it takes is named when this role may not read them."""
    ranges, zone_map = (
        calls_table_name(cursor, model._meta.db_table) for model in (LeadPrefixRange, LeadZoneMap)
    )
    if ranges is None or zone_map is None:
        progress(
            "the lead's time-zone map is not on this database: clock=lead reads calls until "
            "python manage.py migrate analytics, then heatmap_rollup install, are run"
        )
        return ""
    cursor.execute(
        "SELECT current_user, has_table_privilege(%s::regclass, 'SELECT') "
        "AND has_table_privilege(%s::regclass, 'SELECT')",
        [ranges, zone_map],
    )
    user, may_read = cursor.fetchone()
    if not may_read:
        raise RollupError(
            f"role {user!r} may not read {ranges} and {zone_map}, the lead's time-zone map "
            f"the rollup copies: GRANT SELECT ON {ranges}, {zone_map} TO {user}"
        )
    return load_lead_map_statement(ranges, zone_map)


def uninstall(*, using: str, progress: Progress = lambda line: None) -> bool:
    """Drop the triggers, functions and rollup; False when there was nothing to drop."""
    connection = postgresql_connection(using)
    try:
        with connection.cursor() as cursor:
            calls = check_privileges(cursor)
            if not installed_objects(cursor, calls):
                return False
        run_ddl(connection, uninstall_script(calls), progress)
    except DatabaseError as exc:
        raise RollupError(f"uninstall failed: {first_line(exc)}") from exc
    finally:
        state.forget(using)
    return True


def postgresql_connection(using: str) -> BaseDatabaseWrapper:
    connection = connections[using]
    if connection.vendor != "postgresql":
        raise RollupError(
            f"the rollup needs PostgreSQL; database {using!r} is {connection.vendor}, "
            "where the heatmap always reads calls directly"
        )
    if connection.in_atomic_block:
        raise RollupError("the rollup is installed in transactions of its own: run it outside one")
    try:
        connection.ensure_connection()
    except DatabaseError as exc:
        raise RollupError(f"cannot connect to database {using!r}: {first_line(exc)}") from exc
    version: int = getattr(connection, "pg_version", 0)
    if version < 150000:
        raise RollupError(
            "the rollup needs PostgreSQL 15 or later (UNIQUE NULLS NOT DISTINCT); "
            f"this server is {version // 10000}"
        )
    return connection


def check_privileges(cursor: CursorWrapper) -> str:
    """The calls table's qualified name, or the one privilege this role lacks, named."""
    table = Call._meta.db_table
    calls = calls_table_name(cursor, table)
    if calls is None:
        raise RollupError(f"there is no {table!r} table on this database's search path")
    cursor.execute(
        "SELECT current_user, current_database(), "
        "pg_has_role(current_user, c.relowner, 'USAGE'), pg_get_userbyid(c.relowner), "
        "has_database_privilege(current_database(), 'CREATE'), "
        "(SELECT pg_get_userbyid(nspowner) FROM pg_catalog.pg_namespace WHERE nspname = %s), "
        "(SELECT pg_has_role(current_user, nspowner, 'USAGE') "
        " FROM pg_catalog.pg_namespace WHERE nspname = %s) "
        "FROM pg_catalog.pg_class AS c WHERE c.oid = %s::regclass",
        [SCHEMA, SCHEMA, calls],
    )
    user, database, owns_calls, calls_owner, may_create, schema_owner, owns_schema = (
        cursor.fetchone()
    )
    if not owns_calls:
        raise RollupError(
            f"role {user!r} does not own {calls} (its owner is {calls_owner!r}), and creating "
            f"and dropping its triggers takes the owner: run as {calls_owner!r}"
        )
    if schema_owner is not None and not owns_schema:
        raise RollupError(
            f"schema {SCHEMA} belongs to role {schema_owner!r}, not {user!r}: "
            f"run as {schema_owner!r}"
        )
    if schema_owner is None and not may_create:
        raise RollupError(
            f"role {user!r} lacks the CREATE privilege on database {database!r}, needed to "
            f"create schema {SCHEMA}: GRANT CREATE ON DATABASE {database} TO {user}"
        )
    return calls


def installed_objects(cursor: CursorWrapper, calls: str) -> list[str]:
    """What of the rollup exists: the schema and the triggers on ``calls``, by name."""
    cursor.execute(
        "SELECT tgname FROM pg_catalog.pg_trigger "
        "WHERE tgrelid = %s::regclass AND tgname = ANY(%s) "
        "UNION ALL SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname = %s",
        [calls, list(TRIGGERS), SCHEMA],
    )
    return sorted(row[0] for row in cursor.fetchall())


def run_ddl(connection: BaseDatabaseWrapper, script: str, progress: Progress) -> float:
    """Run ``script`` in one transaction under a lock timeout; milliseconds it took.

    A writer of ``calls`` that arrives while the script waits for its lock queues behind
    it, so the wait is bounded, and on a timeout writers go first and it tries again.
    """
    for attempt in range(1, LOCK_ATTEMPTS + 1):
        began = time.monotonic()
        try:
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('lock_timeout', %s, true)", [f"{LOCK_TIMEOUT_MS}ms"]
                )
                cursor.execute(script)
        except DatabaseError as exc:
            if sqlstate(exc) != LOCK_NOT_AVAILABLE or attempt == LOCK_ATTEMPTS:
                raise
            progress(f"calls is busy (no lock within {LOCK_TIMEOUT_MS} ms); trying again")
            time.sleep(attempt)
            continue
        return (time.monotonic() - began) * 1000
    raise AssertionError("unreachable")


def backfill(connection: BaseDatabaseWrapper, calls: str, progress: Progress) -> tuple[int, int]:
    """Step 2: count calls into new rollup tables; (ended calls counted, rollup rows)."""
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        set_local(cursor, COUNTING_SETTINGS)
        cursor.execute(
            f"TRUNCATE {SCHEMA}.backfill_delta;"
            f"DROP TABLE IF EXISTS {', '.join(f'{SCHEMA}.{grain}_new' for grain in GRAINS)}"
        )
        rows = count_calls(cursor, calls, progress)
        # The shape of calls just counted: reading it holds off every rewrite of calls
        # until this commits, and step 3 checks that none came after.
        cursor.execute(record_calls_shape_statement(calls, "install"))
        began = time.monotonic()
        cursor.execute(BUILD_NEW_TABLES)
        cursor.execute(
            "SELECT " + " + ".join(f"(SELECT count(*) FROM {SCHEMA}.{g}_new)" for g in GRAINS)
        )
        buckets = int(cursor.fetchone()[0])
    progress(f"building the rollup: {buckets:,} rows in {time.monotonic() - began:.1f} s")
    return rows, buckets


#: The rollup's four grains, which steps 2 and 3 build and swap in.
GRAINS = ("lead_segment_buckets", "segment_buckets", "lead_agency_buckets", "agency_buckets")

#: Step 2's second half, in the counting snapshot. The pending deltas it sees are of
#: writes it already counted in calls, so they are taken off here; the heatmap adds all
#: of pending back, with everything written since. The finest grain is built from the
#: counts, and each coarser one is a sum of it, as fold() keeps them. Rows go in key
#: order, so one agency's window is a few dozen pages, not a row on each of thousands; a
#: fifth of each page is left free, so a fold updates a row in place (HOT) and keeps it
#: there. Indexes are built after the load, several times faster.
BUILD_NEW_TABLES = f"""
INSERT INTO {SCHEMA}.backfill_delta
    SELECT agency_id, campaign_id, client_id, bucket, lead_group,
           -total_calls, -connected_calls, -meetings_booked
    FROM {SCHEMA}.pending;
CREATE TABLE {SCHEMA}.lead_segment_buckets_new (LIKE {SCHEMA}.lead_segment_buckets)
    WITH (fillfactor = 80);
INSERT INTO {SCHEMA}.lead_segment_buckets_new
    SELECT agency_id, campaign_id, client_id, bucket, lead_group,
           sum(total_calls), sum(connected_calls), sum(meetings_booked)
    FROM {SCHEMA}.backfill_delta
    GROUP BY agency_id, campaign_id, client_id, bucket, lead_group
    HAVING sum(total_calls) <> 0 OR sum(connected_calls) <> 0 OR sum(meetings_booked) <> 0
    ORDER BY agency_id, campaign_id, client_id, bucket, lead_group;
CREATE TABLE {SCHEMA}.segment_buckets_new (LIKE {SCHEMA}.segment_buckets)
    WITH (fillfactor = 80);
INSERT INTO {SCHEMA}.segment_buckets_new
    SELECT agency_id, campaign_id, client_id, bucket,
           sum(total_calls), sum(connected_calls), sum(meetings_booked)
    FROM {SCHEMA}.lead_segment_buckets_new
    GROUP BY agency_id, campaign_id, client_id, bucket
    HAVING sum(total_calls) <> 0 OR sum(connected_calls) <> 0 OR sum(meetings_booked) <> 0
    ORDER BY agency_id, campaign_id, client_id, bucket;
CREATE TABLE {SCHEMA}.lead_agency_buckets_new (LIKE {SCHEMA}.lead_agency_buckets)
    WITH (fillfactor = 80);
INSERT INTO {SCHEMA}.lead_agency_buckets_new
    SELECT agency_id, bucket, lead_group,
           sum(total_calls), sum(connected_calls), sum(meetings_booked)
    FROM {SCHEMA}.lead_segment_buckets_new
    GROUP BY agency_id, bucket, lead_group
    HAVING sum(total_calls) <> 0 OR sum(connected_calls) <> 0 OR sum(meetings_booked) <> 0
    ORDER BY agency_id, bucket, lead_group;
CREATE TABLE {SCHEMA}.agency_buckets_new (LIKE {SCHEMA}.agency_buckets)
    WITH (fillfactor = 80);
INSERT INTO {SCHEMA}.agency_buckets_new
    SELECT agency_id, bucket, sum(total_calls), sum(connected_calls), sum(meetings_booked)
    FROM {SCHEMA}.segment_buckets_new
    GROUP BY agency_id, bucket
    ORDER BY agency_id, bucket;
CREATE UNIQUE INDEX lead_segment_buckets_new_key ON {SCHEMA}.lead_segment_buckets_new
    (agency_id, campaign_id, client_id, bucket, lead_group) NULLS NOT DISTINCT;
CREATE INDEX lead_segment_buckets_new_client ON {SCHEMA}.lead_segment_buckets_new
    (agency_id, client_id, bucket);
CREATE UNIQUE INDEX segment_buckets_new_key ON {SCHEMA}.segment_buckets_new
    (agency_id, campaign_id, client_id, bucket) NULLS NOT DISTINCT;
CREATE INDEX segment_buckets_new_client ON {SCHEMA}.segment_buckets_new
    (agency_id, client_id, bucket);
ALTER TABLE {SCHEMA}.lead_agency_buckets_new
    ADD CONSTRAINT lead_agency_buckets_new_pkey PRIMARY KEY (agency_id, bucket, lead_group);
ALTER TABLE {SCHEMA}.agency_buckets_new
    ADD CONSTRAINT agency_buckets_new_pkey PRIMARY KEY (agency_id, bucket);
ANALYZE {", ".join(f"{SCHEMA}.{grain}_new" for grain in GRAINS)};
"""


def swap_script(calls: str) -> str:
    """Step 3: the new tables replace the empty ones (or a remap's old ones), and the
    rollup is ready.

    Writers of calls only append to ``pending``, so they need not wait: the lock taken
    on calls holds off only a ``TRUNCATE`` (which empties the rollup) until this commits.
    The objects script then gives the new tables their row security and privileges.
    """
    return f"""
LOCK TABLE {calls} IN SHARE UPDATE EXCLUSIVE MODE;
DO $$
BEGIN
    IF (SELECT truncated_at FROM {SCHEMA}.rollup_state) IS NOT NULL THEN
        RAISE EXCEPTION 'calls was truncated while the rollup was being built: install again';
    END IF;
    IF (SELECT drifted FROM {SCHEMA}.calls_drift) THEN
        RAISE EXCEPTION 'calls was rewritten (ALTER ... TYPE, VACUUM FULL) while the rollup '
            'was being built: install again';
    END IF;
END
$$;
DROP VIEW {SCHEMA}.agency_counts, {SCHEMA}.segment_counts, {SCHEMA}.lead_agency_counts,
    {SCHEMA}.lead_segment_counts;
DROP TABLE {", ".join(f"{SCHEMA}.{grain}" for grain in GRAINS)};
ALTER TABLE {SCHEMA}.lead_segment_buckets_new RENAME TO lead_segment_buckets;
ALTER TABLE {SCHEMA}.lead_segment_buckets
    ADD CONSTRAINT lead_segment_buckets_key UNIQUE USING INDEX lead_segment_buckets_new_key;
ALTER INDEX {SCHEMA}.lead_segment_buckets_new_client RENAME TO lead_segment_buckets_client;
ALTER TABLE {SCHEMA}.segment_buckets_new RENAME TO segment_buckets;
ALTER TABLE {SCHEMA}.segment_buckets
    ADD CONSTRAINT segment_buckets_key UNIQUE USING INDEX segment_buckets_new_key;
ALTER INDEX {SCHEMA}.segment_buckets_new_client RENAME TO segment_buckets_client;
ALTER TABLE {SCHEMA}.lead_agency_buckets_new RENAME TO lead_agency_buckets;
ALTER TABLE {SCHEMA}.lead_agency_buckets
    RENAME CONSTRAINT lead_agency_buckets_new_pkey TO lead_agency_buckets_pkey;
ALTER TABLE {SCHEMA}.agency_buckets_new RENAME TO agency_buckets;
ALTER TABLE {SCHEMA}.agency_buckets
    RENAME CONSTRAINT agency_buckets_new_pkey TO agency_buckets_pkey;
{objects_script(calls)}
UPDATE {SCHEMA}.rollup_state SET ready = true, ready_at = now(), remapping = false;
"""


def count_calls(cursor: CursorWrapper, calls: str, progress: Progress) -> int:
    """Count ``calls`` into the work table block range by block range; rows read."""
    cursor.execute(
        "SELECT pg_relation_size(c.oid) / current_setting('block_size')::int, "
        "GREATEST(c.reltuples, 0)::bigint FROM pg_catalog.pg_class AS c WHERE c.oid = %s::regclass",
        [calls],
    )
    blocks, estimated = cursor.fetchone()
    per_block = estimated / blocks if blocks and estimated else 100.0
    chunk = max(1, int(COUNT_CHUNK_ROWS / per_block))
    meter = Meter(progress, "counting calls", total=max(estimated, 1), unit="rows")
    rows = 0
    for first in range(0, max(blocks, 1), chunk):
        last = first + chunk
        # The last range has no end: a table that grew since its size was read is
        # read to its end (rows in new blocks are newer than the snapshot anyway).
        bounded = last < blocks
        cursor.execute(
            f"WITH counted AS (INSERT INTO {SCHEMA}.backfill_delta "
            "SELECT agency_id, campaign_id, client_id, bucket, lead_group, count(*), "
            f"sum(connected), sum(booked) FROM {SCHEMA}.counted_calls() WHERE row_tid >= %s::tid"
            + (" AND row_tid < %s::tid" if bounded else "")
            + " GROUP BY 1, 2, 3, 4, 5 RETURNING total_calls) "
            "SELECT COALESCE(sum(total_calls), 0) FROM counted",
            [f"({first},0)", f"({last},0)"] if bounded else [f"({first},0)"],
        )
        rows += int(cursor.fetchone()[0])
        meter.update(min(estimated, round(min(last, blocks) * per_block)))
    meter.done(rows)
    return rows


def remove_after_failure(connection: BaseDatabaseWrapper, calls: str) -> None:
    """Put the database back as it was; a failure here must not hide the first one."""
    try:
        if connection.in_atomic_block:
            return
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(uninstall_script(calls))
    except DatabaseError:
        pass


class Meter:
    """Progress as lines: done of total, the rate and the time left, at most one a second."""

    def __init__(self, progress: Progress, label: str, *, total: int, unit: str) -> None:
        self.progress, self.label, self.total, self.unit = progress, label, total, unit
        self.started = self.printed = time.monotonic()

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self.printed < 1.0:
            return
        self.printed = now
        rate = done / max(now - self.started, 1e-9)
        left = (self.total - done) / rate if rate else 0.0
        self.progress(
            f"{self.label}: {done:,} of ~{self.total:,} {self.unit} ({done / self.total:.0%}), "
            f"{rate:,.0f} {self.unit}/s, about {left:.0f} s left"
        )

    def done(self, done: int) -> None:
        seconds = time.monotonic() - self.started
        self.progress(f"{self.label}: {done:,} {self.unit} in {seconds:.1f} s")
