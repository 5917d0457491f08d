"""Whether the rollup can answer on a database: read from it, briefly remembered.

Each process asks the database at most every few seconds, so a request pays for the
question about once in a hundred. An install or uninstall by another process is seen
within that time; a rollup dropped sooner makes its read fail, which the selector
answers from the raw scan, and :func:`forget` is then called.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.db import DatabaseError, connections, transaction

from analytics.db import table_readable
from analytics.models import Call
from analytics.rollup.sql import SCHEMA, TRIGGERS, VERSION

#: Seconds a process trusts what it last read.
REMEMBER_SECONDS = 5.0

_lock = threading.Lock()
_known: dict[str, tuple[float, bool]] = {}


@dataclass(frozen=True, slots=True)
class RollupState:
    installed: bool
    ready: bool = False
    version: int | None = None
    #: How many of the rollup's triggers are on calls: all of them, or it is going stale
    #: (``DROP TABLE calls`` and a new calls, say, drop them and leave the rollup).
    triggers: int = 0

    @property
    def answers(self) -> bool:
        return self.ready and self.version == VERSION and self.triggers == len(TRIGGERS)


def read_state(using: str) -> RollupState:
    """The rollup's state on ``using``, asked now; never raises for a missing rollup.

    The catalog is asked first, so a database without the rollup logs no error, and a
    role that may not read the schema is told apart from a rollup that is not there.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return RollupState(installed=False)
    with transaction.atomic(using=using), connection.cursor() as cursor:
        readable = table_readable(cursor, SCHEMA, "rollup_state")
        if not readable:
            return RollupState(installed=readable is not None)
        cursor.execute(
            f"SELECT ready, version, (SELECT count(*) FROM pg_catalog.pg_trigger "
            "WHERE tgrelid = to_regclass(%s) AND tgname = ANY(%s)) "
            f"FROM {SCHEMA}.rollup_state",
            [Call._meta.db_table, list(TRIGGERS)],
        )
        state = cursor.fetchone()
    if state is None:
        return RollupState(installed=True)
    ready, version, triggers = state
    return RollupState(installed=True, ready=bool(ready), version=int(version), triggers=triggers)


def rollup_ready(using: str) -> bool:
    """True when the rollup of this version is installed, backfilled and kept current."""
    now = time.monotonic()
    with _lock:
        known = _known.get(using)
    if known is not None and now - known[0] < REMEMBER_SECONDS:
        return known[1]
    try:
        state = read_state(using)
    except DatabaseError:
        ready = False
    else:
        ready = state.answers
    with _lock:
        _known[using] = (now, ready)
    return ready


def forget(using: str | None = None) -> None:
    """Ask the database again next time: after an install, an uninstall or a failed read."""
    with _lock:
        if using is None:
            _known.clear()
        else:
            _known.pop(using, None)
