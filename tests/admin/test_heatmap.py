"""The call heatmap page (``analytics.admin.heatmap``): who may see it, where it is, what it
shows, and its JSON and CSV, the endpoint's own."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib import admin
from django.contrib.auth.models import User as StaffUser
from django.test import Client
from django.urls import resolve, reverse
from rest_framework.test import APIClient

from analytics.heatmap.presentation import EMPTY, EN_DASH, SCALE
from analytics.models import Call, User
from tests.helpers import (
    CALLS_PAGE,
    HEATMAP_PAGE,
    HEATMAP_URL,
    MakeCall,
    page_html,
    staff_member,
    table_away,
)

pytestmark = pytest.mark.django_db


def day_of(moment: datetime) -> int:
    """The heatmap's day numbering: 0 is Sunday."""
    return moment.isoweekday() % 7


def cell_html(html: str, day: int, hour: int) -> str:
    match = re.search(
        rf'<td class="cell[^"]*" data-day="{day}" data-hour="{hour}"[^>]*>[^<]*</td>', html
    )
    assert match, f"no cell for day {day} hour {hour}"
    return match.group(0)


# --- who may see it, and where it is ----------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_admin_login(client: Client) -> None:
    response = client.get(HEATMAP_PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/admin/analytics/call/heatmap/")


def test_users_who_are_not_staff_are_sent_to_the_admin_login(client: Client) -> None:
    client.force_login(StaffUser.objects.create_user("someone", is_staff=False))
    response = client.get(HEATMAP_PAGE, {"agency": str(uuid.uuid4())})
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_staff_who_may_not_view_calls_are_refused(client: Client) -> None:
    client.force_login(staff_member(perms=("view_user",)))
    assert client.get(HEATMAP_PAGE).status_code == 403


def test_the_page_is_linked_from_the_call_list(staff: Client) -> None:
    assert f'href="{HEATMAP_PAGE}"' in staff.get(CALLS_PAGE).content.decode()


def test_the_page_keeps_its_address_under_the_calls() -> None:
    """Its address and URL name since 0.1.0, served by the calls' admin."""
    assert reverse("admin:analytics_call_heatmap") == HEATMAP_PAGE
    calls_admin = admin.site.get_model_admin(Call)
    assert resolve(HEATMAP_PAGE).func.__wrapped__ == calls_admin.heatmap_view


def test_the_page_sits_in_the_app_section(staff: Client) -> None:
    html = staff.get(HEATMAP_PAGE).content.decode()
    breadcrumbs = re.search(r'<div class="breadcrumbs">(.*?)</div>', html, re.DOTALL)
    assert breadcrumbs
    assert re.findall(r"<a [^>]*>([^<]*)</a>", breadcrumbs.group(1)) == ["Home", "Call analytics"]
    assert "Call heatmap" in breadcrumbs.group(1)


def sidebar_entries(html: str) -> dict[str, bool]:
    """The sidebar's entries (model row classes) and whether each is marked current."""
    nav = re.search(r'<nav class="sticky" id="nav-sidebar".*?</nav>', html, re.DOTALL)
    assert nav, "no sidebar"
    rows = re.findall(r'<tr class="model-(\w+)( current-model)?">', nav.group(0))
    return {name: bool(current) for name, current in rows}


def test_the_sidebar_marks_the_page_not_the_calls(staff: Client) -> None:
    """Django marks each entry whose URL is in the page's path, and this page sits under
    the calls' URL."""
    html = staff.get(HEATMAP_PAGE).content.decode()
    assert sidebar_entries(html) == {"call": False, "callheatmap": True, "user": False}
    assert f'<a href="{HEATMAP_PAGE}" aria-current="page">Call heatmap</a>' in html
    # The calls' entry still leads to the calls.
    calls_link = re.search(r'<tr class="model-call">.*?<a href="([^"]+)"', html, re.DOTALL)
    assert calls_link
    assert staff.get(calls_link.group(1)).status_code == 200
    # Elsewhere the sidebar is Django's own.
    assert sidebar_entries(staff.get(CALLS_PAGE).content.decode()) == {"call": True, "user": False}


# --- the zone it starts in ----------------------------------------------------------------


def initial_zone(staff: Client) -> str:
    zone: str = staff.get(HEATMAP_PAGE).context["form"]["tz"].value()
    return zone


def test_the_page_starts_in_the_hosts_time_zone(staff: Client, settings: Any) -> None:
    settings.TIME_ZONE = "Europe/Paris"
    assert initial_zone(staff) == "Europe/Paris"


def test_the_page_starts_in_the_admin_time_zone_setting(staff: Client, settings: Any) -> None:
    settings.TIME_ZONE = "Europe/Paris"
    settings.ANALYTICS_ADMIN_TIME_ZONE = "America/Chicago"
    assert initial_zone(staff) == "America/Chicago"


def test_the_page_starts_in_the_zone_this_user_last_asked_for(
    staff: Client, user: User, settings: Any
) -> None:
    settings.TIME_ZONE = "Europe/Paris"
    staff.get(HEATMAP_PAGE, {"agency": str(user.agency_id), "tz": "Asia/Kolkata"})
    assert initial_zone(staff) == "Asia/Kolkata"
    # Left out of an asked-for heatmap, it is the zone the heatmap is read in.
    response = staff.get(HEATMAP_PAGE, {"agency": str(user.agency_id)})
    assert response.context["result"].timezone == "Asia/Kolkata"
    # A zone that was refused is not kept.
    staff.get(HEATMAP_PAGE, {"agency": str(user.agency_id), "tz": "Mars/Base"})
    assert initial_zone(staff) == "Asia/Kolkata"
    # Another staff user starts in the host's.
    staff.force_login(staff_member(username="other"))
    assert initial_zone(staff) == "Europe/Paris"


def test_the_admin_time_zone_setting_comes_before_the_zone_last_asked_for(
    staff: Client, user: User, settings: Any
) -> None:
    """The setting is the site's choice: every staff user starts there, whatever they
    last asked for; what they ask for is still drawn."""
    settings.ANALYTICS_ADMIN_TIME_ZONE = "America/Chicago"
    response = staff.get(HEATMAP_PAGE, {"agency": str(user.agency_id), "tz": "Asia/Kolkata"})
    assert response.context["result"].timezone == "Asia/Kolkata"
    assert initial_zone(staff) == "America/Chicago"
    # Unset, the zone last asked for is back.
    settings.ANALYTICS_ADMIN_TIME_ZONE = None
    assert initial_zone(staff) == "Asia/Kolkata"


# --- what it shows ----------------------------------------------------------------------


def test_staff_see_the_agency_cells_shaded_with_counts(
    staff: Client, calls_today: None, agency_id: uuid.UUID, at_ten: datetime
) -> None:
    html = page_html(staff, HEATMAP_PAGE, {"agency": str(agency_id)})
    day = day_of(at_ten)
    busiest = cell_html(html, day, 10)
    assert ">3</td>" in busiest
    assert "best" in busiest
    assert f"background-color: {SCALE[-1]}" in busiest  # the top of the scale
    quieter = cell_html(html, day, 14)
    assert ">1</td>" in quieter
    assert f"background-color: {SCALE[-1]}" not in quieter
    assert f"background-color: {EMPTY.background}" in cell_html(html, day, 11)
    assert ">0</td>" in cell_html(html, day, 11)
    assert html.count('<td class="cell') == 7 * 24
    label = f"{at_ten:%A} 10:00"
    assert re.search(rf'<span class="label">{label}</span>: <span class="value">3</span>', html)
    assert "<dt>Calls</dt><dd>4</dd>" in html
    assert "<dt>Meetings booked</dt><dd>1 (25.0%)</dd>" in html
    assert 'id="heatmap-json"' in html


def test_rates_shade_only_slots_with_enough_calls(
    staff: Client, calls_today: None, agency_id: uuid.UUID, at_ten: datetime
) -> None:
    query = {"agency": str(agency_id), "metric": "connect_rate", "min_calls": "2"}
    html = staff.get(HEATMAP_PAGE, query).content.decode()
    day = day_of(at_ten)
    assert ">33%</td>" in cell_html(html, day, 10)  # 1 of 3 connected
    assert f"background-color: {SCALE[-1]}" in cell_html(html, day, 10)
    # One call at 14:00 is below min_calls: its 0% is shown, unshaded.
    assert f"background-color: {EMPTY.background}" in cell_html(html, day, 14)


def test_the_time_zone_moves_the_hours(
    staff: Client, calls_today: None, agency_id: uuid.UUID, at_ten: datetime
) -> None:
    query = {"agency": str(agency_id), "tz": "Asia/Kolkata"}  # UTC+05:30
    html = staff.get(HEATMAP_PAGE, query).content.decode()
    local = at_ten + timedelta(hours=5, minutes=30)
    assert "hours in Asia/Kolkata" in html
    assert ">2</td>" in cell_html(html, day_of(local), 15)  # 10:15 and 10:20 UTC
    assert ">1</td>" in cell_html(html, day_of(local), 16)  # 10:45 UTC


def test_json_is_the_endpoint_body_for_the_same_options(
    staff: Client, calls_today: None, agency_id: uuid.UUID, auth_client: APIClient
) -> None:
    options = {"period": "7d", "metric": "connected", "tz": "Europe/Paris", "min_calls": "20"}
    page = staff.get(HEATMAP_PAGE, {"agency": str(agency_id), "format": "json", **options})
    api = auth_client.get(HEATMAP_URL, options)
    assert page.status_code == api.status_code == 200
    assert page["Content-Type"] == "application/json"
    assert page.content == api.content


def test_first_visit_shows_the_form_only(
    staff: Client, user: User, make_call: MakeCall, other_agency_id: uuid.UUID
) -> None:
    make_call(agency_id=other_agency_id)  # an agency with calls and no users
    html = page_html(staff, HEATMAP_PAGE)
    assert 'id="heatmap-form"' in html
    assert 'id="heatmap"' not in html
    assert f'<option value="{user.agency_id}">' in html  # agencies offered from users
    assert f'<option value="{other_agency_id}">' in html  # and from calls


def test_an_agency_with_users_but_no_calls_shows_an_empty_grid(staff: Client, user: User) -> None:
    html = staff.get(HEATMAP_PAGE, {"agency": str(user.agency_id)}).content.decode()
    cells = re.findall(r'<td class="cell[^"]*"[^>]*style="([^"]*)"', html)
    assert len(cells) == 7 * 24
    assert all(f"background-color: {EMPTY.background}" in style for style in cells)
    assert "No slot has any calls" in html


def test_a_failed_read_of_calls_is_said_in_one_line(staff: Client, user: User) -> None:
    """The agency is known from its users; the count of its calls fails: the page says so."""
    with table_away("calls"):
        response = staff.get(HEATMAP_PAGE, {"agency": str(user.agency_id)})
    assert response.status_code == 200
    [said] = response.context["form"].non_field_errors()
    assert said.startswith("Failed to query calls table on database 'default': ")
    assert "calls" in said.removeprefix("Failed to query calls table")  # the server's reason
    assert "Failed to query calls table on database" in response.content.decode()


# --- the lead's clock -------------------------------------------------------------------


NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def lead_calls(make_call: MakeCall, today: date) -> date:
    """Two days ago in New York: two calls at 22:00 and three at 10:00 lead-local, and one
    to a number no zone can be found for. Returns that day."""
    day = today - timedelta(days=2)
    for hour, total in ((22, 2), (10, 3)):
        at = datetime.combine(day, time(hour), tzinfo=NEW_YORK).astimezone(UTC)
        for _ in range(total):
            make_call(created_at=at, phone_number="+1 212 555 0100")
    make_call(created_at=datetime.combine(day, time(12), tzinfo=UTC), phone_number="+15550100")
    return day


def test_the_leads_clock_shows_what_it_left_out_and_what_was_outside_the_hours(
    staff: Client, lead_calls: date, agency_id: uuid.UUID
) -> None:
    html = staff.get(HEATMAP_PAGE, {"agency": str(agency_id), "clock": "lead"}).content.decode()
    assert "window in UTC, days and hours in each lead&#x27;s local time" in html
    day = lead_calls.isoweekday() % 7
    assert ">2</td>" in cell_html(html, day, 22)  # shown, though outside the hours
    assert "best" not in cell_html(html, day, 22)
    assert "best" in cell_html(html, day, 10)
    assert '<dd id="heatmap-unplaced">1</dd>' in html
    assert f"<dt>Outside 08:00{EN_DASH}21:00</dt>" in html
    assert '<dd id="heatmap-outside-hours">2</dd>' in html
    outside = re.findall(r'<th scope="col" class="outside-hours"[^>]*>(\d\d)</th>', html)
    assert outside == [f"{hour:02d}" for hour in (*range(8), 21, 22, 23)]


def test_the_viewers_clock_shows_neither_count(
    staff: Client, lead_calls: date, agency_id: uuid.UUID
) -> None:
    html = staff.get(HEATMAP_PAGE, {"agency": str(agency_id)}).content.decode()
    assert "hours in UTC." in html
    assert 'id="heatmap-lead-clock"' not in html
    assert "outside-hours" not in html.split("</style>")[1]


def test_without_calling_hours_the_page_says_every_hour_may_rank(
    staff: Client, lead_calls: date, agency_id: uuid.UUID, settings: Any
) -> None:
    settings.ANALYTICS_CALLING_HOURS = None
    html = staff.get(HEATMAP_PAGE, {"agency": str(agency_id), "clock": "lead"}).content.decode()
    assert '<dd id="heatmap-unplaced">1</dd>' in html
    assert 'id="heatmap-outside-hours"' not in html
    assert "No calling hours are set, so every hour may rank." in html
    assert "best" in cell_html(html, lead_calls.isoweekday() % 7, 22)


def test_no_best_time_inside_the_calling_hours_is_said(
    staff: Client, lead_calls: date, agency_id: uuid.UUID, settings: Any
) -> None:
    settings.ANALYTICS_CALLING_HOURS = (11, 17)
    query = {"agency": str(agency_id), "clock": "lead"}
    html = staff.get(HEATMAP_PAGE, query).content.decode()
    assert f"No slot inside the calling hours (11:00{EN_DASH}17:00) has any calls." in html
    assert '<dd id="heatmap-outside-hours">5</dd>' in html


def test_json_on_the_leads_clock_is_the_endpoint_body(
    staff: Client, lead_calls: date, agency_id: uuid.UUID, auth_client: APIClient
) -> None:
    options = {"clock": "lead", "tz": "America/Chicago", "metric": "connected"}
    page = staff.get(HEATMAP_PAGE, {"agency": str(agency_id), "format": "json", **options})
    api = auth_client.get(HEATMAP_URL, options)
    assert page.status_code == api.status_code == 200
    assert page.content == api.content
    assert (page.json()["unplaced_calls"], page.json()["outside_calling_hours"]) == (1, 2)


# --- the CSV: the endpoint's own, linked ----------------------------------------------------

CSV_TYPE = "text/csv; charset=utf-8"


@pytest.mark.usefixtures("calls_at_nine_and_two")
def test_the_admin_page_links_the_csv(staff: Client, agency_id: uuid.UUID) -> None:
    html = staff.get(HEATMAP_PAGE, {"agency": str(agency_id), "metric": "connect_rate"})
    content = html.content.decode()
    assert 'id="heatmap-csv"' in content
    assert "format=csv" in content
    assert "format=json" in content  # its JSON link is still there


@pytest.mark.usefixtures("calls_at_nine_and_two")
@pytest.mark.parametrize("clock", ["tz", "lead"])
def test_the_admin_csv_is_the_endpoints_csv(
    staff: Client, agency_id: uuid.UUID, auth_client: APIClient, clock: str
) -> None:
    options = {
        "period": "7d",
        "metric": "meeting_rate",
        "tz": "Europe/Paris",
        "min_calls": "1",
        "clock": clock,
    }
    page = staff.get(HEATMAP_PAGE, {"agency": str(agency_id), "format": "csv", **options})
    api = auth_client.get(HEATMAP_URL, {"format": "csv", **options})
    assert page.status_code == api.status_code == 200
    assert page["Content-Type"] == api["Content-Type"] == CSV_TYPE
    assert page["Content-Disposition"] == api["Content-Disposition"]
    assert page.content == api.content
    assert str(agency_id) not in page["Content-Disposition"]
    assert page["Content-Disposition"].endswith('-lead.csv"') == (clock == "lead")


@pytest.mark.usefixtures("calls_at_nine_and_two")
def test_the_admin_csv_with_bad_input_is_json_errors(staff: Client, user: User) -> None:
    response = staff.get(HEATMAP_PAGE, {"agency": str(user.agency_id), "tz": "Mars/Base"})
    assert response.status_code == 200  # the page shows the form error
    csv_response = staff.get(
        HEATMAP_PAGE, {"agency": str(user.agency_id), "tz": "Mars/Base", "format": "csv"}
    )
    assert csv_response.status_code == 400
    assert csv_response["Content-Type"] == "application/json"
    assert list(csv_response.json()["errors"]) == ["tz"]
