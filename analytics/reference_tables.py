"""Create the Supabase-owned tables for tests and demos, never for production.

On PostgreSQL the shipped reference DDL is run, so enum columns and the
``(agency_id, created_at)`` index look as they do in a Supabase schema; on
other databases the tables are created from the unmanaged models.
"""

from __future__ import annotations

from pathlib import Path

from django.db import DEFAULT_DB_ALIAS, connections

from analytics.models import Call, User

REFERENCE_DDL = Path(__file__).parent / "sql" / "reference_schema.sql"
REFERENCE_MODELS = (User, Call)


def reference_tables_exist(*, using: str = DEFAULT_DB_ALIAS) -> bool:
    existing = set(connections[using].introspection.table_names())
    return all(model._meta.db_table in existing for model in REFERENCE_MODELS)


def create_reference_tables(*, using: str = DEFAULT_DB_ALIAS) -> None:
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(REFERENCE_DDL.read_text())
        return
    with connection.schema_editor() as editor:
        for model in REFERENCE_MODELS:
            editor.create_model(model)
            # create_model() skips an unmanaged model's indexes; the index matters.
            for index in model._meta.indexes:
                editor.add_index(model, index)
