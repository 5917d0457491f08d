"""The demo project run from outside it: PostgreSQL from a URL, a signed token, gunicorn,
a hot standby's replay, and the SQLite demo as ``make demo`` serves it.

Shared by the benchmarks (``bench/``), ``scripts/with_demo`` and the suites that drive
whole systems (``tests/system/``), so none imports another. The PostgreSQL driver is psycopg 3
when it is importable, else psycopg2: the order Django picks them in. This is the one
place outside Django that chooses.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
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


# --- a hot standby ------------------------------------------------------------------------


def wait_for_replay(primary_url: str, standby_url: str, *, timeout: float) -> float:
    """Until the hot standby at ``standby_url`` has replayed everything the primary at
    ``primary_url`` has written so far; the seconds it took.

    Raises RuntimeError when the standby is not in recovery (not a standby at all), and
    TimeoutError when it has not replayed that far after ``timeout`` seconds.
    """
    started = time.monotonic()
    with admin_connection(primary_url) as primary, primary.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        lsn = str(cursor.fetchone()[0])
    with admin_connection(standby_url) as standby, standby.cursor() as cursor:
        while True:
            cursor.execute(
                "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn]
            )
            in_recovery, replayed = cursor.fetchone()
            if not in_recovery:
                raise RuntimeError(f"{standby_url} is not a hot standby: it is not in recovery")
            if replayed:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"the standby did not replay up to {lsn} in {timeout:.0f} s")
            time.sleep(0.05)


# --- the SQLite demo ----------------------------------------------------------------------

#: Variables of the caller's environment that would point the SQLite demo elsewhere, or
#: set what its settings supply themselves on SQLite (DEBUG on, the demo's JWT secret).
DEMO_FOREIGN = ("DJANGO_SETTINGS_MODULE", "DJANGO_DEBUG", "DATABASE_", "SUPABASE_", "REDIS_URL")
#: An access token's three segments, alone on a line as ``manage.py demo`` prints it.
DEMO_TOKEN = r"ey[\w-]+\.[\w-]+\.[\w-]+"
#: How long runserver may take to answer its first request.
DEMO_START_SECONDS = 60


class DemoError(RuntimeError):
    """The SQLite demo could not be made or served; the message says why."""


@dataclass(frozen=True)
class SqliteDemo:
    """The SQLite demo under runserver, as :func:`sqlite_demo` made it."""

    #: The server's origin, e.g. http://127.0.0.1:40123 (what ``--base-url`` was given).
    base_url: str
    #: The access token ``manage.py demo`` printed as it seeded.
    token: str
    #: ``manage.py demo``'s output.
    seeded: str
    #: runserver's output.
    log: Path
    #: The environment the demo's commands ran with: for more ``manage.py`` commands on it.
    env: dict[str, str] = field(repr=False)
    #: A token of the same user that expired a minute ago; empty unless asked for.
    expired_token: str = ""


@contextmanager
def sqlite_demo(
    workdir: Path,
    *,
    calls: int = 3000,
    lifetime: str | None = None,
    expired_token: bool = False,
    env: Mapping[str, str] | None = None,
) -> Iterator[SqliteDemo]:
    """``make demo``'s steps on ``workdir/demo.sqlite3``, served by ``runserver --noreload``
    on a free port of 127.0.0.1 until the block ends.

    ``manage.py migrate``, then ``manage.py demo --calls N --base-url URL`` (``--lifetime``
    when given), whose printed token is the demo's; with ``expired_token``, one more
    ``manage.py demo --token-only --lifetime expired``. The caller's environment passes
    through (CORS, cache TTL, throttle rates) but for :data:`DEMO_FOREIGN`: the database,
    DEBUG, the JWT secret and Redis are the demo's own. ``env`` is added last. Yields once
    the API answers the token with a 200; raises :class:`DemoError` if it cannot.
    """
    demo_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(DEMO_FOREIGN)},
        "DATABASE_URL": f"sqlite:///{workdir / 'demo.sqlite3'}",
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    _manage("migrate", "--noinput", env=demo_env)
    seed = ["--calls", str(calls), "--base-url", base_url]
    seeded = _manage("demo", *seed, *(["--lifetime", lifetime] if lifetime else []), env=demo_env)
    tokens = re.findall(rf"^({DEMO_TOKEN})$", seeded, re.MULTILINE)
    if len(tokens) != 1:
        raise DemoError(f"manage.py demo printed {len(tokens)} tokens, not one:\n{seeded}")
    expired = ""
    if expired_token:
        expired = _manage("demo", "--token-only", "--lifetime", "expired", env=demo_env).strip()
    log = workdir / "runserver.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env=demo_env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_answering(base_url, tokens[0], server, log)
        yield SqliteDemo(base_url, tokens[0], seeded, log, demo_env, expired)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _manage(*args: str, env: Mapping[str, str]) -> str:
    """A management command's output, once it exits 0."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise DemoError(f"manage.py {' '.join(args)} failed:\n{done.stderr.strip()}")
    return done.stdout


def _wait_until_answering(
    base_url: str, token: str, server: subprocess.Popen[bytes], log: Path
) -> None:
    """Return once the API answers the token with a 200; raise if the server cannot."""
    request = urllib.request.Request(
        f"{base_url}/api/dashboard-heatmap?period=7d",
        headers={"Authorization": f"Bearer {token}"},
    )
    deadline = time.monotonic() + DEMO_START_SECONDS
    while True:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as refused:
            # It serves, but not the demo's token: waiting longer will not help.
            body = refused.read().decode(errors="replace")
            raise DemoError(f"the demo server answered {refused.code}: {body}") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet
        if server.poll() is not None or time.monotonic() > deadline:
            output = log.read_text(errors="replace")
            raise DemoError(f"the demo server did not answer at {base_url}:\n{output}")
        time.sleep(0.2)
