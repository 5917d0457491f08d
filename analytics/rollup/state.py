"""Whether the rollup can answer on a database: read from it, briefly remembered.

Each process asks the database at most every few seconds, so a request pays for the
question about once in a hundred. An install or uninstall by another process is seen
within that time; a rollup dropped sooner makes its read fail, which the selector
answers from the raw scan, and :func:`forget` is then called.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError, connections, transaction
from django.db.backends.utils import CursorWrapper

from analytics.db import table_readable
from analytics.models import Call, LeadZoneMap
from analytics.rollup.sql import SCHEMA, TRIGGERS, VERSION

logger = logging.getLogger(__name__)

#: Seconds a process trusts what it last read.
REMEMBER_SECONDS = 5.0

_lock = threading.Lock()
_known: dict[str, tuple[float, RollupState | None]] = {}
#: (database, the rollup's map, the app's map) already logged as differing: said once.
_told: set[tuple[str, str | None, str | None]] = set()


@dataclass(frozen=True, slots=True)
class RollupState:
    installed: bool
    ready: bool = False
    version: int | None = None
    #: How many of the rollup's triggers are on calls: all of them, or it is going stale
    #: (``DROP TABLE calls`` and a new calls, say, drop them and leave the rollup).
    triggers: int = 0
    #: The ``phonenumbers`` release of the time-zone map the rollup's lead grains count by.
    map_version: str | None = None
    #: The release the app's tables hold, which the raw scan places calls by.
    app_map_version: str | None = None
    #: An install is rebuilding the grains for a newer map.
    remapping: bool = False
    #: What changed in calls since the rollup last counted it, unseen by its triggers
    #: (``calls_drift``): a column's type, or its storage (a rewrite). Empty when nothing did.
    drift: tuple[str, ...] = ()

    @property
    def answers(self) -> bool:
        return self.ready and self.version == VERSION and self.triggers == len(TRIGGERS)

    @property
    def trusted(self) -> bool:
        """It answers, and calls has the shape it counted: no rewrite it did not see.

        The read path asks this (every :data:`REMEMBER_SECONDS`, one catalog read): a
        drifted rollup may be wrong, so the scan answers, slower but exact, until
        ``heatmap_rollup verify --repair`` records the new shape.
        """
        return self.answers and not self.drift

    @property
    def map_current(self) -> bool:
        """The lead grains count by the map the app's tables hold, and no remap is under way."""
        return (
            not self.remapping
            and self.map_version is not None
            and self.map_version == self.app_map_version
        )

    @property
    def answers_lead(self) -> bool:
        """It answers, and on the lead's clock as the raw scan would place each call."""
        return self.trusted and self.map_current


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
        # The row as JSON: a rollup of an older version, without this one's columns, is
        # still read (and then installed afresh).
        cursor.execute(
            "SELECT to_jsonb(s)::text, (SELECT count(*) FROM pg_catalog.pg_trigger "
            "WHERE tgrelid = to_regclass(%s) AND tgname = ANY(%s)) "
            f"FROM {SCHEMA}.rollup_state AS s",
            [Call._meta.db_table, list(TRIGGERS)],
        )
        state = cursor.fetchone()
        app_map_version = read_app_map_version(cursor)
        drift = read_drift(cursor)
    if state is None:
        return RollupState(installed=True)
    row, triggers = json.loads(state[0]), state[1]
    return RollupState(
        installed=True,
        ready=bool(row["ready"]),
        version=int(row["version"]),
        triggers=triggers,
        map_version=row.get("map_version"),
        app_map_version=app_map_version,
        remapping=bool(row.get("remapping", False)),
        drift=drift,
    )


def read_drift(cursor: CursorWrapper) -> tuple[str, ...]:
    """What changed in calls since the rollup recorded its shape, one phrase each; nothing
    when the rollup has no record (an older version, an install under way) or this role
    may not read it."""
    if not table_readable(cursor, SCHEMA, "calls_drift"):
        return ()
    cursor.execute(f"SELECT to_jsonb(d)::text FROM {SCHEMA}.calls_drift AS d WHERE d.drifted")
    row = cursor.fetchone()
    if row is None:
        return ()
    drift = json.loads(row[0])
    recorded, now = drift["recorded_types"], drift["types"]
    changes = [
        f"column {name} is {now[name]}, was {was}"
        if name in now
        else f"column {name} ({was}) is gone"
        for name, was in sorted(recorded.items())
        if now.get(name) != was
    ]
    if drift["relfilenode"] != drift["recorded_relfilenode"]:
        since = datetime.fromisoformat(drift["recorded_at"]).isoformat(timespec="seconds")
        changes.append(
            "its rows were rewritten (ALTER ... TYPE, VACUUM FULL, CLUSTER) since "
            f"{drift['recorded_by']} recorded them at {since}"
        )
    return tuple(changes)


def read_app_map_version(cursor: CursorWrapper) -> str | None:
    """The release of the map in the app's own tables (:class:`~analytics.models.LeadZoneMap`),
    which the raw scan places calls by; ``None`` when they hold none or are not there."""
    table = LeadZoneMap._meta.db_table
    cursor.execute("SELECT has_table_privilege(to_regclass(%s), 'SELECT')", [table])
    if not cursor.fetchone()[0]:
        return None
    cursor.execute(f"SELECT version FROM {cursor.db.ops.quote_name(table)}")
    row = cursor.fetchone()
    return None if row is None else str(row[0])


def current_state(using: str) -> RollupState | None:
    """:func:`read_state`, remembered for :data:`REMEMBER_SECONDS`; ``None`` when it could
    not be read. Says once per process when the lead grains' map is not the app's."""
    now = time.monotonic()
    with _lock:
        known = _known.get(using)
    if known is not None and now - known[0] < REMEMBER_SECONDS:
        return known[1]
    try:
        state: RollupState | None = read_state(using)
    except DatabaseError:
        state = None
    if state is not None and state.answers and state.app_map_version and not state.map_current:
        _tell_map_differs(using, state)
    if state is not None and state.answers and state.drift:
        _tell_drift(using, state)
    with _lock:
        _known[using] = (now, state)
    return state


def rollup_ready(using: str) -> bool:
    """True when the rollup of this version is installed, backfilled and kept current, and
    calls has the shape it counted (:attr:`RollupState.trusted`)."""
    state = current_state(using)
    return state is not None and state.trusted


def _tell_map_differs(using: str, state: RollupState) -> None:
    told = (using, state.map_version, state.app_map_version)
    with _lock:
        if told in _told or state.remapping:
            return
        _told.add(told)
    logger.warning(
        "The rollup on database %r counts by the time-zone map of phonenumbers %s, the app's "
        "tables hold %s: clock=lead reads calls until you run "
        "python manage.py heatmap_rollup install",
        using,
        state.map_version,
        state.app_map_version,
    )


def _tell_drift(using: str, state: RollupState) -> None:
    told = (using, "; ".join(state.drift), None)
    with _lock:
        if told in _told:
            return
        _told.add(told)
    logger.warning("%s", drift_message(using, state.drift))


#: What mends a drift, and records the shape of calls again.
REPAIR_COMMAND = "python manage.py heatmap_rollup verify --repair"


def drift_message(using: str, drift: tuple[str, ...]) -> str:
    """What ``status``, ``check --database`` (analytics.W010) and the log say of a drift."""
    return (
        f"The rollup on database {using!r} may be out of date: calls changed unseen by its "
        f"triggers ({'; '.join(drift)}). The heatmap reads calls until you run {REPAIR_COMMAND}."
    )


def forget(using: str | None = None) -> None:
    """Ask the database again next time: after an install, an uninstall or a failed read."""
    with _lock:
        if using is None:
            _known.clear()
        else:
            _known.pop(using, None)
