"""The demo project run from outside it: PostgreSQL from a URL, a signed token, gunicorn.

Shared by the benchmarks (``bench/``) and the suites that drive whole systems
(``tests/system/``), so neither imports the other. The PostgreSQL driver is psycopg 3
when it is importable, else psycopg2: the order Django picks them in. This is the one
place outside Django that chooses.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import dj_database_url
import jwt

ROOT = Path(__file__).resolve().parent.parent

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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class DemoServer:
    """The demo project under gunicorn; ``log`` holds its stderr (one line per worker boot)."""

    base_url: str
    process: subprocess.Popen[bytes]
    log: Path
    workers: int

    def worker_boots(self) -> int:
        return self.log.read_text(errors="replace").count("Booting worker with pid")


@contextmanager
def demo_server(
    *, database_url: str, workers: int, env: Mapping[str, str], log: Path | None = None
) -> Iterator[DemoServer]:
    """Serve the demo project under gunicorn on 127.0.0.1, stopping it on the way out."""
    port = free_port()
    log = log or Path(tempfile.mkstemp(prefix="heatmap-gunicorn-", suffix=".log")[1])
    server_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "DATABASE_"))},
        "DJANGO_SETTINGS_MODULE": "heatmap_project.settings",
        "DATABASE_URL": database_url,
        "SUPABASE_JWT_SECRET": JWT_SECRET,
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        **env,
    }
    if "REDIS_URL" not in env:
        server_env.pop("REDIS_URL", None)
    command = [
        *[sys.executable, "-m", "gunicorn", "heatmap_project.wsgi:application"],
        *["--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", "sync"],
        *["--timeout", "60", "--graceful-timeout", "5", "--log-level", "info"],
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=server_env, stdout=output, stderr=subprocess.STDOUT
        )
    server = DemoServer(f"http://127.0.0.1:{port}", process, log, workers)
    try:
        deadline = time.monotonic() + 60
        while server.worker_boots() < workers or not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True
