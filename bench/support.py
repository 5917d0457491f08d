"""What both benchmark programs need: PostgreSQL connections from a URL, and a token."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import dj_database_url
import jwt
import psycopg2

#: The secret the programs' Django settings verify ``access_token()``'s tokens with.
JWT_SECRET = "benchmark-only-jwt-secret-with-32-plus-characters"


def connect(database_url: str, *, dbname: str | None = None) -> Any:
    """An autocommit psycopg2 connection to the URL's database (or ``dbname`` on its server)."""
    config = dj_database_url.parse(database_url)
    connection = psycopg2.connect(
        dbname=dbname or config["NAME"],
        user=config["USER"],
        password=config["PASSWORD"],
        host=config["HOST"],
        port=config["PORT"] or 5432,
        connect_timeout=5,
    )
    connection.autocommit = True
    return connection


@contextmanager
def admin_connection(database_url: str) -> Iterator[Any]:
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
