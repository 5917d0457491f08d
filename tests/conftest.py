"""Shared fixtures: the Supabase-owned tables, users, calls and access tokens."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from importlib.util import find_spec
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.db import connection, connections
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.models import Call, User
from analytics.reference_tables import create_reference_tables

HEATMAP_URL = "/api/dashboard-heatmap"
HEATMAP_CSV_URL = "/api/dashboard-heatmap.csv"
#: For tests that start Django on a PostgreSQL URL in a subprocess: Django loads the
#: backend while it sets up, so without a driver (tox's SQLite environments have none)
#: it stops there, before the code under test runs.
requires_postgresql_driver = pytest.mark.skipif(
    find_spec("psycopg") is None and find_spec("psycopg2") is None,
    reason="needs a PostgreSQL driver (psycopg or psycopg2) installed",
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
            if connections[alias].settings_dict["NAME"] != CONFIGURED_DATABASE_NAMES[alias]:
                create_reference_tables(using=alias)


@pytest.fixture
def today() -> date:
    return timezone.now().astimezone(UTC).date()


@pytest.fixture
def agency_id() -> uuid.UUID:
    return uuid.uuid4()


@pytest.fixture
def other_agency_id() -> uuid.UUID:
    return uuid.uuid4()


@pytest.fixture
def user(db: None, agency_id: uuid.UUID) -> User:
    return User.objects.create(id=uuid.uuid4(), agency_id=agency_id)


MakeCall = Callable[..., Call]


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


def mint_token(*, secret: str | None = None, algorithm: str = "HS256", **claims: Any) -> str:
    """An access token shaped like Supabase Auth's; ``claim=None`` leaves a claim out."""
    now = datetime.now(UTC)
    payload: dict[str, Any] = {
        "aud": "authenticated",
        "role": "authenticated",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=1)).timestamp()),
        "email": "someone@example.com",
        **claims,
    }
    payload = {key: value for key, value in payload.items() if value is not None}
    return jwt.encode(payload, secret or settings.SUPABASE_JWT_SECRET, algorithm=algorithm)


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


class KeyStoreClock:
    """``analytics.jwks``'s clock, moved by hand: cooldowns and cache lifetimes pass
    exactly when a test says, however busy the machine is."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def key_store_clock(monkeypatch: pytest.MonkeyPatch) -> KeyStoreClock:
    from analytics import jwks

    clock = KeyStoreClock()
    monkeypatch.setattr(jwks, "time", clock)
    return clock


@contextmanager
def table_away(table: str) -> Iterator[None]:
    """The Supabase table ``table`` renamed inside the block: every query of it fails."""
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_away")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table}_away RENAME TO {table}")
