"""Headless Chromium runs the demo page from a second origin against the demo API.

The page is what ``npm run build:page`` committed to
``heatmap_project/static/heatmap_project/page/``, served by a plain static server on
one port; the demo API (``manage.py demo`` then ``runserver``, as ``make demo`` runs it)
is on another, with ``CORS_ALLOWED_ORIGINS`` naming the page's origin. So every request
the page makes is cross-origin, with its preflight, as an agency's SPA's would be, and
what the test reads is what a user sees: the table's cells, the best times, the status
line. Chrome's own network log says what went over the wire.

Debian's ``chromium`` and ``chromedriver`` as in ``test_admin_browser.py``: without them
the tests are skipped, saying so; in CI they fail instead. The screenshot goes to a
temporary file; with ``UPDATE_SCREENSHOTS=1`` it replaces ``docs/spa-page.png``.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from heatmap_project.harness import DEMO_TOKEN, sqlite_demo
from tests.helpers import (
    HEATMAP_CSV_URL,
    HEATMAP_URL,
    ROOT,
    By,
    Select,
    WebDriverWait,
    chromium_options,
    needs_browser,
    set_viewport,
    start_chromium,
    take_screenshot,
)

pytestmark = needs_browser

VIEWPORT = (1280, 540)
SCREENSHOT = ROOT / "docs" / "spa-page.png"
#: The page's built files, as the demo serves them under /static/.
PAGE_DIR = ROOT / "heatmap_project" / "static" / "heatmap_project" / "page"
#: Not UTC, nor a whole number of hours from it (and a name ICU keeps: it calls Kolkata
#: "Asia/Calcutta"): the page must send the zone the browser is in.
BROWSER_ZONE = "America/St_Johns"
#: The page's first query: its default choices, and the zone the client fills in.
DEFAULT_QUERY = {"metric": "calls", "period": "30d", "clock": "tz", "tz": BROWSER_ZONE}
#: The cell value each metric ranks by (the client's METRIC_VALUE).
METRIC_VALUE = {
    "calls": "total_calls",
    "connected": "connected_calls",
    "meetings_booked": "meetings_booked",
    "connect_rate": "connect_rate",
    "meeting_rate": "meeting_rate",
}
WAIT = 15
JWT = DEMO_TOKEN


@dataclass(frozen=True)
class Demo:
    """The demo API's address, the token and page link it printed, and an expired token."""

    api_url: str
    token: str
    link: str
    expired_token: str


class QuietFiles(SimpleHTTPRequestHandler):
    """Static files, without a log line per request on the test's output."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def page_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The built page on its own origin: a static file server, as a CDN would be.

    Laid out as the demo serves it: the page at ``/``, the static files under ``/static/``,
    where its URLs name its script and style.
    """
    site = tmp_path_factory.mktemp("page-origin")
    (site / "index.html").symlink_to(PAGE_DIR / "index.html")
    (site / "static").symlink_to(ROOT / "heatmap_project" / "static", target_is_directory=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietFiles, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def demo(page_origin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """``make demo``'s steps with CORS on for the page's origin, its data for the screenshot."""
    folder = tmp_path_factory.mktemp("spa-demo")
    env = {"CORS_ALLOWED_ORIGINS": page_origin}
    with sqlite_demo(folder, calls=3000, expired_token=True, env=env) as served:
        [token] = re.findall(rf"^({JWT})$", served.seeded, re.MULTILINE)
        [link] = re.findall(rf"(http://\S+/#token={JWT})$", served.seeded, re.MULTILINE)
        yield Demo(served.base_url, token, link, served.expired_token)


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def driver(downloads: Path) -> Iterator[Any]:
    options = chromium_options()
    # Chrome's network events, read back with get_log("performance"): what went on the wire.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    browser = start_chromium(options)
    set_viewport(browser, *VIEWPORT)
    browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": BROWSER_ZONE})
    browser.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    try:
        yield browser
    finally:
        browser.quit()


# --- what the page shows, and what the API says ------------------------------------------


def open_page(driver: Any, page_origin: str, api_url: str, token: str) -> None:
    """The link an SPA would be opened with: the API elsewhere, the token in the fragment.

    From a blank page, so each test starts with a fresh page and client (nothing kept).
    """
    driver.get("about:blank")
    driver.get(f"{page_origin}/?{urlencode({'api': api_url})}#token={token}")


def wait_until(driver: Any, condition: Callable[[Any], Any], what: str) -> Any:
    return WebDriverWait(driver, WAIT).until(condition, message=f"waited {WAIT} s for {what}")


def wait_for_answer(driver: Any, count: int) -> None:
    """Until the page has shown its ``count``-th answer and is ready."""
    wait_until(
        driver,
        lambda d: d.execute_script(
            "return document.body.dataset.state === 'ready'"
            " && Number(document.getElementById('status').dataset.answers) >= arguments[0]",
            count,
        ),
        f"answer {count}",
    )


def shown(driver: Any) -> dict[str, Any]:
    """Everything the page shows of an answer, in one round trip."""
    state: dict[str, Any] = driver.execute_script(
        """
        const byId = (id) => document.getElementById(id);
        return {
            cells: Array.from(document.querySelectorAll("#heatmap td.cell"), (td) => ({
                slot: [Number(td.dataset.day), Number(td.dataset.hour)],
                value: td.dataset.value,
                text: td.textContent,
            })),
            best: Array.from(byId("best-times").querySelectorAll("li"), (li) => ({
                slot: [Number(li.dataset.day), Number(li.dataset.hour)],
                label: li.querySelector(".label").textContent,
            })),
            summary: {...byId("summary").dataset},
            lead: {...byId("lead-counts").dataset, hidden: byId("lead-counts").hidden},
            etag: byId("etag").dataset.etag,
            answer: byId("answer").textContent,
            revalidated: byId("status").dataset.revalidated,
        };
        """
    )
    return state


def get(api_url: str, path: str, token: str, query: dict[str, str]) -> tuple[bytes, Message]:
    request = urllib.request.Request(
        f"{api_url}{path}?{urlencode(query)}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        return response.read(), response.headers


def expected_cells(body: dict[str, Any]) -> dict[tuple[int, int], float | None]:
    """The 7x24 grid of the body's metric, as the page must show it: a slot left out of a
    sparse body has no calls, so 0 for a count and nothing for a rate."""
    read = METRIC_VALUE[body["metric"]]
    empty = None if read.endswith("_rate") else 0
    grid: dict[tuple[int, int], float | None] = {
        (day, hour): empty for day in range(7) for hour in range(24)
    }
    for cell in body["heatmap"]:
        grid[cell["day"], cell["hour"]] = cell[read]
    return grid


def assert_page_shows(state: dict[str, Any], body: dict[str, Any]) -> None:
    """The page's table, best times and counts are the API's body for the same query."""
    assert len(state["cells"]) == 7 * 24
    page = {
        tuple(cell["slot"]): None if cell["value"] == "" else float(cell["value"])
        for cell in state["cells"]
    }
    assert page == expected_cells(body)
    assert all(cell["text"] for cell in state["cells"] if cell["value"] not in ("", "0"))
    assert [(tuple(b["slot"]), b["label"]) for b in state["best"]] == [
        ((b["day"], b["hour"]), b["label"]) for b in body["best_times"]
    ]
    assert state["summary"] == {
        "timezone": body["timezone"],
        "metric": body["metric"],
        "clock": body["clock"],
    }
    if body["clock"] == "lead":
        assert not state["lead"]["hidden"]
        assert state["lead"]["unplaced"] == str(body["unplaced_calls"])
        assert state["lead"]["outside"] == str(body["outside_calling_hours"])
    else:
        assert state["lead"]["hidden"]


# --- the tests ----------------------------------------------------------------------------


def test_the_grid_is_the_api_body(driver: Any, page_origin: str, demo: Demo) -> None:
    api_url, token = demo.api_url, demo.token
    open_page(driver, page_origin, api_url, token)
    wait_for_answer(driver, 1)
    # Signed in from the fragment, which then left the address bar; ?api= stays.
    assert driver.current_url == f"{page_origin}/?{urlencode({'api': api_url})}"
    raw, headers = get(api_url, HEATMAP_URL, token, DEFAULT_QUERY)
    body = json.loads(raw)
    assert body["timezone"] == BROWSER_ZONE
    state = shown(driver)
    assert_page_shows(state, body)
    # The page reads the ETag across origins: the one the server sends for this answer.
    assert state["etag"] == headers["ETag"]
    assert state["revalidated"] == "false"

    # The lead's clock, with its two counts, then a rate, whose empty slots show nothing.
    driver.find_element(By.CSS_SELECTOR, "input[name=clock][value=lead]").click()
    wait_for_answer(driver, 2)
    Select(driver.find_element(By.ID, "metric")).select_by_value("connected")
    wait_for_answer(driver, 3)
    lead_query = {**DEFAULT_QUERY, "metric": "connected", "clock": "lead"}
    lead = json.loads(get(api_url, HEATMAP_URL, token, lead_query)[0])
    assert lead["unplaced_calls"] > 0
    assert_page_shows(shown(driver), lead)
    # The expected size and many colours: the page, not a blank or an error.
    take_screenshot(driver, SCREENSHOT, VIEWPORT)

    Select(driver.find_element(By.ID, "metric")).select_by_value("connect_rate")
    wait_for_answer(driver, 4)
    rates = json.loads(
        get(api_url, HEATMAP_URL, token, {**lead_query, "metric": "connect_rate"})[0]
    )
    assert None in expected_cells(rates).values()
    assert_page_shows(shown(driver), rates)


def test_a_revalidation_is_a_304_and_keeps_the_body(
    driver: Any, page_origin: str, demo: Demo
) -> None:
    api_url, token = demo.api_url, demo.token
    open_page(driver, page_origin, api_url, token)
    wait_for_answer(driver, 1)
    first = shown(driver)
    driver.get_log("performance")  # read: what follows is the refresh's

    driver.find_element(By.ID, "refresh").click()
    wait_for_answer(driver, 2)
    again = shown(driver)
    assert again["revalidated"] == "true"
    assert "304" in again["answer"]
    assert again["cells"] == first["cells"]
    assert again["best"] == first["best"]
    assert again["etag"] == first["etag"]

    # On the wire: the refresh sent the kept ETag, and the server answered 304, no body.
    [(request, response)] = [
        (request, response)
        for request, response in network_exchanges(driver, f"{api_url}{HEATMAP_URL}?")
        if request["method"] == "GET" and header(request["headers"], "If-None-Match")
    ]
    assert header(request["headers"], "If-None-Match") == first["etag"]
    assert response["status"] == 304
    assert header(response["headers"], "ETag") == first["etag"]


def test_the_csv_downloads_with_its_name(
    driver: Any, page_origin: str, demo: Demo, downloads: Path
) -> None:
    api_url, token = demo.api_url, demo.token
    open_page(driver, page_origin, api_url, token)
    wait_for_answer(driver, 1)
    driver.find_element(By.ID, "download-csv").click()

    raw, headers = get(api_url, HEATMAP_CSV_URL, token, DEFAULT_QUERY)
    filename = headers.get_filename()
    assert filename is not None
    assert filename.startswith("call-heatmap-")
    saved = downloads / filename
    wait_until(
        driver,
        lambda d: saved.exists() and not list(downloads.glob("*.crdownload")),
        f"{saved.name} in {downloads}",
    )
    assert [path.name for path in downloads.iterdir()] == [filename]
    assert saved.read_bytes() == raw
    status = driver.find_element(By.ID, "status")
    assert status.get_attribute("data-csv-filename") == filename


def test_an_expired_token_asks_for_a_new_one(driver: Any, page_origin: str, demo: Demo) -> None:
    api_url, token = demo.api_url, demo.token
    open_page(driver, page_origin, api_url, demo.expired_token)
    wait_until(
        driver,
        lambda d: d.execute_script("return document.body.dataset.state") == "expired",
        "the expired state",
    )
    alert = driver.find_element(By.ID, "expired")
    assert alert.is_displayed()
    assert "Session expired — paste a new token." in alert.text
    assert driver.find_element(By.ID, "expired-detail").get_attribute("data-code") == (
        "token_expired"
    )
    assert not driver.find_element(By.ID, "results").is_displayed()
    assert driver.switch_to.active_element == driver.find_element(By.ID, "token-input")
    assert driver.execute_script("return sessionStorage.length") == 0

    # A pasted token signs in again, and the grid comes back.
    driver.find_element(By.ID, "token-input").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#sign-in [type=submit]").click()
    wait_for_answer(driver, 1)
    assert not alert.is_displayed()
    assert driver.find_element(By.ID, "heatmap").is_displayed()


def test_the_demo_serves_the_page_at_its_root(driver: Any, demo: Demo) -> None:
    """The link ``manage.py demo`` prints: the page on the API's own origin, no ``?api=``."""
    driver.get("about:blank")
    driver.get(demo.link)
    wait_for_answer(driver, 1)
    assert driver.current_url == f"{demo.api_url}/"
    assert driver.find_element(By.ID, "api-base").text == demo.api_url
    raw, headers = get(demo.api_url, HEATMAP_URL, demo.token, DEFAULT_QUERY)
    state = shown(driver)
    assert_page_shows(state, json.loads(raw))
    assert state["etag"] == headers["ETag"]


# --- Chrome's network log -----------------------------------------------------------------


def network_exchanges(driver: Any, prefix: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(request, response) of each request to a URL starting with ``prefix``, from Chrome's
    own network events since the log was last read: the status and headers on the wire."""
    requests: dict[str, dict[str, Any]] = {}
    responses: dict[str, dict[str, Any]] = {}
    for entry in driver.get_log("performance"):
        event = json.loads(entry["message"])["message"]
        params = event.get("params", {})
        if event["method"] == "Network.requestWillBeSent":
            requests[params["requestId"]] = params["request"]
        elif event["method"] == "Network.responseReceived":
            responses[params["requestId"]] = params["response"]
    return [
        (request, responses[request_id])
        for request_id, request in requests.items()
        if request["url"].startswith(prefix) and request_id in responses
    ]


def header(headers: dict[str, str], name: str) -> str | None:
    return next((value for key, value in headers.items() if key.lower() == name.lower()), None)
