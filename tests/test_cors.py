"""CORS: the SPA on its own origin may call the API; other origins get no CORS headers.

The suite's settings enable django-cors-headers as the demo project does, for
``https://app.example.com``. The last test runs the demo project itself, with
its origins taken from ``CORS_ALLOWED_ORIGINS`` in the environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import HEATMAP_URL, MakeCall

pytestmark = pytest.mark.django_db

SPA = "https://app.example.com"
STRANGER = "https://evil.example.net"
ROOT = Path(__file__).resolve().parent.parent


def preflight(client: Client, origin: str, url: str = HEATMAP_URL, method: str = "GET"):
    return client.options(
        url,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )


def cors_headers(response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


@pytest.mark.parametrize("url", [HEATMAP_URL, HEATMAP_URL + "/"])
def test_a_preflight_from_the_spa_asking_for_authorization_succeeds(
    client: Client, url: str
) -> None:
    response = preflight(client, SPA, url)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == SPA
    assert "authorization" in response["Access-Control-Allow-Headers"].split(", ")
    assert "GET" in response["Access-Control-Allow-Methods"].split(", ")
    assert "Access-Control-Allow-Credentials" not in response  # a Bearer token, not cookies


def test_a_preflight_for_another_method_allows_only_reads(client: Client) -> None:
    response = preflight(client, SPA, method="DELETE")
    assert response["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"


def test_a_preflight_from_another_origin_gets_no_cors_headers(client: Client) -> None:
    response = preflight(client, STRANGER)
    assert cors_headers(response) == {}


def test_the_spa_reads_the_answer_and_the_csv_file_name(
    auth_client: APIClient, make_call: MakeCall
) -> None:
    make_call()
    response = auth_client.get(HEATMAP_URL, HTTP_ORIGIN=SPA)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == SPA
    download = auth_client.get(HEATMAP_URL, {"format": "csv"}, HTTP_ORIGIN=SPA)
    assert download["Access-Control-Allow-Origin"] == SPA
    assert download["Access-Control-Expose-Headers"] == "Content-Disposition"


def test_another_origin_gets_the_answer_without_cors_headers(
    auth_client: APIClient, make_call: MakeCall
) -> None:
    make_call()
    response = auth_client.get(HEATMAP_URL, HTTP_ORIGIN=STRANGER)
    assert response.status_code == 200  # the browser, not the server, withholds it
    assert cors_headers(response) == {}


def test_errors_carry_cors_headers_so_the_spa_can_read_them(api_client: APIClient) -> None:
    response = api_client.get(HEATMAP_URL, HTTP_ORIGIN=SPA)
    assert response.status_code == 401
    assert response["Access-Control-Allow-Origin"] == SPA


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_real_requests_with_other_methods_are_still_405(
    auth_client: APIClient, method: str
) -> None:
    response = getattr(auth_client, method)(HEATMAP_URL, HTTP_ORIGIN=SPA)
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    assert response.json() == {
        "detail": f'Method "{method.upper()}" not allowed.',
        "code": "method_not_allowed",
    }
    assert response["Access-Control-Allow-Origin"] == SPA


def test_the_admin_never_answers_cross_origin(client: Client) -> None:
    response = preflight(client, SPA, "/admin/login/")
    assert cors_headers(response) == {}


DEMO_PROBE = """
import json, django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="localhost")
def preflight(origin):
    response = client.options(
        "/api/dashboard-heatmap",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )
    return [response.status_code, response.headers.get("Access-Control-Allow-Origin")]
post = client.post("/api/dashboard-heatmap", HTTP_ORIGIN="http://localhost:5173")
print(json.dumps({
    "spa": preflight("https://app.example.com"),
    "dev": preflight("http://localhost:5173"),
    "stranger": preflight("https://evil.example.net"),
    "post": [post.status_code, post.headers.get("Access-Control-Allow-Origin")],
}))
"""


@pytest.mark.parametrize(
    ("origins", "allowed"),
    [
        ("https://app.example.com, http://localhost:5173", {"spa", "dev"}),
        ("https://app.example.com", {"spa"}),
        ("", set()),
    ],
)
def test_the_demo_takes_its_origins_from_the_environment(origins: str, allowed: set[str]) -> None:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env |= {"DJANGO_SETTINGS_MODULE": "heatmap_project.settings", "CORS_ALLOWED_ORIGINS": origins}
    done = subprocess.run(
        [sys.executable, "-c", DEMO_PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout)
    origin_of = {
        "spa": "https://app.example.com",
        "dev": "http://localhost:5173",
        "stranger": "https://evil.example.net",
    }
    for name in ("spa", "dev", "stranger"):
        status, allow_origin = probe[name]
        assert status == 200
        assert allow_origin == (origin_of[name] if name in allowed else None), name
    assert probe["post"][0] == 405
    assert probe["post"][1] == ("http://localhost:5173" if "dev" in allowed else None)
