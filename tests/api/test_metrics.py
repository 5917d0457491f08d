"""``analytics.api.metrics``: the Prometheus metrics of heatmap answers and of the rollup.

Read back through prometheus_client's own exposition, as a scraper sees them: the
counter and histograms move with real answers, the rollup's gauges read real pending
deltas of a real rollup (PostgreSQL), and no label anywhere names an agency.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from django.core.cache import caches
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from analytics.api.metrics import RollupCollector
from analytics.rollup.inspect import fold_pending
from tests.helpers import HEATMAP_URL, MakeCall, ended_call, run_python, sql

#: The only labels the app's metrics carry (``le``: a histogram's bucket).
LABELS = {"source", "status", "le"}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scraped() -> dict[str, float]:
    """The app's samples as the default registry's exposition gives them, by name."""
    text = generate_latest(REGISTRY).decode()
    return {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("analytics_")
        for s in family.samples
        if not s.labels
    }


def app_labels() -> set[str]:
    text = generate_latest(REGISTRY).decode()
    return {
        label
        for family in text_string_to_metric_families(text)
        if family.name.startswith("analytics_")
        for s in family.samples
        for label in s.labels
    }


@pytest.mark.django_db
def test_answers_move_the_counter_and_the_histograms_by_source(
    auth_client: APIClient, make_call: MakeCall, settings: Any, agency_id: uuid.UUID
) -> None:
    settings.ANALYTICS_HEATMAP_CACHE_TTL = 60
    caches["default"].clear()
    make_call()
    before = {
        "raw": sample("analytics_heatmap_requests_total", source="raw", status="200"),
        "cache": sample("analytics_heatmap_requests_total", source="cache", status="200"),
        "refused": sample("analytics_heatmap_requests_total", source="none", status="401"),
        "raw_reads": sample("analytics_heatmap_database_seconds_count", source="raw"),
        "raw_seconds": sample("analytics_heatmap_database_seconds_sum", source="raw"),
        "cache_reads": sample("analytics_heatmap_database_seconds_count", source="cache"),
        "scans": sample("analytics_heatmap_scan_wait_seconds_count"),
    }
    auth_client.get(HEATMAP_URL)  # read
    auth_client.get(HEATMAP_URL)  # cached
    APIClient().get(HEATMAP_URL)  # refused
    assert sample("analytics_heatmap_requests_total", source="raw", status="200") == (
        before["raw"] + 1
    )
    assert sample("analytics_heatmap_requests_total", source="cache", status="200") == (
        before["cache"] + 1
    )
    assert sample("analytics_heatmap_requests_total", source="none", status="401") == (
        before["refused"] + 1
    )
    assert sample("analytics_heatmap_database_seconds_count", source="raw") == (
        before["raw_reads"] + 1
    )
    assert sample("analytics_heatmap_database_seconds_sum", source="raw") > before["raw_seconds"]
    # A cached answer read no database: it is counted, not timed.
    assert sample("analytics_heatmap_database_seconds_count", source="cache") == 0
    assert before["cache_reads"] == 0
    # The raw read could have waited for a scan slot: its wait (none here) is observed.
    assert sample("analytics_heatmap_scan_wait_seconds_count") == before["scans"] + 1
    assert app_labels() <= LABELS
    assert str(agency_id) not in generate_latest(REGISTRY).decode()


@pytest.mark.django_db
def test_without_a_rollup_the_gauges_say_only_that_it_is_not_readable() -> None:
    gauges = scraped()
    assert gauges["analytics_heatmap_rollup_readable"] == 0
    assert "analytics_heatmap_rollup_pending_deltas" not in gauges


@pytest.mark.django_db(transaction=True)
def test_the_gauges_read_the_rollups_real_pending_deltas(
    rollup: None, rollup_agency: uuid.UUID
) -> None:
    for _ in range(3):
        ended_call(rollup_agency)
    time.sleep(1.1)  # the oldest delta is then over a second old
    gauges = scraped()
    assert gauges["analytics_heatmap_rollup_readable"] == 1
    assert gauges["analytics_heatmap_rollup_pending_deltas"] == 3
    assert 1.1 <= gauges["analytics_heatmap_rollup_oldest_pending_age_seconds"] < 60
    assert "analytics_heatmap_rollup_last_fold_timestamp_seconds" not in gauges  # none yet
    fold_pending(using="default")
    gauges = scraped()
    assert gauges["analytics_heatmap_rollup_pending_deltas"] == 0
    assert gauges["analytics_heatmap_rollup_oldest_pending_age_seconds"] == 0
    # The last fold's time, as the fold recorded it (analytics_heatmap.maintenance).
    [[recorded]] = sql(
        "SELECT extract(epoch FROM last_fold_at)::float8 FROM analytics_heatmap.maintenance"
    )
    assert gauges["analytics_heatmap_rollup_last_fold_timestamp_seconds"] == recorded
    assert abs(recorded - time.time()) < 60
    assert app_labels() <= LABELS
    assert str(rollup_agency) not in generate_latest(REGISTRY).decode()


@pytest.mark.django_db(transaction=True)
def test_a_role_that_cannot_read_the_rollup_gets_no_gauges_and_no_error(
    rollup: None, rollup_agency: uuid.UUID
) -> None:
    collector = RollupCollector(using="default")
    # Roles belong to the server: a name of its own, so a run killed mid-test breaks no other.
    outsider = f"h21_h9_outsider_{uuid.uuid4().hex[:8]}"
    sql(f"CREATE ROLE {outsider}")
    try:
        sql(f"SET ROLE {outsider}")
        try:
            families = {family.name: family for family in collector.collect()}
        finally:
            sql("RESET ROLE")
    finally:
        sql(f"DROP ROLE {outsider}")
    assert list(families) == ["analytics_heatmap_rollup_readable"]
    assert families["analytics_heatmap_rollup_readable"].samples[0].value == 0


#: Two "workers" of gunicorn's multiprocess mode, each answering once, then a scrape.
MULTIPROCESS = """
import sys, uuid
import django
django.setup()
from django.test.utils import setup_test_environment
setup_test_environment()
from django.db import connection
from django.test import Client, RequestFactory
from analytics.models import User, create_reference_tables
from tests.helpers import mint_token
connection.creation.create_test_db(verbosity=0)
create_reference_tables(using="default")
user = User.objects.create(id=uuid.uuid4(), agency_id=uuid.uuid4())
if sys.argv[1] == "answer":
    token = mint_token(sub=str(user.id))
    Client().get("/api/dashboard-heatmap", HTTP_AUTHORIZATION=f"Bearer {token}")
else:
    from analytics.api.metrics import metrics_view
    sys.stdout.write(metrics_view(RequestFactory().get("/metrics")).content.decode())
"""


def test_multiprocess_mode_exports_every_workers_answers_and_the_rollups_gauges(
    tmp_path: Any,
) -> None:
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": "",
        "PATH": "",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }

    def run(role: str) -> str:
        return run_python("-c", MULTIPROCESS, role, env=env)

    run("answer")
    run("answer")
    families = {family.name: family for family in text_string_to_metric_families(run("scrape"))}
    [raw] = [
        s
        for s in families["analytics_heatmap_requests"].samples
        if s.name.endswith("_total") and s.labels == {"source": "raw", "status": "200"}
    ]
    assert raw.value == 2
    assert families["analytics_heatmap_rollup_readable"].samples[0].value == 0  # SQLite


#: A fresh process's registry once Django is set up, before any request or URLconf.
READY = """
import django
django.setup()
from prometheus_client import REGISTRY, generate_latest
exposed = generate_latest(REGISTRY)
print(b"analytics_heatmap_requests" in exposed, b"analytics_heatmap_rollup_readable" in exposed)
"""


def test_the_metrics_are_registered_once_the_app_is_ready() -> None:
    """A host's exporter on a thread of its own scrapes before any request loads a view."""
    env = {"DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": "", "PATH": ""}
    assert run_python("-c", READY, env=env).split() == ["True", "True"]
