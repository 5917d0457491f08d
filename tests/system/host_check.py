"""Install the built wheel into a throwaway host project and use it as a host would.

The test suite runs the app from the checkout with its own settings; a host gets
the wheel, its own Django and its own ``REST_FRAMEWORK`` defaults. This installs
the wheel into the running interpreter's environment (which already holds the
host's Django), starts a fresh ``startproject`` site with hostile DRF defaults,
and drives the API and the admin over HTTP on ``runserver``.

Usage: ``python tests/system/host_check.py --dist DIST_DIR`` from any directory. Each step
prints one line; a failure shows the failing command's output, then one line saying
what broke, and exits 1.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import importlib
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

CHECKOUT = Path(__file__).resolve().parents[2]
DISTRIBUTION = "agency-call-analytics"
#: A deprecation in the installed Django (or DRF, PyJWT) is an error, not a log line:
#: Django's next-version warnings are DeprecationWarning, the one after Pending.
PYTHON_FLAGS = ("-W", "error::DeprecationWarning", "-W", "error::PendingDeprecationWarning")
#: Forty characters: the app's system check refuses secrets shorter than 32.
JWT_SECRET = "host-check-secret-not-for-production-use"
SERVER_START_SECONDS = 30.0
#: Settings a CI job may carry that would point the host project at the checkout.
LEAKY_ENVIRONMENT = ("PYTHONPATH", "DJANGO_SETTINGS_MODULE", "PYTHONHOME", "PYTHONSTARTUP")

HOST_SETTINGS = f"""

# Added by tests/system/host_check.py: the app, a non-UTC zone and DRF defaults that
# would break a reusable view that relied on them.
INSTALLED_APPS += ["rest_framework", "analytics"]
TIME_ZONE = "America/Sao_Paulo"
REST_FRAMEWORK = {{
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.BrowsableAPIRenderer"],
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {{"anon": "1/day"}},
}}
SUPABASE_JWT_SECRET = {JWT_SECRET!r}
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
"""

HOST_URLS = '''"""The throwaway host's URLs: the admin, and the app's API under /api/."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("analytics.urls")),
]
'''

#: Run by the interpreter under test: what it imports, from where, at which versions.
PROBE = """
import importlib.metadata, importlib.util, json, sysconfig
import django

def version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None

spec = importlib.util.find_spec("analytics")
paths = sysconfig.get_paths()
print(json.dumps({
    "django": django.__version__,
    "origin": spec.origin if spec else None,
    "site_packages": sorted({paths["purelib"], paths["platlib"]}),
    "versions": {name: version(name) for name in %r},
}))
"""

#: Run with ``manage.py shell -c``: the Supabase-owned tables and the rows to count.
SEED = """
import json
from datetime import timedelta
from uuid import UUID, uuid4

from django.utils import timezone

import analytics
from analytics.models import Call, User, create_reference_tables

data = json.loads(%r)
create_reference_tables()
User.objects.create(id=UUID(data["user"]), agency_id=UUID(data["agency"]))
now = timezone.now()
for call in data["calls"]:
    created = now - timedelta(hours=call["hours_ago"])
    Call.objects.create(
        id=uuid4(),
        agency_id=UUID(call["agency"]),
        status=call["status"],
        created_at=created,
        joined_at=created + timedelta(seconds=7) if call["joined"] else None,
        end_reason=call["end_reason"],
        analysis=call["analysis"],
    )
print(json.dumps({"analytics": analytics.__file__, "calls": Call.objects.count()}))
"""


class CheckFailed(Exception):
    """One line that says what is wrong with the package in a host project."""


def say(message: str) -> None:
    print(f"host_check: {message}", flush=True)


def child_environment(**extra: str) -> dict[str, str]:
    """The environment without anything that would let the checkout stand in for the wheel."""
    env = {key: value for key, value in os.environ.items() if key not in LEAKY_ENVIRONMENT}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONUNBUFFERED="1", **extra)
    return env


def tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run(args: Sequence[str], *, cwd: Path, what: str, env: Mapping[str, str] | None = None) -> str:
    """Run a command to completion; its output is shown only when it fails."""
    try:
        done = subprocess.run(
            list(args),
            cwd=cwd,
            env=dict(env or child_environment()),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CheckFailed(f"{what} did not finish in {exc.timeout:g} s") from exc
    if done.returncode != 0:
        output = tail(f"{done.stdout}\n{done.stderr}")
        print(f"--- {' '.join(args)} (in {cwd}) ---\n{output}\n---", file=sys.stderr)
        last = output.splitlines()[-1] if output else "no output"
        raise CheckFailed(f"{what} exited {done.returncode}: {last}")
    return done.stdout


def last_json_line(output: str, what: str) -> dict[str, Any]:
    """The JSON a snippet printed last; anything before it is the command's chatter."""
    for line in reversed(output.strip().splitlines()):
        if line.startswith("{"):
            value: dict[str, Any] = json.loads(line)
            return value
    raise CheckFailed(f"{what} printed no JSON: {tail(output, 1)!r}")


def find_wheel(dist: Path) -> Path:
    wheels = sorted(dist.glob(f"{DISTRIBUTION.replace('-', '_')}-*.whl"))
    if len(wheels) != 1:
        names = ", ".join(wheel.name for wheel in wheels) or "none"
        raise CheckFailed(f"expected exactly one {DISTRIBUTION} wheel in {dist}, found {names}")
    return wheels[0]


def probe(cwd: Path) -> dict[str, Any]:
    names = [DISTRIBUTION, "Django", "djangorestframework", "PyJWT"]
    output = run([sys.executable, "-c", PROBE % (names,)], cwd=cwd, what="the import probe")
    return last_json_line(output, "the import probe")


# --- a. the wheel into the host's environment ------------------------------------------------


def install_wheel(wheel: Path, cwd: Path) -> dict[str, Any]:
    """Install the wheel (never the checkout) and prove the host's Django was left alone."""
    before = probe(cwd)
    if before["versions"][DISTRIBUTION]:
        # A wheel of the same version already installed would make pip skip this build.
        run(
            [sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", DISTRIBUTION],
            cwd=cwd,
            what=f"pip uninstall {DISTRIBUTION}",
        )
        before = probe(cwd)
    if before["origin"]:
        raise CheckFailed(
            f"analytics is importable before installing the wheel: {before['origin']}"
        )
    say(f"host has Django {before['django']}; installing {wheel.name}")

    run(
        [sys.executable, "-m", "pip", "install", "--no-input", "--quiet", str(wheel)],
        cwd=cwd,
        what=f"pip install {wheel.name}",
    )
    after = probe(cwd)
    if after["django"] != before["django"]:
        raise CheckFailed(
            f"installing the wheel changed Django from {before['django']} to {after['django']}"
        )
    origin = Path(after["origin"] or "").resolve()
    site_packages = [Path(path).resolve() for path in after["site_packages"]]
    # The tox env lives under the checkout (.tox/): the test is site-packages, not the path.
    if not any(origin == path / "analytics" / "__init__.py" for path in site_packages):
        raise CheckFailed(f"analytics imports from {origin}, not from {site_packages[0]}")
    if origin.is_relative_to(CHECKOUT / "analytics"):
        raise CheckFailed(f"analytics imports from the checkout: {origin}")
    versions = after["versions"]
    say(
        f"installed {DISTRIBUTION} {versions[DISTRIBUTION]} (djangorestframework "
        f"{versions['djangorestframework']}, PyJWT {versions['PyJWT']}) into "
        f"{origin.parent.parent}; Django still {after['django']}"
    )
    return after


# --- b. to d. the host project ---------------------------------------------------------------


def manage(project: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    return run(
        [sys.executable, *PYTHON_FLAGS, "manage.py", *args],
        cwd=project,
        env=env,
        what=f"manage.py {' '.join(args[:1])}",
    )


def start_project(project: Path) -> None:
    run(
        [sys.executable, "-m", "django", "startproject", "host", "."],
        cwd=project,
        what="django startproject",
    )
    settings = project / "host" / "settings.py"
    generated = settings.read_text(encoding="utf-8")
    for expected in ("INSTALLED_APPS = [", "TIME_ZONE = "):
        if expected not in generated:
            raise CheckFailed(f"startproject's settings.py has no {expected!r}: unknown template")
    settings.write_text(generated + HOST_SETTINGS, encoding="utf-8")
    (project / "host" / "urls.py").write_text(HOST_URLS, encoding="utf-8")
    say(f"startproject host in {project}: analytics at /api/, hostile DRF defaults, non-UTC")


@dataclass(frozen=True)
class Seed:
    """The rows written, and what the heatmap must count among them."""

    user: uuid.UUID
    agency: uuid.UUID
    calls: list[dict[str, Any]]

    @property
    def counted(self) -> list[dict[str, Any]]:
        """The agency's ended calls in the last 7 days: what ``period=7d`` counts."""
        return [
            call
            for call in self.calls
            if call["agency"] == str(self.agency)
            and call["status"] == "ended"
            # Each call is days inside or weeks outside the window, whatever the hour now.
            and call["hours_ago"] < 6 * 24
        ]

    @property
    def totals(self) -> dict[str, int]:
        """By the app's rules: connected is joined and not ``unjoined``; booked is JSON true."""
        calls = self.counted
        return {
            "total_calls": len(calls),
            "connected_calls": sum(
                1 for call in calls if call["joined"] and call["end_reason"] != "unjoined"
            ),
            "meetings_booked": sum(
                1
                for call in calls
                if ((call["analysis"] or {}).get("sdr") or {}).get("meeting_booked") is True
            ),
        }


def make_seed() -> Seed:
    agency, other = str(uuid.uuid4()), str(uuid.uuid4())

    def call(
        hours_ago: float, *, joined: bool, end_reason: str | None, **more: Any
    ) -> dict[str, Any]:
        return {
            "agency": agency,
            "status": "ended",
            "hours_ago": hours_ago,
            "joined": joined,
            "end_reason": end_reason,
            "analysis": None,
            **more,
        }

    booked = {"sdr": {"meeting_booked": True}}
    calls = [
        call(1, joined=True, end_reason="completed", analysis=booked),
        call(2, joined=True, end_reason="hangup", analysis=booked),
        call(26, joined=True, end_reason=None, analysis={"sdr": {"meeting_booked": False}}),
        call(27, joined=True, end_reason="completed", analysis={"sdr": {"meeting_booked": "true"}}),
        call(50, joined=False, end_reason="unjoined"),
        call(51, joined=True, end_reason="unjoined", analysis=booked),  # booked, not connected
        call(74, joined=False, end_reason="no_answer"),
        # Not counted: not ended, another agency's, older than the window.
        call(3, joined=True, end_reason=None, status="in_progress", analysis=booked),
        call(4, joined=True, end_reason="completed", agency=other, analysis=booked),
        call(20 * 24, joined=True, end_reason="completed", analysis=booked),
    ]
    return Seed(user=uuid.uuid4(), agency=uuid.UUID(agency), calls=calls)


def prepare_database(project: Path, seed: Seed, origin: str) -> dict[str, str]:
    """Check, migrate, the Supabase tables and rows, the command, a superuser (returned)."""
    checked = manage(project, "check", "--fail-level", "WARNING")
    say(f"manage.py check --fail-level WARNING: {tail(checked, 1)}")
    manage(project, "makemigrations", "--check", "--dry-run", "analytics")
    say("manage.py makemigrations --check: the installed migrations match the models")
    migrated = manage(project, "migrate", "--noinput")
    applied = migrated.count(" OK")
    say(f"manage.py migrate: {applied} migrations applied, analytics among them")
    if "Applying analytics." not in migrated:
        raise CheckFailed("migrate applied none of the analytics migrations")

    data = {"user": str(seed.user), "agency": str(seed.agency), "calls": seed.calls}
    seeded = last_json_line(
        manage(project, "shell", "-c", SEED % (json.dumps(data),)), "the seeding snippet"
    )
    if Path(seeded["analytics"]).resolve() != Path(origin).resolve():
        raise CheckFailed(f"the host project imports analytics from {seeded['analytics']}")
    say(
        f"reference tables created; 1 user and {seeded['calls']} calls inserted "
        f"({len(seed.counted)} of them ended, this agency's and in the last 7 days)"
    )

    command = ["call_heatmap", "--agency", str(seed.agency), "--period", "7d", "--json"]
    got = sum_cells(last_json_line(manage(project, *command), "call_heatmap"), "call_heatmap")
    if got != seed.totals:
        raise CheckFailed(f"manage.py call_heatmap --json adds up to {got}, not {seed.totals}")
    say(f"manage.py call_heatmap --json: the same {seed.totals['total_calls']} calls")

    credentials = {
        "username": "hostadmin",
        "password": secrets.token_urlsafe(18),
        "email": "hostadmin@example.com",
    }
    env = child_environment(
        **{f"DJANGO_SUPERUSER_{key.upper()}": value for key, value in credentials.items()}
    )
    manage(project, "createsuperuser", "--noinput", env=env)
    say(f"createsuperuser {credentials['username']}")
    return credentials


# --- e. and f. over HTTP ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port: int = probe_socket.getsockname()[1]
        return port


@contextmanager
def running_server(project: Path) -> Iterator[str]:
    """``runserver`` on a free port until the block ends, however it ends."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    log_path = project / "runserver.log"
    with log_path.open("w", encoding="utf-8") as log:
        server = subprocess.Popen(
            [sys.executable, *PYTHON_FLAGS, "manage.py", "runserver", "--noreload", address],
            cwd=project,
            env=child_environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + SERVER_START_SECONDS
            while True:
                if server.poll() is not None:
                    raise CheckFailed(f"runserver exited {server.returncode} before listening")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise CheckFailed(
                            f"runserver did not listen on port {port} in {SERVER_START_SECONDS:g} s"
                        ) from None
                    time.sleep(0.2)
            say(f"runserver --noreload listening on {address}")
            yield f"http://{address}"
        except CheckFailed:
            log.flush()
            logged = tail(log_path.read_text(encoding="utf-8"))
            print(f"--- runserver.log ---\n{logged}\n---", file=sys.stderr)
            raise
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@dataclass(frozen=True)
class Response:
    status: int
    headers: Message
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self, what: str) -> Any:
        if not self.content_type.startswith("application/json"):
            raise CheckFailed(f"{what}: Content-Type is {self.content_type!r}, not JSON")
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise CheckFailed(f"{what}: the body is not JSON: {self.text[:80]!r}") from exc


class NoRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects are answers to check (the login's 302), not something to follow."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Browser:
    """urllib with cookies, no proxies and no redirects."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPCookieProcessor(self.cookies),
            NoRedirects(),
        )

    def request(
        self,
        path: str,
        *,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        body = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(
            self.base_url + path, data=body, headers=dict(headers or {})
        )
        try:
            with self.opener.open(request, timeout=30) as response:
                return Response(response.status, response.headers, response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return Response(exc.code, exc.headers, exc.read())
        except OSError as exc:
            raise CheckFailed(f"the request to {path} failed: {exc}") from exc

    def cookie(self, name: str) -> str | None:
        return next((cookie.value for cookie in self.cookies if cookie.name == name), None)


def expect(response: Response, status: int, what: str) -> Response:
    if response.status != status:
        raise CheckFailed(
            f"{what}: HTTP {response.status} ({response.content_type}), expected {status}: "
            f"{' '.join(response.text.split())[:120]!r}"
        )
    return response


def access_token(user: uuid.UUID) -> str:
    """An HS256 token shaped like Supabase Auth's, signed with PyJWT as the wheel installed it."""
    importlib.invalidate_caches()  # PyJWT arrived after this process started
    import jwt

    now = datetime.now(UTC)
    claims = {
        "sub": str(user),
        "aud": "authenticated",
        "role": "authenticated",
        "email": "someone@example.com",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=1)).timestamp()),
    }
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


def sum_cells(body: Any, what: str) -> dict[str, int]:
    try:
        cells = body["heatmap"]
        return {
            key: sum(int(cell[key]) for cell in cells)
            for key in ("total_calls", "connected_calls", "meetings_booked")
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckFailed(f"{what}: not the documented heatmap shape ({exc!r})") from exc


def check_api(browser: Browser, seed: Seed) -> None:
    url = "/api/dashboard-heatmap?period=7d"
    for attempt in ("", " again"):
        anonymous = expect(browser.request(url), 401, f"GET {url} without a token{attempt}")
        body = anonymous.json(f"GET {url} without a token")
        if not isinstance(body, dict) or "detail" not in body:
            raise CheckFailed(f"GET {url} without a token: 401 without a detail: {body!r}")
        if not anonymous.headers.get("WWW-Authenticate", "").startswith("Bearer"):
            raise CheckFailed(f"GET {url} without a token: no WWW-Authenticate: Bearer")
    say("API without a token: 401 JSON with WWW-Authenticate: Bearer (host DRF defaults ignored)")

    bearer = {"Authorization": f"Bearer {access_token(seed.user)}"}
    for path in (url, "/api/dashboard-heatmap/?period=7d"):
        response = expect(browser.request(path, headers=bearer), 200, f"GET {path} with a token")
        got = sum_cells(response.json(f"GET {path}"), f"GET {path}")
        if got != seed.totals:
            raise CheckFailed(f"GET {path}: the cells add up to {got}, expected {seed.totals}")
    say(
        f"API with a Supabase token: 200 JSON, {seed.totals['total_calls']} calls, "
        f"{seed.totals['connected_calls']} connected, {seed.totals['meetings_booked']} booked"
    )


class FormInputs(HTMLParser):
    """The ``<input>`` values of a page by name: enough to find the CSRF token."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("name"):
            self.values[str(found["name"])] = found.get("value") or ""


class Links(HTMLParser):
    """The ``href`` of each ``<a>`` of a page that has an ``id``, by that id."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a" and found.get("id"):
            self.hrefs[str(found["id"])] = found.get("href") or ""


def check_admin(browser: Browser, seed: Seed, credentials: Mapping[str, str]) -> None:
    login = "/admin/login/?next=/admin/"
    page = expect(browser.request(login), 200, f"GET {login}")
    inputs = FormInputs()
    inputs.feed(page.text)
    token = inputs.values.get("csrfmiddlewaretoken")
    if not token or not browser.cookie("csrftoken"):
        raise CheckFailed(f"GET {login}: no csrftoken cookie or no csrfmiddlewaretoken field")
    form = {
        "csrfmiddlewaretoken": token,
        "username": credentials["username"],
        "password": credentials["password"],
        "next": "/admin/",
    }
    signed_in = expect(browser.request(login, form=form), 302, f"POST {login}")
    if signed_in.headers.get("Location") != "/admin/":
        raise CheckFailed(f"POST {login} redirected to {signed_in.headers.get('Location')!r}")
    say(f"admin login as {credentials['username']}: 302 to /admin/")

    changelist = "/admin/analytics/call/"
    index = expect(browser.request("/admin/"), 200, "GET /admin/").text
    if f'href="{changelist}"' not in index:
        raise CheckFailed(f"GET /admin/: the index does not link to {changelist}")
    listed = expect(browser.request(changelist), 200, f"GET {changelist}").text
    if seed.agency.hex[:8] not in listed:
        raise CheckFailed(f"GET {changelist}: the agency's calls are not listed")
    say(f"admin {changelist}: 200, the agency's calls listed")

    # The calls list links to the page CallAdmin.get_urls() serves, wherever that is.
    links = Links()
    links.feed(listed)
    heatmap_page = links.hrefs.get("call-heatmap-link", "")
    if not heatmap_page.startswith("/admin/"):
        raise CheckFailed(f"GET {changelist}: no link to the call heatmap ({heatmap_page!r})")
    query = urllib.parse.urlencode({"agency": str(seed.agency), "period": "7d"})
    html = expect(browser.request(f"{heatmap_page}?{query}"), 200, f"GET {heatmap_page}").text
    calls = f"<dt>Calls</dt><dd>{seed.totals['total_calls']}</dd>"
    if "<title>Call heatmap" not in html:
        raise CheckFailed(f"GET {heatmap_page}: the page's title is not 'Call heatmap'")
    if calls not in html:
        raise CheckFailed(f"GET {heatmap_page}?{query}: no {calls!r} in the totals")
    as_json = expect(
        browser.request(f"{heatmap_page}?{query}&format=json"), 200, f"GET {heatmap_page} JSON"
    )
    got = sum_cells(as_json.json(f"GET {heatmap_page}?format=json"), f"GET {heatmap_page} JSON")
    if got != seed.totals:
        raise CheckFailed(f"GET {heatmap_page}?format=json adds up to {got}, not {seed.totals}")
    say(f"admin {heatmap_page}: 200 'Call heatmap' with {seed.totals['total_calls']} calls")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Use the built wheel in a throwaway host.")
    parser.add_argument("--dist", type=Path, required=True, help="the folder holding the wheel")
    dist: Path = parser.parse_args(argv).dist.resolve()
    started = time.monotonic()
    project = Path(tempfile.mkdtemp(prefix="host_check-"))
    try:
        wheel = find_wheel(dist)
        installed = install_wheel(wheel, cwd=project)
        start_project(project)
        seed = make_seed()
        credentials = prepare_database(project, seed, installed["origin"])
        with running_server(project) as base_url:
            browser = Browser(base_url)
            check_api(browser, seed)
            check_admin(browser, seed, credentials)
    except CheckFailed as exc:
        print(f"host_check: FAILED: {exc} (project left in {project})", file=sys.stderr)
        return 1
    shutil.rmtree(project, ignore_errors=True)
    say(
        f"Django {installed['django']} on Python {platform.python_version()}: "
        f"check, migrate, API and admin OK in {time.monotonic() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
