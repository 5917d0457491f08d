"""Behind a transaction-mode pooler: ``analytics.conf`` and the heatmap's ``SET LOCAL``.

The pooled tests run in tox's ``pgbouncer`` environment, where ``DATABASE_URL`` is
Debian's PgBouncer in transaction mode (``scripts/pgbouncer``, port 6543) standing in
for Supabase's Supavisor, and ``DATABASE_POOL_MODE=transaction``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from importlib.util import find_spec
from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from rest_framework.test import APIClient

from analytics.conf import for_transaction_pooler
from tests.helpers import HEATMAP_URL, MakeCall

POOLED = os.environ.get("DATABASE_POOL_MODE") == "transaction"
HAS_PSYCOPG3 = find_spec("psycopg") is not None


def test_the_entry_loses_server_side_cursors_and_prepared_statements() -> None:
    database = {"ENGINE": "django.db.backends.postgresql", "OPTIONS": {"sslmode": "require"}}

    pooled = for_transaction_pooler(database)

    assert pooled["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert pooled["OPTIONS"]["sslmode"] == "require"
    if HAS_PSYCOPG3:
        assert "prepare_threshold" in pooled["OPTIONS"]
        assert pooled["OPTIONS"]["prepare_threshold"] is None
    else:
        # psycopg2 never prepares, and libpq refuses an option it does not know.
        assert "prepare_threshold" not in pooled["OPTIONS"]
    assert database == {
        "ENGINE": "django.db.backends.postgresql",
        "OPTIONS": {"sslmode": "require"},
    }


def test_an_explicit_prepare_threshold_is_overridden() -> None:
    pooled = for_transaction_pooler({"OPTIONS": {"prepare_threshold": 5}})

    assert pooled["OPTIONS"].get("prepare_threshold", "absent") is (None if HAS_PSYCOPG3 else 5)


pooled_only = pytest.mark.skipif(
    not POOLED, reason="needs DATABASE_POOL_MODE=transaction (tox -e py313-django61-pgbouncer-*)"
)


@pytest.fixture
def probes(db: None) -> Iterator[Any]:
    """Extra client connections to the pooler, made like Django's own, closed afterwards."""
    made: list[BaseDatabaseWrapper] = []

    def make(**options: Any) -> BaseDatabaseWrapper:
        default = connections[DEFAULT_DB_ALIAS]
        settings_dict = {**default.settings_dict}
        settings_dict["OPTIONS"] = {**settings_dict.get("OPTIONS", {}), **options}
        wrapper = type(default)(settings_dict, alias=f"probe{len(made)}")
        made.append(wrapper)
        return wrapper

    yield make
    for wrapper in made:
        wrapper.close()


@pooled_only
@pytest.mark.django_db
def test_the_suite_really_goes_through_a_pooler() -> None:
    """The server says it listens on 5432 while Django dialled the pooler's port."""
    default = connections[DEFAULT_DB_ALIAS]
    with default.cursor() as cursor:
        cursor.execute("SELECT inet_server_port()")
        (server_port,) = cursor.fetchone()

    assert str(default.settings_dict["PORT"]) != str(server_port)


@pooled_only
@pytest.mark.django_db(transaction=True)
def test_the_heatmap_leaves_no_setting_behind_in_the_pool(
    auth_client: APIClient, make_call: MakeCall, probes: Any
) -> None:
    """``SET LOCAL`` ends with its transaction: no server connection keeps the timeout."""
    make_call()
    clients = [probes() for _ in range(4)]

    def settings_seen() -> set[tuple[str, str, str]]:
        seen = set()
        for probe in clients:
            with probe.cursor() as cursor:
                cursor.execute(
                    "SELECT current_setting('statement_timeout'), "
                    "current_setting('enable_sort'), current_setting('jit')"
                )
                seen.add(cursor.fetchone())
        return seen

    before = settings_seen()
    for _ in range(10):
        response = auth_client.get(HEATMAP_URL, {"period": "7d"})
        assert response.status_code == 200
        assert [cell["total_calls"] for cell in response.json()["heatmap"]] == [1]
        assert settings_seen() == before

    assert len(before) == 1


@pooled_only
@pytest.mark.skipif(not HAS_PSYCOPG3, reason="prepared statements are psycopg 3's")
@pytest.mark.django_db(transaction=True)
def test_prepared_statements_break_behind_the_pooler_unless_turned_off(probes: Any) -> None:
    """What ``for_transaction_pooler`` is for, shown on the real pooler.

    Django binds on the client and disables preparing by default, but a host that
    turned on server-side binding and ``prepare_threshold`` for a direct connection
    gets another connection's ``_pg3_0`` in transaction mode.
    """
    prepared = {"server_side_binding": True, "prepare_threshold": 5}

    def run_repeatedly(wrappers: list[BaseDatabaseWrapper]) -> None:
        for number in range(20):
            for wrapper in wrappers:
                with wrapper.cursor() as cursor:
                    cursor.execute("SELECT %s::int + 1", [number])
                    assert cursor.fetchone() == (number + 1,)

    with pytest.raises(Exception, match="prepared statement"):
        run_repeatedly([probes(**prepared) for _ in range(3)])

    safe = for_transaction_pooler({"OPTIONS": prepared})["OPTIONS"]
    run_repeatedly([probes(**safe) for _ in range(3)])
