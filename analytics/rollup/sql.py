"""The rollup's SQL, loaded from ``analytics/sql/rollup/``: the one place that reads it."""

from __future__ import annotations

from pathlib import Path

from django.db.backends.utils import CursorWrapper

SQL_DIR = Path(__file__).resolve().parent.parent / "sql" / "rollup"
SCHEMA = "analytics_heatmap"
#: Bumped whenever the files change what they create; ``status`` shows it.
VERSION = 3
#: Older versions ``install`` upgrades in place, their counts kept: this version's files
#: only add to what they made (CREATE ... IF NOT EXISTS, CREATE OR REPLACE). Any other
#: version is built anew.
UPGRADES_FROM = (2,)
TRIGGERS = (
    "analytics_heatmap_insert",
    "analytics_heatmap_update",
    "analytics_heatmap_delete",
    "analytics_heatmap_truncate",
)


#: The one file that touches calls itself (and so makes its writers wait a moment).
TRIGGERS_FILE = "6_triggers.sql"


def install_script(calls_table: str) -> str:
    """Every file, in name order, for ``calls_table`` (already quoted and qualified)."""
    return _script(calls_table, sorted(SQL_DIR.glob("*.sql")))


def objects_script(calls_table: str) -> str:
    """Every file but the triggers': the rollup's own objects, refreshed."""
    paths = [path for path in sorted(SQL_DIR.glob("*.sql")) if path.name != TRIGGERS_FILE]
    return _script(calls_table, paths)


def triggers_script(calls_table: str) -> str:
    """The triggers' file alone: what makes the writers of ``calls`` wait a moment."""
    return _script(calls_table, [SQL_DIR / TRIGGERS_FILE])


def load_lead_map_statement(ranges_table: str, map_table: str) -> str:
    """``load_lead_map()`` for the app's map tables (quoted and qualified): the map written
    into the rollup's lookup function and its release into ``rollup_state``."""
    return f"SELECT {SCHEMA}.load_lead_map({_literal(ranges_table)}, {_literal(map_table)});"


def record_calls_shape_statement(calls_table: str, by: str) -> str:
    """``record_calls_shape()``: the shape of ``calls_table`` (quoted and qualified) is the one
    the rollup's counts now match, recorded as seen by ``by``."""
    return f"SELECT {SCHEMA}.record_calls_shape({_literal(calls_table)}, {_literal(by)});"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _script(calls_table: str, paths: list[Path]) -> str:
    return "\n".join(path.read_text() for path in paths).replace("@calls@", calls_table)


def uninstall_script(calls_table: str) -> str:
    drops = [f"DROP TRIGGER IF EXISTS {name} ON {calls_table};" for name in TRIGGERS]
    return "\n".join([*drops, f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE;"])


def calls_table_name(cursor: CursorWrapper, table: str) -> str | None:
    """``table`` as the connection's search path resolves it, quoted and schema-qualified."""
    cursor.execute(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) "
        "FROM pg_catalog.pg_class AS c "
        "JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE c.oid = to_regclass(%s)",
        [table],
    )
    row = cursor.fetchone()
    return None if row is None else str(row[0])
