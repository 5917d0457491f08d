"""Connections for the benchmark programs, straight from a database URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dj_database_url
import psycopg2


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
