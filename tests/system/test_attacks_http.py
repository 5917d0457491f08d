"""Attack loops over real HTTP on loopback (#13): the demo under gunicorn, over PostgreSQL.

Each loop is bounded in requests and time. They stop no server, so they run in every
environment with a PostgreSQL driver, on a database of their own.

- Password guesses at ``/api/schema/`` and ``/api/docs/``: once a password oracle whose
  every guess cost a PBKDF2 hash (0.6 s of CPU) and slowed every heatmap user; now the
  same answer for everyone, and the heatmap's median unmoved.
- One agency's users together: each under their own rate, all of them held to the
  agency's, across two worker processes sharing Redis.
"""

from __future__ import annotations

import base64
import os
import socket
import statistics
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from analytics.models import REFERENCE_DDL
from heatmap_project.harness import JWT_SECRET, access_token, connect, demo_server
from tests.helpers import HEATMAP_URL, requires_postgresql_driver, run_demo

pytestmark = requires_postgresql_driver

SERVER = os.environ.get("TEST_POSTGRES_SERVER", "postgres://postgres@127.0.0.1:5432")
REDIS = ("127.0.0.1", 6379)
ADMIN_PASSWORD = "a-real-password-for-a-real-hash"
#: Per-user and per-agency rates of the served demo: the agency's is the one reached.
USER_RATE, AGENCY_RATE = 30, 40


@dataclass(frozen=True)
class Demo:
    base_url: str
    user_id: uuid.UUID
    colleagues: tuple[uuid.UUID, ...]
    #: Of the first user's agency, asking only once: not held back by anyone's rate.
    bystander: uuid.UUID


@dataclass(frozen=True)
class Answer:
    status: int
    seconds: float
    body: bytes
    retry_after: str | None


def ask(url: str, headers: dict[str, str] | None = None) -> Answer:
    request = urllib.request.Request(url, headers=headers or {})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
            return Answer(response.status, time.monotonic() - started, body, None)
    except urllib.error.HTTPError as error:
        return Answer(
            error.code, time.monotonic() - started, error.read(), error.headers["Retry-After"]
        )


def basic(username: str, password: str) -> dict[str, str]:
    pair = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def bearer(user_id: uuid.UUID) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token(user_id)}"}


def redis_reachable() -> bool:
    try:
        socket.create_connection(REDIS, timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    """The demo under gunicorn (2 workers, Redis), over a database of its own: an admin
    with a real password hash, two users of an agency with calls, four of another."""
    if not redis_reachable():
        if os.environ.get("CI"):
            pytest.fail("CI needs Redis at 127.0.0.1:6379")
        pytest.skip("needs Redis at 127.0.0.1:6379")
    name = f"heatmap_attack_{uuid.uuid4().hex[:8]}"
    url = f"{SERVER}/{name}"
    admin = connect(url, dbname="postgres")
    admin.cursor().execute(f"CREATE DATABASE {name}")
    user_id, agency_id, other_agency = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    colleagues = tuple(uuid.uuid4() for _ in range(4))
    bystander = uuid.uuid4()
    try:
        database = connect(url)
        with database.cursor() as cursor:
            cursor.execute(REFERENCE_DDL.read_text())
            for member in (user_id, bystander):
                cursor.execute(
                    "INSERT INTO users (id, agency_id) VALUES (%s, %s)",
                    [str(member), str(agency_id)],
                )
            for colleague in colleagues:
                cursor.execute(
                    "INSERT INTO users (id, agency_id) VALUES (%s, %s)",
                    [str(colleague), str(other_agency)],
                )
            cursor.execute(
                "INSERT INTO calls (agency_id, status, created_at) "
                "SELECT %s, 'ended', now() - n * interval '17 minutes' "
                "FROM generate_series(1, 3000) AS n",
                [str(agency_id)],
            )
        database.close()
        env = {
            "REDIS_URL": "redis://127.0.0.1:6379/13",
            "HEATMAP_CACHE_TTL": "0",  # every heatmap request reaches the database
            "HEATMAP_THROTTLE_RATE": f"{USER_RATE}/min",
            "HEATMAP_AGENCY_THROTTLE_RATE": f"{AGENCY_RATE}/min",
        }
        manage = {
            "DATABASE_URL": url,
            "SUPABASE_JWT_SECRET": JWT_SECRET,
            "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
        }
        run_demo("manage.py", "migrate", "--noinput", **manage)
        superuser = ["--noinput", "--username", "admin", "--email", "a@example.com"]
        run_demo("manage.py", "createsuperuser", *superuser, **manage)
        with demo_server(database_url=url, workers=2, env=env) as server:
            yield Demo(server.base_url, user_id, colleagues, bystander)
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


class Heatmap(threading.Thread):
    """One heatmap user asking without pause until stopped."""

    def __init__(self, demo: Demo) -> None:
        super().__init__(daemon=True)
        self.url, self.headers = demo.base_url + HEATMAP_URL, bearer(demo.user_id)
        self.answers: list[Answer] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.answers.append(ask(self.url, self.headers))
            time.sleep(0.2)  # under USER_RATE a minute, over both phases of the test

    def stop(self) -> list[Answer]:
        self.done.set()
        self.join(timeout=60)
        return self.answers


def test_password_guesses_at_the_api_docs_learn_nothing_and_cost_nothing(
    demo: Demo, capsys: pytest.CaptureFixture[str]
) -> None:
    """64 guesses, 8 at a time: every one 200 with the anonymous body, the right password
    too, and a heatmap user's median unchanged (it was 18 ms, then 3.1 s)."""
    pages = [demo.base_url + "/api/schema/", demo.base_url + "/api/docs/"]
    anonymous = {page: ask(page) for page in pages}
    assert {answer.status for answer in anonymous.values()} == {200}

    quiet = Heatmap(demo)
    quiet.start()
    time.sleep(2.5)
    baseline = quiet.stop()

    guesses = [
        (pages[n % 2], basic("admin" if n % 3 else f"nobody{n}", f"guess-{n}")) for n in range(62)
    ]
    guesses += [(page, basic("admin", ADMIN_PASSWORD)) for page in pages]
    loaded = Heatmap(demo)
    loaded.start()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda guess: (guess[0], ask(*guess)), guesses))
    flood_seconds = time.monotonic() - started
    time.sleep(0.5)
    during = loaded.stop()

    for page, answer in answers:
        assert answer.status == 200
        assert answer.body == anonymous[page].body
    assert {a.status for a in baseline + during} == {200}
    quiet_ms = statistics.median(a.seconds for a in baseline) * 1000
    loaded_ms = statistics.median(a.seconds for a in during) * 1000
    with capsys.disabled():
        print(
            f"\n64 password guesses in {flood_seconds:.2f} s; heatmap median "
            f"{quiet_ms:.1f} ms quiet, {loaded_ms:.1f} ms during the guesses"
        )
    assert flood_seconds < 10
    assert loaded_ms < max(3 * quiet_ms, quiet_ms + 150)


def test_one_agencys_users_together_are_held_to_the_agency_rate(demo: Demo) -> None:
    """4 users, 20 requests each at once: each under their own rate of 30, together
    over the agency's 40; the rest are 429s with Retry-After, across both workers."""
    url = demo.base_url + HEATMAP_URL

    def flood(user_id: uuid.UUID) -> list[Answer]:
        headers = bearer(user_id)
        return [ask(url, headers) for _ in range(20)]

    with ThreadPoolExecutor(max_workers=len(demo.colleagues)) as pool:
        answers = [a for answers in pool.map(flood, demo.colleagues) for a in answers]
    served = [a for a in answers if a.status == 200]
    refused = [a for a in answers if a.status != 200]
    # DRF's throttle reads, then writes, its history, so concurrent requests can slip
    # past (and overwrite each other's entries): a bound on the flood, not an exact count.
    assert AGENCY_RATE <= len(served) <= AGENCY_RATE * 3 // 2, len(served)
    assert {a.status for a in refused} == {429}
    assert all(a.retry_after and 0 < int(a.retry_after) <= 60 for a in refused)
    assert all(b'"code":"throttled"' in a.body.replace(b" ", b"") for a in refused)
    # Another agency's user is served meanwhile.
    assert ask(url, bearer(demo.bystander)).status == 200
