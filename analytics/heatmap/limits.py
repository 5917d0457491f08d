"""How far one heatmap read of ``calls`` may go: the settings its query runs under on
PostgreSQL (a statement timeout among them) and the agency's scan slots, which cap how
many such reads run at once. The selectors hold both around every scan."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from uuid import UUID, uuid4

from django.core.cache import BaseCache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import connections

from analytics.conf import conf
from analytics.db import settings_for_transaction
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
