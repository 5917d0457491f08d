"""Faults: the machine's PostgreSQL and Redis servers stop and come back.

- PostgreSQL stopped: the demo project under gunicorn answers the 500 JSON at
  once (well within the statement timeout) while the server is down, and 200
  again after it restarts, with the same workers: a dead kept-alive connection
  is replaced (``CONN_HEALTH_CHECKS``), not reused.
- Redis stopped: the endpoint answers from the database; the cache and the
  throttle log their errors and raise nothing; the cache is used again once
  Redis is back.
- The JWKS server stopped (503, then recovery by itself) is tested in the normal run:
  ``test_the_endpoint_recovers_when_the_jwks_comes_back``.

These stop the real servers, and with them everyone else's use of them, so they
run only where ``ANALYTICS_ALLOW_SERVICE_RESTARTS=1`` says they may (CI), and
never in the PostgreSQL pass of the suite, whose own test database is on the
server they stop. Each leaves both servers running, whatever happens.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from rest_framework.test import APIClient

from analytics.exceptions import MESSAGES
from analytics.models import REFERENCE_DDL
from heatmap_project.harness import access_token, connect, demo_server
from tests.helpers import HEATMAP_URL, MakeCall, requires_postgresql_driver

#: Both marks go on every test that stops a server.
restarts_servers = [
    pytest.mark.skipif(
        os.environ.get("ANALYTICS_ALLOW_SERVICE_RESTARTS") != "1",
        reason="stops and starts this machine's PostgreSQL and Redis servers; "
        "set ANALYTICS_ALLOW_SERVICE_RESTARTS=1 where that is allowed (CI)",
    ),
    pytest.mark.skipif(
        django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
        reason="the suite's test database is on the PostgreSQL server these tests stop; "
        "they run in the SQLite pass",
    ),
]


def restarts(test: Any) -> Any:
    for mark in restarts_servers:
        test = mark(test)
    return test


HOST, PG_PORT, REDIS_PORT = "127.0.0.1", 5432, 6379
FAULTS_DATABASE = "heatmap_faults"
FAULTS_URL = f"postgres://postgres@{HOST}:{PG_PORT}/{FAULTS_DATABASE}"
#: The demo's statement timeout in this test: every answer must come well within it.
STATEMENT_TIMEOUT = 2.0
SERVER_ERRORS = {(MESSAGES[code], code) for code in ("calls_query_failed", "users_query_failed")}


# --- the servers --------------------------------------------------------------------------


def _cluster() -> list[str]:
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions:
        pytest.skip("no local PostgreSQL cluster (/etc/postgresql) to stop and start")
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main"]


def _reachable(port: int) -> bool:
    try:
        socket.create_connection((HOST, port), timeout=0.5).close()
    except OSError:
        return False
    return True


def _postgresql_ready() -> bool:
    done = subprocess.run(["pg_isready", "-q", "-h", HOST, "-p", str(PG_PORT)], check=False)
    return done.returncode == 0


def _wait(condition: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def start_postgresql() -> None:
    if not _postgresql_ready():
        subprocess.run([*_cluster(), "start"], check=False)
    _wait(_postgresql_ready, "PostgreSQL to accept connections")


def stop_postgresql() -> None:
    subprocess.run([*_cluster(), "stop", "--mode", "fast"], check=True)
    _wait(lambda: not _reachable(PG_PORT), "PostgreSQL to stop")


def start_redis() -> None:
    if not _reachable(REDIS_PORT):
        subprocess.run(
            [
                *["redis-server", "--daemonize", "yes", "--bind", HOST],
                *["--port", str(REDIS_PORT), "--save", "", "--appendonly", "no"],
            ],
            check=True,
        )
    _wait(lambda: _reachable(REDIS_PORT), "Redis to accept connections")


def stop_redis() -> None:
    subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "shutdown", "nosave"], check=False)
    _wait(lambda: not _reachable(REDIS_PORT), "Redis to stop")


@contextmanager
def stopped(stop: Any, start: Any) -> Iterator[None]:
    """The server is down inside the block, and up again after it, even on failure."""
    try:
        stop()
        yield
    finally:
        start()


# --- PostgreSQL ---------------------------------------------------------------------------


def _execute(database: str, *statements: tuple[str, list[Any] | None]) -> None:
    """Run statements on a fresh autocommit connection (one kept across a stop would be dead)."""
    connection = connect(FAULTS_URL, dbname=database)
    try:
        with connection.cursor() as cursor:
            for sql, params in statements:
                cursor.execute(sql, params)
    finally:
        connection.close()


@pytest.fixture
def faults_database() -> Iterator[uuid.UUID]:
    """A database of its own for the demo, with one user of an agency with 2,000 calls."""
    start_postgresql()
    user_id, agency_id = uuid.uuid4(), uuid.uuid4()
    drop = (f"DROP DATABASE IF EXISTS {FAULTS_DATABASE} WITH (FORCE)", None)
    _execute("postgres", drop, (f"CREATE DATABASE {FAULTS_DATABASE}", None))
    try:
        _execute(
            FAULTS_DATABASE,
            (REFERENCE_DDL.read_text(), None),
            ("INSERT INTO users (id, agency_id) VALUES (%s, %s)", [str(user_id), str(agency_id)]),
            (
                "INSERT INTO calls (agency_id, status, created_at) "
                "SELECT %s, 'ended', now() - n * interval '61 minutes' "
                "FROM generate_series(1, 2000) AS n",
                [str(agency_id)],
            ),
        )
        yield user_id
    finally:
        start_postgresql()
        _execute("postgres", drop)


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer at all
    seconds: float
    body: Any


def ask(url: str, token: str) -> Answer:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer(response.status, time.monotonic() - started, json.load(response))
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = body
        return Answer(error.code, time.monotonic() - started, parsed)
    except OSError as error:
        return Answer(None, time.monotonic() - started, repr(error))


class Traffic(threading.Thread):
    """Asks without pause until stopped, keeping every answer."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.url, self.token = url, token
        self.answers: list[Answer] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.answers.append(ask(self.url, self.token))

    def stop(self) -> list[Answer]:
        self.done.set()
        self.join(timeout=60)
        return self.answers


@restarts
def test_postgresql_going_away_is_a_quick_500_and_coming_back_needs_no_restart(
    faults_database: uuid.UUID, tmp_path: Path
) -> None:
    token = access_token(faults_database)
    env = {
        "HEATMAP_CACHE_TTL": "0",  # every answer from the database
        "HEATMAP_THROTTLE_RATE": "",
        "HEATMAP_STATEMENT_TIMEOUT": str(STATEMENT_TIMEOUT),
    }
    log = tmp_path / "gunicorn.log"
    with demo_server(database_url=FAULTS_URL, workers=2, env=env, log=log) as server:
        url = f"{server.base_url}{HEATMAP_URL}?period=90d"
        # Every worker holds a kept-alive connection.
        assert {ask(url, token).status for _ in range(10)} == {200}

        # Restarted while the app is idle: each worker's connection is dead, and the
        # health check replaces it before use, so not one request fails.
        with stopped(stop_postgresql, start_postgresql):
            pass
        after_idle_restart = [ask(url, token) for _ in range(10)]
        assert [a.status for a in after_idle_restart] == [200] * 10

        # Stopped under traffic: 500 JSON at once, then 200 again once it is back.
        traffic = Traffic(url, token)
        traffic.start()
        time.sleep(1)
        with stopped(stop_postgresql, start_postgresql):
            time.sleep(3)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and traffic.answers[-1].status != 200:
            time.sleep(0.1)
        time.sleep(1)
        answers = traffic.stop()

        assert server.process.poll() is None
        assert server.worker_boots() == 2, log.read_text()  # no worker was restarted
    failed = [i for i, a in enumerate(answers) if a.status != 200]
    assert failed, "no request saw PostgreSQL down"
    assert all(answers[i].status == 500 for i in failed), [answers[i] for i in failed[:5]]
    bodies = [answers[i].body for i in failed]
    assert all(isinstance(b, dict) and set(b) == {"detail", "code"} for b in bodies), bodies[:5]
    assert {(b["detail"], b["code"]) for b in bodies} <= SERVER_ERRORS, bodies[:5]
    slowest = max(answers, key=lambda a: a.seconds)
    assert slowest.seconds < STATEMENT_TIMEOUT, slowest
    recovered = answers[failed[-1] + 1 :]
    assert len(recovered) >= 5
    assert {a.status for a in recovered} == {200}
    assert sum(c["total_calls"] for c in recovered[-1].body["heatmap"]) == 2000
    logged = log.read_text()
    assert "Users query failed for user" in logged or "Heatmap read failed for agency" in logged


@requires_postgresql_driver
def test_the_demo_keeps_and_checks_its_database_connections() -> None:
    """The settings the recovery above depends on."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "d = settings.DATABASES['default']; "
            "print(d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'], d['OPTIONS']['connect_timeout'])",
        ],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "heatmap_project.settings",
            "DATABASE_URL": FAULTS_URL,
        },
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["60", "True", "5"]


# --- Redis --------------------------------------------------------------------------------


@pytest.fixture
def redis_cache(settings: Any) -> Iterator[Any]:
    """The real Redis server behind the answer cache and the throttle, as the demo has it."""
    start_redis()
    prefix = f"analytics-faults-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://{HOST}:{REDIS_PORT}/15",
            "KEY_PREFIX": prefix,
            "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
        }
    }
    settings.ANALYTICS_HEATMAP_CACHE_TTL = 60
    settings.ANALYTICS_HEATMAP_THROTTLE_RATE = "1000/min"
    try:
        yield caches["default"]
    finally:
        start_redis()
        caches["default"].clear()


def keys_in_redis(cache: Any) -> list[bytes]:
    return list(cache._cache.get_client().keys(f"{cache.key_prefix}*"))


@restarts
@pytest.mark.django_db
def test_with_redis_stopped_the_endpoint_answers_from_the_database(
    redis_cache: Any,
    auth_client: APIClient,
    make_call: MakeCall,
    caplog: pytest.LogCaptureFixture,
) -> None:
    make_call()
    assert auth_client.get(HEATMAP_URL).status_code == 200
    # The answer, and the user's and the agency's throttle counts.
    assert len(keys_in_redis(redis_cache)) == 3

    with stopped(stop_redis, start_redis):
        make_call()  # only the database knows this one
        with caplog.at_level(logging.WARNING, logger="analytics"):
            started = time.monotonic()
            answers = [auth_client.get(HEATMAP_URL) for _ in range(3)]
            seconds = time.monotonic() - started
        assert [a.status_code for a in answers] == [200] * 3
        assert all(sum(c["total_calls"] for c in a.json()["heatmap"]) == 2 for a in answers)
        assert seconds < 3
        messages = {(r.name, r.getMessage()) for r in caplog.records}
        assert (
            "analytics.api.caching",
            "Heatmap cache read failed; answering from the database",
        ) in (messages)
        assert ("analytics.api.caching", "Heatmap cache write failed") in messages
        assert (
            "analytics.api.throttling",
            "Throttle cache 'default' unreachable; letting the request through",
        ) in messages

    # Back, and empty (it kept nothing): the next answers are cached and counted again.
    assert auth_client.get(HEATMAP_URL).status_code == 200
    assert auth_client.get(HEATMAP_URL).status_code == 200
    assert len(keys_in_redis(redis_cache)) == 3
