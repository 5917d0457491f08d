"""Database expressions the ORM lacks, or lacks in the shape the heatmap needs.

Each is written once for every backend we support.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import NotSupportedError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BooleanField, F, Func
from django.db.models.functions import TruncHour
from django.db.models.sql.compiler import SQLCompiler


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
