"""The admin: read-only lists of calls and users, and the call heatmap page."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from django import forms
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.contrib.auth.models import User as StaffUser
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import resolve, reverse
from rest_framework.test import APIClient

from analytics.admin import CallAdmin, CallHeatmapAdmin, CappedCountPaginator, ReadOnlyAdmin
from analytics.domain import MIN_CALLS_LIMITS
from analytics.forms import CallHeatmapForm
from analytics.models import Call, CallHeatmap, User
from analytics.presentation import EMPTY, SCALE
from analytics.serializers import parameter_help
from tests.conftest import HEATMAP_URL, MakeCall

pytestmark = pytest.mark.django_db

HEATMAP_PAGE = "/admin/analytics/call/heatmap/"
CALLS_PAGE = "/admin/analytics/call/"
USERS_PAGE = "/admin/analytics/user/"
BOOKED = {"sdr": {"meeting_booked": True}}


def staff_member(*, username: str = "staff", perms: tuple[str, ...] = ("view_call", "view_user")):
    member = StaffUser.objects.create_user(username, is_staff=True)
    member.user_permissions.set(Permission.objects.filter(codename__in=perms))
    return member


@pytest.fixture
def staff(client: Client) -> Client:
    client.force_login(staff_member())
    return client


def day_of(moment: datetime) -> int:
    """The heatmap's day numbering: 0 is Sunday."""
    return moment.isoweekday() % 7


@pytest.fixture
def at_ten(today: date) -> datetime:
    return datetime(today.year, today.month, today.day, 10, 15, tzinfo=UTC)


@pytest.fixture
def seeded(make_call: MakeCall, at_ten: datetime, other_agency_id: uuid.UUID) -> None:
    """Three calls at 10:00 today (one connected and booked), one at 14:00, one elsewhere."""
    make_call(created_at=at_ten, joined_at=at_ten, end_reason="completed", analysis=BOOKED)
    make_call(created_at=at_ten + timedelta(minutes=5))
    make_call(created_at=at_ten + timedelta(minutes=30), joined_at=at_ten, end_reason="unjoined")
    make_call(created_at=at_ten + timedelta(hours=4))
    make_call(created_at=at_ten, agency_id=other_agency_id)
    make_call(created_at=at_ten, status="queued")


def cell_html(html: str, day: int, hour: int) -> str:
    match = re.search(
        rf'<td class="cell[^"]*" data-day="{day}" data-hour="{hour}"[^>]*>[^<]*</td>', html
    )
    assert match, f"no cell for day {day} hour {hour}"
    return match.group(0)


# --- who may see the heatmap ------------------------------------------------------------


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


def test_the_page_is_linked_from_the_app_section_and_the_call_list(staff: Client) -> None:
    for index in ("/admin/", "/admin/analytics/"):
        page = staff.get(index).content.decode()
        assert "Call analytics" in page
        assert '<a href="/admin/analytics/callheatmap/">Call heatmap</a>' in page
    row = staff.get("/admin/analytics/callheatmap/", {"agency": "x"})
    assert row.status_code == 302
    assert row["Location"] == f"{HEATMAP_PAGE}?agency=x"
    assert f'href="{HEATMAP_PAGE}"' in staff.get(CALLS_PAGE).content.decode()


def test_the_heatmap_admin_serves_the_page_at_its_old_address() -> None:
    heatmap_admin = admin.site.get_model_admin(CallHeatmap)
    assert isinstance(heatmap_admin, CallHeatmapAdmin)
    assert reverse("admin:analytics_call_heatmap") == HEATMAP_PAGE
    assert resolve(HEATMAP_PAGE).func.__wrapped__ == heatmap_admin.changelist_view
    assert reverse("admin:analytics_callheatmap_changelist") == "/admin/analytics/callheatmap/"


def test_every_admin_is_read_only_through_one_base(rf) -> None:
    request = rf.get("/")
    for model in (Call, User, CallHeatmap):
        model_admin = admin.site.get_model_admin(model)
        assert isinstance(model_admin, ReadOnlyAdmin)
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)
        for name in ("has_add_permission", "has_change_permission", "has_delete_permission"):
            owner = next(cls for cls in type(model_admin).__mro__ if name in vars(cls))
            assert owner is ReadOnlyAdmin, (model, name)


def test_the_page_sits_in_the_app_section(staff: Client) -> None:
    html = staff.get(HEATMAP_PAGE).content.decode()
    breadcrumbs = re.search(r'<div class="breadcrumbs">(.*?)</div>', html, re.DOTALL)
    assert breadcrumbs
    assert re.findall(r"<a [^>]*>([^<]*)</a>", breadcrumbs.group(1)) == ["Home", "Call analytics"]
    assert "Call heatmap" in breadcrumbs.group(1)


def test_the_row_is_hidden_from_staff_who_may_not_view_calls(client: Client) -> None:
    client.force_login(staff_member(perms=("view_user",)))
    assert "/admin/analytics/callheatmap/" not in client.get("/admin/").content.decode()


# --- what it shows ----------------------------------------------------------------------


def test_staff_see_the_agency_cells_shaded_with_counts(
    staff: Client, seeded: None, agency_id: uuid.UUID, at_ten: datetime
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
    staff: Client, seeded: None, agency_id: uuid.UUID, at_ten: datetime
) -> None:
    query = {"agency": str(agency_id), "metric": "connect_rate", "min_calls": "2"}
    html = staff.get(HEATMAP_PAGE, query).content.decode()
    day = day_of(at_ten)
    assert ">33%</td>" in cell_html(html, day, 10)  # 1 of 3 connected
    assert f"background-color: {SCALE[-1]}" in cell_html(html, day, 10)
    # One call at 14:00 is below min_calls: its 0% is shown, unshaded.
    assert f"background-color: {EMPTY.background}" in cell_html(html, day, 14)


def test_the_time_zone_moves_the_hours(
    staff: Client, seeded: None, agency_id: uuid.UUID, at_ten: datetime
) -> None:
    query = {"agency": str(agency_id), "tz": "Asia/Kolkata"}  # UTC+05:30
    html = staff.get(HEATMAP_PAGE, query).content.decode()
    local = at_ten + timedelta(hours=5, minutes=30)
    assert "hours in Asia/Kolkata" in html
    assert ">2</td>" in cell_html(html, day_of(local), 15)  # 10:15 and 10:20 UTC
    assert ">1</td>" in cell_html(html, day_of(local), 16)  # 10:45 UTC


def test_json_is_the_endpoint_body_for_the_same_options(
    staff: Client, seeded: None, agency_id: uuid.UUID, auth_client: APIClient
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


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"agency": "not-a-uuid"}, "agency", "Enter a valid UUID."),
        ({"agency": ""}, "agency", "This field is required."),
        ({"agency": "{agency}\x00"}, "agency", "Enter a valid UUID."),
        ({"period": "1y"}, "period", "Select a valid choice."),
        ({"metric": "vibes"}, "metric", "Select a valid choice."),
        ({"tz": "Mars/Olympus_Mons"}, "tz", "Unknown time zone"),
        ({"tz": "../../etc/passwd"}, "tz", "Unknown time zone"),
        ({"tz": "+05:00"}, "tz", "not a UTC offset"),
        ({"tz": "UTC\x00"}, "tz", "Null characters are not allowed."),
        ({"min_calls": "0"}, "min_calls", "greater than or equal to 1"),
        ({"min_calls": "9" * 30}, "min_calls", "less than or equal to"),
        ({"min_calls": "many"}, "min_calls", "Enter a whole number."),
    ],
)
def test_bad_input_is_a_form_error_never_a_500(
    staff: Client,
    user: User,
    agency_id: uuid.UUID,
    query: dict[str, str],
    field: str,
    message: str,
) -> None:
    data = {"agency": str(agency_id), **query}
    data["agency"] = data["agency"].replace("{agency}", str(agency_id))
    response = staff.get(HEATMAP_PAGE, data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert message in errors[field][0]
    assert message.split(".")[0] in response.content.decode().replace("&quot;", '"')
    bad_json = staff.get(HEATMAP_PAGE, {**data, "format": "json"})
    assert bad_json.status_code == 400
    assert list(bad_json.json()["errors"]) == [field]


def test_the_form_takes_the_endpoints_parameter_facts() -> None:
    """Help, bounds and defaults come from the query serializer, written once."""
    fields = CallHeatmapForm().fields
    for name in ("period", "metric", "tz", "min_calls"):
        assert fields[name].help_text == parameter_help(name)
        assert "`" not in fields[name].help_text
    min_calls = fields["min_calls"]
    assert isinstance(min_calls, forms.IntegerField)
    assert (min_calls.min_value, min_calls.max_value) == MIN_CALLS_LIMITS
    initial = {name: fields[name].initial for name in ("period", "metric", "tz", "min_calls")}
    assert initial == {"period": "30d", "metric": "calls", "tz": "UTC", "min_calls": 20}


def test_an_agency_with_neither_calls_nor_users_is_unknown(staff: Client) -> None:
    response = staff.get(HEATMAP_PAGE, {"agency": str(uuid.uuid4())})
    assert response.context["form"].errors == {
        "agency": ["No calls and no users belong to this agency."]
    }


def test_an_agency_with_users_but_no_calls_shows_an_empty_grid(staff: Client, user: User) -> None:
    html = staff.get(HEATMAP_PAGE, {"agency": str(user.agency_id)}).content.decode()
    cells = re.findall(r'<td class="cell[^"]*"[^>]*style="([^"]*)"', html)
    assert len(cells) == 7 * 24
    assert all(f"background-color: {EMPTY.background}" in style for style in cells)
    assert "No slot has any calls" in html


# --- the calls and users lists ----------------------------------------------------------


def test_the_call_list_shows_columns_and_booked_without_editing(
    staff: Client, seeded: None, agency_id: uuid.UUID
) -> None:
    response = staff.get(CALLS_PAGE, {"q": str(agency_id)})
    assert response.status_code == 200
    html = response.content.decode()
    for column in CallAdmin.list_display:
        assert f"column-{column}" in html
    assert html.count('alt="True"') == 1  # one call booked
    assert html.count('alt="False"') == 4  # the queued call counts here, as a row
    assert "/admin/analytics/call/add/" not in html
    assert 'name="action"' not in html
    assert "5 calls" in html
    # UUIDs are shortened, in full on hover, and link to the list searched by them.
    assert f'<a href="?q={agency_id}" title="{agency_id}"><code>{agency_id.hex[:8]}</code>' in html


def test_the_call_list_searches_exact_uuids_only(
    staff: Client, make_call: MakeCall, agency_id: uuid.UUID
) -> None:
    campaign = uuid.uuid4()
    call = make_call(campaign_id=campaign)
    make_call()

    def found(term: str) -> int:
        response = staff.get(CALLS_PAGE, {"q": term})
        assert response.status_code == 200
        return len(response.context["cl"].result_list)

    assert found(str(call.id)) == 1
    assert found(str(call.id).upper()) == 1
    assert found(str(campaign)) == 1
    assert found(str(agency_id)) == 2
    assert found(str(agency_id)[:8]) == 0  # no prefix matching
    assert found("'; DROP TABLE calls; --") == 0
    assert found("not-a-uuid") == 0


def test_the_call_list_filters_by_status_end_reason_and_date(
    staff: Client, make_call: MakeCall, at_ten: datetime
) -> None:
    make_call(end_reason=None)
    make_call(end_reason="unjoined")
    make_call(status="failed", created_at=at_ten - timedelta(days=400))

    def count(**query: str) -> int:
        response = staff.get(CALLS_PAGE, query)
        assert response.status_code == 200, response.get("Location")
        return len(response.context["cl"].result_list)

    assert count() == 3
    assert count(status="ended") == 2
    assert count(end_reason="unjoined") == 1
    assert count(end_reason__isnull="True") == 2
    year, month, day = str(at_ten.year), str(at_ten.month), str(at_ten.day)
    assert count(created_at__year=year) == 2
    assert count(created_at__year=year, created_at__month=month, created_at__day=day) == 2
    html = staff.get(CALLS_PAGE).content.decode()
    assert f"?created_at__year={year}" in html  # the calendar drill-down
    for choice in ('href="?status=ended"', 'href="?end_reason=unjoined"'):
        assert choice in html


def test_the_call_detail_is_read_only(staff: Client, make_call: MakeCall) -> None:
    call = make_call(analysis=BOOKED)
    response = staff.get(f"{CALLS_PAGE}{call.id}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "meeting_booked" in html
    assert 'name="_save"' not in html
    assert staff.get(f"{CALLS_PAGE}{call.id}/delete/").status_code == 403
    assert staff.get(f"{CALLS_PAGE}add/").status_code == 403


def test_the_user_list_searches_by_agency(staff: Client, user: User) -> None:
    response = staff.get(USERS_PAGE, {"q": str(user.agency_id)})
    assert response.status_code == 200
    assert [row.id for row in response.context["cl"].result_list] == [user.id]
    assert staff.get(USERS_PAGE, {"q": "nope"}).context["cl"].result_list.count() == 0


def test_the_paginator_stops_counting_at_its_cap() -> None:
    class Small(CappedCountPaginator):
        count_cap = 10

    assert Small(list(range(5)), 3).count == 5
    assert not Small(list(range(10)), 3).count_is_capped
    capped = Small(list(range(50)), 3)
    assert (capped.count, capped.count_is_capped, capped.num_pages) == (10, True, 4)


# --- the change list on a big table -----------------------------------------------------

BIG = 100_000
COUNT_STAR = re.compile(r"COUNT\(\*\)", re.IGNORECASE)
ANALYSIS_COLUMN = re.compile(r'"calls"\."analysis"(?!\s*->)')


def fill_calls(rows: int, agency_id: uuid.UUID) -> None:
    """``rows`` calls over the last ~70 days in one statement; about one in seven booked."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO calls (id, agency_id, campaign_id, status, created_at, joined_at,
                               end_reason, analysis)
            SELECT gen_random_uuid(), %s, NULL,
                   (CASE WHEN g %% 10 = 0 THEN 'failed' ELSE 'ended' END)::call_status,
                   now() - make_interval(mins => g),
                   CASE WHEN g %% 3 = 0 THEN now() - make_interval(mins => g) END,
                   (CASE WHEN g %% 5 = 0 THEN 'unjoined' ELSE 'completed' END)::call_end_reason,
                   jsonb_build_object('sdr', jsonb_build_object('meeting_booked', g %% 7 = 0))
            FROM generate_series(1, %s) AS g
            """,
            [str(agency_id), rows],
        )
        cursor.execute("ANALYZE calls")


QUERIES = [
    {},
    {"status": "ended", "end_reason": "completed"},
    {"created_at__year": "{year}"},
    {"created_at__year": "{year}", "created_at__month": "{month}"},
    {"q": "{agency}"},
    {"p": "3"},
]


@pytest.mark.usefixtures("on_postgresql")
def test_a_big_call_list_never_counts_the_table_or_reads_analysis(
    staff: Client, agency_id: uuid.UUID, today: date
) -> None:
    fill_calls(BIG, agency_id)
    values = {"year": str(today.year), "month": str(today.month), "agency": str(agency_id)}
    for query in QUERIES:
        params = {key: value.format(**values) for key, value in query.items()}
        with CaptureQueriesContext(connection) as captured:
            response = staff.get(CALLS_PAGE, params)
        assert response.status_code == 200, params
        calls_sql = [q["sql"] for q in captured.captured_queries if '"calls"' in q["sql"]]
        assert calls_sql, f"no query on calls for {params}"
        for sql in calls_sql:
            if COUNT_STAR.search(sql):
                assert "LIMIT 10001)" in sql, f"unbounded count for {params}: {sql}"
            assert not ANALYSIS_COLUMN.search(sql), f"reads analysis for {params}: {sql}"
            if "DISTINCT" in sql.upper():
                assert "LIMIT" in sql.upper(), f"unbounded DISTINCT for {params}: {sql}"
            assert "MIN(" not in sql.upper(), f"date range scan for {params}: {sql}"
            assert "MAX(" not in sql.upper(), f"date range scan for {params}: {sql}"
        cl = response.context["cl"]
        assert len(cl.result_list) == 100, params
        assert {row.is_booked for row in cl.result_list} == {True, False}, params
        if "q" in params:  # the agency's index alone, not an OR over unindexed columns
            assert all('campaign_id" =' not in sql for sql in calls_sql), calls_sql
        if not params or "q" in params:
            assert cl.paginator.count_is_capped
            assert "More than 10000 calls" in response.content.decode()
