"""The heatmap on a read replica that cannot answer: the primary answers instead, says so
once in the log and counts the answer as ``fallback``; a failure of the primary too is
the contract's 500, whose message for the log and staff says what failed.

A replica that is down is an alias at a closed port, or at this server with a role or a
database that does not exist; the hot standby's own failures (a replay conflict, paused
replay, a stopped standby) are proved in ``tests/system/test_standby.py``.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connections, transaction
from django.db.utils import load_backend
from rest_framework.test import APIClient

from analytics.exceptions import HeatmapError, api_error
from analytics.heatmap import replica
from analytics.heatmap.measure import measuring
from analytics.heatmap.selectors import count_calls_by_slot, heatmap, heatmap_for, reads_rollup
from analytics.models import create_reference_tables
from analytics.rollup import state as rollup_state
from heatmap_project.harness import free_port
from tests.helpers import (
    HEATMAP_URL,
    MakeCall,
    assert_calls_query_failed,
    query_for,
    server_behind,
    sql,
    table_away,
)

pytestmark = pytest.mark.django_db
#: A replica is a PostgreSQL server: on SQLite the heatmap reads its one database.
on_postgresql = pytest.mark.usefixtures("on_postgresql")

#: How the fallback's warning starts (the reason follows), as tests/system asserts too.
FELL_BACK = "Heatmap read fell back to the primary: "


@pytest.fixture(autouse=True)
def _forget_replicas() -> Iterator[None]:
    replica.forget()
    yield
    replica.forget()


@contextmanager
def alias_to(alias: str, **overrides: Any) -> Iterator[str]:
    """A connection ``alias`` inside the block: the test database's settings, changed. Made
    as Django makes one, but left out of ``DATABASES``, so no test case's guard refuses it.
    """
    settings_dict = {**connections["default"].settings_dict, **overrides}
    connections[alias] = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, alias)
    try:
        yield alias
    finally:
        connections[alias].close()
        del connections[alias]
        rollup_state.forget(alias)


@pytest.fixture
def down_replica(settings: Any) -> Iterator[str]:
    """The heatmap's database: a replica nothing listens for (a closed port)."""
    with alias_to("h21_h8_down", HOST="127.0.0.1", PORT=str(free_port())) as alias:
        settings.ANALYTICS_HEATMAP_DATABASE = alias
        yield alias


#: The logger of each heatmap answer's line (``analytics/api/reporting.py``).
ANSWERS_LOGGER = "analytics.heatmap.requests"


def fallbacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith(FELL_BACK)]


# --- a replica that cannot answer -------------------------------------------------------


@on_postgresql
def test_a_replica_that_is_down_is_answered_by_the_primary_logged_and_counted(
    auth_client: APIClient,
    make_call: MakeCall,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    make_call()
    make_call()
    primary = auth_client.get(HEATMAP_URL).json()
    assert primary["heatmap"][0]["total_calls"] == 2
    alias = "h21_h8_down"
    with alias_to(alias, HOST="127.0.0.1", PORT=str(free_port())):
        settings.ANALYTICS_HEATMAP_DATABASE = alias
        with (
            caplog.at_level(logging.WARNING, logger="analytics"),
            caplog.at_level(logging.INFO, logger=ANSWERS_LOGGER),
        ):
            first = auth_client.get(HEATMAP_URL)
            second = auth_client.get(HEATMAP_URL)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() == primary
    # Counted: each answer's own line tells that the fallback answered it.
    answered = [r for r in caplog.records if r.name == ANSWERS_LOGGER]
    assert [r.source for r in answered] == ["fallback", "fallback"]  # type: ignore[attr-defined]
    assert all(r.getMessage().startswith("heatmap source=fallback status=200 ") for r in answered)
    told, again = fallbacks(caplog)
    assert told.levelno == logging.WARNING
    assert told.name.startswith("analytics.")
    assert told.fallback_reason == "unreachable"  # type: ignore[attr-defined]
    said = told.getMessage()
    assert said.startswith(f"{FELL_BACK}unreachable; database {alias!r}: ")
    assert "Connection refused" in said
    # Remembered: the second request went straight to the primary, not to a connect.
    assert again.fallback_reason == "unreachable"  # type: ignore[attr-defined]
    assert "s ago; asked again 5 s after that" in again.getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@on_postgresql
def test_the_fallback_is_counted_as_its_source(
    make_call: MakeCall, agency_id: uuid.UUID, down_replica: str
) -> None:
    make_call()
    with measuring() as measured:
        answer = heatmap_for(agency_id=agency_id, query=query_for("UTC"))
    assert measured.source == "fallback"
    assert [c.total_calls for c in answer.cells] == [1]


@pytest.mark.parametrize(
    "broken",
    [{"USER": "h21_h8_no_such_role"}, {"NAME": "h21_h8_no_such_database"}],
    ids=["role", "database"],
)
@on_postgresql
def test_a_replica_on_this_server_with_a_role_or_database_that_fails_falls_back(
    make_call: MakeCall,
    agency_id: uuid.UUID,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    broken: dict[str, str],
) -> None:
    make_call()
    make_call()
    query = query_for("UTC")
    primary = heatmap_for(agency_id=agency_id, query=query)
    # Straight to the server: a pooler would log the broken role in as its own user.
    with alias_to("h21_h8_broken", **{**server_behind(), **broken}) as alias:
        settings.ANALYTICS_HEATMAP_DATABASE = alias
        with caplog.at_level(logging.WARNING, logger="analytics"):
            answer = heatmap_for(agency_id=agency_id, query=query)
    assert answer == primary
    [told] = fallbacks(caplog)
    assert told.fallback_reason == "unreachable"  # type: ignore[attr-defined]
    assert "does not exist" in told.getMessage()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("rollup_database")  # the call committed, for the second connection
@on_postgresql
def test_a_replica_that_answers_is_read_and_nothing_is_said(
    make_call: MakeCall,
    agency_id: uuid.UUID,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The lag is asked (the limit 0 at its strictest) of a server that is no standby."""
    make_call()
    settings.ANALYTICS_HEATMAP_REPLICA_MAX_LAG = 0
    with alias_to("h21_h8_same") as alias:  # the test database again, by another name
        settings.ANALYTICS_HEATMAP_DATABASE = alias
        with caplog.at_level(logging.WARNING, logger="analytics"), measuring() as measured:
            answer = heatmap_for(agency_id=agency_id, query=query_for("UTC"))
        assert connections[alias].connection is not None  # it was the one asked
    assert [c.total_calls for c in answer.cells] == [1]
    assert measured.source != "fallback"
    assert not fallbacks(caplog)


@contextmanager
def database_named(name: str) -> Iterator[str]:
    """A database of its own on this server, with the Supabase tables, dropped afterwards."""
    with alias_to("h21_h8_maintenance", NAME="postgres") as maintenance:
        with connections[maintenance].cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")
            cursor.execute(f"CREATE DATABASE {name}")
        try:
            with alias_to(name, NAME=name) as alias:
                create_reference_tables(using=alias)
                yield alias
        finally:
            with connections[maintenance].cursor() as cursor:
                cursor.execute(f"DROP DATABASE {name} WITH (FORCE)")


#: A replica's ``calls`` whose rows cannot be read: each one read fails as a hot standby
#: cancels a query that conflicts with replay (the real one: tests/system/test_standby.py).
REPLAY_CONFLICT_SQL = """
ALTER TABLE calls RENAME TO calls_stored;
CREATE FUNCTION replay_conflict() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'canceling statement due to conflict with recovery'
        USING ERRCODE = '40001',
        DETAIL = 'User query might have needed to see row versions that must be removed.';
END $$;
CREATE VIEW calls AS SELECT * FROM calls_stored WHERE replay_conflict();
"""


@on_postgresql
def test_a_read_the_replica_cancels_for_a_replay_conflict_is_answered_by_the_primary(
    make_call: MakeCall,
    agency_id: uuid.UUID,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    call = make_call()
    query = query_for("UTC")
    primary = heatmap_for(agency_id=agency_id, query=query)
    with database_named("h21_h8_conflicting") as alias:
        with connections[alias].cursor() as cursor:
            cursor.execute(REPLAY_CONFLICT_SQL)
            cursor.execute(
                "INSERT INTO calls_stored (id, agency_id, status, created_at) "
                "VALUES (%s, %s, 'ended', %s)",
                [str(uuid.uuid4()), str(agency_id), call.created_at],
            )
        settings.ANALYTICS_HEATMAP_DATABASE = alias
        with caplog.at_level(logging.WARNING, logger="analytics"), measuring() as measured:
            answer = heatmap_for(agency_id=agency_id, query=query)
            again = heatmap_for(agency_id=agency_id, query=query)
    assert answer == again == primary
    assert measured.source == "fallback"
    told = fallbacks(caplog)
    assert [r.fallback_reason for r in told] == ["conflict", "conflict"]  # type: ignore[attr-defined]
    assert told[0].getMessage() == (
        f"{FELL_BACK}conflict; database {alias!r}: "
        "canceling statement due to conflict with recovery"
    )
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@on_postgresql
def test_when_the_primary_fails_too_the_answer_is_the_contracts_500_and_the_log_says_which(
    auth_client: APIClient,
    make_call: MakeCall,
    agency_id: uuid.UUID,
    down_replica: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    make_call()
    with table_away("calls"), caplog.at_level(logging.WARNING, logger="analytics"):
        response = auth_client.get(HEATMAP_URL)
    assert_calls_query_failed(response)
    [told] = fallbacks(caplog)
    assert told.fallback_reason == "unreachable"  # type: ignore[attr-defined]
    [failed] = [r for r in caplog.records if r.name == "analytics.heatmap.selectors"]
    assert failed.getMessage() == (
        f"Heatmap read failed for agency {agency_id}: Failed to query calls table on "
        "database 'default': relation \"calls\" does not exist"
    )
    assert failed.exc_info is not None


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("rollup")
@on_postgresql
def test_the_rollups_readiness_survives_a_replica_that_is_down(
    rollup_agency: uuid.UUID, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Its state cannot be read there, which is an answer (not ready), not an error; and
    the primary's rollup answers the fallback."""
    settings.ANALYTICS_HEATMAP_SOURCE = "rollup"
    sql(
        "INSERT INTO calls (id, agency_id, status, created_at) "
        "VALUES (%s, %s, 'ended', now() - interval '1 day')",
        [str(uuid.uuid4()), str(rollup_agency)],
    )
    query = query_for("UTC")
    assert reads_rollup(query, using="default")
    primary = heatmap_for(agency_id=rollup_agency, query=query)
    with alias_to("h21_h8_down", HOST="127.0.0.1", PORT=str(free_port())) as alias:
        assert rollup_state.rollup_ready(alias) is False
        assert rollup_state.current_state(alias) is None
        settings.ANALYTICS_HEATMAP_DATABASE = alias
        with caplog.at_level(logging.WARNING, logger="analytics"), measuring() as measured:
            answer = heatmap_for(agency_id=rollup_agency, query=query)
    assert answer == primary
    assert sum(c.total_calls for c in answer.cells) == 1
    assert measured.source == "fallback"
    assert [r.fallback_reason for r in fallbacks(caplog)] == ["unreachable"]  # type: ignore[attr-defined]


# --- what a failure says ----------------------------------------------------------------


@on_postgresql
def test_a_connection_that_fails_is_said_to_be_the_connection(
    make_call: MakeCall, agency_id: uuid.UUID, down_replica: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Outside the fallback (the shell, or a primary that is down) the read's own error."""
    query = query_for("UTC")
    with pytest.raises(HeatmapError) as raised, caplog.at_level(logging.ERROR, logger="analytics"):
        count_calls_by_slot(
            agency_id=agency_id, start=query.start, end=query.end, using=down_replica
        )
    error = raised.value
    assert error.code == "calls_query_failed"
    assert str(error).startswith(f"Could not connect to database {down_replica!r}: connection ")
    assert "Connection refused" in str(error)
    [logged] = caplog.records
    assert logged.getMessage() == f"Heatmap read failed for agency {agency_id}: {error}"
    # The endpoint's body is the contract's, whatever the log says.
    assert api_error(error).detail == "Failed to query calls table"
    assert api_error(error).get_codes() == "calls_query_failed"


@on_postgresql
def test_a_query_that_fails_is_said_to_be_the_query(
    make_call: MakeCall, agency_id: uuid.UUID, user: Any
) -> None:
    with table_away("calls"), pytest.raises(HeatmapError) as raised:
        heatmap(agency_id=agency_id)
    assert str(raised.value) == (
        "Failed to query calls table on database 'default': relation \"calls\" does not exist"
    )


class ReadsFrom:
    """A database router sending every read to one alias."""

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def db_for_read(self, model: Any, **hints: Any) -> str:
        return self.alias


@on_postgresql
def test_staff_are_told_the_connection_failed_not_the_users_query(
    make_call: MakeCall, agency_id: uuid.UUID, down_replica: str, settings: Any
) -> None:
    """``call_heatmap`` (and the admin's form) first ask whether the agency exists, where
    the host's routers send reads."""
    settings.DATABASE_ROUTERS = [ReadsFrom(down_replica)]
    with pytest.raises(CommandError) as raised:
        call_command("call_heatmap", "--agency", str(agency_id), stdout=io.StringIO())
    said = str(raised.value)
    assert said.startswith(f"Could not connect to database {down_replica!r}: connection ")
    assert "Connection refused" in said
    assert "users table" not in said


def failure_of(*statements: str, using: str = "default") -> DatabaseError:
    """The error the last of ``statements`` raises, run in a transaction of their own."""
    with pytest.raises(DatabaseError) as raised:
        run_in_a_transaction(statements, using)
    return raised.value


def run_in_a_transaction(statements: tuple[str, ...], using: str) -> None:
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


@on_postgresql
def test_which_failures_the_primary_answers_instead() -> None:
    """Raised by the server itself: a replay conflict's SQLSTATE (the standby's real one is
    in tests/system), a connection that cannot be made, and the query's own failures."""
    conflict = "DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '{}'; END $$"
    assert replica.failure_reason(failure_of(conflict.format("40001")), "default") == "conflict"
    assert replica.failure_reason(failure_of(conflict.format("40P01")), "default") == "conflict"
    assert replica.failure_reason(failure_of(conflict.format("57P03")), "default") == "unreachable"
    with alias_to("h21_h8_down", HOST="127.0.0.1", PORT=str(free_port())) as alias:
        assert replica.failure_reason(failure_of("SELECT 1", using=alias), alias) == "unreachable"
    assert replica.failure_reason(failure_of("SELECT * FROM no_such_table"), "default") is None
    timeout = failure_of("SET LOCAL statement_timeout = '1ms'", "SELECT pg_sleep(1)")
    assert "statement timeout" in str(timeout)
    assert replica.failure_reason(timeout, "default") is None  # the primary would time out as well


# --- the lag ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("in_recovery", "unreplayed", "since_replay", "lag"),
    [
        (False, None, None, 0.0),  # a primary
        (False, 100.0, 50.0, 0.0),  # promoted: no longer behind anything
        (True, 0.0, 3600.0, 0.0),  # all it received is replayed: an idle primary, not lag
        (True, None, 3600.0, 0.0),  # streams nothing: nothing is known to wait
        (True, 8192.0, 42.5, 42.5),  # behind: the time since the last replayed commit
        (True, 8192.0, -0.2, 0.0),  # the two servers' clocks differ a little
        (True, 8192.0, None, None),  # behind, and nothing replayed yet: not known
    ],
)
def test_the_lag_from_what_the_server_says(
    in_recovery: bool, unreplayed: float | None, since_replay: float | None, lag: float | None
) -> None:
    assert (
        replica.lag_seconds(
            in_recovery=in_recovery, unreplayed_bytes=unreplayed, since_replay=since_replay
        )
        == lag
    )


@on_postgresql
def test_a_server_not_in_recovery_has_no_lag() -> None:
    assert sql("SELECT pg_is_in_recovery()") == [(False,)]
    assert replica.read_lag("default") == 0.0
