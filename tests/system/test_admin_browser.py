"""A real headless Chromium signs in to the admin and reads the call heatmap.

As Django's own admin tests do: Selenium through ``StaticLiveServerTestCase``,
driving Debian's ``chromium`` with its ``chromedriver`` (``apt-get install
chromium chromium-driver``). Without them the test is skipped, saying so;
in CI it fails instead.

The screenshot goes to a temporary file; with ``UPDATE_SCREENSHOTS=1`` it
replaces ``docs/admin-heatmap.png``, the picture the README shows.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from django.contrib.auth.models import User as StaffUser
from django.contrib.staticfiles.testing import StaticLiveServerTestCase
from django.db import transaction
from django.utils import timezone

from analytics.heatmap.presentation import EMPTY, SCALE, parse_hex
from analytics.heatmap.selectors import heatmap
from analytics.models import Call, User
from tests.helpers import (
    CALLS_PAGE,
    HEATMAP_PAGE,
    ROOT,
    By,
    Select,
    WebDriverWait,
    chromium_options,
    needs_browser,
    new_call,
    set_viewport,
    start_chromium,
    take_screenshot,
)

VIEWPORT = (1600, 860)
#: The window the Calls list must fit without scrolling sideways, its sidebar open.
LIST_WIDTH = 1280
SCREENSHOT = ROOT / "docs" / "admin-heatmap.png"

AGENCY_ID = uuid.UUID("0c5e7c1a-5b3f-4f0e-9d3a-7a1f2e6b9c41")
#: Business hours, busiest mid-morning and mid-afternoon; quiet weekends.
HOUR_WEIGHTS = {8: 2, 9: 5, 10: 9, 11: 7, 12: 3, 13: 4, 14: 8, 15: 6, 16: 4, 17: 2}
WEEKDAY_WEIGHTS = {0: 6, 1: 9, 2: 8, 3: 7, 4: 5, 5: 1, 6: 0}  # Monday=0, as datetime does


def seed_calls(agency_id: uuid.UUID, *, days: int = 30) -> int:
    """A recognisable week: the same shape every run, in the window ending today."""
    rng = random.Random(6)
    today = timezone.now().astimezone(UTC).date()
    calls = []
    for offset in range(days):
        day = today - timedelta(days=offset)
        for hour, weight in HOUR_WEIGHTS.items():
            for _ in range(WEEKDAY_WEIGHTS[day.weekday()] * weight // 6):
                created = datetime(
                    day.year, day.month, day.day, hour, rng.randrange(60), tzinfo=UTC
                )
                joined = created + timedelta(seconds=20) if rng.random() < 0.4 else None
                booked = joined is not None and rng.random() < 0.15
                calls.append(
                    new_call(
                        agency_id,
                        created,
                        joined_at=joined,
                        end_reason="completed" if joined else "no_answer",
                        analysis={"sdr": {"meeting_booked": booked}},
                    )
                )
    # One by one: bulk_create's UNNEST on PostgreSQL sends text[] to the enum columns.
    with transaction.atomic():
        for call in calls:
            call.save(force_insert=True)
    return len(calls)


def css_rgb(value: str) -> tuple[int, int, int]:
    """``"rgba(68, 1, 84, 1)"`` as ``(68, 1, 84)``."""
    red, green, blue = (int(part) for part in value[value.index("(") + 1 : -1].split(",")[:3])
    return red, green, blue


@needs_browser
class AdminHeatmapInChromiumTests(StaticLiveServerTestCase):
    driver: ClassVar[Any]

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        options = chromium_options()
        cls.driver = start_chromium(options)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.driver.quit()
        super().tearDownClass()

    def setUp(self) -> None:
        set_viewport(self.driver, *VIEWPORT)
        StaffUser.objects.create_superuser("ops", "ops@example.com", "a-long-test-password")
        User.objects.create(id=uuid.uuid4(), agency_id=AGENCY_ID)
        self.calls = seed_calls(AGENCY_ID)

    def tearDown(self) -> None:
        # The flush after each live-server test skips unmanaged tables: empty them here.
        Call.objects.filter(agency_id=AGENCY_ID).delete()
        User.objects.filter(agency_id=AGENCY_ID).delete()

    def wait_for(self, css: str) -> Any:
        return WebDriverWait(self.driver, 10).until(
            lambda driver: driver.find_element(By.CSS_SELECTOR, css)
        )

    def sign_in(self, page: str) -> None:
        """Open ``page``: not signed in, the admin's login page, which comes back to it."""
        driver = self.driver
        driver.get(f"{self.live_server_url}{page}")
        self.wait_for("#login-form")
        driver.find_element(By.ID, "id_username").send_keys("ops")
        driver.find_element(By.ID, "id_password").send_keys("a-long-test-password")
        driver.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()

    def test_the_calls_list_fits_a_1280_pixel_window(self) -> None:
        """Every column, the sidebar open, the widest values: no sideways scrolling."""
        Call.objects.create(
            id=uuid.uuid4(),
            agency_id=AGENCY_ID,
            campaign_id=uuid.uuid4(),
            client_id=uuid.uuid4(),
            status="in_progress",
            created_at=timezone.now(),
            end_reason="no_answer",
        )
        set_viewport(self.driver, LIST_WIDTH, VIEWPORT[1])
        try:
            self.sign_in(CALLS_PAGE)
            self.wait_for("#result_list")
            assert self.driver.find_element(By.ID, "nav-sidebar").is_displayed()
            # The page does not scroll sideways, nor does the table inside its own box
            # (the admin lets a wide table scroll there, beside the filters).
            page, window, table, box = self.driver.execute_script(
                "const results = document.querySelector('#changelist .results');"
                "return [document.documentElement.scrollWidth, window.innerWidth,"
                " results.scrollWidth, results.clientWidth];"
            )
            assert window == LIST_WIDTH
            assert page <= LIST_WIDTH, f"the page is {page} px wide"
            assert table <= box, f"the table is {table} px wide in a box of {box} px"
        finally:
            set_viewport(self.driver, *VIEWPORT)

    def test_staff_sign_in_and_read_the_heatmap(self) -> None:
        driver = self.driver
        self.sign_in(HEATMAP_PAGE)

        self.wait_for("#heatmap-form")
        driver.find_element(By.ID, "id_agency").send_keys(str(AGENCY_ID))
        Select(driver.find_element(By.ID, "id_period")).select_by_value("30d")
        Select(driver.find_element(By.ID, "id_metric")).select_by_value("calls")
        driver.find_element(By.CSS_SELECTOR, "#heatmap-form [type=submit]").click()
        table = self.wait_for("table#heatmap")

        expected = heatmap(agency_id=AGENCY_ID, period="30d", metric="calls")
        # One round trip for all 168 cells: what each says and how it is painted.
        cells = driver.execute_script(
            """return Array.from(arguments[0].querySelectorAll("td.cell"), (td) => ({
                slot: [Number(td.dataset.day), Number(td.dataset.hour)],
                text: td.innerText,
                best: td.classList.contains("best"),
                background: getComputedStyle(td).backgroundColor,
            }));""",
            table,
        )
        assert len(cells) == 7 * 24
        counts = {(c.day, c.hour): c.total_calls for c in expected.cells}
        empty, top_colour = parse_hex(EMPTY.background), parse_hex(SCALE[-1])
        for cell in cells:
            slot, colour = tuple(cell["slot"]), css_rgb(cell["background"])
            assert cell["text"] == f"{counts.get(slot, 0):,}", slot
            assert (colour == empty) == (slot not in counts), slot
        best = {(b.day, b.hour) for b in expected.best_times}
        assert {tuple(cell["slot"]) for cell in cells if cell["best"]} == best
        top = expected.best_times[0]
        busiest = table.find_element(
            By.CSS_SELECTOR, f'td[data-day="{top.day}"][data-hour="{top.hour}"]'
        )
        assert css_rgb(busiest.value_of_css_property("background-color")) == top_colour

        best_times = driver.find_elements(By.CSS_SELECTOR, "#best-times li")
        assert [item.text for item in best_times] == [
            f"{best.label}: {best.metric_value:,}" for best in expected.best_times
        ]
        assert all(item.is_displayed() for item in best_times)
        assert driver.find_element(By.ID, "heatmap-totals").is_displayed()

        # The expected size, many colours (not blank), and the busiest cell painted dark.
        image = take_screenshot(driver, SCREENSHOT, VIEWPORT)
        left, top = busiest.rect["x"], busiest.rect["y"]
        # Just inside the cell's left edge, clear of its number and its outline.
        pixel = image.getpixel((int(left) + 4, int(top + busiest.rect["height"] / 2)))
        assert pixel == parse_hex(SCALE[-1])
