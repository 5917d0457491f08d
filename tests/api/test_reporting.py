"""``analytics.api.reporting``: every heatmap answer's log line and ``Server-Timing`` header.

Over HTTP, through the endpoint: a raw read, a rollup read (PostgreSQL), a cache hit and
refusals, each told with the source that answered and nothing of who asked. The
Prometheus side is ``test_metrics.py``.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

import pytest
from django.core.cache import caches
from rest_framework.test import APIClient

from analytics.models import User
from tests.helpers import (
    HEATMAP_URL,
    MakeCall,
    ended_call,
    mint_token,
    run_python,
    table_away,
)

LOGGER = "analytics.heatmap.requests"
FIELDS = ["source", "status", "database_ms", "scan_wait_ms", "clock", "period", "metric"]
#: ``source;desc="rollup", db;dur=1.2, scan-wait;dur=0.0``
SERVER_TIMING = re.compile(
    r'source;desc="(?P<source>[a-z]+)", db;dur=(?P<db>[0-9.]+), scan-wait;dur=(?P<wait>[0-9.]+)'
)


def answers(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == LOGGER]


def fields_of(record: logging.LogRecord) -> dict[str, str]:
    """The line's ``key=value`` fields, as a log store would parse them."""
    text = record.getMessage()
    assert text.startswith("heatmap ")
    return dict(field.split("=", 1) for field in text.removeprefix("heatmap ").split(" "))


def told_nothing_of_the_caller(record: logging.LogRecord, *secrets: Any) -> bool:
    text = record.getMessage() + repr(record.__dict__)
    return not any(str(secret) in text for secret in secrets)


@pytest.mark.django_db
def test_a_raw_read_is_one_info_line_with_its_fields_and_nothing_of_the_caller(
    auth_client: APIClient,
    make_call: MakeCall,
    caplog: pytest.LogCaptureFixture,
    user: User,
    token: str,
) -> None:
    make_call()
    with caplog.at_level(logging.INFO, logger="analytics"):
        response = auth_client.get(HEATMAP_URL, {"period": "7d", "metric": "connect_rate"})
    assert response.status_code == 200
    [record] = answers(caplog)
    assert record.levelno == logging.INFO
    fields = fields_of(record)
    assert list(fields) == FIELDS
    assert fields["source"] == "raw"
    assert fields["status"] == "200"
    assert (fields["clock"], fields["period"], fields["metric"]) == ("tz", "7d", "connect_rate")
    assert float(fields["database_ms"]) > 0
    assert float(fields["scan_wait_ms"]) >= 0
    # The same fields as the record's attributes, for a JSON formatter.
    assert {name: str(getattr(record, name)) for name in FIELDS} == fields
    assert told_nothing_of_the_caller(record, token, user.id, user.agency_id)
    assert "Server-Timing" not in response  # off unless ANALYTICS_SERVER_TIMING


@pytest.mark.django_db
def test_a_cache_hit_is_told_as_the_cache_with_no_database_time(
    auth_client: APIClient, make_call: MakeCall, caplog: pytest.LogCaptureFixture, settings: Any
) -> None:
    settings.ANALYTICS_HEATMAP_CACHE_TTL = 60
    caches["default"].clear()
    make_call()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        first = auth_client.get(HEATMAP_URL)
        again = auth_client.get(HEATMAP_URL)
    assert first.json() == again.json()
    [missed, hit] = [fields_of(record) for record in answers(caplog)]
    assert missed["source"] == "raw"
    assert (hit["source"], hit["status"], hit["database_ms"]) == ("cache", "200", "0.0")


@pytest.mark.django_db
def test_a_refusal_is_told_with_no_source_and_no_query(
    auth_client: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert APIClient().get(HEATMAP_URL).status_code == 401
        assert auth_client.get(HEATMAP_URL, {"period": "1y"}).status_code == 400
        assert auth_client.options(HEATMAP_URL).status_code == 200  # not an answer
    told = [fields_of(record) for record in answers(caplog)]
    assert [(f["source"], f["status"], f["period"], f["database_ms"]) for f in told] == [
        ("none", "401", "-", "0.0"),
        ("none", "400", "-", "0.0"),
    ]
    # The refused value never reaches the log: only checked choices do.
    assert "1y" not in caplog.text


@pytest.mark.django_db
def test_a_failed_read_is_told_as_its_source_with_its_time(
    auth_client: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger=LOGGER), table_away("calls"):
        assert auth_client.get(HEATMAP_URL).status_code == 500
    [record] = answers(caplog)
    fields = fields_of(record)
    assert (fields["source"], fields["status"], fields["period"]) == ("raw", "500", "30d")
    assert float(fields["database_ms"]) > 0  # the failed query's time counts


@pytest.mark.django_db(transaction=True)
def test_a_rollup_read_is_told_as_the_rollup(
    rollup: None, rollup_agency: uuid.UUID, caplog: pytest.LogCaptureFixture, settings: Any
) -> None:
    settings.ANALYTICS_SERVER_TIMING = True
    for _ in range(3):
        ended_call(rollup_agency)
    user = User.objects.get(agency_id=rollup_agency)
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(user.id))}")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        response = client.get(HEATMAP_URL)
    assert sum(cell["total_calls"] for cell in response.json()["heatmap"]) == 3
    [record] = answers(caplog)
    fields = fields_of(record)
    assert (fields["source"], fields["status"]) == ("rollup", "200")
    assert float(fields["database_ms"]) > 0
    timing = SERVER_TIMING.fullmatch(response["Server-Timing"])
    assert timing is not None
    assert timing["source"] == "rollup"
    assert float(timing["db"]) == float(fields["database_ms"])
    assert told_nothing_of_the_caller(record, user.id, rollup_agency)


@pytest.mark.django_db
def test_server_timing_is_sent_only_when_turned_on(
    auth_client: APIClient, make_call: MakeCall, settings: Any
) -> None:
    make_call()
    assert "Server-Timing" not in auth_client.get(HEATMAP_URL)
    settings.ANALYTICS_SERVER_TIMING = True
    response = auth_client.get(HEATMAP_URL)
    timing = SERVER_TIMING.fullmatch(response["Server-Timing"])
    assert timing is not None
    assert timing["source"] == "raw"
    assert float(timing["db"]) > 0
    assert float(timing["wait"]) >= 0
    # On a refusal too: it tells that nothing was read.
    refused = auth_client.get(HEATMAP_URL, {"period": "1y"})
    assert refused["Server-Timing"] == 'source;desc="none", db;dur=0.0, scan-wait;dur=0.0'


#: The endpoint asked in a process where prometheus_client cannot be imported.
WITHOUT_PROMETHEUS = """
import logging, sys, uuid
sys.modules["prometheus_client"] = None  # as if the extra were not installed
import django
django.setup()
from django.test.utils import setup_test_environment
setup_test_environment()
from django.db import connection
from django.test import Client
from analytics.models import User, create_reference_tables
from tests.helpers import mint_token
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s %(message)s")
connection.creation.create_test_db(verbosity=0)
create_reference_tables(using="default")
user = User.objects.create(id=uuid.uuid4(), agency_id=uuid.uuid4())
token = mint_token(sub=str(user.id))
print(Client().get("/api/dashboard-heatmap", HTTP_AUTHORIZATION=f"Bearer {token}").status_code)
print("analytics.api.metrics" in sys.modules)
"""


def test_the_endpoint_answers_and_logs_without_prometheus_client() -> None:
    env = {"DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": "", "PATH": ""}
    lines = run_python("-c", WITHOUT_PROMETHEUS, env=env).splitlines()
    assert lines[-2:] == ["200", "False"]
    assert any(line.startswith(f"{LOGGER} heatmap source=raw status=200 ") for line in lines)
