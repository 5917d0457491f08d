"""The README's demo, end to end: real processes, a real server, real HTTP."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import jwt
import pytest

from heatmap_project.harness import DEMO_TOKEN, sqlite_demo
from tests.helpers import python_process, requires_postgresql_driver

#: A token's three segments, alone on a line as the demo prints it.
TOKEN = DEMO_TOKEN


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return python_process("manage.py", *args, env=env)


def bare_env() -> dict[str, str]:
    """This process's environment without any variable the demo's settings read for
    secrets, debugging or the database: what a new user's shell has."""
    dropped = ("DJANGO_SETTINGS_MODULE", "DJANGO_DEBUG", "DATABASE_URL")
    return {
        k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("SUPABASE_")
    }


@pytest.fixture
def demo_env(tmp_path: Path) -> dict[str, str]:
    """The demo on its own SQLite file, and no other variable: ``make demo`` passes none."""
    return {**bare_env(), "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}"}


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Run the README's steps on ``demo_env``'s file and serve; yield the printed base URL
    and token."""
    with sqlite_demo(tmp_path, calls=3000) as demo:
        seeded, token = demo.seeded, demo.token
        assert re.findall(rf"^({TOKEN})$", seeded, re.MULTILINE) == [token]
        # The page's link, the token in its fragment, then the curl line.
        page = f"Open the page: {demo.base_url}/#token={token}\n"
        curl = f"curl -s -H 'Authorization: Bearer {token}' "
        assert page in seeded
        assert curl in seeded
        assert seeded.index(page) < seeded.index(curl)
        yield demo.base_url, token


def get(base_url: str, token: str, query: str) -> tuple[int, Any]:
    """The heatmap's status and JSON body for ``token``."""
    request = urllib.request.Request(
        f"{base_url}/api/dashboard-heatmap?{query}",
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as refused:
        return refused.code, json.load(refused)


def get_json(base_url: str, token: str, query: str) -> Any:
    status, body = get(base_url, token, query)
    assert status == 200, body
    return body


def token_only(env: dict[str, str], *lifetime: str) -> str:
    """``manage.py demo --token-only``'s whole output, checked to be one token alone."""
    printed = manage("demo", "--token-only", *lifetime, env=env)
    assert printed.returncode == 0, printed.stderr
    assert re.fullmatch(rf"{TOKEN}\n", printed.stdout), printed.stdout
    return printed.stdout.strip()


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
    # A real database demands the project's secrets (analytics.E001); here they are set.
    demo_env["SUPABASE_JWT_SECRET"] = "the-production-projects-secret-32-chars+"
    refused = manage("demo", env=demo_env)
    assert refused.returncode == 1
    assert "runs only on the local SQLite database" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.parametrize("lifetime", ["8d", "10081m", "0m", "59s", "1.5h", "2 h", "soon", ""])
def test_demo_refuses_a_lifetime_it_cannot_give(demo_env: dict[str, str], lifetime: str) -> None:
    """A minute to a week: the app refuses tokens that live longer than Supabase issues."""
    refused = manage("demo", "--token-only", "--lifetime", lifetime, env=demo_env)
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr == (
        "CommandError: --lifetime must be 1m to 7d (as 15m, 2h or 7d) or expired, "
        f"not {lifetime!r}.\n"
    )


def test_a_token_alone_seeds_nothing(demo_env: dict[str, str], tmp_path: Path) -> None:
    token = token_only(demo_env, "--lifetime", "15m")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert abs(claims["exp"] - (time.time() + 15 * 60)) < 30
    assert claims["exp"] - claims["iat"] == 15 * 60
    # No tables (Django's system checks may open, and so create, the file).
    with closing(sqlite3.connect(tmp_path / "demo.sqlite3")) as database:
        assert database.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_short_and_expired_tokens_meet_the_running_demo(
    demo_server: tuple[str, str], demo_env: dict[str, str]
) -> None:
    base_url, _ = demo_server
    week = token_only(demo_env, "--lifetime", "7d")
    assert get(base_url, week, "period=7d")[0] == 200
    short = token_only(demo_env, "--lifetime", "15m")
    assert get(base_url, short, "period=7d")[0] == 200
    expired = token_only(demo_env, "--lifetime", "expired")
    claims = jwt.decode(expired, options={"verify_signature": False})
    assert abs(claims["exp"] - (time.time() - 60)) < 30
    assert get(base_url, expired, "period=7d") == (
        401,
        {"detail": "The access token has expired.", "code": "token_expired"},
    )


def test_the_page_and_its_static_files_serve_without_variables(
    demo_server: tuple[str, str],
) -> None:
    """The page at ``/`` and its script, and the admin's CSS: DEBUG is on by default on the
    demo's SQLite, so runserver serves the static files with no DJANGO_DEBUG set."""
    base_url, _ = demo_server
    with urllib.request.urlopen(f"{base_url}/", timeout=30) as page:
        assert page.status == 200
        script = re.search(r'src="(/static/[^"?]+\.js)', page.read().decode())
    assert script is not None
    for path in (script[1], "/static/admin/css/base.css"):
        with urllib.request.urlopen(f"{base_url}{path}", timeout=30) as static:
            assert static.status == 200


def test_every_command_runs_on_the_demo_database_without_variables(
    demo_env: dict[str, str], tmp_path: Path
) -> None:
    """No SUPABASE_*, DJANGO_DEBUG or DATABASE_URL: the demo's settings need none."""
    checked = manage("check", env=bare_env())
    assert checked.returncode == 0, checked.stderr
    assert manage("migrate", "--noinput", env=demo_env).returncode == 0
    superuser = {
        "DJANGO_SUPERUSER_USERNAME": "admin",
        "DJANGO_SUPERUSER_EMAIL": "admin@example.com",
        "DJANGO_SUPERUSER_PASSWORD": "a-demo-password-42",
    }
    created = manage("createsuperuser", "--noinput", env={**demo_env, **superuser})
    assert created.returncode == 0, created.stderr
    with closing(sqlite3.connect(tmp_path / "demo.sqlite3")) as database:
        rows = database.execute("SELECT username, is_superuser FROM auth_user").fetchall()
    assert rows == [("admin", 1)]


@requires_postgresql_driver
def test_a_real_database_still_demands_the_secrets() -> None:
    env = {**bare_env(), "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/h20_h4"}
    refused = manage("check", env=env)
    assert refused.returncode == 1
    assert "analytics.E001" in refused.stderr


def _demo_agency() -> str:
    from heatmap_project.demo_data import DEMO_AGENCY_ID

    return str(DEMO_AGENCY_ID)
