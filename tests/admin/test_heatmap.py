"""The call heatmap page: who may see it, where it is, and what it shows."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import User as StaffUser
from django.test import Client
from django.urls import resolve, reverse
from rest_framework.test import APIClient

from analytics.heatmap.presentation import EMPTY, SCALE
from analytics.models import Call, User
from tests.helpers import CALLS_PAGE, HEATMAP_PAGE, HEATMAP_URL, staff_member, table_away

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


# --- what it shows ----------------------------------------------------------------------


def test_staff_see_the_agency_cells_shaded_with_counts(
    staff: Client, calls_today: None, agency_id: uuid.UUID, at_ten: datetime
) -> None:
    response = staff.get(HEATMAP_PAGE, {"agency": str(agency_id)})
    assert response.status_code == 200
    html = response.content.decode()
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


def test_first_visit_shows_the_form_only(staff: Client, user: User) -> None:
    response = staff.get(HEATMAP_PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="heatmap-form"' in html
    assert 'id="heatmap"' not in html
    assert f'<option value="{user.agency_id}">' in html  # agencies offered from users


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
    assert response.context["form"].non_field_errors() == ["Failed to query calls table"]
    assert "Failed to query calls table" in response.content.decode()
