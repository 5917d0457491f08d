"""The calls list and a call's page: read-only, searched by exact UUIDs, filtered cheaply."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from analytics.admin import CallAdmin
from tests.helpers import BOOKED, CALLS_PAGE, HEATMAP_PAGE, MakeCall, page_html

pytestmark = pytest.mark.django_db


def test_the_call_list_shows_columns_and_booked_without_editing(
    staff: Client, calls_today: None, agency_id: uuid.UUID, at_ten: datetime
) -> None:
    html = page_html(staff, CALLS_PAGE, {"q": str(agency_id)})
    for column in CallAdmin.list_display:
        assert f"column-{column}" in html

    def ticks(column: str) -> list[str]:
        return re.findall(rf'<td class="field-{column}"><img [^>]*alt="(\w+)"', html)

    assert sorted(ticks("booked")) == ["False"] * 4 + ["True"]  # the queued call is a row
    assert sorted(ticks("connected")) == ["False"] * 4 + ["True"]  # joined, not "unjoined"
    assert "/admin/analytics/call/add/" not in html
    assert 'name="action"' not in html
    assert "5 calls" in html
    # UUIDs are shortened, in full on hover, and link to the list searched by them.
    assert f'<a href="?q={agency_id}" title="{agency_id}"><code>{agency_id.hex[:8]}</code>' in html
    # Times to the minute, in numbers.
    assert re.search(rf'class="field-created"><a [^>]*>{at_ten:%Y-%m-%d %H:%M}</a>', html)


def test_agency_ids_link_to_their_heatmap(
    staff: Client, make_call: MakeCall, agency_id: uuid.UUID
) -> None:
    call = make_call()
    page = f'href="{HEATMAP_PAGE}?agency={agency_id}"'
    listed = staff.get(CALLS_PAGE).content.decode()
    assert re.search(rf'<td class="field-agency">.*{re.escape(page)}.*</td>', listed)
    detail = staff.get(f"{CALLS_PAGE}{call.id}/change/").content.decode()
    assert re.search(rf"<a {re.escape(page)}[^>]*>{agency_id}</a>", detail)
    # The link leads to the page with the agency filled in, and its heatmap drawn.
    heatmap = staff.get(HEATMAP_PAGE, {"agency": str(agency_id)})
    assert heatmap.context["form"].cleaned_data["agency"] == agency_id
    assert 'id="heatmap"' in heatmap.content.decode()


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
    html = page_html(staff, f"{CALLS_PAGE}{call.id}/change/")
    assert "meeting_booked" in html
    assert 'name="_save"' not in html
    assert staff.get(f"{CALLS_PAGE}{call.id}/delete/").status_code == 403
    assert staff.get(f"{CALLS_PAGE}add/").status_code == 403


def drill_down(staff: Client, part: str, **query: str) -> list[int]:
    """The ``year``, ``month`` or ``day`` numbers the calls list's drill-down links to."""
    html = staff.get(CALLS_PAGE, query).content.decode()
    return sorted({int(n) for n in re.findall(rf'href="\?[^"]*created_at__{part}=(\d+)', html)})


def test_the_date_drill_down_offers_only_years_months_and_days_with_calls(
    staff: Client, make_call: MakeCall, other_agency_id: uuid.UUID, settings: Any
) -> None:
    """Counted in the admin's zone, as the drill-down's filter counts them: the last call
    of 2022 in UTC is already 2023 in Tokyo."""
    settings.TIME_ZONE = "Asia/Tokyo"
    assert drill_down(staff, "year") == []  # no calls: no drill-down
    for moment in (
        datetime(2021, 2, 10, 12, tzinfo=UTC),
        datetime(2021, 11, 5, 12, tzinfo=UTC),
        datetime(2022, 12, 31, 23, 30, tzinfo=UTC),
        datetime(2025, 3, 15, 12, tzinfo=UTC),
    ):
        make_call(created_at=moment)
    make_call(agency_id=other_agency_id, created_at=datetime(2021, 11, 20, 12, tzinfo=UTC))
    assert drill_down(staff, "year") == [2021, 2023, 2025]
    assert drill_down(staff, "month", created_at__year="2021") == [2, 11]
    assert drill_down(staff, "month", created_at__year="2023") == [1]
    assert drill_down(staff, "day", created_at__year="2021", created_at__month="11") == [5, 20]
    assert drill_down(staff, "day", created_at__year="2023", created_at__month="1") == [1]
    # What it offers finds those calls.
    listed = staff.get(CALLS_PAGE, {"created_at__year": "2023"}).content.decode()
    assert "1 call" in listed
