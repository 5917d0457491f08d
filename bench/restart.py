"""The first request after a PostgreSQL restart: shared buffers empty, the OS page cache
kept, a fresh connection as a new or reconnecting worker has.

It restarts the cluster (``pg_ctlcluster``, as root), so it first waits for any pytest
run on this machine to finish: a restart would break it.
"""

from __future__ import annotations

import subprocess
import time

from bench.common import (
    HEATMAP_PATH,
    RAW,
    ROLLUP,
    Line,
    endpoint_client,
    pytest_processes,
    section,
    use_source,
)
from heatmap_project.harness import connect


def wait_for_no_pytest(timeout: float = 600.0, poll: float = 5.0) -> bool:
    """Poll until no pytest runs on this machine (its tests use this server); False on timeout."""
    deadline = time.monotonic() + timeout
    running = pytest_processes()
    while running:
        if time.monotonic() > deadline:
            return False
        print(f"  waiting for pytest to finish ({len(running)} processes): {running[0][:100]}")
        time.sleep(poll)
        running = pytest_processes()
    return True


def restart_postgresql(database_url: str) -> float:
    """Restart the cluster and wait until it accepts connections again; seconds it took."""
    began = time.monotonic()
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "restart"],
        check=True,
        capture_output=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            connect(database_url).close()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    return time.monotonic() - began


def measure_restart(database_url: str, *, period: str) -> list[Line]:
    """PostgreSQL restarted, then the first rollup request, then the first raw one."""
    from django.db import connections

    section("4. the first request after a PostgreSQL restart")
    goal = "< 0.5 s and a 200"
    if not wait_for_no_pytest():
        print("  pytest still running after 10 minutes: not restarting the server")
        return [Line("first rollup request after restart", with_="skipped (pytest)", goal=goal)]
    connections.close_all()
    seconds = restart_postgresql(database_url)
    print(f"  restarted PostgreSQL in {seconds:.1f} s")
    connections.close_all()
    results: dict[str, tuple[int, float]] = {}
    for name, source in (("rollup", ROLLUP), ("raw scan, right after", RAW)):
        use_source(source)
        client = endpoint_client()
        began = time.perf_counter()
        response = client.get(HEATMAP_PATH, {"period": period})
        results[name] = (response.status_code, time.perf_counter() - began)
        print(
            f"  first {name} request: {response.status_code} in {results[name][1] * 1000:,.0f} ms"
        )
    status, first = results["rollup"]
    raw_status, raw_first = results["raw scan, right after"]
    return [
        Line(
            "first request after restart (rollup)",
            f"raw, next: {raw_first * 1000:,.0f} ms ({raw_status})",
            f"{first * 1000:,.0f} ms ({status})",
            goal=goal,
            met=status == 200 and first < 0.5,
        )
    ]
