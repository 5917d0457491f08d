"""What the rollup holds, and where it differs from a fresh count of ``calls``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import DatabaseError, transaction
from django.db.backends.utils import CursorWrapper

from analytics.db import first_line, set_local, table_readable
from analytics.exceptions import RollupError
from analytics.models import Call
from analytics.rollup import state
from analytics.rollup.install import (
    COUNTING_SETTINGS,
    GRAINS,
    installed_objects,
    postgresql_connection,
)
from analytics.rollup.sql import (
    SCHEMA,
    TRIGGERS,
    VERSION,
    calls_table_name,
    record_calls_shape_statement,
)


@dataclass(frozen=True, slots=True)
class RollupStatus:
    installed: bool
    ready: bool = False
    version: int | None = None
    triggers: tuple[str, ...] = ()
    agency_rows: int = 0
    segment_rows: int = 0
    lead_agency_rows: int = 0
    lead_segment_rows: int = 0
    #: Deltas the triggers appended that no fold has moved into the grains yet.
    pending_rows: int = 0
    rollup_bytes: int = 0
    calls_bytes: int = 0
    oldest_bucket: datetime | None = None
    newest_bucket: datetime | None = None
    ready_at: datetime | None = None
    #: When the last fold ran and how many deltas it moved; ``None`` before the first.
    last_fold_at: datetime | None = None
    last_folded: int | None = None
    #: The ``phonenumbers`` release of the map the lead grains count by, and the app's.
    map_version: str | None = None
    app_map_version: str | None = None
    remapping: bool = False
    #: What changed in calls unseen since the rollup last counted it (``RollupState.drift``).
    drift: tuple[str, ...] = ()

    @property
    def _state(self) -> state.RollupState:
        return state.RollupState(
            installed=self.installed,
            ready=self.ready,
            version=self.version,
            triggers=len(self.triggers),
            map_version=self.map_version,
            app_map_version=self.app_map_version,
            remapping=self.remapping,
        )

    @property
    def current(self) -> bool:
        """Installed, backfilled, of this version and with all its triggers: it answers."""
        return self._state.answers

    @property
    def map_current(self) -> bool:
        """Its lead grains count by the map the app's tables hold: it answers ``clock=lead``."""
        return self._state.map_current


@dataclass(frozen=True, slots=True)
class Difference:
    grain: str
    agency_id: UUID
    campaign_id: UUID | None
    client_id: UUID | None
    bucket: datetime
    #: The lead's zone group, in the ``lead_`` grains; ``None`` in the others.
    lead_group: int | None
    rollup: tuple[int, int, int]
    fresh: tuple[int, int, int]


def rollup_status(*, using: str) -> RollupStatus:
    connection = postgresql_connection(using)
    try:
        with transaction.atomic(using=using), connection.cursor() as cursor:
            calls = calls_table_name(cursor, Call._meta.db_table)
            present = installed_objects(cursor, calls) if calls else []
            triggers = tuple(name for name in present if name in TRIGGERS)
            current = state.read_state(using)
            if not current.installed:
                return RollupStatus(installed=False, triggers=triggers)
            tables = [*GRAINS, "pending"]
            if (current.version or 0) < 2:  # version 1 had no lead grains
                tables = [table for table in tables if not table.startswith("lead_")]
            cursor.execute(
                "SELECT "
                + ", ".join(f"(SELECT count(*) FROM {SCHEMA}.{table})" for table in tables)
                + ", "
                + " + ".join(f"pg_total_relation_size('{SCHEMA}.{table}')" for table in tables)
                + ", pg_total_relation_size(%s::regclass), "
                f"(SELECT min(bucket) FROM {SCHEMA}.agency_buckets), "
                f"(SELECT max(bucket) FROM {SCHEMA}.agency_buckets), "
                f"(SELECT ready_at FROM {SCHEMA}.rollup_state)",
                [calls],
            )
            *counts, rollup_bytes, calls_bytes, oldest, newest, ready_at = cursor.fetchone()
            last_fold_at, last_folded = None, None
            if table_readable(cursor, SCHEMA, "maintenance"):  # version 3 and later
                cursor.execute(f"SELECT last_fold_at, last_folded FROM {SCHEMA}.maintenance")
                last_fold_at, last_folded = cursor.fetchone() or (None, None)
    except DatabaseError as exc:
        raise RollupError(f"cannot read the rollup: {first_line(exc)}") from exc
    rows = dict(zip(tables, counts, strict=True))
    return RollupStatus(
        installed=True,
        ready=current.ready,
        version=current.version,
        triggers=triggers,
        agency_rows=rows.get("agency_buckets", 0),
        segment_rows=rows.get("segment_buckets", 0),
        lead_agency_rows=rows.get("lead_agency_buckets", 0),
        lead_segment_rows=rows.get("lead_segment_buckets", 0),
        pending_rows=rows.get("pending", 0),
        rollup_bytes=rollup_bytes,
        calls_bytes=calls_bytes,
        oldest_bucket=oldest,
        newest_bucket=newest,
        ready_at=ready_at,
        last_fold_at=last_fold_at,
        last_folded=last_folded,
        map_version=current.map_version,
        app_map_version=current.app_map_version,
        remapping=current.remapping,
        drift=current.drift,
    )


def rollup_differences(
    *, using: str, agency_id: UUID | None = None, record_shape: bool = False
) -> list[Difference]:
    """Every bucket where the rollup and a fresh count differ, read in one snapshot.

    With ``record_shape``, a full comparison that found nothing records calls' shape as
    the one counted (``verify --repair``: nothing to mend, a drift cleared), in the same
    transaction, so no rewrite of calls can come between.
    """
    connection = postgresql_connection(using)
    require_installed(using)
    try:
        with transaction.atomic(using=using), connection.cursor() as cursor:
            rows = counting(cursor, f"SELECT * FROM {SCHEMA}.differences(%s)", agency_id)
            if record_shape and agency_id is None and not rows:
                calls = calls_table_name(cursor, Call._meta.db_table)
                cursor.execute(record_calls_shape_statement(str(calls), "verify --repair"))
        state.forget(using)
    except DatabaseError as exc:
        raise RollupError(f"cannot compare the rollup with calls: {first_line(exc)}") from exc
    # differences() answers in Difference's order: the bucket's key, then the rollup's
    # three counts and the fresh three.
    found = []
    for grain, agency, campaign, client, bucket, group, *counts in rows:
        rollup, fresh = _counts(counts[:3]), _counts(counts[3:])
        found.append(Difference(grain, agency, campaign, client, bucket, group, rollup, fresh))
    return found


def _counts(counts: Sequence[Any]) -> tuple[int, int, int]:
    """Three counts of a ``differences()`` row (total, connected, booked), as ints."""
    total, connected, booked = counts
    return int(total), int(connected), int(booked)


def counting(cursor: CursorWrapper, sql: str, agency_id: UUID | None) -> list[Any]:
    """The rows of ``sql``, a call of the rollup's ``differences`` or ``repair`` given the
    agency (``NULL``: every agency), under ``COUNTING_SETTINGS``: both count calls afresh,
    as the install does. In the cursor's transaction, which ``SET LOCAL`` needs."""
    set_local(cursor, COUNTING_SETTINGS)
    cursor.execute(sql, [None if agency_id is None else str(agency_id)])
    rows: list[Any] = cursor.fetchall()
    return rows


def repair_rollup(*, using: str, agency_id: UUID | None = None) -> int:
    """Mend every differing bucket (``analytics_heatmap.repair``); how many were mended.

    It waits for a fold in flight (at most a minute: the maintenance row's lock)."""
    connection = postgresql_connection(using)
    require_current(using)
    try:
        with transaction.atomic(using=using), connection.cursor() as cursor:
            [(mended,)] = counting(cursor, f"SELECT {SCHEMA}.repair(%s)", agency_id)
    except DatabaseError as exc:
        raise RollupError(f"repair failed: {first_line(exc)}") from exc
    state.forget(using)  # a full repair recorded calls' shape
    return int(mended)


def fold_pending(*, using: str) -> int:
    """Move the pending deltas into the grains (``analytics_heatmap.fold``); how many moved.

    Answers are the same before and after; a fold keeps ``pending``, which every
    heatmap reads beside the grains, small. Run outside a transaction: it vacuums.
    A fold that could not run (another fold or repair holds the maintenance row, or the
    rollup is not ready) raises a ``RollupError`` saying why and what stays pending: it
    never passes for a fold of nothing.
    """
    connection = postgresql_connection(using)
    require_current(using)
    try:
        with transaction.atomic(using=using), connection.cursor() as cursor:
            cursor.execute(f"SELECT {SCHEMA}.fold()")
            folded = cursor.fetchone()[0]
            if folded is None:
                raise RollupError(why_not_folded(cursor))
            moved = int(folded)
        if moved:
            # The moved rows are dead in the index every heatmap reads pending through;
            # VACUUM runs outside a transaction, which this command is.
            with connection.cursor() as cursor:
                cursor.execute(f"VACUUM {SCHEMA}.pending")
    except DatabaseError as exc:
        raise RollupError(f"fold failed: {first_line(exc)}") from exc
    return moved


def why_not_folded(cursor: CursorWrapper) -> str:
    """Why fold() returned NULL, and how many deltas stay pending: one line."""
    cursor.execute(
        f"SELECT s.ready, s.remapping, (SELECT count(*) FROM {SCHEMA}.pending) "
        f"FROM {SCHEMA}.rollup_state AS s"
    )
    row = cursor.fetchone()
    ready, remapping, pending = row if row is not None else (False, False, 0)
    if not ready:
        why = "the rollup is not ready (an install has not finished)"
    elif remapping:
        why = "an install is rebuilding the rollup for a newer time-zone map"
    else:
        why = f"another fold or repair is running (it holds {SCHEMA}.maintenance)"
    return f"fold did not run: {why}; {pending:,} deltas stay pending for the next fold"


def require_current(using: str) -> None:
    """Installed and of this version: an older rollup's fold() is not this one's."""
    current = state.read_state(using)
    require_installed(using, current)
    if current.version != VERSION:
        raise RollupError(
            f"the rollup on database {using!r} is version {current.version}, this app's is "
            f"{VERSION}: run python manage.py heatmap_rollup install, which upgrades it"
        )


def require_installed(using: str, current: state.RollupState | None = None) -> None:
    """``current``, read once by a caller that needs it too, or the state asked now."""
    if not (current or state.read_state(using)).installed:
        raise RollupError(
            f"the rollup is not installed on database {using!r}: "
            "run python manage.py heatmap_rollup install"
        )
