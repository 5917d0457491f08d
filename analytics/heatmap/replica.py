"""The heatmap's reads on a read replica, and on the primary when the replica cannot answer.

``ANALYTICS_HEATMAP_DATABASE`` may name a hot standby, which can be down, replay behind
the primary, or cancel a query that conflicts with what it replays. Each of these makes
:func:`read` run the read again on ``"default"`` (the primary), say so in one warning on
the ``analytics`` logger (:data:`FALLBACK_PREFIX`, then the reason) and count the answer
as the source ``"fallback"``. Any other failure (a statement timeout, a missing grant) is
the read's own, which the primary would share: it is answered as it is.

A process remembers, per alias, a replica it could not reach for :data:`DOWN_SECONDS`
(one request in that time pays the connect timeout, not each) and the lag it last read
for :data:`LAG_SECONDS` (at most one extra round trip a second: 39 us on a local standby).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from decimal import Decimal
from typing import TypeVar

from django.db import DatabaseError, InterfaceError, OperationalError, connections, transaction

from analytics.conf import conf
from analytics.db import first_line, sqlstate
from analytics.exceptions import READ_FAILURES, HeatmapError
from analytics.heatmap.measure import record_source
from analytics.rollup import state as rollup_state

logger = logging.getLogger(__name__)

#: The alias a replica's read falls back to.
PRIMARY = "default"
#: Seconds a process reads the primary without asking a replica it could not reach.
DOWN_SECONDS = 5.0
#: Seconds a process trusts the replica's lag it last read.
LAG_SECONDS = 1.0
#: How every fallback's warning starts; the reason follows: ``unreachable``,
#: ``conflict`` or ``lagging <seconds> s``. The record's ``fallback_reason`` is the word.
FALLBACK_PREFIX = "Heatmap read fell back to the primary: "

#: A query a hot standby cancelled (or whose connection it ended) to go on replaying:
#: "canceling statement due to conflict with recovery". The heatmap's reads never run
#: serializable and take no lock they wait for, so on a replica these come from replay.
CONFLICT_SQLSTATES = frozenset({"40001", "40P01"})
#: A server that is going or not there yet: shut down by an administrator, crashed, or
#: still starting up. A connection refused, reset or timed out has no SQLSTATE at all.
UNREACHABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})

#: What the lag is computed from (:func:`lag_seconds`), in one round trip.
LAG_SQL = (
    "SELECT pg_is_in_recovery(), "
    "pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), "
    "extract(epoch FROM now() - pg_last_xact_replay_timestamp())"
)

T = TypeVar("T")

_lock = threading.Lock()
#: Alias -> when it was last found unreachable (``time.monotonic()``).
_down: dict[str, float] = {}
#: Alias -> (when its lag was read, the lag; ``None``: not known).
_lags: dict[str, tuple[float, float | None]] = {}
#: The replica :func:`read` is trying now, whose failures it answers from the primary.
_trying: ContextVar[str | None] = ContextVar("analytics_replica_trying", default=None)


class ReplicaFailed(Exception):
    """The replica could not answer a read the primary can: ``reason`` says why in a word
    (``unreachable``, ``conflict``, ``lagging``), ``summary`` as the warning says it
    (``lagging 42.0 s``), ``detail`` in the server's words or ours."""

    def __init__(self, reason: str, detail: str, *, summary: str | None = None) -> None:
        self.reason = reason
        self.summary = summary or reason
        self.detail = detail
        super().__init__(f"{self.summary}: {detail}")


def read(read_on: Callable[[str], T]) -> T:
    """``read_on(alias)`` on ``ANALYTICS_HEATMAP_DATABASE``, or on the primary when that is
    a PostgreSQL replica that is down, lags by more than ``ANALYTICS_HEATMAP_REPLICA_MAX_LAG``
    or cancelled the read. A failure of the primary's read is the caller's, as without one.
    """
    alias = conf.HEATMAP_DATABASE
    if alias == PRIMARY or connections[alias].vendor != "postgresql":
        return read_on(alias)
    failed = _shunned(alias)
    if failed is None:
        trying = _trying.set(alias)
        try:
            return read_on(alias)
        except ReplicaFailed as exc:
            failed = exc
            _after_failure(alias, exc)
        finally:
            _trying.reset(trying)
    logger.warning(
        "%s%s; database %r: %s",
        FALLBACK_PREFIX,
        failed.summary,
        alias,
        failed.detail,
        extra={"fallback_reason": failed.reason},
    )
    record_source("fallback")  # before the read, so a primary that fails counts as one too
    return read_on(PRIMARY)


def failure_reason(exc: BaseException, using: str) -> str | None:
    """``"unreachable"`` (no connection: none could be made, or it broke), ``"conflict"``
    (cancelled by replay) or ``None``: the query's own failure, or not PostgreSQL's (whose
    errors carry no SQLSTATE to tell them apart)."""
    if connections[using].vendor != "postgresql":
        return None
    code = sqlstate(exc)
    if code in CONFLICT_SQLSTATES:
        return "conflict"
    if isinstance(exc, OperationalError | InterfaceError) and (
        code is None or code.startswith("08") or code in UNREACHABLE_SQLSTATES
    ):
        return "unreachable"
    return None


def replica_failure(using: str, exc: BaseException) -> ReplicaFailed | None:
    """What to raise instead of ``exc`` when it ended :func:`read`'s try of the replica
    ``using`` and the primary can answer; ``None`` otherwise."""
    reason = failure_reason(exc, using)
    if reason is None or _trying.get() != using:
        return None
    return ReplicaFailed(reason, first_line(exc))


def read_error(using: str, exc: BaseException) -> HeatmapError:
    """The ``calls_query_failed`` a failed read of ``using`` is, saying what failed (the
    connection or the query) and the server's reason, for the log and staff; the endpoint
    answers the code's own message."""
    what = "connection" if failure_reason(exc, using) == "unreachable" else "query"
    return HeatmapError(f"{READ_FAILURES[what].format(alias=using)}: {first_line(exc)}")


def lag_seconds(
    *, in_recovery: bool, unreplayed_bytes: float | None, since_replay: float | None
) -> float | None:
    """How far a server's answers are behind its primary, from what it says of itself.

    0 on a server not in recovery (a primary), and while it has replayed all the WAL it
    received (``unreplayed_bytes`` 0, or ``None`` when it streams none); else the time
    since the last transaction it replayed committed (``since_replay``, never below 0
    when the two servers' clocks differ), or ``None`` when it has replayed none yet.
    """
    if not in_recovery or unreplayed_bytes is None or unreplayed_bytes <= 0:
        return 0.0
    if since_replay is None:
        return None
    return max(0.0, since_replay)


def read_lag(using: str) -> float | None:
    """:func:`lag_seconds` of ``using``, asked now (one round trip)."""
    connection = connections[using]
    # A savepoint only inside a caller's transaction, which a failure must not abort;
    # on its own the question is one statement in autocommit.
    block: AbstractContextManager[object] = (
        transaction.atomic(using=using) if connection.in_atomic_block else nullcontext()
    )
    with block, connection.cursor() as cursor:
        cursor.execute(LAG_SQL)
        in_recovery, unreplayed, since = cursor.fetchone()
    return lag_seconds(
        in_recovery=bool(in_recovery),
        unreplayed_bytes=_number(unreplayed),
        since_replay=_number(since),
    )


def forget(using: str | None = None) -> None:
    """Ask the replica again next time, whatever was remembered of it."""
    with _lock:
        for known in (_down, _lags):
            if using is None:
                known.clear()
            else:
                known.pop(using, None)


def _shunned(alias: str) -> ReplicaFailed | None:
    """Why the replica is not asked this time: remembered down, unreachable now, or lagging."""
    now = time.monotonic()
    with _lock:
        down_at = _down.get(alias)
        lag = _lags.get(alias)
    if down_at is not None and now - down_at < DOWN_SECONDS:
        return ReplicaFailed(
            "unreachable",
            f"unreachable {now - down_at:.1f} s ago; asked again {DOWN_SECONDS:g} s after that",
        )
    limit = conf.HEATMAP_REPLICA_MAX_LAG
    try:
        connections[alias].ensure_connection()  # no round trip when connected already
        if limit is None:
            return None
        if lag is None or now - lag[0] >= LAG_SECONDS:
            lag = (now, read_lag(alias))
            with _lock:
                _lags[alias] = lag
    except DatabaseError as exc:
        reason = failure_reason(exc, alias)
        if reason is None:  # the read itself will say what is wrong
            return None
        failed = ReplicaFailed(reason, first_line(exc))
        _after_failure(alias, failed)
        return failed
    seconds = lag[1]
    if seconds is not None and seconds <= limit:
        return None
    if seconds is None:
        return ReplicaFailed(
            "lagging",
            "WAL received but no transaction replayed yet, so its lag is not known",
            summary="lagging, by an unknown time",
        )
    return ReplicaFailed(
        "lagging",
        f"more than ANALYTICS_HEATMAP_REPLICA_MAX_LAG ({limit:g} s) behind the primary",
        summary=f"lagging {seconds:.1f} s",
    )


def _after_failure(alias: str, failed: ReplicaFailed) -> None:
    """Remember an unreachable replica, and drop a connection that may be dead, so the next
    try connects afresh; its rollup's state is read again then too."""
    rollup_state.forget(alias)
    if failed.reason == "unreachable":
        with _lock:
            _down[alias] = time.monotonic()
            _lags.pop(alias, None)
    connection = connections[alias]
    if connection.in_atomic_block:
        return  # a caller's transaction holds it: closing now would break that too
    try:
        if failed.reason == "unreachable":
            connection.close()
        else:
            connection.close_if_unusable_or_obsolete()
    except DatabaseError:
        pass  # closing a broken connection may fail too: it is gone either way


def _number(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)
