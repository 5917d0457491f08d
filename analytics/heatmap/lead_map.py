"""Loads the shipped time-zone map into the app's tables, and says which one is loaded.

After every ``migrate`` (Django's ``post_migrate``, as ``contenttypes`` makes its rows),
:func:`refresh_lead_zone_map` loads the shipped map where the tables hold another or
none: a release with a newer map needs no migration of its own, and a test run's flush,
which empties every table, is followed by the map again. On PostgreSQL the tables are
closed to every role but their owner (the app's): Supabase grants ``anon`` and
``authenticated`` whatever is created in ``public``, and a map anyone could write would
move every agency's heatmap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from analytics.heatmap.lead_clock import shipped_map

TABLES = ("analytics_lead_zone_map", "analytics_lead_zone_group", "analytics_lead_prefix_range")


#: Rows per INSERT while loading: 13,000 ranges in a few statements, well under SQLite's
#: 32,766 parameters a statement.
BATCH_ROWS = 2_000


def load_lead_zone_map(connection: BaseDatabaseWrapper) -> str:
    """Replace the tables' map with the shipped one, in one transaction; its version."""
    zone_map = shipped_map()
    groups = [(number, " ".join(zones)) for number, zones in enumerate(zone_map.groups, 1)]
    ranges = zone_map.ranges()
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("DELETE FROM analytics_lead_prefix_range")
        cursor.execute("DELETE FROM analytics_lead_zone_group")
        cursor.execute("DELETE FROM analytics_lead_zone_map")
        _insert(cursor, "analytics_lead_zone_group (id, zones)", groups)
        _insert(cursor, "analytics_lead_prefix_range (key, group_id, prefix)", ranges)
        cursor.execute(
            "INSERT INTO analytics_lead_zone_map (id, version, loaded_at) VALUES (1, %s, %s)",
            [zone_map.version, timezone.now()],
        )
        if connection.vendor == "postgresql":
            close_to_other_roles(cursor)
    return zone_map.version


def _insert(cursor: CursorWrapper, target: str, rows: Sequence[tuple[Any, ...]]) -> None:
    for first in range(0, len(rows), BATCH_ROWS):
        batch = rows[first : first + BATCH_ROWS]
        row = "(" + ", ".join(["%s"] * len(batch[0])) + ")"
        cursor.execute(
            f"INSERT INTO {target} VALUES {', '.join([row] * len(batch))}",
            [value for values in batch for value in values],
        )


def refresh_lead_zone_map(using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """``post_migrate``: the shipped map into ``using``'s tables, unless they hold it already
    (one indexed read) or are not there yet (the app's migrations have not run on it).
    """
    connection = connections[using]
    with connection.cursor() as cursor:
        if TABLES[0] not in connection.introspection.table_names(cursor):
            return
    if loaded_map_version(using) != shipped_map().version:
        load_lead_zone_map(connection)
    elif connection.vendor == "postgresql":
        # A database loaded by an older release: its tables get what it lacks. Asked first,
        # in one read: ENABLE ROW LEVEL SECURITY locks the tables even when it is on, and
        # every deploy's migrate would queue behind the lead scans reading them.
        with transaction.atomic(using=using), connection.cursor() as cursor:
            if open_to_other_roles(cursor):
                close_to_other_roles(cursor)


#: Whether any of the map's tables lacks row security or its ``readers`` policy, or grants
#: PUBLIC or one of Supabase's API roles anything: what :func:`close_to_other_roles` mends.
OPEN_TO_OTHER_ROLES_SQL = """
SELECT EXISTS (
    SELECT 1 FROM pg_catalog.pg_class AS c
    WHERE c.oid = ANY (%s::regclass[])
      AND (
        NOT c.relrowsecurity
        OR NOT EXISTS (
            SELECT 1 FROM pg_catalog.pg_policy AS p
            WHERE p.polrelid = c.oid AND p.polname = 'readers'
        )
        OR EXISTS (
            SELECT 1 FROM aclexplode(c.relacl) AS a
            WHERE a.grantee = 0 OR a.grantee IN (
                SELECT oid FROM pg_catalog.pg_roles
                WHERE rolname IN ('anon', 'authenticated', 'service_role')
            )
        )
      )
)
"""


def open_to_other_roles(cursor: CursorWrapper) -> bool:
    """Whether the map's tables still need :func:`close_to_other_roles` (one catalog read)."""
    cursor.execute(OPEN_TO_OTHER_ROLES_SQL, [list(TABLES)])
    row = cursor.fetchone()
    return bool(row and row[0])


def close_to_other_roles(cursor: CursorWrapper) -> None:
    """No grant but the owner's, and row-level security on (the owner bypasses it).

    A role the owner grants SELECT (Django on a role of its own,
    docs/deploying-on-supabase.md) reads every row: the ``readers`` policy lets whoever
    holds the privilege see them, and only the owner grants it. Without the policy such
    a role would read an empty map and place no call, silently.
    """
    for table in TABLES:
        cursor.execute(f"REVOKE ALL ON {table} FROM PUBLIC")
        cursor.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        cursor.execute(
            "SELECT 1 FROM pg_catalog.pg_policy "
            "WHERE polrelid = %s::regclass AND polname = 'readers'",
            [table],
        )
        if cursor.fetchone() is None:
            cursor.execute(f"CREATE POLICY readers ON {table} FOR SELECT USING (true)")
    cursor.execute(
        "DO $$ DECLARE r text; BEGIN "
        "FOR r IN SELECT rolname FROM pg_roles "
        "WHERE rolname IN ('anon', 'authenticated', 'service_role') LOOP "
        f"EXECUTE format('REVOKE ALL ON {', '.join(TABLES)} FROM %I', r); "
        "END LOOP; END $$"
    )


def loaded_map_version(using: str) -> str | None:
    """The ``phonenumbers`` release of the map in ``using``'s tables; ``None`` if none is."""
    stamp = loaded_map_stamp(using)
    return None if stamp is None else stamp[0]


def loaded_map_stamp(using: str) -> tuple[str, str] | None:
    """The release of the map in ``using``'s tables and when it was loaded: what a copy of
    the tables is cached by, so every load (a ``migrate``, a test's flush) is read afresh."""
    try:
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            cursor.execute("SELECT version, loaded_at FROM analytics_lead_zone_map")
            row = cursor.fetchone()
    except DatabaseError:
        return None
    return None if row is None else (str(row[0]), str(row[1]))
