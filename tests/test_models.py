"""The models and the Supabase tables they read: the tables the tests create look like the
application's, and the shipped migrations match the models."""

from __future__ import annotations

import pytest
from django.db import connection

from analytics.models import Call

pytestmark = pytest.mark.django_db


def test_calls_has_the_agency_created_index() -> None:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Call._meta.db_table)
    assert constraints["idx_calls_agency_created"]["columns"] == ["agency_id", "created_at"]


@pytest.mark.usefixtures("on_postgresql")
def test_status_and_end_reason_are_enums_on_postgresql() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type, udt_name FROM information_schema.columns "
            "WHERE table_name = 'calls' AND column_name IN ('status', 'end_reason') "
            "ORDER BY column_name"
        )
        assert cursor.fetchall() == [
            ("end_reason", "USER-DEFINED", "call_end_reason"),
            ("status", "USER-DEFINED", "call_status"),
        ]


def test_the_shipped_migrations_match_the_models() -> None:
    """A host's makemigrations must never write a migration into this app."""
    from django.core.management import call_command

    call_command("makemigrations", "analytics", "--check", "--dry-run", verbosity=0)
