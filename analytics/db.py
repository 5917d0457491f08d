"""How the app's queries meet the database: their transactions under ``SET LOCAL`` bounds,
the scan slots, what a catalog lookup or a database error says, and the expressions the
ORM lacks (or lacks in the shape the heatmap needs), each written once for every backend."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Any
from uuid import UUID, uuid4

from django.core.cache import BaseCache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import NotSupportedError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.db.models import BooleanField, F, Func
from django.db.models.functions import TruncHour
from django.db.models.sql.compiler import SQLCompiler

from analytics.conf import conf
from analytics.exceptions import HeatmapError
from analytics.heatmap.measure import record_scan_wait

#: How long a request waits for a scan slot of its agency before answering 503: long
#: enough to outlast a typical scan, short enough that a client is not left hanging.
SCAN_WAIT_SECONDS = 5.0
#: How often a request waiting for a scan slot tries again.
SCAN_SLOT_POLL_SECONDS = 0.05
#: How long a slot outlives the statement timeout when its holder never gives it back (a
#: process killed mid-scan): the scan's few other round trips fit in it, and then the slot
#: frees itself. Its scan was cancelled by the statement timeout long before.
SCAN_SLOT_MARGIN_SECONDS = 5
#: A slot's cache key: the agency and the slot's number.
SCAN_SLOT_KEY = "analytics:scan-slot:{agency_id}:{slot}"

logger = logging.getLogger(__name__)

#: The agencies whose slot this context (request, thread) holds: a read made again within
#: it (the replica fallback's read of the primary) reuses the slot instead of waiting on it.
_slots_held: ContextVar[frozenset[UUID]] = ContextVar(
    "analytics_scan_slots_held", default=frozenset()
)
#: Where slots are counted while ``ANALYTICS_HEATMAP_CACHE`` cannot be reached: in this
#: process alone, so the cap holds per process rather than not at all.
_process_slots = LocMemCache("analytics-scan-slots", {"OPTIONS": {"MAX_ENTRIES": 1_000_000}})


def heatmap_settings() -> dict[str, str]:
    """Settings the calls query runs under on PostgreSQL, each measured (docs/performance.md).

    - ``statement_timeout``: a runaway query is cancelled, never left holding a worker.
    - ``enable_sort = off``: at most 168 groups always fit a hash table, but the
      planner cannot know it (it takes the distinct count of ``created_at``), so it
      picks a sort that carries every row's ``analysis`` and spills to disk.
    - ``jit = off``: compiling the query costs more than it saves at this size.
    """
    timeout_ms = max(1, round(conf.HEATMAP_STATEMENT_TIMEOUT * 1000))
    return {"statement_timeout": f"{timeout_ms}ms", "enable_sort": "off", "jit": "off"}


def bounded_calls_query(using: str) -> AbstractContextManager[None]:
    """Run the block in its own transaction, under :func:`heatmap_settings` on PostgreSQL."""
    return settings_for_transaction(using, heatmap_settings())


@contextmanager
def settings_for_transaction(using: str, wanted: dict[str, str]) -> Iterator[None]:
    """Run the block in its own transaction, under ``SET LOCAL`` ``wanted`` on PostgreSQL.

    ``SET LOCAL`` lasts to the end of the outermost transaction, so inside a
    caller's transaction the previous values are put back afterwards; a failed
    block rolls its savepoint back, and PostgreSQL restores them itself.
    """
    connection = connections[using]
    nested = connection.in_atomic_block
    with transaction.atomic(using=using):
        if connection.vendor != "postgresql":
            yield
            return
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT " + ", ".join(["current_setting(%s)"] * len(wanted)), list(wanted)
            )
            previous = dict(zip(wanted, cursor.fetchone(), strict=True))
            set_local(cursor, wanted)
        yield
        if nested:
            with connection.cursor() as cursor:
                set_local(cursor, previous)


def set_local(cursor: CursorWrapper, values: dict[str, str]) -> None:
    """``SET LOCAL`` for several settings in one round trip (``set_config(..., true)``)."""
    params = [item for pair in values.items() for item in pair]
    cursor.execute("SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(values)), params)


@contextmanager
def scan_slot(using: str, agency_id: UUID) -> Iterator[None]:
    """Hold one of the agency's ``ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS`` scan slots for the
    block, waiting at most :data:`SCAN_WAIT_SECONDS`; with none free by then it raises a
    ``HeatmapError`` coded ``scans_busy``. The wait is recorded (``record_scan_wait``).

    A slot is a key of ``ANALYTICS_HEATMAP_CACHE``, added atomically (``cache.add``: Redis
    ``SET NX``) and deleted when the block ends, however it ends. So the cap holds across
    every app server sharing that cache, whichever database each reads (a primary, a hot
    standby, which refuses row locks and keeps advisory locks to itself, or the primary
    after a standby failed), and no database login can take a slot: only whoever may
    write to the cache. A process killed mid-scan leaves its slot for the statement
    timeout plus :data:`SCAN_SLOT_MARGIN_SECONDS`. A read made again in the block for the
    same agency (the fallback to the primary) reuses the slot.

    A per-process cache (``LocMemCache``, the default without Redis) caps each process on
    its own; so does a cache that cannot be reached, which is logged. No cap on SQLite,
    or with the setting ``None``.
    """
    slots = conf.HEATMAP_MAX_CONCURRENT_SCANS
    held = _slots_held.get()
    if slots is None or connections[using].vendor != "postgresql" or agency_id in held:
        yield
        return
    store, key, holder = _claim_scan_slot(agency_id, slots)
    reset = _slots_held.set(held | {agency_id})
    try:
        yield
    finally:
        _slots_held.reset(reset)
        _give_back_scan_slot(store, key, holder)


def _claim_scan_slot(agency_id: UUID, slots: int) -> tuple[BaseCache, str, str]:
    """Wait for a free slot of the agency: the cache that holds it, its key, its holder."""
    keys = [SCAN_SLOT_KEY.format(agency_id=agency_id, slot=slot) for slot in range(slots)]
    ttl = math.ceil(conf.HEATMAP_STATEMENT_TIMEOUT) + SCAN_SLOT_MARGIN_SECONDS
    holder = uuid4().hex
    wait = SCAN_WAIT_SECONDS
    started = time.monotonic()
    store = _shared_slots()
    try:
        while True:
            for key in keys:
                try:
                    if store.add(key, holder, ttl):
                        return store, key, holder
                except Exception:
                    if store is _process_slots:
                        raise
                    logger.warning(
                        "Scan slot cache %r unreachable; capping this process's scans alone",
                        conf.HEATMAP_CACHE,
                        exc_info=True,
                    )
                    store = _process_slots
                    break
            else:
                if time.monotonic() - started >= wait:
                    raise HeatmapError(code="scans_busy", retry_after=max(1, math.ceil(wait)))
                time.sleep(SCAN_SLOT_POLL_SECONDS)
    finally:
        record_scan_wait(time.monotonic() - started)


def _shared_slots() -> BaseCache:
    try:
        return caches[conf.HEATMAP_CACHE]
    except Exception:
        logger.warning(
            "Scan slot cache %r unusable; capping this process's scans alone",
            conf.HEATMAP_CACHE,
            exc_info=True,
        )
        return _process_slots


def _give_back_scan_slot(store: BaseCache, key: str, holder: str) -> None:
    """Delete the slot if it is still this holder's (it may have expired and been retaken
    by a scan that outlived its bound); a cache that fails here lets it expire."""
    try:
        if store.get(key) == holder:
            store.delete(key)
    except Exception:
        logger.warning("Scan slot %s not given back; it frees itself when it expires", key)


def table_readable(cursor: CursorWrapper, schema: str, table: str) -> bool | None:
    """Whether this role may read ``schema.table``; ``None`` when there is no such table.

    Asked of the catalogs, which every role may read, so a missing table or schema
    is an answer, not an error (and no error in the server's log).
    """
    cursor.execute(
        "SELECT has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT') "
        "FROM pg_catalog.pg_class AS c "
        "JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s",
        [schema, table],
    )
    row = cursor.fetchone()
    return None if row is None else bool(row[0])


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error from psycopg 3 (``sqlstate``) or psycopg2 (``pgcode``)."""
    cause = exc.__cause__ or exc
    code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    return str(code) if code else None


def first_line(exc: BaseException) -> str:
    """A database error's message without its detail, context or SQL: one line to print."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class IsJSONTrue(Func):
    """True where the JSON value at ``path`` is the literal ``true``, else false.

    Django's ``field__key=True`` lookup cannot be used: on SQLite it also
    matches the string ``"true"``, so the two databases would disagree.
    """

    output_field = BooleanField()

    def __init__(self, field: str, *path: str) -> None:
        if not path:
            raise ValueError("IsJSONTrue needs at least one key in its path.")
        super().__init__(F(field))
        self.path = path

    def as_sql(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> tuple[str, tuple[Any, ...]]:
        # Dispatch here, not in as_<vendor>(): aggregates compile their ``filter``
        # with a direct as_sql() call that skips Django's vendor dispatch.
        column, params = compiler.compile(self.source_expressions[0])
        if connection.vendor == "postgresql":
            arrows = " -> ".join(["%s"] * len(self.path))
            # COALESCE: a missing key is "not true", never NULL, so NOT(...) works too.
            sql = f"COALESCE(({column} -> {arrows}) = 'true'::jsonb, false)"
            return sql, (*params, *self.path)
        if connection.vendor == "sqlite":
            # JSON_TYPE names the JSON type, so the string "true" is 'text', not 'true'.
            sql = f"COALESCE(JSON_TYPE({column}, %s) = 'true', 0)"
            return sql, (*params, sqlite_json_path(self.path))
        raise NotSupportedError(f"IsJSONTrue is not implemented for {connection.vendor}.")


def sqlite_json_path(keys: tuple[str, ...]) -> str:
    """``$."key"."next"``: SQLite's path to an object key, each key quoted as a JSON string.

    Written here because Django's own helper is private and moved in Django 6.0
    (``django.db.models.fields.json.compile_json_path`` became
    ``connection.ops.compile_json_path``).
    """
    return "$" + "".join(f".{json.dumps(key)}" for key in keys)


class LocalHour(TruncHour):
    """The local wall-clock hour a call started in, left as the database gives it.

    Folding needs only its weekday and hour, so the per-row conversion to an
    aware datetime (``TruncHour.convert_value``) is skipped: a third of the
    endpoint's fixed cost for a small agency.
    """

    def convert_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return value
