"""``analytics.heatmap.limits``: the calls query's bounds, its scan slots, and its plan.

A runaway query is cancelled and answered 500, with the connection serving on; the
bounds are ``SET LOCAL`` and never outlive their block; a scan waits for one of its
agency's slots (kept in the cache, where no database login reaches), then is turned
away; and a small agency's heatmap reads the ``(agency_id, created_at)`` index, never
the whole table. Each needs PostgreSQL.
"""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.exceptions import HeatmapError
from analytics.heatmap import limits
from analytics.heatmap.limits import bounded_calls_query, heatmap_settings, scan_slot
from analytics.heatmap.measure import measuring
from analytics.heatmap.query import window_bounds
from analytics.heatmap.selectors import count_calls_by_slot, heatmap
from tests.helpers import HEATMAP_URL, assert_calls_query_failed, intruder, scan_slots_held

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("on_postgresql")]


def fill_calls(agency_id: uuid.UUID, count: int, *, other_agencies: int = 0) -> None:
    """Ended calls of the last day in one statement: ``count`` for the agency, as many per other."""
    rows_sql = (
        "INSERT INTO calls (id, agency_id, status, created_at) "
        "SELECT gen_random_uuid(), "
        "CASE WHEN n %% (%s + 1) = 0 THEN %s::uuid "
        "ELSE md5('agency' || (n %% (%s + 1))::text)::uuid END, "
        "'ended', %s::timestamptz - make_interval(secs => n %% 86400) "
        "FROM generate_series(1, %s) AS n"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            rows_sql,
            [
                other_agencies,
                str(agency_id),
                other_agencies,
                timezone.now(),
                count * (other_agencies + 1),
            ],
        )
        cursor.execute("ANALYZE calls")


def current_bounds() -> tuple[str, ...]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('statement_timeout'), current_setting('enable_sort'), "
            "current_setting('jit')"
        )
        row: tuple[str, ...] = cursor.fetchone()
        return row


# --- bounded queries ---------------------------------------------------------------------


def test_a_query_over_the_timeout_is_a_500_and_the_connection_serves_on(
    auth_client: APIClient,
    agency_id: uuid.UUID,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.ANALYTICS_HEATMAP_CACHE_TTL = 0
    fill_calls(agency_id, 60_000)
    settings.ANALYTICS_HEATMAP_STATEMENT_TIMEOUT = 0.001
    with caplog.at_level(logging.ERROR, logger="analytics"):
        cancelled = auth_client.get(HEATMAP_URL)
    assert_calls_query_failed(cancelled)
    [record] = [r for r in caplog.records if r.name == "analytics.heatmap.selectors"]
    assert "canceling statement due to statement timeout" in str(record.exc_info[1])
    server_connection = connection.connection
    settings.ANALYTICS_HEATMAP_STATEMENT_TIMEOUT = 10
    answered = auth_client.get(HEATMAP_URL)
    assert answered.status_code == 200
    assert sum(cell["total_calls"] for cell in answered.json()["heatmap"]) == 60_000
    assert connection.connection is server_connection


@pytest.mark.usefixtures("user")  # heatmap() refuses an agency nothing belongs to
def test_the_bounds_hold_inside_the_block_and_do_not_leak_into_the_callers_transaction(
    agency_id: uuid.UUID,
) -> None:
    before = current_bounds()
    assert before != ("10s", "off", "off")
    with bounded_calls_query("default"):
        assert current_bounds() == ("10s", "off", "off")
    assert current_bounds() == before
    heatmap(agency_id=agency_id)
    assert current_bounds() == before


# --- scan slots --------------------------------------------------------------------------


#: The scan slots' advisory locks before #21 (``pg_advisory_xact_lock(0x48454154,
#: hashtext(agency || ':' || slot))``), which any login could take.
OLD_SLOT_LOCK_SPACE = 0x48454154


@pytest.fixture
def one_slot(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """One scan slot per agency, waited for 0.2 s."""
    settings.ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS = 1
    monkeypatch.setattr(limits, "SCAN_WAIT_SECONDS", 0.2)


@pytest.fixture
def slot_held_elsewhere(agency_id: uuid.UUID, one_slot: None) -> Iterator[Callable[[], None]]:
    """The agency's one scan slot, held by another app server sharing the cache; the test
    may give it back with the function yielded."""
    with ExitStack() as held:
        held.enter_context(scan_slots_held(agency_id, 1))
        yield held.close


def in_a_request_of_its_own(work: Callable[[], Any]) -> Any:
    """``work()`` in a fresh context, as another request of this process would run it."""
    return contextvars.Context().run(work)


def take(agency_id: uuid.UUID) -> None:
    with scan_slot("default", agency_id):
        pass


def test_with_every_slot_taken_a_scan_waits_then_is_turned_away_and_the_wait_is_recorded(
    agency_id: uuid.UUID, slot_held_elsewhere: Callable[[], None]
) -> None:
    with pytest.raises(HeatmapError) as raised, measuring() as measurement:
        take(agency_id)
    assert (raised.value.code, raised.value.retry_after) == ("scans_busy", 1)
    assert str(raised.value) == (
        "Too many heatmaps of this agency are being counted right now; retry soon. "
        "Try again in 1 s."
    )
    assert 0.2 <= measurement.scan_wait_seconds < 1
    take(uuid.uuid4())  # another agency's slots are its own
    slot_held_elsewhere()
    with measuring() as measurement:
        take(agency_id)
    assert measurement.scan_wait_seconds < 0.1


def test_a_scan_slot_is_given_back_when_its_block_ends_however_it_ends(
    agency_id: uuid.UUID, one_slot: None
) -> None:
    def scan_that_fails() -> None:
        with scan_slot("default", agency_id):
            with pytest.raises(HeatmapError):
                in_a_request_of_its_own(lambda: take(agency_id))
            raise RuntimeError("the scan failed")

    with pytest.raises(RuntimeError):
        scan_that_fails()
    take(agency_id)


def test_a_read_made_again_within_the_slot_reuses_it(agency_id: uuid.UUID, one_slot: None) -> None:
    """The replica fallback reads the primary inside the request that holds the slot."""
    with measuring() as measurement, scan_slot("default", agency_id):
        take(agency_id)
    assert measurement.scan_wait_seconds < 0.1


def test_a_slot_whose_holder_died_frees_itself_after_the_statement_timeout_and_margin(
    agency_id: uuid.UUID, one_slot: None, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.ANALYTICS_HEATMAP_STATEMENT_TIMEOUT = 0.5
    monkeypatch.setattr(limits, "SCAN_SLOT_MARGIN_SECONDS", 0)
    abandoned = scan_slot("default", agency_id)
    abandoned.__enter__()  # and never left: its process was killed mid-scan
    with pytest.raises(HeatmapError):
        in_a_request_of_its_own(lambda: take(agency_id))
    time.sleep(1.1)  # the slot's time to live: the timeout rounded up to a second
    in_a_request_of_its_own(lambda: take(agency_id))


@pytest.mark.usefixtures("dead_redis_cache")
def test_with_the_cache_down_each_process_caps_its_own_scans(
    agency_id: uuid.UUID, one_slot: None, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="analytics.heatmap.limits"),
        scan_slot("default", agency_id),
        pytest.raises(HeatmapError),
    ):
        in_a_request_of_its_own(lambda: take(agency_id))
    assert "capping this process's scans alone" in caplog.text
    take(agency_id)


def test_a_login_holding_the_old_advisory_keys_no_longer_stalls_an_agencys_scans(
    auth_client: APIClient, agency_id: uuid.UUID, settings: Any, one_slot: None
) -> None:
    """Before, any login that took an agency's two advisory keys made its raw heatmaps 503."""
    settings.ANALYTICS_HEATMAP_SOURCE = "raw"
    settings.ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS = 2
    fill_calls(agency_id, 3)
    with intruder() as login:
        for slot in range(2):
            login.cursor().execute(
                "SELECT pg_advisory_lock(%s, hashtext(%s || ':' || %s))",
                [OLD_SLOT_LOCK_SPACE, str(agency_id), slot],
            )
        answered = auth_client.get(HEATMAP_URL)
    assert answered.status_code == 200
    assert sum(cell["total_calls"] for cell in answered.json()["heatmap"]) == 3


# --- the plan guard ------------------------------------------------------------------------


def _plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def test_a_small_agencys_plan_uses_the_agency_created_index(agency_id: uuid.UUID) -> None:
    fill_calls(agency_id, 1_200, other_agencies=99)  # 120k calls, 1% of them ours
    today = timezone.now().astimezone(UTC).date()
    start, end = window_bounds(today - timedelta(days=29), today, zone=UTC)
    with CaptureQueriesContext(connection) as queries:
        cells = count_calls_by_slot(agency_id=agency_id, start=start, end=end)
    assert sum(cell.total_calls for cell in cells) == 1_200
    [sql] = [q["sql"] for q in queries if '"calls"' in q["sql"]]
    with connection.cursor() as cursor:
        for name, value in heatmap_settings().items():
            cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
        [[document]] = cursor.fetchall()
    nodes = list(_plan_nodes(document[0]["Plan"]))
    assert any(
        node.get("Index Name") == "idx_calls_agency_created"
        and node["Node Type"] in {"Index Scan", "Index Only Scan", "Bitmap Index Scan"}
        for node in nodes
    ), nodes
    assert not any(
        node["Node Type"] == "Seq Scan" and node.get("Relation Name") == "calls" for node in nodes
    )
