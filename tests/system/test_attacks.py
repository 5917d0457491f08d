"""Attacks on the endpoint, run as bounded loops (#13): what one agency can cost everyone.

In process, on PostgreSQL: the cap on concurrent scans of one agency's calls, with
requests made to miss the cache (a fresh ``campaign_id`` each) while the table is
locked, so every scan that starts is seen waiting. Over real HTTP on loopback, in
``test_attacks_http.py``: password guesses at the API docs and a flood of one
agency's users.

The wait for a scan slot is ``analytics.heatmap.limits.SCAN_WAIT_SECONDS`` (5 s), read at call
time: each test sets the bound it needs with ``scan_wait``.
"""

from __future__ import annotations

import io
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.test import Client
from django.utils import timezone
from openapi_core import Config, OpenAPI
from rest_framework.test import APIClient

from analytics.heatmap import limits
from analytics.models import Call, User
from tests.helpers import (
    HEATMAP_PAGE,
    HEATMAP_URL,
    SCHEMA_FILE,
    decode_text,
    mint_token,
    scan_slots_held,
    validate,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def empty_tables(on_postgresql: None) -> Iterator[None]:
    """Committed rows (other connections must see them), gone after the test."""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE calls, users")
    yield
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE calls, users")


@pytest.fixture(autouse=True)
def raw_scans_uncached(settings: Any) -> None:
    settings.ANALYTICS_HEATMAP_SOURCE = "raw"
    settings.ANALYTICS_HEATMAP_THROTTLE_RATE = None
    settings.ANALYTICS_HEATMAP_AGENCY_THROTTLE_RATE = None


@pytest.fixture
def scan_wait(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Sets how long a request waits for a scan slot before its 503."""

    def set_wait(seconds: float) -> None:
        monkeypatch.setattr(limits, "SCAN_WAIT_SECONDS", seconds)

    return set_wait


@pytest.fixture
def agency() -> uuid.UUID:
    agency_id = uuid.uuid4()
    Call.objects.create(
        id=uuid.uuid4(), agency_id=agency_id, status="ended", created_at=timezone.now()
    )
    return agency_id


def client_of(agency_id: uuid.UUID) -> APIClient:
    user = User.objects.create(id=uuid.uuid4(), agency_id=agency_id)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(user.id))}")
    return client


def new_connection() -> Any:
    """A DB-API connection of its own, outside Django's, in a transaction once used."""
    return connection.get_new_connection(connection.get_connection_params())


@contextmanager
def calls_locked() -> Iterator[Callable[[], None]]:
    """``calls`` locked by another session, so a scan that starts waits, visibly, until
    the returned function (or the block's end) releases it."""
    blocker = new_connection()
    blocker.cursor().execute("LOCK TABLE calls IN ACCESS EXCLUSIVE MODE")
    try:
        yield blocker.rollback
    finally:
        blocker.close()


def scans_waiting_on_calls(observer: Any) -> int:
    """Sessions whose heatmap scan of ``calls`` waits on the lock."""
    cursor = observer.cursor()
    cursor.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND state = 'active' AND wait_event_type = 'Lock' AND query LIKE %s",
        ['%FROM "calls"%'],
    )
    count: int = cursor.fetchone()[0]
    observer.rollback()
    return count


@dataclass
class Answer:
    status: int
    seconds: float
    code: str | None
    retry_after: str | None


class Attack:
    """``threads`` clients of one agency, each asking ``requests`` times, each time for a
    campaign never asked before: every request misses the cache and needs a scan."""

    def __init__(self, agency_id: uuid.UUID, *, threads: int, requests: int) -> None:
        self.clients = [client_of(agency_id) for _ in range(threads)]
        self.requests = requests
        self.answers: list[Answer] = []
        self.errors: list[BaseException] = []

    def run(self, client: APIClient) -> None:
        try:
            for _ in range(self.requests):
                started = time.monotonic()
                response = client.get(HEATMAP_URL, {"campaign_id": str(uuid.uuid4())})
                body = response.json()
                self.answers.append(
                    Answer(
                        response.status_code,
                        time.monotonic() - started,
                        body.get("code") if response.status_code != 200 else None,
                        response.get("Retry-After"),
                    )
                )
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)
        finally:
            connections.close_all()

    @contextmanager
    def running(self) -> Iterator[list[threading.Thread]]:
        threads = [threading.Thread(target=self.run, args=(c,)) for c in self.clients]
        for thread in threads:
            thread.start()
        try:
            yield threads
        finally:
            for thread in threads:
                thread.join(timeout=60)
            assert not self.errors, self.errors


def wait_for(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# --- the cap -------------------------------------------------------------------------------


def test_with_every_slot_taken_a_scan_waits_its_bound_then_answers_503(
    settings: Any, scan_wait: Callable[[float], None], agency: uuid.UUID
) -> None:
    settings.ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS = 2
    scan_wait(0.3)
    client, stranger = client_of(agency), client_of(uuid.uuid4())
    with scan_slots_held(agency, 2):
        started = time.monotonic()
        busy = client.get(HEATMAP_URL)
        waited = time.monotonic() - started
        # The slots are the agency's: another agency scans on.
        assert stranger.get(HEATMAP_URL).status_code == 200
    assert busy.status_code == 503
    assert busy.json() == {
        "detail": "Too many heatmaps of this agency are being counted right now; retry soon.",
        "code": "scans_busy",
    }
    assert busy["Retry-After"] == "1"
    assert 0.3 <= waited < 3
    spec = OpenAPI.from_file_path(
        str(SCHEMA_FILE), config=Config(extra_media_type_deserializers={"text/csv": decode_text})
    )
    validate(spec, busy)
    with scan_slots_held(agency, 1):  # one slot free: served
        assert client.get(HEATMAP_URL).json()["heatmap"][0]["total_calls"] == 1


def test_no_cap_when_the_setting_is_none(
    settings: Any, scan_wait: Callable[[float], None], agency: uuid.UUID
) -> None:
    settings.ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS = None
    scan_wait(0.1)
    with scan_slots_held(agency, 5):
        assert client_of(agency).get(HEATMAP_URL).status_code == 200


# --- the attack loops ------------------------------------------------------------------------


def peak_scans_during_attack(
    agency_id: uuid.UUID, *, threads: int, expected: int
) -> tuple[int, list[Answer]]:
    """Run the attack with ``calls`` locked until ``expected`` scans wait on it, and a
    second more (a scan past the cap would show up then); the peak number of scans
    seen waiting at once, and every answer once the lock is gone."""
    attack = Attack(agency_id, threads=threads, requests=2)
    observer = new_connection()
    peak = 0

    def observe() -> int:
        nonlocal peak
        peak = max(peak, scans_waiting_on_calls(observer))
        return peak

    try:
        with calls_locked() as release, attack.running():
            wait_for(lambda: observe() >= expected)
            settle = time.monotonic() + 1.0
            while time.monotonic() < settle:
                observe()
                time.sleep(0.02)
            release()
    finally:
        observer.close()
    return peak, attack.answers


def test_an_attack_loop_missing_the_cache_never_runs_more_scans_than_the_cap(
    settings: Any,
    scan_wait: Callable[[float], None],
    agency: uuid.UUID,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """8 clients of one agency, 16 requests for fresh campaigns: uncapped, all 8 scans run
    at once; capped at 2, two do, the rest wait their turn and are all served."""
    scan_wait(30)
    settings.ANALYTICS_HEATMAP_STATEMENT_TIMEOUT = 30  # the lock wait counts towards it
    settings.ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS = None
    uncapped, uncapped_answers = peak_scans_during_attack(agency, threads=8, expected=8)
    settings.ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS = 2
    capped, capped_answers = peak_scans_during_attack(agency, threads=8, expected=2)
    with capsys.disabled():
        print(f"\npeak concurrent scans of one agency: uncapped {uncapped}, capped {capped}")
    assert uncapped == 8  # the measure sees every scan, so it would see a broken cap
    assert capped == 2
    assert [a.status for a in uncapped_answers] == [200] * 16
    assert [a.status for a in capped_answers] == [200] * 16


def test_an_attack_loop_past_the_wait_gets_prompt_503s_and_the_agency_recovers(
    settings: Any, scan_wait: Callable[[float], None], agency: uuid.UUID
) -> None:
    """Capped at 1 with a 0.2 s wait: while one scan is stuck, 5 more clients are each told
    503 within the bound, and once it ends the agency is served again."""
    settings.ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS = 1
    scan_wait(0.2)
    attack = Attack(agency, threads=6, requests=1)
    observer = new_connection()
    try:
        with calls_locked() as release, attack.running():
            wait_for(lambda: sum(a.status == 503 for a in attack.answers) == 5)
            assert scans_waiting_on_calls(observer) == 1
            release()
    finally:
        observer.close()
    busy = [a for a in attack.answers if a.status == 503]
    assert sorted(a.status for a in attack.answers) == [200] + [503] * 5
    assert {(a.code, a.retry_after) for a in busy} == {("scans_busy", "1")}
    assert statistics.median(a.seconds for a in busy) < 2
    assert client_of(agency).get(HEATMAP_URL).status_code == 200


def test_the_admin_page_and_the_command_say_the_agency_is_busy(
    settings: Any, scan_wait: Callable[[float], None], agency: uuid.UUID
) -> None:
    settings.ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS = 1
    scan_wait(0.1)
    staff = get_user_model().objects.create_superuser("busy-admin", "a@example.com", "pw")
    browser = Client()
    browser.force_login(staff)
    with scan_slots_held(agency, 1):
        page = browser.get(HEATMAP_PAGE, {"agency": str(agency)})
        with pytest.raises(CommandError) as refused:
            call_command("call_heatmap", "--agency", str(agency), stdout=io.StringIO())
    said = (
        "Too many heatmaps of this agency are being counted right now; retry soon."
        " Try again in 1 s."
    )
    assert str(refused.value) == said
    assert page.status_code == 200
    assert said in page.content.decode()
