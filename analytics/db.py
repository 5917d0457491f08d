"""How the app's queries meet the database: transactions under ``SET LOCAL`` settings,
what a catalog lookup or a database error says, and the expressions the ORM lacks (or
lacks in the shape the heatmap needs), each written once for every backend. What bounds
a heatmap's read (its settings and the scan slots) is :mod:`analytics.heatmap.limits`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import NotSupportedError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.db.models import BooleanField, F, Func
from django.db.models.functions import TruncHour
from django.db.models.sql.compiler import SQLCompiler


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
