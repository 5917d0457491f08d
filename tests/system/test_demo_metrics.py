"""The demo's ``/metrics``: Prometheus' scrape target, served only with ``METRICS_ENABLED``."""

from __future__ import annotations

import json

import pytest

from tests.helpers import run_demo

#: The demo's URLconf asked for ``/metrics`` in a fresh process, whose environment
#: decides the settings: status, media type and the body's metric names.
SCRAPE = """
import json
import django
django.setup()
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families
response = Client().get("/metrics", HTTP_HOST="localhost")
text = response.content.decode() if response.status_code == 200 else ""
names = sorted(family.name for family in text_string_to_metric_families(text))
print(json.dumps([response.status_code, response.get("Content-Type"), names]))
"""


@pytest.mark.parametrize("value", ["", "0", "false"])
def test_metrics_are_not_served_unless_turned_on(value: str) -> None:
    status, _, names = json.loads(run_demo("-c", SCRAPE, METRICS_ENABLED=value))
    assert (status, names) == (404, [])


def test_metrics_are_served_when_turned_on() -> None:
    status, media_type, names = json.loads(run_demo("-c", SCRAPE, METRICS_ENABLED="1"))
    assert status == 200
    assert media_type.startswith("text/plain; version=")
    assert {
        "analytics_heatmap_database_seconds",
        "analytics_heatmap_requests",
        "analytics_heatmap_rollup_readable",
        "analytics_heatmap_scan_wait_seconds",
    } <= {name for name in names if name.startswith("analytics_")}
