"""What both benchmark programs need: PostgreSQL connections from a URL, and a token.

The driver is psycopg 3 when it is importable, else psycopg2: the order Django
picks them in. This is the one place outside Django that chooses; the rest of
``bench`` and ``tests/test_faults.py`` connect through :func:`connect`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import dj_database_url
import jwt

# The ignores let mypy pass with either driver installed (and so without stubs for the other).
try:
    import psycopg  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # psycopg2 then, as Django falls back to
    psycopg = None  # type: ignore[assignment, unused-ignore]

#: The secret the programs' Django settings verify ``access_token()``'s tokens with.
JWT_SECRET = "benchmark-only-jwt-secret-with-32-plus-characters"


class Connection(Protocol):
    """What the benchmarks and the fault tests use of either driver's connection."""

    autocommit: bool

    def cursor(self) -> Any: ...

    def close(self) -> None: ...


def connect(database_url: str, *, dbname: str | None = None) -> Connection:
    """An autocommit connection to the URL's database (or ``dbname`` on its server).

    psycopg 3 gets client-side binding (``ClientCursor``), as Django's backend uses
    by default and as psycopg2 always does: the same SQL reaches the server from
    either driver, parameters inlined, never as a prepared statement, and one
    ``execute()`` may carry several statements with parameters.
    """
    config = dj_database_url.parse(database_url)
    params: dict[str, Any] = {
        "dbname": dbname or config["NAME"],
        "user": config["USER"],
        "password": config["PASSWORD"],
        "host": config["HOST"],
        "port": config["PORT"] or 5432,
        "connect_timeout": 5,
    }
    connection: Connection
    if psycopg is not None:
        connection = psycopg.connect(cursor_factory=psycopg.ClientCursor, **params)
    else:
        import psycopg2  # type: ignore[import-untyped, unused-ignore]

        connection = psycopg2.connect(**params)
    connection.autocommit = True
    return connection


@contextmanager
def admin_connection(database_url: str) -> Iterator[Connection]:
    """An autocommit connection to the server's ``postgres`` database."""
    connection = connect(database_url, dbname="postgres")
    try:
        yield connection
    finally:
        connection.close()


def ensure_database(database_url: str) -> None:
    """Create the URL's database when the server does not have it yet."""
    name = dj_database_url.parse(database_url)["NAME"]
    with admin_connection(database_url) as admin, admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')


def access_token(user_id: Any, *, hours: int = 2) -> str:
    """A Supabase-shaped HS256 access token for ``user_id``, signed with ``JWT_SECRET``."""
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "aud": "authenticated",
        "role": "authenticated",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=hours)).timestamp()),
    }
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")
