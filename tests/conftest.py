"""Shared fixtures: the Supabase-owned tables, users, calls, access tokens and a JWKS server."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, connections
from django.test import Client, override_settings
from openapi_core import Config, OpenAPI
from rest_framework.test import APIClient
from time_machine import TimeMachineFixture

from analytics.auth.jwks import forget_signing_keys
from analytics.models import Call, User, create_reference_tables
from analytics.rollup import state as rollup_state
from analytics.rollup.install import install, uninstall
from tests.helpers import (
    AUTH_SESSIONS_DDL,
    BOOKED,
    PROJECT_URL,
    SCHEMA_FILE,
    JWKSServer,
    Keys,
    MakeCall,
    Sessions,
    SigningKey,
    decode_text,
    empty_calls,
    mint_token,
    staff_member,
    utc_today,
)

#: Read before any test database exists; creating one renames its alias's NAME.
CONFIGURED_DATABASE_NAMES = {alias: db["NAME"] for alias, db in settings.DATABASES.items()}


def pytest_configure(config: pytest.Config) -> None:
    """No PostgreSQL server at DATABASE_URL: skip the run loudly, or fail it in CI."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        return
    address = (database.get("HOST") or "127.0.0.1", int(database.get("PORT") or 5432))
    try:
        socket.create_connection(address, timeout=3).close()
    except OSError as exc:
        where = f"PostgreSQL at {address[0]}:{address[1]}"
        if os.environ.get("CI"):
            pytest.exit(f"CI needs {where}: {exc}", returncode=1)
        pytest.exit(f"*** SKIPPED the whole run: no {where} ({exc}). ***", returncode=0)


def pytest_report_header(config: pytest.Config) -> str:
    database = settings.DATABASES["default"]
    header = f"analytics tests on {database['ENGINE'].rsplit('.', 1)[-1]} ({database['NAME']})"
    if connection.vendor == "postgresql":
        # psycopg 3 whenever it is importable, else psycopg2: which one this run proves.
        driver = connection.Database
        header += f" with {driver.__name__} {driver.__version__.split()[0]}"
    return header


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> None:
    """Django's test database skips unmanaged models: create them from the reference DDL."""
    with django_db_blocker.unblock():
        for alias in connections:
            # Only where this run made a test database (some test asked for that alias):
            # Django then points the alias away from the configured name.
            # A mirror (a hot standby) has the test database's name but refuses writes.
            settings_dict = connections[alias].settings_dict
            if settings_dict.get("TEST", {}).get("MIRROR"):
                continue
            if settings_dict["NAME"] != CONFIGURED_DATABASE_NAMES[alias]:
                create_reference_tables(using=alias)


@pytest.fixture
def today() -> date:
    return utc_today()


@pytest.fixture
def agency_id() -> uuid.UUID:
    return uuid.uuid4()


@pytest.fixture
def other_agency_id() -> uuid.UUID:
    return uuid.uuid4()


@pytest.fixture
def user(db: None, agency_id: uuid.UUID) -> User:
    return User.objects.create(id=uuid.uuid4(), agency_id=agency_id)


@pytest.fixture
def make_call(db: None, agency_id: uuid.UUID, today: date) -> MakeCall:
    """Create an ended call of the test agency at noon today unless told otherwise."""

    def make(**fields: Any) -> Call:
        values: dict[str, Any] = {
            "id": uuid.uuid4(),
            "agency_id": agency_id,
            "status": "ended",
            "created_at": datetime(today.year, today.month, today.day, 12, tzinfo=UTC),
            **fields,
        }
        return Call.objects.create(**values)

    return make


@pytest.fixture
def token(user: User) -> str:
    return mint_token(sub=str(user.id))


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def auth_client(api_client: APIClient, token: str) -> APIClient:
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api_client


@pytest.fixture
def on_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://...")


@pytest.fixture
def dead_redis_cache(settings: Any) -> None:
    """The default cache is Redis on a port nobody listens on: a cache server that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{dead_port}/0",
        }
    }


@pytest.fixture
def clock(time_machine: TimeMachineFixture) -> TimeMachineFixture:
    """The clock stopped at the present second: ``clock.shift(seconds)`` moves it on.

    time-machine moves ``time.time`` and ``datetime.now`` (not ``time.monotonic``), for
    the code under test and the test alike: a cache lifetime, a cooldown or a throttle's
    window passes exactly when the test says, however busy the machine is.
    """
    time_machine.move_to(datetime.now(UTC).replace(microsecond=0), tick=False)
    return time_machine


@pytest.fixture
def auth_sessions(on_postgresql: None) -> Sessions:
    """Supabase Auth's ``auth.sessions`` on the users' database, for this test's
    transaction only (SQLite has no ``auth`` schema: the test skips there)."""
    with connection.cursor() as cursor:
        cursor.execute(AUTH_SESSIONS_DDL)
    return Sessions()


@pytest.fixture(scope="session")
def openapi_spec() -> OpenAPI:
    """``openapi.yaml`` as openapi-core reads it, to validate real answers against."""
    config = Config(extra_media_type_deserializers={"text/csv": decode_text})
    return OpenAPI.from_file_path(str(SCHEMA_FILE), config=config)


@pytest.fixture
def calls_at_nine_and_two(make_call: MakeCall, today: date) -> None:
    """Three calls at 09:00 today (two connected, one booked), one at 14:00."""
    nine = datetime(today.year, today.month, today.day, 9, tzinfo=UTC)
    make_call(created_at=nine + timedelta(minutes=5), joined_at=nine + timedelta(minutes=6))
    make_call(
        created_at=nine + timedelta(minutes=40),
        joined_at=nine + timedelta(minutes=41),
        analysis=BOOKED,
    )
    make_call(
        created_at=nine + timedelta(minutes=50),
        joined_at=nine + timedelta(minutes=51),
        end_reason="unjoined",
    )
    make_call(created_at=nine + timedelta(hours=5))


@pytest.fixture(scope="session")
def project_keys() -> Keys:
    # Generated once: RSA key generation is the slowest step of the suite.
    return Keys(SigningKey.es256(), SigningKey.rs256(), SigningKey.es256())


@pytest.fixture
def jwks_server(project_keys: Keys) -> Iterator[JWKSServer]:
    """A running JWKS endpoint publishing the three keys; stopped after the test."""
    server = JWKSServer()
    server.publish(project_keys.es256, project_keys.rs256, project_keys.standby)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def supabase_project(jwks_server: JWKSServer) -> Iterator[JWKSServer]:
    """Settings of a Supabase project whose JWKS is the local server; fresh key cache."""
    forget_signing_keys()
    with override_settings(SUPABASE_URL=PROJECT_URL, SUPABASE_JWKS_URL=jwks_server.jwks_url):
        yield jwks_server
    forget_signing_keys()


# --- the admin ---------------------------------------------------------------------------


@pytest.fixture
def staff(client: Client) -> Client:
    """A browser signed in to the admin as staff who may view calls and users."""
    client.force_login(staff_member())
    return client


@pytest.fixture
def at_ten(today: date) -> datetime:
    return datetime(today.year, today.month, today.day, 10, 15, tzinfo=UTC)


@pytest.fixture
def calls_today(make_call: MakeCall, at_ten: datetime, other_agency_id: uuid.UUID) -> None:
    """Three calls at 10:00 today (one connected and booked), one at 14:00, one elsewhere,
    and one still queued."""
    make_call(created_at=at_ten, joined_at=at_ten, end_reason="completed", analysis=BOOKED)
    make_call(created_at=at_ten + timedelta(minutes=5))
    make_call(created_at=at_ten + timedelta(minutes=30), joined_at=at_ten, end_reason="unjoined")
    make_call(created_at=at_ten + timedelta(hours=4))
    make_call(created_at=at_ten, agency_id=other_agency_id)
    make_call(created_at=at_ten, status="queued")


# --- the rollup on PostgreSQL ------------------------------------------------------------


@pytest.fixture
def rollup_database(on_postgresql: None) -> Iterator[None]:
    """Empty calls and users and no rollup, before and after the test.

    The rollup's tests commit (its install runs transactions of its own): mark them
    ``django_db(transaction=True)``. Off PostgreSQL they skip.
    """
    rollup_state.forget()
    empty_calls()
    yield
    if connection.in_atomic_block:  # a test that failed inside atomic()
        return
    uninstall(using="default")
    empty_calls()
    rollup_state.forget()


@pytest.fixture
def rollup(rollup_database: None) -> None:
    """The rollup, installed and ready."""
    install(using="default")


@pytest.fixture
def rollup_agency(rollup_database: None) -> uuid.UUID:
    """An agency with one user (committed), who may ask for its heatmap."""
    agency_id = uuid.uuid4()
    User.objects.create(id=uuid.uuid4(), agency_id=agency_id)
    return agency_id
