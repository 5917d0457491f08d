"""The README's demo, end to end: real processes, a real server, real HTTP."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from heatmap_project.harness import free_port
from tests.helpers import ROOT, requires_postgresql_driver

DEMO_SECRET = "demo-secret-for-the-demo-test-only-32+chars"


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def demo_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        DJANGO_DEBUG="1",
        SUPABASE_JWT_SECRET=DEMO_SECRET,
    )
    return env


@pytest.fixture
def demo_server(demo_env: dict[str, str]) -> Iterator[tuple[str, str]]:
    """Run the README's steps and serve; yield the printed base URL and token."""
    assert manage("migrate", "--noinput", env=demo_env).returncode == 0
    port = free_port()
    seeded = manage(
        "demo", "--calls", "3000", "--base-url", f"http://127.0.0.1:{port}", env=demo_env
    )
    assert seeded.returncode == 0, seeded.stderr
    [token] = re.findall(r"^(ey[\w-]+\.[\w-]+\.[\w-]+)$", seeded.stdout, re.MULTILINE)
    assert f"curl -s -H 'Authorization: Bearer {token}' " in seeded.stdout
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=demo_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", token
    finally:
        server.terminate()
        server.wait(timeout=10)


def get_json(base_url: str, token: str, query: str) -> Any:
    request = urllib.request.Request(
        f"{base_url}/api/dashboard-heatmap?{query}",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        return json.load(response)


def test_demo_serves_a_real_heatmap(demo_server: tuple[str, str]) -> None:
    base_url, token = demo_server
    body = get_json(base_url, token, "period=30d&metric=connected")
    assert body["metric"] == "connected"
    assert len(body["heatmap"]) > 20
    assert len(body["best_times"]) == 5
    assert all(cell["connected_calls"] <= cell["total_calls"] for cell in body["heatmap"])
    assert sum(cell["meetings_booked"] for cell in body["heatmap"]) > 0

    # The lead's clock: leads in many zones, some numbers no zone can be found for, and
    # some calls made outside the calling hours of the lead's day.
    lead = get_json(base_url, token, "period=30d&metric=connected&clock=lead")
    placed = sum(cell["total_calls"] for cell in lead["heatmap"])
    assert placed + lead["unplaced_calls"] == sum(cell["total_calls"] for cell in body["heatmap"])
    assert 0.02 < lead["unplaced_calls"] / (placed + lead["unplaced_calls"]) < 0.1
    outside = [cell for cell in lead["heatmap"] if not 8 <= cell["hour"] < 21]
    assert lead["outside_calling_hours"] == sum(cell["total_calls"] for cell in outside) > 0
    assert len(lead["best_times"]) == 5
    assert all(8 <= best["hour"] < 21 for best in lead["best_times"])


def test_demo_is_repeatable(demo_env: dict[str, str]) -> None:
    assert manage("migrate", "--noinput", env=demo_env).returncode == 0
    first = manage("demo", "--calls", "500", env=demo_env)
    again = manage("demo", "--calls", "500", env=demo_env)
    assert first.returncode == again.returncode == 0
    assert (
        first.stdout.splitlines()[0]
        == again.stdout.splitlines()[0]
        == (f"Seeded 625 calls; demo agency {_demo_agency()}.")
    )


@requires_postgresql_driver
def test_demo_refuses_to_write_outside_sqlite(demo_env: dict[str, str]) -> None:
    demo_env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/supabase_production"
    refused = manage("demo", env=demo_env)
    assert refused.returncode == 1
    assert "runs only on the local SQLite database" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_demo_refuses_a_token_longer_than_supabase_issues(demo_env: dict[str, str]) -> None:
    """The app refuses tokens that live over a week, so the demo will not print one."""
    refused = manage("demo", "--token-hours", "169", env=demo_env)
    assert refused.returncode == 1
    assert (
        refused.stderr.strip() == "CommandError: --token-hours must be 1 to 168 (a week at most)."
    )


def _demo_agency() -> str:
    from heatmap_project.demo_data import DEMO_AGENCY_ID

    return str(DEMO_AGENCY_ID)
