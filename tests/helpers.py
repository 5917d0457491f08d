"""What the tests share: addresses, the browser, tokens, calls, the contract, the demo, JWKS.

One module, imported by the tests; the fixtures built on it are in ``conftest.py``.
The JWKS is a Supabase-like key set served over real HTTP on 127.0.0.1 by
``http.server`` in a thread on a port the OS picks: tests swap the published key set
at run time, make it answer garbage, an empty set, an error or nothing at all (a
hang), stop it and start it again on the same port; it counts the requests it
answers, so tests can bound the fetches.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings
from django.contrib.auth.models import Permission
from django.contrib.auth.models import User as StaffUser
from django.core.cache import caches
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.utils import timezone
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from openapi_core import OpenAPI
from openapi_core.contrib.django import DjangoOpenAPIRequest, DjangoOpenAPIResponse

from analytics.heatmap.lead_clock import shipped_map
from analytics.heatmap.limits import SCAN_SLOT_KEY
from analytics.heatmap.query import HeatmapQuery
from analytics.heatmap.vocabulary import Period, Zone
from analytics.models import Call

# Selenium's names, for the suites that drive a real browser; where Selenium is missing,
# ``needs_browser`` skips them (or fails them in CI), and these are None.
try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # pragma: no cover - needs_browser says what is missing
    By = Select = WebDriverWait = None

HEATMAP_URL = "/api/dashboard-heatmap"
HEATMAP_CSV_URL = "/api/dashboard-heatmap.csv"
#: For tests that start Django on a PostgreSQL URL in a subprocess: Django loads the
#: backend while it sets up, so without a driver (tox's SQLite environments have none)
#: it stops there, before the code under test runs.
requires_postgresql_driver = pytest.mark.skipif(
    find_spec("psycopg") is None and find_spec("psycopg2") is None,
    reason="needs a PostgreSQL driver (psycopg or psycopg2) installed",
)
HEATMAP_PAGE = "/admin/analytics/call/heatmap/"
CALLS_PAGE = "/admin/analytics/call/"
USERS_PAGE = "/admin/analytics/user/"


# Headless Chromium, for the suites that drive a real browser (tests/system/test_admin_browser.py
# and test_spa_page.py): Debian's chromium with its chromedriver, driven by Selenium.
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
BROWSER_MISSING = [
    name
    for name, found in (
        (
            "the selenium and pillow packages (pip install -r requirements-dev.txt)",
            find_spec("selenium") and find_spec("PIL"),
        ),
        ("chromium (apt-get install chromium)", CHROMIUM),
        ("chromedriver (apt-get install chromium-driver)", CHROMEDRIVER),
    )
    if not found
]
#: Skips a browser test where the browser is missing, except in CI (``CI`` set), where the
#: test runs and fails: a skip there would hide a missing install.
needs_browser = pytest.mark.skipif(
    bool(BROWSER_MISSING) and not os.environ.get("CI"),
    reason="needs " + ", ".join(BROWSER_MISSING),
)
#: Flags for a headless browser in a container: no sandbox, GPU or background traffic.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def chromium_options() -> Any:
    """Selenium's options for Debian's headless chromium; a test adds what it needs."""
    if BROWSER_MISSING:
        raise RuntimeError("CI must install " + ", ".join(BROWSER_MISSING))
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    return options


def start_chromium(options: Any) -> Any:
    """The browser, through the installed chromedriver: an explicit path keeps Selenium
    Manager from looking for a driver online."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def set_viewport(driver: Any, width: int, height: int) -> None:
    """The page's size in CSS pixels, one device pixel each: what a screenshot measures."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


def save_screenshot(png: bytes, picture: Path) -> Path:
    """To ``picture`` in ``docs/`` when asked (``UPDATE_SCREENSHOTS=1``), else to a file of
    its name in the temporary directory; the path written."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        path = picture
    else:
        path = Path(tempfile.gettempdir()) / picture.name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path


def take_screenshot(driver: Any, picture: Path, size: tuple[int, int]) -> Any:
    """The browser's screenshot, saved (:func:`save_screenshot`), is ``size`` and has many
    colours: a page, not a blank or an error. Its RGB image, for what a test checks further."""
    from PIL import Image

    path = save_screenshot(driver.get_screenshot_as_png(), picture)
    with Image.open(path) as saved:
        image = saved.convert("RGB")
    assert image.size == size
    colours = image.getcolors(maxcolors=size[0] * size[1])
    assert colours is not None
    assert len(colours) > 50, "the screenshot is all but blank"
    return image


MakeCall = Callable[..., Call]


def mint_token(*, secret: str | None = None, algorithm: str = "HS256", **claims: Any) -> str:
    """An access token shaped like Supabase Auth's; ``claim=None`` leaves a claim out."""
    now = datetime.now(UTC)
    payload: dict[str, Any] = {
        "aud": "authenticated",
        "role": "authenticated",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=1)).timestamp()),
        "email": "someone@example.com",
        **claims,
    }
    payload = {key: value for key, value in payload.items() if value is not None}
    return jwt.encode(payload, secret or settings.SUPABASE_JWT_SECRET, algorithm=algorithm)


@contextmanager
def table_away(table: str) -> Iterator[None]:
    """The Supabase table ``table`` renamed inside the block: every query of it fails."""
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_away")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table}_away RENAME TO {table}")


def page_html(client: Client, url: str, query: Mapping[str, str] | None = None) -> str:
    """The admin page at ``url`` (with ``query``), answered 200: its HTML."""
    response = client.get(url, query)
    assert response.status_code == 200
    return response.content.decode()


def staff_member(*, username: str = "staff", perms: tuple[str, ...] = ("view_call", "view_user")):
    member = StaffUser.objects.create_user(username, is_staff=True)
    member.user_permissions.set(Permission.objects.filter(codename__in=perms))
    return member


#: A call's ``analysis`` when the call booked a meeting.
BOOKED = {"sdr": {"meeting_booked": True}}
#: The challenge of every 401: ``SupabaseJWTAuthentication``'s scheme and realm.
BEARER_CHALLENGE = 'Bearer realm="api"'
#: The contract's 500 when the read of calls fails: nothing of the server's reason.
CALLS_QUERY_FAILED = {"detail": "Failed to query calls table", "code": "calls_query_failed"}


def assert_json_error(response: Any, status: int) -> dict[str, object]:
    """An error answered as JSON with ``status``, never a file to save: its body."""
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert "Content-Disposition" not in response
    body = response.json()
    assert isinstance(body, dict)
    return body


def assert_calls_query_failed(response: Any) -> None:
    """The contract's 500 for a failed read of calls, its body :data:`CALLS_QUERY_FAILED`."""
    assert assert_json_error(response, 500) == CALLS_QUERY_FAILED


@contextmanager
def scan_slots_held(agency_id: uuid.UUID, count: int) -> Iterator[None]:
    """Other app servers hold the agency's first ``count`` scan slots, as running scans would."""
    keys = [SCAN_SLOT_KEY.format(agency_id=agency_id, slot=slot) for slot in range(count)]
    cache = caches["default"]
    try:
        for key in keys:
            assert cache.add(key, "a scan elsewhere", 60)
        yield
    finally:
        cache.delete_many(keys)


# --- the contract and the demo ----------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "openapi.yaml"
#: The README's command; the test runs it without ``--file`` and compares.
REGENERATE = (
    "python manage.py spectacular --skip-checks --validate --fail-on-warn --file openapi.yaml"
)


def demo_env(**extra: str) -> dict[str, str]:
    """The environment of a fresh demo: its settings, its SQLite file, no test database."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    return {**env, "DJANGO_SETTINGS_MODULE": "heatmap_project.settings", **extra}


def python_process(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """``python *args`` in a fresh process in the checkout, run to its end: its exit code,
    output and errors, whatever the code."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_python(*args: str, env: Mapping[str, str]) -> str:
    """``python *args`` in a fresh process in the checkout: its output, once it exits 0."""
    done = python_process(*args, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def run_demo(*args: str, **env: str) -> str:
    return run_python(*args, env=demo_env(**env))


def documented_cors_block() -> dict[str, Any]:
    """The settings docs/install.md tells a host to copy, as Python reads them."""
    text = (ROOT / "docs" / "install.md").read_text()
    block = text.split("## CORS for an SPA on another origin", 1)[1]
    code = block.split("```python\n", 1)[1].split("```", 1)[0]
    code = code.replace("[..., ", "[").replace(", ...]", "]")
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    return {name: value for name, value in namespace.items() if name.startswith("CORS_")}


def decode_text(value: bytes, charset: str = "utf-8", **parameters: str) -> str:
    """openapi-core reads JSON itself; a CSV body is text, which its schema says."""
    return value.decode(charset)


class AsGet(DjangoOpenAPIRequest):
    """Each path has one operation, GET; its 405 answer is what every other method gets."""

    @property
    def method(self) -> str:
        return "get"


def validate(spec: OpenAPI, response: HttpResponse, *, request_too: bool = False) -> None:
    """Raises openapi-core's error, naming what does not fit, when the answer is off-contract."""
    wsgi_request = response.wsgi_request  # type: ignore[attr-defined]
    request = (AsGet if response.status_code == 405 else DjangoOpenAPIRequest)(wsgi_request)
    if request_too:
        spec.validate_request(request)
    spec.validate_response(request, DjangoOpenAPIResponse(response))


# --- a Supabase project's JWKS ---------------------------------------------------------

JWKS_PATH = "/auth/v1/.well-known/jwks.json"
#: The project the tokens claim to come from; the JWKS itself is served locally.
PROJECT_URL = "https://abcdefghijklmnop.supabase.co"
ISSUER = f"{PROJECT_URL}/auth/v1"


@dataclass(frozen=True)
class SigningKey:
    """A private key as Supabase Auth holds it, and its public half as the JWKS shows it."""

    kid: str
    algorithm: str
    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

    @classmethod
    def es256(cls, kid: str | None = None) -> SigningKey:
        return cls(kid or str(uuid.uuid4()), "ES256", ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def rs256(cls, kid: str | None = None) -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(kid or str(uuid.uuid4()), "RS256", key)

    @property
    def public_jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        # Supabase's JWKS entries carry these beside the key material.
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig", "key_ops": ["verify"]}

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(
        self,
        payload: Any,
        *,
        algorithm: str | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> str:
        """A token signed with this key; ``headers`` may override or (as ``None``) drop ``kid``.

        The payload may be any JSON value: PyJWS signs what PyJWT would refuse to.
        """
        header: dict[str, Any] = {"kid": self.kid, **(headers or {})}
        header = {name: value for name, value in header.items() if value is not None}
        return jwt.PyJWS().encode(
            json.dumps(payload, separators=(",", ":")).encode(),
            self.private_key,
            algorithm=algorithm or self.algorithm,
            headers=header,
        )


def claims(**overrides: Any) -> dict[str, Any]:
    """Claims shaped like a Supabase access token of a signed-in user; ``None`` drops one."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "iss": ISSUER,
        "sub": str(uuid.uuid4()),
        "aud": "authenticated",
        "exp": int((now + timedelta(hours=1)).timestamp()),
        "iat": int(now.timestamp()),
        "email": "someone@example.com",
        "phone": "",
        "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": {},
        "role": "authenticated",
        "aal": "aal1",
        "amr": [{"method": "password", "timestamp": int(now.timestamp())}],
        "session_id": str(uuid.uuid4()),
        "is_anonymous": False,
        **overrides,
    }
    return {name: value for name, value in values.items() if value is not None}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def hs256_token(header: Mapping[str, Any], payload: Any, secret: bytes | str) -> str:
    """An HS256 token signed by hand, for secrets PyJWT rightly refuses to sign with."""
    key = secret.encode() if isinstance(secret, str) else secret
    signing_input = f"{b64url_json(dict(header))}.{b64url_json(payload)}"
    signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


@dataclass
class JWKSServer:
    """The JWKS endpoint of a Supabase project, on 127.0.0.1."""

    keys: list[SigningKey] = field(default_factory=list)
    #: ``None`` serves the key set; otherwise (status, body) to answer instead.
    answer: tuple[int, bytes] | None = None
    #: Seconds to hold every request before answering: longer than a timeout is a hang.
    delay: float = 0.0
    requests: int = 0
    port: int = 0
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}{JWKS_PATH}"

    def publish(self, *keys: SigningKey) -> None:
        """Serve these keys from now on (and stop answering garbage)."""
        self.keys = list(keys)
        self.answer = None

    def answer_with(self, status: int, body: bytes | str) -> None:
        self.answer = (status, body.encode() if isinstance(body, str) else body)

    def document(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk for key in self.keys]}

    def start(self) -> None:
        """Listen (again) on ``port``, or on a free port the first time."""
        self._stopping.clear()
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        server.daemon_threads = True
        server.block_on_close = False
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Close the port: fetches now fail with "connection refused"."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None

    def count(self) -> None:
        with self._lock:
            self.requests += 1

    def hold(self) -> None:
        """Wait ``delay`` seconds before answering, or until the server stops."""
        if self.delay:
            self._stopping.wait(self.delay)


def _handler_for(jwks: JWKSServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            jwks.count()
            jwks.hold()
            if self.path != JWKS_PATH:
                status, body = 404, b'{"error":"not found"}'
            elif jwks.answer is not None:
                status, body = jwks.answer
            else:
                status, body = 200, json.dumps(jwks.document()).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # The client gave up (timed out) first.

        def log_message(self, format: str, *args: Any) -> None:
            pass  # Keep test output for the tests.

    return Handler


@dataclass(frozen=True)
class Keys:
    """The project's keys: in use (ES256), a second algorithm (RS256), a standby (ES256)."""

    es256: SigningKey
    rs256: SigningKey
    standby: SigningKey


# --- Supabase Auth's sessions (ANALYTICS_REQUIRE_LIVE_SESSION) --------------------------

#: Supabase Auth's ``auth.sessions`` (its migrations), less the foreign key to
#: ``auth.users``, which the app never reads; ``aal`` is an enum there.
AUTH_SESSIONS_DDL = """
CREATE SCHEMA auth;
CREATE TABLE auth.sessions (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    created_at timestamptz,
    updated_at timestamptz,
    factor_id uuid,
    aal text,
    not_after timestamptz,
    refreshed_at timestamp,
    user_agent text,
    ip inet,
    tag text
);
CREATE INDEX user_id_created_at_idx ON auth.sessions (user_id, created_at);
CREATE INDEX not_after_idx ON auth.sessions (not_after DESC);
"""


class Sessions:
    """Rows of the test's ``auth.sessions``, as Supabase Auth writes and deletes them."""

    def sign_in(self, user_id: uuid.UUID, *, not_after: datetime | None = None) -> uuid.UUID:
        session_id = uuid.uuid4()
        now = datetime.now(UTC)
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal, not_after,"
                " user_agent, ip) VALUES (%s, %s, %s, %s, 'aal1', %s, 'pytest', '127.0.0.1')",
                [session_id, user_id, now, now, not_after],
            )
        return session_id

    def sign_out(self, session_id: uuid.UUID) -> None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM auth.sessions WHERE id = %s", [session_id])

    def time_box(self, session_id: uuid.UUID, not_after: datetime) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE auth.sessions SET not_after = %s WHERE id = %s", [not_after, session_id]
            )


# --- the rollup on PostgreSQL ------------------------------------------------------------

#: A module of the rollup's tests: each test commits (the install runs transactions of its
#: own), so starts from an empty ``calls`` table and leaves the rollup uninstalled
#: (``rollup_database`` in ``conftest.py``).
ON_THE_ROLLUP_DATABASE = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("rollup_database"),
]
#: The release of the map this version of the app ships, which its migrations load.
SHIPPED = shipped_map().version
#: Zones whose offsets are quarter and half hours, with daylight-saving changes inside
#: the 90-day window ending today (Chatham 09-27, Lord Howe 10-04, St John's 11-01).
ROLLUP_ZONES = (
    "UTC",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "Pacific/Kiritimati",
    "America/New_York",
)
#: What a random call of the rollup's tests is drawn from.
CAMPAIGNS = (None, uuid.UUID(int=1), uuid.UUID(int=2))
CLIENTS = (None, uuid.UUID(int=11), uuid.UUID(int=12))
STATUSES = ("ended", "ended", "ended", "in_progress", "queued", "failed")
END_REASONS = (None, "completed", "unjoined", "voicemail")
ANALYSES: tuple[Any, ...] = (
    None,
    {"sdr": {"meeting_booked": True}},
    {"sdr": {"meeting_booked": False}},
    {"sdr": {"meeting_booked": "true"}},
    {"summary": "no sdr"},
)
#: Numbers of every kind the lead's clock meets: placed in one zone, in zones that agree,
#: in zones that agree in one season only, never, and not numbers at all.
PHONE_NUMBERS: tuple[str | None, ...] = (
    "+12125550100",  # New York
    "+1 (213) 555-0100",  # Los Angeles, formatted
    "+1.312.555.0100",  # Chicago
    "+1-303-555-0100",  # Denver
    "+16025550100",  # Phoenix: no DST
    "+18085550100",  # Honolulu
    "+19072090100",  # Juneau (1907209)
    "+19075550100",  # +1 907 alone: Adak and Anchorage, which never agree
    "+19282830100",  # Denver and Phoenix: agree in winter only
    "+447911123456",  # a UK mobile: London, Guernsey, Isle of Man, Jersey, which always agree
    "+44 (0) 20 7946 0000",  # "(0)" is not special: digits 4402079460000, still +44
    "+61 2 9374 4000",  # Sydney
    "+61 5 1234 5678",  # Australia's code alone (no 615): eight zones that disagree
    "+91 98200 12345",  # India, +5:30 (the map says Asia/Calcutta)
    "+977 1 4412345",  # Nepal, +5:45 (Asia/Katmandu)
    "+64 3 305 0123",  # Chatham (64330), +12:45/+13:45
    "+64 9 300 0123",  # +64 alone: Auckland and Chatham, which never agree
    "+15550100",  # E.164, but no prefix of the map: +1 555 ...
    "(212) 555-0100",  # no country code
    "0012125550100",  # an international prefix, not E.164
    "+0123456789",  # E.164 has no leading 0
    "+1212555010",  # 10 digits after +: still E.164 (7 to 15), New York
    "+123456",  # too short
    "+1234567890123456",  # too long
    "+1 212 555 0100 ext 5",  # letters
    "+\u0661\u0662\u0661\u0662\u0665\u0665\u0665\u0660\u0661\u0660\u0660",  # Arabic-Indic digits
    "+1\t2125550100",  # a tab is not stripped
    "",
    None,
)
CALL_COLUMNS = (
    "id",
    "agency_id",
    "campaign_id",
    "client_id",
    "status",
    "created_at",
    "joined_at",
    "end_reason",
    "analysis",
    "phone_number",
)


def call_row(call: Call) -> list[Any]:
    """``call``'s values in the order of :data:`CALL_COLUMNS`, ``analysis`` as JSON text."""
    return [
        call.id,
        call.agency_id,
        call.campaign_id,
        call.client_id,
        call.status,
        call.created_at,
        call.joined_at,
        call.end_reason,
        None if call.analysis is None else json.dumps(call.analysis),
        call.phone_number,
    ]


def sql(statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Run one statement on the default database; its rows, if it returns any."""
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return list(cursor.fetchall()) if cursor.description else []


def empty_calls() -> None:
    sql("TRUNCATE calls, users")


def utc_today() -> date:
    return timezone.now().astimezone(UTC).date()


def moment_in_window(rng: random.Random, today: date) -> datetime:
    """A random instant of the last 91 days, often near the window's DST changes and edges."""
    if rng.random() < 0.4:
        anchor = rng.choice(
            [
                datetime(2026, 9, 26, 14, 45, tzinfo=UTC),  # Chatham springs forward
                datetime(2026, 10, 3, 15, 30, tzinfo=UTC),  # Lord Howe, half an hour
                datetime(2026, 11, 1, 5, 30, tzinfo=UTC),  # St John's falls back
                datetime(2026, 11, 1, 6, 0, tzinfo=UTC),  # New York falls back
                datetime.combine(today, datetime.min.time(), tzinfo=UTC),
            ]
        )
        return anchor + timedelta(minutes=rng.randint(-90, 90), seconds=rng.randint(0, 59))
    start = datetime.combine(today - timedelta(days=91), datetime.min.time(), tzinfo=UTC)
    return start + timedelta(seconds=rng.randint(0, 92 * 86400))


def random_call(rng: random.Random, agencies: list[uuid.UUID], today: date) -> Call:
    created = moment_in_window(rng, today)
    return Call(
        id=uuid.uuid4(),
        agency_id=rng.choice(agencies),
        campaign_id=rng.choice(CAMPAIGNS),
        client_id=rng.choice(CLIENTS),
        status=rng.choice(STATUSES),
        created_at=created,
        joined_at=created + timedelta(seconds=5) if rng.random() < 0.5 else None,
        end_reason=rng.choice(END_REASONS),
        analysis=rng.choice(ANALYSES),
        phone_number=rng.choice(PHONE_NUMBERS),
    )


def insert_random_calls(rng: random.Random, agency_id: uuid.UUID, count: int) -> None:
    """``count`` :func:`random_call` calls of ``agency_id`` in the window ending today, in one
    INSERT."""
    insert_calls([random_call(rng, [agency_id], utc_today()) for _ in range(count)])


def insert_calls(calls: list[Call]) -> None:
    """One multi-row INSERT, as an import or a dialler writes a batch.

    Not ``bulk_create``: on PostgreSQL, Django 5.2 and later send its rows as text
    arrays, which an enum ``status`` column refuses. SQLite has no enum: there it is.
    """
    if connection.vendor != "postgresql":
        Call.objects.bulk_create(calls)
        return
    row = "(" + ", ".join(["%s"] * len(CALL_COLUMNS)) + ")"
    params = [value for call in calls for value in call_row(call)]
    sql(
        f"INSERT INTO calls ({', '.join(CALL_COLUMNS)}) VALUES {', '.join([row] * len(calls))}",
        params,
    )


def new_call(agency_id: uuid.UUID, created_at: datetime, **fields: Any) -> Call:
    """An ended call of ``agency_id`` made at ``created_at``, not saved yet; ``fields`` set
    (or change) its other columns."""
    values = {"id": uuid.uuid4(), "agency_id": agency_id, "status": "ended", **fields}
    return Call(created_at=created_at, **values)


def ended_call(agency_id: uuid.UUID) -> Call:
    return Call.objects.create(
        id=uuid.uuid4(), agency_id=agency_id, status="ended", created_at=timezone.now()
    )


def oracle_lead_time(phone_number: str | None, moment: datetime) -> datetime | None:
    """Where the lead's clock puts a call, worked out from ``phonenumbers``' own map and
    Python's zones, apart from the product's data and SQL: its naive local time, or ``None``.
    """
    from phonenumbers.tzdata import TIMEZONE_DATA

    if phone_number is None:
        return None
    stripped = "".join(ch for ch in phone_number if ch not in " -.()")
    if not re.fullmatch(r"\+[1-9][0-9]{6,14}", stripped, re.ASCII):
        return None
    digits = stripped[1:]
    prefixes = [digits[:n] for n in range(len(digits), 0, -1) if digits[:n] in TIMEZONE_DATA]
    if not prefixes:
        return None
    try:
        locals_ = {
            moment.astimezone(ZoneInfo(zone)).utcoffset() for zone in TIMEZONE_DATA[prefixes[0]]
        }
    except ZoneInfoNotFoundError:
        return None
    if len(locals_) != 1:
        return None
    (offset,) = locals_
    assert offset is not None
    return (moment.astimezone(UTC) + offset).replace(tzinfo=None)


def oracle_lead_heatmap(
    calls: Iterable[Call], *, start: datetime, end: datetime
) -> tuple[dict[tuple[int, int], list[int]], int]:
    """The ended calls of ``[start, end)`` per lead-local (day, hour), [total, connected,
    booked], and the number not placed: the product's answer, worked out apart from it.
    """
    cells: dict[tuple[int, int], list[int]] = {}
    unplaced = 0
    for call in calls:
        if call.status != "ended" or not start <= call.created_at < end:
            continue
        local = oracle_lead_time(call.phone_number, call.created_at)
        if local is None:
            unplaced += 1
            continue
        counts = cells.setdefault((local.isoweekday() % 7, local.hour), [0, 0, 0])
        counts[0] += 1
        counts[1] += int(call.joined_at is not None and call.end_reason != "unjoined")
        counts[2] += int(
            isinstance(call.analysis, dict)
            and isinstance(call.analysis.get("sdr"), dict)
            and call.analysis["sdr"].get("meeting_booked") is True
        )
    return cells, unplaced


def query_for(
    zone: str, period: Period = Period.DAYS_90, *, campaign: Any = None, client: Any = None
) -> HeatmapQuery:
    """The heatmap's query for a window ending today (UTC), in ``zone``."""
    return HeatmapQuery.build(
        period=period,
        zone=Zone.named(zone),
        campaign_id=campaign,
        client_id=client,
        today=utc_today(),
    )


# --- zones and slots --------------------------------------------------------------------

NEW_YORK, KOLKATA = "America/New_York", "Asia/Kolkata"
OFFSET_MESSAGE = (
    "Use a time zone name such as America/New_York, not a UTC offset: "
    "offsets do not follow daylight-saving time."
)
UNKNOWN_MESSAGE = "Unknown time zone; use an IANA name such as America/New_York."
BAD_ZONES = [
    ("+05:30", OFFSET_MESSAGE),
    ("UTC+3", OFFSET_MESSAGE),
    ("GMT-5", OFFSET_MESSAGE),
    ("-0500", OFFSET_MESSAGE),
    ("Etc/GMT-3", OFFSET_MESSAGE),  # in the zone database, but an offset (and sign-inverted)
    ("Etc/GMT+10", OFFSET_MESSAGE),
    ("Mars/Olympus_Mons", UNKNOWN_MESSAGE),
    ("america/new_york", UNKNOWN_MESSAGE),
    ("localtime", UNKNOWN_MESSAGE),
    ("Factory", UNKNOWN_MESSAGE),
    ("posix/Asia/Kolkata", UNKNOWN_MESSAGE),
    ("../etc/passwd", UNKNOWN_MESSAGE),
    ("/etc/passwd", UNKNOWN_MESSAGE),
    ("/usr/share/zoneinfo/UTC", UNKNOWN_MESSAGE),
    ("Asia/Kolkata/../../../../etc/passwd", UNKNOWN_MESSAGE),
    ("Asia/Kolkata\x00", UNKNOWN_MESSAGE),
    ("A" * 5000, UNKNOWN_MESSAGE),
]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def make_calls(make_call: MakeCall, created_at: datetime, *, total: int, booked: int) -> None:
    """``total`` calls in one slot, the first ``booked`` of them connected and booked."""
    for i in range(total):
        won = i < booked
        make_call(
            created_at=created_at,
            joined_at=created_at if won else None,
            analysis={"sdr": {"meeting_booked": won}},
        )


def server_behind() -> dict[str, str]:
    """``HOST``, ``PORT`` and ``NAME`` of the PostgreSQL server behind the default connection,
    which a pooler hides: a test that logs in as another role goes there directly, since
    PgBouncer logs every client in as its own user (scripts/pgbouncer)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT host(inet_server_addr()), inet_server_port(), current_database()")
        host, port, database = cursor.fetchone()
    return {
        "HOST": host or connection.settings_dict["HOST"],
        "PORT": str(port),
        "NAME": database,
    }


@contextmanager
def intruder() -> Iterator[Any]:
    """Another login of the test database's server, granted nothing: what any role that may
    log in (a Supabase user's own login, a leaked read-only one) can do to the app. A
    DB-API connection in autocommit, straight to the server (not through a pooler). The
    role is made and dropped in a session of its own, so a test inside a transaction may
    use it too.
    """
    role = f"h21_h10_intruder_{uuid.uuid4().hex[:8]}"
    params = connection.get_connection_params()
    admin = connection.get_new_connection(params)
    admin.autocommit = True
    try:
        cursor = admin.cursor()
        # The server behind the connection, which a pooler would hide: the intruder's way in.
        server = server_behind()
        host, port, database = server["HOST"], int(server["PORT"]), server["NAME"]
        cursor.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'intruder'")
        try:
            login_params = {**params, "user": role, "password": "intruder", "port": port}
            login_params["host"] = host or params.get("host")
            login_params["dbname" if "dbname" in params else "database"] = database
            login = connection.get_new_connection(login_params)
            try:
                login.autocommit = True
                yield login
            finally:
                login.close()
        finally:
            cursor.execute(f"DROP ROLE {role}")
    finally:
        admin.close()
